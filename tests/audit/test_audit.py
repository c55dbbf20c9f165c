"""The audit trail: written with the change, never editable, searchable by those in scope."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import DataError, StatementError

from jcjg.audit import service as audit_service
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from tests.factories import login


def test_orm_refuses_to_edit_or_delete_audit_rows(db, factory):
    factory.user()
    row = db.scalars(select(AuditLog)).first()
    row.detail = "篡改"
    with pytest.raises(PermissionError):
        db.flush()
    db.rollback()
    row = db.scalars(select(AuditLog)).first()
    db.delete(row)
    with pytest.raises(PermissionError):
        db.flush()


def test_login_and_logout_are_audited(browser_client, db, factory):
    user = factory.user()
    login(browser_client, user.username)
    from tests.factories import page_csrf

    browser_client.post("/logout", data={"csrf_token": page_csrf(browser_client)})
    actions = db.scalars(
        select(AuditLog.action).where(AuditLog.username == user.username).order_by(AuditLog.id)
    ).all()
    assert actions[-2:] == ["login", "logout"]
    # a login's bookkeeping (last login time, failure counter) is no edit of the account
    assert "update" not in actions


def test_audit_pages_search_and_detail(browser_client, db, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    target = factory.user(Role.STATION)
    target.display_name = "改过的名字"
    db.commit()
    login(browser_client, admin.username)
    page = browser_client.get("/audit?action=update&object_type=user_account")
    assert page.status_code == 200
    assert "修改" in page.text
    row = db.scalars(
        select(AuditLog).where(
            AuditLog.action == "update",
            AuditLog.object_type == "user_account",
            AuditLog.object_id == str(target.id),
        )
    ).one()
    detail = browser_client.get(f"/audit/{row.id}")
    assert "改过的名字" in detail.text
    assert "姓名" in detail.text  # the field by its label
    assert "display_name" not in detail.text


def test_audit_api_is_scoped(client, factory):
    jj_inst = factory.institution(region_code="360403")
    nc_inst = factory.institution(region_code="360102")
    jj_city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    headers = {"Authorization": f"Bearer {factory.token(jj_city)}"}
    page = client.get("/api/v1/audit?object_type=institution&limit=200", headers=headers).json()
    ids = {item["object_id"] for item in page["items"]}
    assert str(jj_inst.id) in ids
    assert str(nc_inst.id) not in ids


def test_the_audit_page_filters_by_days_and_by_a_kind_of_object(browser_client, db, factory):
    import datetime as dt

    from jcjg.core.workdays import beijing_date

    admin = factory.user(Role.PLATFORM_ADMIN)
    db.add_all([
        AuditLog(action="update", username="old", object_type="institution", object_repr="旧的",
                 at=dt.datetime(2025, 3, 1, 15, 59, tzinfo=dt.UTC)),  # 23:59 on 1 March, Beijing
        AuditLog(action="update", username="new", object_type="institution", object_repr="新的",
                 at=dt.datetime(2025, 3, 1, 16, 0, tzinfo=dt.UTC)),  # 00:00 on 2 March
    ])  # fmt: skip
    db.commit()
    login(browser_client, admin.username)
    page = browser_client.get("/audit?object_type=institution&since=2025-03-02&until=2025-03-02")
    assert page.status_code == 200
    assert "新的" in page.text
    assert "旧的" not in page.text
    assert '<option value="institution" selected>检测机构</option>' in page.text
    assert 'name="since" value="2025-03-02"' in page.text
    assert "筛选条件（已选 3 项）" in page.text  # folded on a phone, the summary still says
    assert "已选" not in browser_client.get("/audit").text
    first = browser_client.get("/audit?object_type=institution&until=2025-03-01").text
    assert "旧的" in first
    assert "新的" not in first
    today = beijing_date(dt.datetime.now(dt.UTC)).isoformat()
    assert browser_client.get(f"/audit?since={today}").status_code == 200
    for bad in ("since=2025-13-01", "until=0", "since=2025-03-02&until=2025-03-01"):
        answer = browser_client.get(f"/audit?{bad}")
        assert answer.status_code == 400, bad
        assert "日期" in answer.text


def _change_row(at, **given):
    row = dict.fromkeys(audit_service._COLUMNS)
    return row | {"at": at, "action": "update", "object_type": "equipment"} | given


def _both_ways(db, rows, kind):
    """``rows`` written (as objects of ``kind``) by insert_rows and by the row-by-row insert:
    the two lists of rows read back, and the statements insert_rows ran."""
    rows = [r | {"object_type": kind} for r in rows]
    conn = db.connection()
    ran = []
    listen = lambda *a: ran.append(a[2])  # noqa: E731 (before_cursor_execute's statement)
    event.listen(conn, "before_cursor_execute", listen)
    try:
        together = [r | {"detail": f"一起-{i}"} for i, r in enumerate(rows)]
        audit_service.insert_rows(conn, together)
    finally:
        event.remove(conn, "before_cursor_execute", listen)
    conn.execute(insert(AuditLog), [r | {"detail": f"逐行-{i}"} for i, r in enumerate(rows)])
    written = db.scalars(select(AuditLog).where(AuditLog.object_type == kind)
                         .order_by(AuditLog.id)).all()  # fmt: skip
    expected = [f"{way}-{i}" for way in ("一起", "逐行") for i in range(len(rows))]
    assert [r.detail for r in written] == expected
    return written[: len(rows)], written[len(rows) :], ran


def test_change_rows_written_together_hold_what_each_would_alone(db):
    """Change rows are written by one statement (on PostgreSQL, their rows one JSON parameter
    read by ``json_to_recordset``, issue 44): each column reads back as the row-by-row insert
    writes it, in the rows' order, a before or after of None as JSON null, times to the
    microsecond in UTC, text in Chinese, quotes, backslashes, line breaks and emoji. What the
    JSON parameter would not hold as the JSON columns do (an integer beyond 64 bits, a NUL
    character, a number that is not finite, a lone surrogate) is written row by row, as
    before; a naive time is refused."""
    beijing = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2026, 11, 29, 21, 40, 0, 123456, tzinfo=beijing)
    first = _change_row(at, user_id=7, username="张三", request_id="r-1", ip="203.0.113.7",
                        object_id="12", object_repr='压力试验机 “甲” "乙" \\ 😀\n第二行',
                        before={"name": "旧", "n": 1.5, "list": [1, None, True]},
                        after={"name": "新\t\\", "n": 2, "list": [], "e": "😀"},
                        region_code="360100", institution_id=3)  # fmt: skip
    ordinary = [first, _change_row(at + dt.timedelta(microseconds=1), action="create",
                                   after={"k": "v"}, user_id=2**31 - 1)]  # fmt: skip
    postgresql = db.get_bind().dialect.name == "postgresql"
    together, alone, ran = _both_ways(db, ordinary, "equipment")
    assert any("json_to_recordset" in sql for sql in ran) is postgresql
    for one, other in zip(together, alone, strict=True):
        for column in audit_service._COLUMNS:
            if column != "detail":
                assert getattr(one, column) == getattr(other, column), column
    assert together[0].at == at
    assert together[0].object_repr == first["object_repr"]
    assert together[0].after == first["after"]
    assert together[1].before is None
    if postgresql:
        nulls = db.execute(text("SELECT count(*) FROM audit_log WHERE object_type = 'equipment' "
                                "AND (before IS NULL OR after IS NULL)")).scalar()  # fmt: skip
        assert nulls == 0  # JSON null, as the JSON columns write None
    for n, odd in enumerate(({"big": 2**70}, {"nul": "a\x00b"}, {"lone": "\ud800"})):
        row = _change_row(at, before=odd, after={"k": 1})
        together, alone, ran = _both_ways(db, [row], f"odd-{n}")
        assert not any("json_to_recordset" in sql for sql in ran), odd
        assert together[0].before == alone[0].before == odd
    if postgresql:  # the JSON columns refuse what is not JSON, written either way
        with pytest.raises(DataError):
            audit_service.insert_rows(db.connection(), [_change_row(at, after={"n": math.nan})])
        db.rollback()
    with pytest.raises((ValueError, StatementError), match="naive"):
        audit_service.insert_rows(db.connection(), [_change_row(at.replace(tzinfo=None))])
