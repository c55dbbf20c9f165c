"""Generic tests every scoped or change-logged model gets for free (STYLE.md habits 2 and 3).

A new scoped model must be added to ``SCOPED``; a new change-logged model to ``WRITES``;
a new form to nothing at all: every unsafe page route is tried without its CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from jcjg.alerts.models import Alert, Case, RuleThreshold
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.auth.models import ApiToken, RoleGrant, User
from jcjg.auth.scopes import get_scoped
from jcjg.auth.sessions import create_api_token, principal_for
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core.db import Base, utcnow
from jcjg.core.errors import NotFound
from jcjg.core.mixins import ChangeLogged
from jcjg.exchange import clients as exchange_clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Client, ClientKey, ExchangeFile, Message
from jcjg.generic.spec import specs
from jcjg.nonconformity.models import Nonconformity
from jcjg.projects.models import Project, ProjectMember
from jcjg.rectification.models import RectificationOrder
from jcjg.registry import specs as registry_specs
from jcjg.registry.models import ELicence
from jcjg.sampling import service as sampling_service
from jcjg.sampling.models import (
    Commission,
    IdentityCheck,
    Sample,
    SampleCode,
    SampleCodeBatch,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from jcjg.tenancy.models import Institution
from tests.factories import Factory, all_routes, catalogue, login, photo, registry_row


def _models() -> list[type]:
    return [m.class_ for m in Base.registry.mappers]


# --- 404 outside scope -------------------------------------------------------------------------


@dataclass
class ScopeCase:
    """How to make an object of a scoped model, where to read it, and who is outside."""

    make: Callable[[Factory], tuple[int | str, dict]]  # -> (object id in the URL, info)
    url: str | None  # with {id}; None: no route reads it yet, get_scoped is asked directly
    outsiders: Callable[[Factory, dict], list[User]]
    insider: Callable[[Factory, dict], User]
    method: str = "GET"
    session: bool = False  # a page: call it logged in, not with a token


def _user_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    user = f.user(Role.INSTITUTION_STAFF, institution=inst)
    return user.id, {"inst": inst}


def _inst_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    return inst.id, {"inst": inst}


def _audit_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    f.db.commit()
    row = f.db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "institution", AuditLog.object_id == str(inst.id)
        )
    ).one()
    return row.id, {"inst": inst}


def _token_obj(f: Factory) -> tuple[int, dict]:
    owner = f.user(Role.CITY_AUTHORITY, region_code="360400")
    f.token(owner)
    token = f.db.scalars(select(ApiToken).where(ApiToken.user_id == owner.id)).one()
    return token.id, {"owner": owner}


def _alert_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    alert = Alert(
        rule_id="test_rule",
        key=f"institution:{inst.id}",
        severity="warning",
        subject_type="institution",
        subject_id=str(inst.id),
        subject_repr=inst.name,
        institution_id=inst.id,
        region_code=inst.region_code,
    )
    f.db.add(alert)
    f.db.flush()
    return alert.id, {"inst": inst}


def _case_obj(f: Factory) -> tuple[int, dict]:
    alert_id, info = _alert_obj(f)
    alert = f.db.get(Alert, alert_id)
    case = Case(alert_id=alert_id, status="confirmed", region_code=alert.region_code,
                institution_id=alert.institution_id)  # fmt: skip
    f.db.add(case)
    f.db.flush()
    return case.id, info


def _nonconformity_obj(f: Factory) -> tuple[int, dict]:
    from jcjg.testing.models import TestRecord

    inst = f.institution(region_code="360403")
    now = utcnow()
    record = TestRecord(institution_id=inst.id, region_code=inst.region_code, number="JL-G-1",
                        kind="concrete_compression", item_code="0108", started_at=now,
                        ended_at=now, acquisition="manual")  # fmt: skip
    f.db.add(record)
    f.db.flush()
    row = Nonconformity(institution_id=inst.id, region_code=inst.region_code,
                        test_record_id=record.id, found_by="lab", material="混凝土",
                        item_code="0108", deadline=now.date())  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row.id, {"inst": inst}


def _rectification_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    order = RectificationOrder(number=f"ZG3604002026{f._next():04d}", institution_id=inst.id,
                               region_code="360400", grounds=["not_uploaded"], findings="未上传",
                               requirement="补传", deadline=utcnow().date(),
                               status="issued")  # fmt: skip
    f.db.add(order)
    f.db.commit()
    return order.id, {"inst": inst}


def _exchange_client(f: Factory) -> tuple[Client, dict]:
    inst = f.institution(region_code="360403")
    client = exchange_clients.create_client(
        f.db, name="九江 LIMS", institution=inst, status=ClientStatus.ACTIVE
    )
    return client, {"inst": inst}


def _client_obj(f: Factory) -> tuple[int, dict]:
    client, info = _exchange_client(f)
    f.db.commit()
    return client.id, info


def _client_key_obj(f: Factory) -> tuple[str, dict]:
    client, info = _exchange_client(f)
    issued = exchange_clients.issue_key(f.db, client, f.settings, alg="hmac-sha256")
    f.db.commit()
    return issued.key.key_id, info


def _message_obj(f: Factory) -> tuple[int, dict]:
    import datetime as dt

    client, info = _exchange_client(f)
    message = Message(
        client_id=client.id,
        key_id="c1-000000000000",
        institution_id=client.institution_id,
        region_code=client.region_code,
        message_type="registry.staff",
        message_id="00000000-0000-4000-8000-000000000000",
        body=b"{}",
        content_sha256="0" * 64,
        signature_input="sig1=()",
        signature="sig1=::",
        received_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        receipt={"status": "accepted"},
        ledger_index=0,
    )
    f.db.add(message)
    f.db.commit()
    return message.id, info


def _file_obj(f: Factory) -> tuple[int, dict]:
    client, info = _exchange_client(f)
    row = ExchangeFile(
        sha256="0" * 64,
        size=1,
        client_id=client.id,
        institution_id=client.institution_id,
        region_code=client.region_code,
    )
    f.db.add(row)
    f.db.commit()
    return row.id, info


def _region_outsiders(f: Factory, info: dict) -> list[User]:
    other_inst = f.institution(region_code="360102")
    return [
        f.user(Role.CITY_AUTHORITY, region_code="360100"),  # Nanchang, not Jiujiang
        f.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),  # another province
        f.user(Role.INSTITUTION_ADMIN, institution=other_inst),  # another institution
        f.user(Role.AUDITOR, region_code="440000"),
    ]


SCOPED: dict[type, ScopeCase] = {
    User: ScopeCase(
        _user_obj,
        "/api/v1/users/{id}",
        _region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
    ),
    Institution: ScopeCase(
        _inst_obj,
        "/api/v1/registry/institutions/{id}",
        lambda f, i: [*_region_outsiders(f, i), f.user(Role.STATION, region_code="360100")],
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    ),
    AuditLog: ScopeCase(
        _audit_obj,
        "/api/v1/audit/{id}",
        _region_outsiders,
        lambda f, i: f.user(Role.CITY_AUTHORITY, region_code="360400"),
    ),
    Alert: ScopeCase(
        _alert_obj,
        "/api/v1/alerts/{id}",
        lambda f, i: [*_region_outsiders(f, i), f.user(Role.STATION, region_code="360100")],
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    ),
    Case: ScopeCase(  # read on its alert's page: the alert's scope
        _case_obj,
        None,
        lambda f, i: [*_region_outsiders(f, i), f.user(Role.STATION, region_code="360100")],
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    ),
    Nonconformity: ScopeCase(
        _nonconformity_obj,
        "/nonconformities/{id}",
        lambda f, i: [*_region_outsiders(f, i), f.user(Role.STATION, region_code="360100")],
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
        session=True,
    ),
    RectificationOrder: ScopeCase(
        _rectification_obj,
        "/rectification-orders/{id}",
        lambda f, i: [*_region_outsiders(f, i), f.user(Role.STATION, region_code="360100")],
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
        session=True,
    ),
    ApiToken: ScopeCase(
        _token_obj,
        "/api/v1/tokens/{id}",
        lambda f, i: [f.user(Role.CITY_AUTHORITY, region_code="360400"), f.user(Role.WITNESS)],
        lambda f, i: i["owner"],
        method="DELETE",
    ),
    Client: ScopeCase(
        _client_obj,
        "/exchange/clients/{id}",
        _region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
        session=True,
    ),
    ClientKey: ScopeCase(
        _client_key_obj,
        "/exchange/keys/{id}",
        _region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
        session=True,
    ),
    # What clients sent: no page shows single messages or files yet, the scope clause does.
    Message: ScopeCase(
        _message_obj,
        None,
        _region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
    ),
    ExchangeFile: ScopeCase(
        _file_obj,
        None,
        _region_outsiders,
        lambda f, i: f.user(Role.CITY_AUTHORITY, region_code="360400"),
    ),
}


def _registry_case(kind: str) -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict]:
        inst = f.institution(region_code="360403")
        obj = registry_row(f, kind, inst)
        if kind == "licences":
            from jcjg.core.blobs import blob_store

            obj.blob_digest = blob_store(f.settings).put(b"%PDF-1.4 licence")
            f.db.flush()
        f.db.commit()
        return obj.id, {"inst": inst}

    url = (
        "/registry/licences/{id}/file" if kind == "licences" else f"/api/v1/registry/{kind}/{{id}}"
    )
    return ScopeCase(
        make,
        url,
        _region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
        session=kind == "licences",
    )


assert registry_specs.INSTITUTION.kind in specs()  # the registry's kinds are registered
SCOPED.update(
    {spec.model: _registry_case(kind) for kind, spec in specs().items() if not spec.is_institution}
)
SCOPED[ELicence] = _registry_case("licences")


def test_every_scoped_model_has_a_case():
    scoped = {m for m in _models() if getattr(m, "__scope_columns__", None)}
    assert scoped == set(SCOPED), "add new scoped models to SCOPED"


@pytest.mark.parametrize("model", list(SCOPED), ids=lambda m: m.__name__)
def test_outside_scope_answers_404(client, factory, model):
    case = SCOPED[model]
    obj_id, info = case.make(factory)
    if case.url is None:
        for outsider in case.outsiders(factory, info):
            principal = principal_for(db=factory.db, user=outsider, settings=factory.settings)
            with pytest.raises(NotFound):
                get_scoped(factory.db, model, obj_id, principal, "read")
        insider = case.insider(factory, info)
        principal = principal_for(db=factory.db, user=insider, settings=factory.settings)
        assert get_scoped(factory.db, model, obj_id, principal, "read").id == obj_id
        return
    url = case.url.format(id=obj_id)

    def call(user: User):
        if case.session:
            client.cookies.clear()
            login(client, user.username)
            return client.request(case.method, url)
        return client.request(
            case.method, url, headers={"Authorization": f"Bearer {factory.token(user)}"}
        )

    for outsider in case.outsiders(factory, info):
        response = call(outsider)
        assert response.status_code == 404, (outsider.role, outsider.region_code, response.text)
        assert response.json()["type"] == "/problems/not-found"
    response = call(case.insider(factory, info))
    assert response.status_code in (200, 204), response.text


def test_outside_scope_page_is_404(browser_client, factory):
    target = factory.user(Role.INSTITUTION_STAFF, institution=factory.institution("360403"))
    outsider = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    login(browser_client, outsider.username)
    page = browser_client.get(f"/admin/users/{target.id}")
    assert page.status_code == 404
    assert "未找到" in page.text


# --- one change row per write ------------------------------------------------------------------


def _change_rows(db, obj) -> int:
    return db.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.object_type == obj.__tablename__, AuditLog.object_id == str(obj.id))
    )


WRITES: dict[type, tuple[Callable[[Factory], object], Callable[[object], None]]] = {
    User: (
        lambda f: f.user(Role.STATION, commit=False),
        lambda u: setattr(u, "display_name", "新名称"),
    ),
    Institution: (lambda f: f.institution(), lambda i: setattr(i, "name", "改名后的检测机构")),
    ApiToken: (lambda f: _token(f), lambda t: setattr(t, "name", "改名")),
    RoleGrant: (
        lambda f: _grant(f),
        lambda g: setattr(g, "granted", False),
    ),
    RuleThreshold: (
        lambda f: _threshold(f),
        lambda t: setattr(t, "value", 45.0),
    ),
}


def _token(f: Factory) -> ApiToken:
    _, row = create_api_token(db=f.db, settings=f.settings, user=f.user(commit=False), name="脚本")
    return row


def _bare_specialty(f: Factory) -> Specialty:
    specialty = Specialty(code=f"S{f._next()}", name="无项目的专项")
    f.db.add(specialty)
    f.db.flush()
    return specialty


def _bare_item(f: Factory) -> TestItem:
    item = TestItem(specialty_id=_bare_specialty(f).id, code=f"I{f._next()}", name="无参数的项目")
    f.db.add(item)
    f.db.flush()
    return item


def _catalogue_row(f: Factory, which: int) -> object:
    return catalogue(f.db, code=f"9{f._next() % 10}")[which]


WRITES.update(
    {
        Client: (
            lambda f: _exchange_client(f)[0],
            lambda c: setattr(c, "status", ClientStatus.SUSPENDED.value),
        ),
        ClientKey: (
            lambda f: (
                exchange_clients.issue_key(
                    f.db, _exchange_client(f)[0], f.settings, alg="hmac-sha256"
                ).key
            ),
            lambda k: setattr(k, "revoke_reason", "私钥泄露"),
        ),
        Specialty: (lambda f: _bare_specialty(f), lambda o: setattr(o, "min_inspectors", 9)),
        TestItem: (lambda f: _bare_item(f), lambda o: setattr(o, "name", "改名项目")),
        Parameter: (lambda f: _catalogue_row(f, 2), lambda o: setattr(o, "required", False)),
    }
)


def _touch(obj: object) -> None:
    """Change one ordinary column of a registry row."""
    for name in ("name", "course", "method", "position", "number"):
        if hasattr(obj, name):
            setattr(obj, name, f"改过的{name}")
            return
    if hasattr(obj, "end_date"):
        import datetime as dt

        obj.end_date = dt.date(2030, 1, 1)
        return
    if hasattr(obj, "parameter_id"):  # a capability: point it at another parameter
        from sqlalchemy.orm import object_session

        db = object_session(obj)
        obj.parameter_id = catalogue(db, code="98")[2].id
        return
    raise AssertionError(f"no field to change on {type(obj).__name__}")


for _kind, _spec in specs().items():
    if not _spec.is_institution:
        WRITES[_spec.model] = (
            lambda f, k=_kind: registry_row(f, k, f.institution()),
            _touch,
        )
WRITES[ELicence] = (
    lambda f: registry_row(f, "licences", f.institution()),
    lambda o: setattr(o, "number", "L-CHANGED"),
)


def _threshold(f: Factory) -> RuleThreshold:
    row = RuleThreshold(rule_id="test_rule", region_code="360400", key="max_days", value=30.0)
    f.db.add(row)
    f.db.flush()
    return row


def _grant(f: Factory) -> RoleGrant:
    grant = RoleGrant(role=Role.EXPERT.value, permission="institution:read", granted=True)
    f.db.add(grant)
    f.db.flush()
    return grant


def test_every_change_logged_model_has_a_case():
    logged = {m for m in _models() if issubclass(m, ChangeLogged)}
    assert logged == set(WRITES), "add new change-logged models to WRITES"


@pytest.mark.parametrize("model", list(WRITES), ids=lambda m: m.__name__)
def test_each_write_makes_one_change_row(db, factory, model):
    make, change = WRITES[model]
    obj = make(factory)
    db.flush()
    assert _change_rows(db, obj) == 1, "create"
    created = db.scalars(
        select(AuditLog)
        .where(AuditLog.object_type == obj.__tablename__)
        .order_by(AuditLog.id.desc())
    ).first()
    assert created.action == "create"
    assert created.after

    change(obj)
    db.flush()
    assert _change_rows(db, obj) == 2, "update"
    update = db.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert update.action == "update"
    assert update.before != update.after

    db.flush()  # a flush with no change writes nothing
    assert _change_rows(db, obj) == 2

    obj_id = obj.id
    db.delete(obj)
    db.flush()
    deleted = db.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert (deleted.action, deleted.object_id) == ("delete", str(obj_id))
    assert deleted.before


def test_change_rows_hide_secrets_and_mask_personal_data(db, factory):
    user = factory.user(Role.STATION, commit=False, phone="13812345678", email="zhang@example.com")
    row = db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "user_account", AuditLog.object_id == str(user.id)
        )
    ).one()
    assert "password_hash" not in row.after
    assert row.after["phone"] == "138****5678"
    assert row.after["email"] == "z***@example.com"
    user.password_hash = "changed"
    db.flush()
    update = db.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert update.after == {"password_hash": "（已修改，内容不记录）"}


# --- forms reject a missing CSRF token ---------------------------------------------------------


def _resolves_principal(dependant) -> bool:
    from jcjg.auth.deps import Requires

    return isinstance(dependant.call, Requires) or any(
        _resolves_principal(d) for d in dependant.dependencies
    )


def _signed(route: APIRoute) -> bool:
    """A route of the signed exchange API: no principal, so no cookie is honoured and there is
    no CSRF to check (tests/test_route_matrix.py proves a session cookie opens nothing there)."""
    return route.path.startswith("/exchange/v1/") and not _resolves_principal(route.dependant)


def _unsafe_page_routes(app) -> list[tuple[str, str]]:
    out = []
    for route in all_routes(app.routes):
        if (
            isinstance(route, APIRoute)
            and not route.path.startswith("/api/")
            and not _signed(route)
        ):
            for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
                out.append((method, route.path))
    return sorted(out)


def test_every_form_rejects_a_missing_csrf_token(app, browser_client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    target = factory.user(Role.STATION)
    routes = _unsafe_page_routes(app)
    assert ("POST", "/admin/users") in routes
    anonymous_forms = {"/login", "/login/totp"}
    for path in anonymous_forms:
        response = browser_client.post(path, data={"username": "x", "code": "123456"})
        assert response.status_code == 403, path
    login(browser_client, admin.username)
    for method, path in routes:
        if path in anonymous_forms:
            continue
        path_ = path.replace("{kind}", "people").replace(":int}", "}")
        url = re.sub(r"\{\w+\}", str(target.id), path_)
        response = browser_client.request(method, url, data={"name": "x", "csrf_token": "wrong"})
        assert response.status_code == 403, (method, path, response.status_code)
        assert "表单已失效" in response.text
        response = browser_client.request(method, url, data={"name": "x"})
        assert response.status_code == 403, (method, path)
    # and the session still works: nothing was done, the user is unchanged and logged in
    assert browser_client.get("/").status_code == 200


def test_api_with_session_cookie_needs_csrf_header(client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(client, admin.username)
    body = {"name": "脚本"}
    refused = client.post("/api/v1/tokens", json=body)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/csrf"
    from tests.factories import page_csrf

    ok = client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": page_csrf(client)})
    assert ok.status_code == 201
    assert ok.json()["token"].startswith("jcjg_")


def test_csrf_failures_and_denials_are_audited(client, db, factory):
    staff = factory.user(Role.INSTITUTION_STAFF)
    token = factory.token(staff)
    response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    denial = db.scalars(
        select(AuditLog).where(AuditLog.action == "denied").order_by(AuditLog.id.desc())
    ).first()
    assert denial is not None
    assert denial.username == staff.username
    assert "/api/v1/users" in denial.detail


def test_every_route_that_resolves_a_principal_commits_its_transaction(app):
    """A route that opens the request's session without TransactionalRoute would leave it
    open (on SQLite holding the write lock): every route with ``requires`` must be one."""
    from jcjg.core.deps import TransactionalRoute

    offenders = [
        route.path
        for route in all_routes(app.routes)
        if isinstance(route, APIRoute)
        and _resolves_principal(route.dependant)
        and not isinstance(route, TransactionalRoute)
    ]
    assert offenders == []


def test_a_non_ascii_csrf_token_is_refused_not_a_crash(client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(client, admin.username)
    headers = {"X-CSRF-Token": "令牌".encode()}
    response = client.post("/api/v1/tokens", json={"name": "x"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/csrf"
    form = client.post("/login", data={"csrf_token": "令牌", "username": "a", "password": "b"})
    assert form.status_code == 403


# --- projects and the sampling chain ------------------------------------------------------------


def _sampling_case(model: type) -> ScopeCase:
    """An object of the sampling chain in a project of 九江: a witness of another project, a
    station of 南昌 and another institution's staff do not find it; the project's witness does."""

    def make(f: Factory) -> tuple[int, dict]:
        from tests.sampling.conftest import make_chain

        chain = make_chain(f.db, f.settings, f)
        sample = chain.register()
        chain.seal(sample)
        lab = f.institution()
        commission = Commission(
            institution_id=lab.id,
            region_code=chain.project.region_code,
            project_id=chain.project.id,
            number="WT-SCOPE",
            year=2026,
            seq=1,
            commissioned_on=sample.sampled_at.date(),
        )
        f.db.add(commission)
        f.db.flush()
        receipt = sampling_service.check_receipt(
            db=f.db,
            settings=f.settings,
            data=sampling_service.ReceiptInput(
                sample_code=sample.sample_code, institution=lab, photo=photo(1, 1)
            ),
            now=sample.sampled_at,
        )
        objects = {
            Project: chain.project,
            ProjectMember: f.db.scalars(
                select(ProjectMember).where(ProjectMember.project_id == chain.project.id)
            ).first(),
            SampleCodeBatch: f.db.scalars(
                select(SampleCodeBatch).where(SampleCodeBatch.project_id == chain.project.id)
            ).first(),
            SampleCode: f.db.scalars(
                select(SampleCode).where(SampleCode.code == sample.sample_code)
            ).one(),
            Sample: sample,
            WitnessKey: f.db.scalars(
                select(WitnessKey).where(WitnessKey.key_id == chain.key_id)
            ).one(),
            SampleSeal: f.db.scalars(
                select(SampleSeal).where(SampleSeal.sample_id == sample.id)
            ).one(),
            WitnessRecord: f.db.scalars(
                select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)
            ).one(),
            IdentityCheck: f.db.scalars(
                select(IdentityCheck).where(IdentityCheck.sample_id == sample.id)
            ).first(),
            Commission: commission,
            SampleReceipt: receipt,
        }
        f.db.commit()
        return objects[model].id, {"witness": chain.witness}

    return ScopeCase(
        make,
        None,
        lambda f, i: [
            f.user(Role.WITNESS),  # assigned to another project
            f.user(Role.STATION, region_code="360100"),
            f.user(Role.INSTITUTION_STAFF),
        ],
        lambda f, i: i["witness"],
    )


SCOPED.update(
    {
        model: _sampling_case(model)
        for model in (
            Project,
            ProjectMember,
            SampleCodeBatch,
            SampleCode,
            Sample,
            WitnessKey,
            SampleSeal,
            WitnessRecord,
            IdentityCheck,
            Commission,
            SampleReceipt,
        )
    }
)


def _bare_member(f: Factory) -> ProjectMember:
    project = f.project()
    user = f.user(Role.WITNESS, project_ids=(project.id,), commit=False)
    member = ProjectMember(
        project_id=project.id,
        region_code=project.region_code,
        user_id=user.id,
        role="witness",
        name="见证员",
        id_number="",
        starts_on=dt.date(2026, 1, 1),
    )
    f.db.add(member)
    return member


def _bare_batch(f: Factory) -> SampleCodeBatch:
    project = f.project()
    batch = SampleCodeBatch(
        project_id=project.id, region_code=project.region_code, year=2026, first_serial=1, count=1
    )
    f.db.add(batch)
    return batch


def _bare_sample(f: Factory) -> Sample:
    project = f.project()
    user = f.user(Role.SAMPLER, project_ids=(project.id,), commit=False)
    sample = Sample(
        sample_code=f"3604022600{f._next():05d}X",
        project_id=project.id,
        region_code=project.region_code,
        material="混凝土试块",
        prepared_at=dt.datetime(2026, 11, 18, tzinfo=dt.UTC),
        sampler_user_id=user.id,
        photo_sample_sha256="a" * 64,
        photo_tag_sha256="b" * 64,
        photo_person_sha256="c" * 64,
        sample_phash="0" * 16,
    )
    f.db.add(sample)
    return sample


def _bare_key(f: Factory) -> WitnessKey:
    user = f.user(Role.WITNESS, commit=False)
    key = WitnessKey(user_id=user.id, key_id=f"{f._next():064d}", public_key=b"k" * 32)
    f.db.add(key)
    return key


def _bare_commission(f: Factory) -> Commission:
    project, lab = f.project(), f.institution()
    commission = Commission(
        institution_id=lab.id,
        region_code=project.region_code,
        project_id=project.id,
        number=f"WT-{f._next()}",
        year=2026,
        seq=1,
        commissioned_on=dt.date(2026, 11, 18),
    )
    f.db.add(commission)
    return commission


WRITES.update(
    {
        Project: (lambda f: f.project(), lambda p: setattr(p, "name", "改名后的工程")),
        ProjectMember: (_bare_member, lambda m: setattr(m, "unit_name", "新监理单位")),
        SampleCodeBatch: (_bare_batch, lambda b: setattr(b, "count", 2)),
        Sample: (_bare_sample, lambda s: setattr(s, "structure_part", "2 层柱")),
        WitnessKey: (_bare_key, lambda k: setattr(k, "device", "新手机")),
        Commission: (_bare_commission, lambda c: setattr(c, "client_unit", "新委托单位")),
    }
)


# --- test records -------------------------------------------------------------------------------


def _testing_case(model: type) -> ScopeCase:
    """A test record of a 九江 lab on a project: another lab's staff, a station of 南昌 and a
    party unit of another project do not find it; the lab's staff and the project's party
    unit do."""

    def make(f: Factory) -> tuple[int, dict]:
        import random

        from jcjg.demo import synthetic
        from jcjg.testing import service as testing_service
        from jcjg.testing.models import (
            Curve,
            OnSitePlan,
            OnSiteRecord,
            Revision,
            Specimen,
            TestRecord,
        )
        from jcjg.testing.schemas import OnSitePlanIn, OnSiteRecordIn, RecordIn, RevisionIn
        from tests.testing.conftest import points

        lab = f.institution(region_code="360403")
        project = f.project()
        curve = synthetic.concrete(random.Random(1), peak_kn=800, rate_kn_s=13)
        now = dt.datetime.now(dt.UTC)
        common = {
            "message_id": "5d0c8d0e-2f6b-4b8a-9a31-7c4e0f9b2a11",
            "institution_code": lab.code,
        }
        record = testing_service.store_record(
            db=f.db,
            settings=f.settings,
            institution=lab,
            data=RecordIn.model_validate(
                {
                    **common,
                    "number": "JL-SCOPE",
                    "kind": "concrete_compression",
                    "item_code": "0108",
                    "project_code": project.code,
                    "started_at": (now - dt.timedelta(minutes=10)).isoformat(),
                    "ended_at": (now - dt.timedelta(minutes=5)).isoformat(),
                    "acquisition": "auto",
                    "grade": "C30",
                    "specimen_size_mm": 150,
                    "specimens": [
                        {
                            "position": 1,
                            "values": {"peak_kn": 800},
                            "curve": {"points": points(curve)},
                        }
                    ],
                }
            ),
            received_at=now,
        )
        revision = testing_service.store_revision(
            db=f.db,
            institution=lab,
            data=RevisionIn.model_validate(
                {
                    **common,
                    "record_number": "JL-SCOPE",
                    "field": "specimens[1].peak_kn",
                    "before": 800,
                    "after": 790,
                    "reason": "复核更正",
                    "revised_by": "王检测",
                    "revised_at": now.isoformat(),
                }
            ),
            received_at=now,
        )
        start = (now + dt.timedelta(days=10)).isoformat()
        plan = testing_service.store_plan(
            db=f.db,
            institution=lab,
            data=OnSitePlanIn.model_validate(
                {
                    **common,
                    "number": "FA-SCOPE",
                    "project_code": project.code,
                    "item_code": "0203",
                    "method_statement": "回弹法",
                    "planned_start": start,
                    "planned_end": start,
                }
            ),
            received_at=now,
        )
        onsite = testing_service.store_onsite_record(
            db=f.db,
            institution=lab,
            data=OnSiteRecordIn.model_validate(
                {
                    **common,
                    "number": "JL-SCOPE",
                    "plan_number": "FA-SCOPE",
                    "project_code": project.code,
                    "item_code": "0203",
                    "started_at": now.isoformat(),
                    "ended_at": now.isoformat(),
                }
            ),
            received_at=now,
        )
        objects = {
            OnSitePlan: plan,
            OnSiteRecord: onsite,
            TestRecord: record,
            Specimen: f.db.scalars(
                select(Specimen).where(Specimen.test_record_id == record.id)
            ).one(),
            Curve: f.db.scalars(select(Curve).where(Curve.test_record_id == record.id)).one(),
            Revision: revision,
        }
        party = f.user(Role.PARTY_UNIT, project_ids=(project.id,), commit=False)
        staff = f.user(Role.INSTITUTION_STAFF, institution=lab, commit=False)
        f.db.commit()
        return objects[model].id, {"staff": staff, "party": party}

    return ScopeCase(
        make,
        None,
        lambda f, i: [
            f.user(Role.INSTITUTION_STAFF),  # another lab
            f.user(Role.STATION, region_code="360100"),
            f.user(Role.PARTY_UNIT),  # another project
        ],
        lambda f, i: i["staff"],
    )


def _testing_models() -> tuple[type, ...]:
    from jcjg.testing.models import Curve, OnSitePlan, OnSiteRecord, Revision, Specimen, TestRecord

    return (TestRecord, Specimen, Curve, Revision, OnSitePlan, OnSiteRecord)


SCOPED.update({model: _testing_case(model) for model in _testing_models()})


# --- reports and signing certificates -----------------------------------------------------------


def _report_case() -> ScopeCase:
    """A report of a 九江 lab on a project: another lab's staff, a station of 南昌 and a party
    unit of another project do not find it; the lab's staff does."""

    def make(f: Factory) -> tuple[int, dict]:
        from jcjg.reports import service as reports_service
        from jcjg.reports.schemas import ReportIn

        lab = f.institution(region_code="360403")
        project = f.project()
        now = dt.datetime.now(dt.UTC)
        report = reports_service.issue_report(
            db=f.db,
            institution=lab,
            data=ReportIn.model_validate(
                {
                    "message_id": "5d0c8d0e-2f6b-4b8a-9a31-7c4e0f9b2a12",
                    "institution_code": lab.code,
                    "number": "BG-SCOPE",
                    "sequence": 1,
                    "project_code": project.code,
                    "items": ["0108"],
                    "signatories": [{"name": "王检测"}],
                    "issued_on": now.date().isoformat(),
                }
            ),
            received_at=now,
        )
        staff = f.user(Role.INSTITUTION_STAFF, institution=lab, commit=False)
        f.db.commit()
        return report.id, {"staff": staff}

    return ScopeCase(
        make,
        None,
        lambda f, i: [
            f.user(Role.INSTITUTION_STAFF),
            f.user(Role.STATION, region_code="360100"),
            f.user(Role.PARTY_UNIT),
        ],
        lambda f, i: i["staff"],
    )


