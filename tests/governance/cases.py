"""The governance domain's generic cases (tests/generic.py: routes, grants, change-logged
models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.governance.models import (
    Consumer,
    ConversionRecord,
    ConversionRule,
    DataElement,
    DataSet,
    DataSetChange,
    DataStandard,
    QualityCheck,
    QualityRule,
    Subscription,
)
from tests.factories import Factory
from tests.generic import (
    AU,
    EVERYONE,
    IA,
    IS_,
    NO_AUTH,
    SIGNED,
    A,
    C,
    P,
    Routes,
    S,
    ScopeCase,
    region_outsiders,
)

READ = "data_standard:read"
ROUTES: Routes = {
    ("GET", "/api/v1/governance/standards"): READ,
    ("GET", "/api/v1/governance/standards/{version}"): READ,
    ("GET", "/governance"): READ,
    ("POST", "/governance/versions"): "data_standard:edit",
    ("GET", "/governance/versions/{version}"): READ,
    ("GET", "/governance/versions/{version}/data-standard.md"): READ,
    ("GET", "/governance/versions/{version}/elements"): READ,
    ("GET", "/governance/versions/{version}/elements/{element_id}"): READ,
    ("POST", "/governance/versions/{version}/elements/{element_id}"): "data_standard:edit",
    ("POST", "/governance/versions/{version}/submit"): "data_standard:edit",
    ("POST", "/governance/versions/{version}/discard"): "data_standard:edit",
    ("POST", "/governance/versions/{version}/review"): "data_standard:review",
    ("GET", "/api/v1/governance/quality"): "data_quality:read",
    ("GET", "/governance/quality"): "data_quality:read",
    ("GET", "/governance/quality/institutions/{institution_id}"): "data_quality:read",
    (
        "GET",
        "/governance/quality/institutions/{institution_id}/checks/{check_id}",
    ): "data_quality:read",
    ("GET", "/governance/quality/rules"): "data_quality:read",
    ("POST", "/governance/quality/rules"): "quality_rule:manage",
    ("GET", "/governance/quality/rules/{rule_id}"): "data_quality:read",
    ("POST", "/governance/quality/rules/{rule_id}"): "quality_rule:manage",
    ("GET", "/governance/quality/runs"): "data_quality:read",
    ("POST", "/governance/quality/runs"): "quality_rule:manage",
    ("GET", "/governance/quality/conversions"): "data_quality:read",
    ("POST", "/governance/quality/conversions"): "quality_rule:manage",
    ("GET", "/governance/quality/conversions/{rule_id}"): "data_quality:read",
    ("POST", "/governance/quality/conversions/{rule_id}"): "quality_rule:manage",
    ("GET", "/governance/quality/converted"): "data_quality:read",
    ("GET", "/governance/sharing/key"): NO_AUTH,
    ("GET", "/governance/sharing"): "sharing:read",
    ("POST", "/governance/sharing/data-sets"): "sharing:manage",
    ("POST", "/governance/sharing/data-sets/{data_set_id}/publish"): "sharing:approve",
    ("GET", "/governance/sharing/data-sets/{data_set_id}"): "sharing:read",
    ("POST", "/governance/sharing/data-sets/{data_set_id}/changes"): "sharing:manage",
    ("POST", "/governance/sharing/changes/{change_id}/decision"): "sharing:approve",
    ("GET", "/governance/sharing/changes"): "sharing:read",
    ("GET", "/governance/sharing/consumers"): "sharing:read",
    ("POST", "/governance/sharing/consumers"): "sharing:manage",
    ("GET", "/governance/sharing/consumers/{consumer_id}"): "sharing:read",
    ("POST", "/governance/sharing/consumers/{consumer_id}/subscriptions"): "sharing:manage",
    ("POST", "/governance/sharing/subscriptions/{subscription_id}/decision"): "sharing:approve",
    ("POST", "/governance/sharing/subscriptions/{subscription_id}/stop"): "sharing:approve",
    ("POST", "/governance/sharing/consumers/{consumer_id}/replay"): "sharing:manage",
    ("POST", "/governance/sharing/consumers/{consumer_id}/key"): "sharing:manage",
    ("POST", "/governance/sharing/consumers/{consumer_id}/status"): "sharing:manage",
    ("GET", "/governance/sharing/accesses"): "sharing:read",
    ("GET", "/exchange/v1/sharing/data-sets"): SIGNED,
    ("GET", "/exchange/v1/sharing/data-sets/{code}/records"): SIGNED,
    ("GET", "/exchange/v1/sharing/data-sets/{code}/package"): SIGNED,
    ("POST", "/exchange/v1/sharing/data-sets/{code}/applications"): SIGNED,
}


def SIGNED_REQUESTS(factory: Factory) -> dict[tuple[str, str], tuple[str, dict[str, str], bytes]]:
    """The consumers' signed API, each request unsigned (nothing is checked before the
    signature: a bad filter is 422 only for a consumer whose key signed it)."""
    base = "/exchange/v1/sharing/data-sets"
    return {
        ("GET", base): (base, {}, b""),
        ("GET", base + "/{code}/records"): (f"{base}/staff/records?limit=1000", {}, b""),
        ("GET", base + "/{code}/package"): (f"{base}/staff/package", {}, b""),
        ("POST", base + "/{code}/applications"): (
            f"{base}/staff/applications",
            {"content-type": "application/json"},
            '{"purpose": "保函审核"}'.encode(),
        ),
    }


GRANTS: dict[str, frozenset[Role]] = {
    READ: EVERYONE,
    "data_standard:edit": frozenset({P, A}),
    "data_standard:review": frozenset({P, A}),
    "data_quality:read": frozenset({P, A, C, S, AU, IA, IS_}),
    "quality_rule:manage": frozenset({P, A}),
    "sharing:read": frozenset({P, A, C}),
    "sharing:manage": frozenset({P, A}),
    "sharing:approve": frozenset({P, A}),
}


def _standard(f: Factory) -> DataStandard:
    row = DataStandard(version=900 + f._next(), title="测试修订", status="draft")
    f.db.add(row)
    f.db.flush()
    return row


def _element(f: Factory) -> DataElement:
    row = DataElement(standard_id=_standard(f).id, element_id="grade", name="等级", type="string")
    f.db.add(row)
    f.db.flush()
    return row


def _rule(f: Factory) -> QualityRule:
    row = QualityRule(
        name="检测记录应注明检测依据的标准",
        kind="completeness",
        message_type="test_record",
        path="standard",
    )
    f.db.add(row)
    f.db.flush()
    return row


def _conversion(f: Factory) -> ConversionRule:
    row = ConversionRule(
        name="设备型号全角转半角",
        kind="halfwidth",
        message_type="registry.equipment",
        path="equipment[].model",
    )
    f.db.add(row)
    f.db.flush()
    return row


def _data_set(f: Factory) -> DataSet:
    row = DataSet(
        code=f"reports_{f._next()}", name="检测报告", message_type="report", grade="public"
    )
    f.db.add(row)
    f.db.flush()
    return row


def _change(f: Factory) -> DataSetChange:
    row = DataSetChange(
        data_set_id=_data_set(f).id,
        kind="regrade",
        status="pending",
        before={"grade": "public"},
        after={"grade": "conditional"},
        reason="含个人信息",
    )
    f.db.add(row)
    f.db.flush()
    return row


def _consumer(f: Factory) -> Consumer:
    row = Consumer(name="某银行", kind="bank", endpoint="https://bank.example.cn/jcjg")
    f.db.add(row)
    f.db.flush()
    return row


def _subscription(f: Factory) -> Subscription:
    row = Subscription(
        consumer_id=_consumer(f).id, data_set_id=_data_set(f).id, masking={}, status="active"
    )
    f.db.add(row)
    f.db.flush()
    return row


WRITES = {
    DataStandard: (_standard, lambda s: setattr(s, "note", "修订说明")),
    DataElement: (_element, lambda e: setattr(e, "name", "强度等级")),
    QualityRule: (_rule, lambda r: setattr(r, "enabled", False)),
    ConversionRule: (_conversion, lambda r: setattr(r, "enabled", False)),
    DataSet: (_data_set, lambda d: setattr(d, "name", "检测报告（公开）")),
    DataSetChange: (_change, lambda c: setattr(c, "status", "rejected")),
    Consumer: (_consumer, lambda c: setattr(c, "contact", "王经理")),
    Subscription: (_subscription, lambda s: setattr(s, "status", "stopped")),
}


def _check_obj(f: Factory) -> tuple[int, dict]:
    import datetime as dt

    from tests.exchange.cases import _message_obj

    message_id, info = _message_obj(f)
    inst = info["inst"]
    row = QualityCheck(
        message_row_id=message_id,
        institution_id=inst.id,
        region_code=inst.region_code,
        message_type="registry.staff",
        month="2026-01",
        received_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        checked_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        total=2,
        failed=1,
        failures=[{"rule": 1, "name": "规则", "field": "people.0.mobile", "why": "未填写"}],
    )
    f.db.add(row)
    f.db.commit()
    return row.id, info


def _conversion_obj(f: Factory) -> tuple[int, dict]:
    import datetime as dt

    from tests.exchange.cases import _message_obj

    message_id, info = _message_obj(f)
    inst = info["inst"]
    row = ConversionRecord(
        message_row_id=message_id,
        institution_id=inst.id,
        region_code=inst.region_code,
        message_type="registry.equipment",
        rule_name="全角转半角",
        kind="halfwidth",
        field="equipment.0.model",
        before="ＨＴ－２２５",
        after="HT-225",
        received_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        converted_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )
    f.db.add(row)
    f.db.commit()
    return row.id, info


SCOPED: dict[type, ScopeCase] = {
    QualityCheck: ScopeCase(
        _check_obj,
        None,
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
    ),
    ConversionRecord: ScopeCase(
        _conversion_obj,
        None,
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
    ),
}
