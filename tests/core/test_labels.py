"""One place for labels: known keys of every kind, unknown keys readable, pages without ids."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from fastapi.testclient import TestClient

from jcjg.auth.choices import Role
from jcjg.core import labels
from jcjg.core.domains import Domain, DomainConflict, installed_with
from jcjg.core.templating import templates
from tests.factories import Factory, login

SNAKE = re.compile(r"[a-z]+_[a-z0-9_]+")


@pytest.mark.parametrize(
    ("kind", "key", "text"),
    [
        ("rule", "loading_rate", "加荷速度"),
        ("field", "strength_mpa", "强度代表值（MPa）"),
        ("field", "2.yield_mpa", "2 号屈服强度（MPa）"),
        ("field", "specimens[2].values.yield_kn", "试件 2：屈服力（kN）"),
        ("entity", "test_record", "检测记录"),
        ("entity", "user_account", "用户账号"),
        ("permission", "audit:read", "查看审计日志"),
        ("tag", "sample:seal", "样品加封"),
        ("role", "auditor", "审计员（只读）"),
        ("problem", "forbidden", "无权操作"),
    ],
)
def test_known_keys_have_their_chinese_label(kind: str, key: str, text: str) -> None:
    assert text in labels.label(kind, key)
    assert not SNAKE.search(labels.label(kind, key))


def test_unknown_keys_are_readable_and_never_fail() -> None:
    assert labels.label("field", "made_up_key") == "made up key"
    assert labels.label("no such kind", "x_y") == "x y"
    assert labels.label("field", None) == "—"
    assert labels.label("entity", "") == "—"
    assert labels.label("field", 12) == "12"
    assert labels.label("tag", "nothing_here:do_it") == "nothing here do it"


def test_the_template_filter_and_global_use_the_same_labels() -> None:
    env = templates().env
    page = env.from_string(
        "{{ 'loading_rate'|label('rule') }}/{{ label('entity', 'test_record') }}"
    )
    assert page.render() == f"{labels.label('rule', 'loading_rate')}/检测记录"


class Colour(StrEnum):
    RED = "red"

    @property
    def label(self) -> str:
        return "红色"


def test_domains_contribute_labels_and_conflicts_are_refused() -> None:
    mine = Domain(
        name="paint", title="涂料", labels={"colour": Colour, "entity": {"paint_can": "涂料桶"}}
    )
    with installed_with(mine):
        assert labels.label("colour", "red") == "红色"
        assert labels.label("entity", "paint_can") == "涂料桶"
        assert labels.label("entity", "test_record") == "检测记录"  # the others' kept
    assert labels.label("entity", "paint_can") == "paint can"  # gone with the domain
    clash = Domain(name="clash", title="冲突", labels={"entity": {"test_record": "试验记录"}})
    with pytest.raises(DomainConflict, match="test_record"), installed_with(clash):
        pass


def test_the_403_page_names_the_permission_in_chinese(
    factory: Factory, browser_client: TestClient
) -> None:
    factory.user(Role.WITNESS, region_code="360400", username="w403")
    login(browser_client, "w403")
    page = browser_client.get("/audit")
    assert page.status_code == 403
    assert "查看审计日志" in page.text
    assert "audit:read" not in page.text


def test_the_api_403_problem_names_the_permission_in_chinese(
    factory: Factory, client: TestClient
) -> None:
    factory.user(Role.WITNESS, region_code="360400", username="w403api")
    login(client, "w403api")
    problem = client.get("/api/v1/audit").json()
    assert problem["status"] == 403
    assert "查看审计日志" in problem["detail"]
    assert "audit:read" not in problem["detail"]


def test_an_object_has_its_page_by_kind_and_id() -> None:
    assert labels.page_of("test_record", 7) == "/testing/records/7"
    assert labels.page_of("user_account", "3") == "/admin/users/3"
    assert labels.page_of("test_record", "x; drop") is None
    assert labels.page_of("ledger_leaf", 1) is None
    assert labels.page_of(None, 1) is None


def test_the_audit_log_names_object_kinds_and_links_the_object(
    db, factory: Factory, browser_client: TestClient
) -> None:
    from sqlalchemy import select

    from jcjg.audit.models import AuditLog

    factory.user(Role.PLATFORM_ADMIN, username="auditlabels")
    someone = factory.user(Role.WITNESS, region_code="360400", username="someone")
    row = db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "user_account", AuditLog.object_id == str(someone.id)
        )
    ).first()
    assert row is not None
    login(browser_client, "auditlabels")
    listed = browser_client.get("/audit").text
    assert "用户账号" in listed
    detail = browser_client.get(f"/audit/{row.id}").text
    link = f'<a href="/admin/users/{someone.id}" data-testid="audit-object" data-verbatim>'
    assert link in detail
    assert "user_account" not in detail.split("<main", 1)[1].split("</main>", 1)[0]


def test_stored_values_are_shown_in_words() -> None:
    env = templates().env
    assert labels.shown("role", "platform_admin") == "平台管理员"
    assert labels.shown("user_account.role", "auditor") == "审计员（只读）"
    assert labels.shown("is_active", True) == "是"
    assert labels.shown("is_active", False) == "否"
    assert labels.shown("email", None) == "—"
    assert labels.shown("number", "JL-1") == "JL-1"  # typed data as typed
    time = env.from_string("{{ v|shown('created_at') }}").render(v="2026-11-23T00:29:16+00:00")
    assert time == "2026-11-23 08:29:16"


def test_a_rule_names_fact_keys_its_own_way_then_the_platforms() -> None:
    from jcjg.alerts.engine import rule_of

    late = rule_of("late_upload")
    assert late is not None
    assert late.label("auto_minutes") == late.labels["auto_minutes"]  # the rule's own
    assert late.label("commission_number") == "委托编号"  # a finding key the platform names
    assert late.label("peak_kn") == "破坏荷载（kN）"  # a result key
    assert late.label("never_heard_of") == "never heard of"


def test_a_rule_gone_from_the_code_is_named_without_its_id() -> None:
    from jcjg.alerts.service import rule_title

    assert rule_title("loading_rate") == labels.label("rule", "loading_rate")
    assert rule_title("gone_rule") == "已停用的规则（gone rule）"


def test_every_kind_of_alert_subject_has_a_label() -> None:
    from jcjg.alerts.engine import rules

    unlabelled = {
        r.subject_type
        for r in rules().values()
        if labels.label("entity", r.subject_type)
        in (r.subject_type, labels.readable(r.subject_type))
    }
    assert unlabelled == set()


def _entry_types() -> set[str]:
    """Every tag a domain notarises under (``*_TYPE = "<entity>:<action>"`` in src/jcjg)."""
    import ast
    from pathlib import Path

    import jcjg

    found: set[str] = set()
    for path in Path(jcjg.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id.endswith("_TYPE") for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                and re.fullmatch(r"[a-z_]+:[a-z_]+", node.value.value)
            ):
                found.add(node.value.value)
    return found


def test_every_notarised_entry_type_has_a_chinese_label() -> None:
    """Pages name a log entry (the ledger, a child platform's refused leaves) by its tag's
    label: none falls back to the tag's words (``行政处罚 decide``)."""
    types = _entry_types()
    assert {"penalty:decide", "report:legacy_import", "sample:seal"} & types
    unlabelled = {
        t: labels.label("tag", t) for t in types if re.search("[a-z]", labels.label("tag", t))
    }
    assert unlabelled == {}