def _signing_certificate(f: Factory, inst: Institution | None = None) -> object:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from jcjg.registry.models import Person, SigningCertificate

    inst = inst or f.institution(region_code="360403")
    person = Person(
        institution_id=inst.id, region_code=inst.region_code, name="王签字",
        id_number="360403198001010015",
    )  # fmt: skip
    f.db.add(person)
    f.db.flush()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "王签字")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    der = cert.public_bytes(serialization.Encoding.DER)
    row = SigningCertificate(
        institution_id=inst.id, region_code=inst.region_code, person_id=person.id,
        sha256=hashlib.sha256(der).hexdigest(), subject="CN=王签字", serial_number="1",
        not_before=now, not_after=now + dt.timedelta(days=365), der=der,
    )  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _signing_certificate_case() -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict]:
        inst = f.institution(region_code="360403")
        row = _signing_certificate(f, inst)
        f.db.commit()
        return row.id, {"inst": inst}  # type: ignore[attr-defined]

    return ScopeCase(
        make,
        None,
        _region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    )


def _report_model() -> type:
    from jcjg.reports.models import Report

    return Report


def _signing_model() -> type:
    from jcjg.registry.models import SigningCertificate

    return SigningCertificate


SCOPED[_report_model()] = _report_case()
SCOPED[_signing_model()] = _signing_certificate_case()
WRITES[_signing_model()] = (_signing_certificate, lambda c: setattr(c, "subject", "CN=改名"))


def _contract_case() -> ScopeCase:
    """A 九江 lab's contract on a project: another lab, a station of 南昌 and a party unit of
    another project do not find it; the lab's staff does."""

    def make(f: Factory) -> tuple[int, dict]:
        from jcjg.contracts.models import Contract

        lab = f.institution(region_code="360403")
        project = f.project()
        row = Contract(
            institution_id=lab.id, region_code=lab.region_code, project_id=project.id,
            number="HT-SCOPE", year=2026, sequence=1, client_unit="建设单位",
            signed_on=dt.date(2026, 11, 2), pdf_sha256="0" * 64,
        )  # fmt: skip
        f.db.add(row)
        staff = f.user(Role.INSTITUTION_STAFF, institution=lab, commit=False)
        f.db.commit()
        return row.id, {"staff": staff}

    return ScopeCase(
        make,
        "/contracts/{id}",
        lambda f, i: [
            f.user(Role.INSTITUTION_STAFF),
            f.user(Role.STATION, region_code="360100"),
            f.user(Role.PARTY_UNIT),
        ],
        lambda f, i: i["staff"],
        session=True,
    )


def _contract_model() -> type:
    from jcjg.contracts.models import Contract

    return Contract


SCOPED[_contract_model()] = _contract_case()
