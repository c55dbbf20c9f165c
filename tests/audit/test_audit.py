"""The audit trail: written with the change, never editable, searchable by those in scope."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import StatementError

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


def test_change_rows_written_together_hold_what_each_would_alone(db):
    """Change rows are written by one statement (on PostgreSQL, their rows one JSON parameter
    read by ``json_to_recordset``, issue 44): each column reads back as the row-by-row insert
    writes it, in the rows' order, a before or after of None as JSON null, times to the
    microsecond in UTC, text in Chinese, values beyond 64 bits (the standard library's JSON)."""
    beijing = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2026, 11, 29, 21, 40, 0, 123456, tzinfo=beijing)
    first = _change_row(at, user_id=7, username="张三", request_id="r-1", ip="203.0.113.7",
                        object_id="12", object_repr="压力试验机 “甲”\\n",
                        before={"name": "旧", "n": 1.5, "list": [1, None, True]},
                        after={"name": "新", "n": 2, "list": []}, detail="说明",
                        region_code="360100", institution_id=3)  # fmt: skip
    rows = [
        first,
        _change_row(at + dt.timedelta(microseconds=1), action="create", after={"k": "v"}),
        _change_row(at, before={"big": 2**70}, after={"big": -(2**70)}),
    ]
    conn = db.connection()
    for many in (False, True):
        rows = [r | {"detail": f"{'逐行' if many else '一起'}-{i}"} for i, r in enumerate(rows)]
        if many:
            conn.execute(insert(AuditLog), rows)
        else:
            audit_service.insert_rows(conn, rows)
    written = db.scalars(select(AuditLog).where(AuditLog.object_type == "equipment")
                         .order_by(AuditLog.id)).all()  # fmt: skip
    expected = [f"{way}-{i}" for way in ("一起", "逐行") for i in range(3)]
    assert [r.detail for r in written] == expected
    for together, alone in zip(written[:3], written[3:], strict=True):
        for column in audit_service._COLUMNS:
            if column != "detail":
                assert getattr(together, column) == getattr(alone, column), column
    assert written[0].at == at
    assert written[0].before == {"name": "旧", "n": 1.5, "list": [1, None, True]}
    assert written[1].before is None
    assert written[2].after == {"big": -(2**70)}
    if db.get_bind().dialect.name == "postgresql":
        nulls = db.execute(text("SELECT count(*) FROM audit_log WHERE object_type = 'equipment' "
                                "AND (before IS NULL OR after IS NULL)")).scalar()  # fmt: skip
        assert nulls == 0  # JSON null, as the JSON columns write None
    with pytest.raises((ValueError, StatementError), match="naive"):
        audit_service.insert_rows(conn, [_change_row(at.replace(tzinfo=None))])
