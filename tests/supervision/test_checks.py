"""Checks by the drawn officers: findings per item, sign-off by both, the log entry written,
results published (no officer's name on the public page), the figures of a period, the log."""

from __future__ import annotations

import datetime as dt

from jcjg.auth.choices import Role
from jcjg.supervision import service
from jcjg.supervision.models import CheckItem, SupervisionLog
from tests.supervision.conftest import auth, drawn_plan


def _items(db) -> list[CheckItem]:
    return service.items_for(db, "institution")


def _do_check(client, db, factory, city, check: dict, bad: bool) -> None:
    users = {u.id: u for u in city.officers}
    first, second = (users[o["user_id"]] for o in check["officers"])
    for n, item in enumerate(_items(db)):
        result = "nonconforming" if bad and n == 1 else "conforming"
        body = {"item_id": item.id, "result": result, "finding": "设备检定证书过期" if bad else ""}
        answer = client.post(
            f"/api/v1/supervision/checks/{check['id']}/findings", json=body,
            headers=auth(factory, first),
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    conclusion = "nonconforming" if bad else "conforming"
    for who in (first, second):
        signed = client.post(
            f"/api/v1/supervision/checks/{check['id']}/sign",
            json={"conclusion": conclusion, "summary": "抽查设备检定、样品管理与报告档案"},
            headers=auth(factory, who),
        )
        assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed"


def test_checks_signed_by_both_are_logged_published_and_counted(
    client, browser_client, db, factory, city
):
    plan = drawn_plan(client, db, factory, city, institution_count=2)
    first, second = plan["checks"]
    outsider = next(
        u for u in city.officers if u.id not in {o["user_id"] for o in first["officers"]}
    )
    refused = client.post(
        f"/api/v1/supervision/checks/{first['id']}/findings",
        json={"item_id": _items(db)[0].id, "result": "conforming"},
        headers=auth(factory, outsider),
    )
    assert refused.status_code == 403
    empty = client.post(
        f"/api/v1/supervision/checks/{first['id']}/findings",
        json={"item_id": _items(db)[0].id, "result": "nonconforming", "finding": ""},
        headers=auth(factory, factory.db.get(type(outsider), first["officers"][0]["user_id"])),
    )
    assert empty.status_code == 422  # a nonconforming item says what was found
    headers = auth(factory, city.officer)
    early = client.post(f"/api/v1/supervision/plans/{plan['id']}/publish", headers=headers)
    assert early.status_code == 409
    _do_check(client, db, factory, city, first, bad=True)
    _do_check(client, db, factory, city, second, bad=False)
    logged = db.query(SupervisionLog).filter(SupervisionLog.kind == "spot_check").count()
    assert logged == 2
    published = client.post(f"/api/v1/supervision/plans/{plan['id']}/publish", headers=headers)
    assert published.status_code == 200, published.text
    public = browser_client.get("/public/spot-checks")
    assert public.status_code == 200
    assert "发现问题，责令整改" in public.text
    for officer in city.officers:
        assert officer.display_name not in public.text
    today = dt.datetime.now(dt.UTC).date()
    figures = service.summary(
        db, "3604", today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    )
    assert figures["checks_done"] == 2
    assert figures["institutions_checked"] == 2
    assert figures["nonconforming_checks"] == 1
    assert figures["findings_by_item"]["仪器设备检定校准"]["nonconforming"] == 1
    assert figures["log_by_kind"]["spot_check"] == 2
    assert service.summary(db, "3601", today, today)["checks_done"] == 0


def test_the_log_takes_entries_and_refuses_bad_ones(client, db, factory, city):
    headers = auth(factory, city.officer)
    good = {
        "kind": "interview",
        "entry_date": "2026-11-20",
        "institution_id": city.institutions[0].id,
        "participants": "张三、李四",
        "summary": "约谈机构负责人，通报数据上传滞后问题",
    }
    made = client.post("/api/v1/supervision/log", json=good, headers=headers)
    assert made.status_code == 201, made.text
    assert (
        client.post(
            "/api/v1/supervision/log", json=good | {"summary": ""}, headers=headers
        ).status_code
        == 422
    )
    other = factory.institution(region_code="360100")
    assert (
        client.post(
            "/api/v1/supervision/log", json=good | {"institution_id": other.id}, headers=headers
        ).status_code
        == 422
    )
    listed = client.get("/api/v1/supervision/log", headers=headers).json()
    assert [e["kind"] for e in listed] == ["interview"]
    stranger = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    assert client.get("/api/v1/supervision/log", headers=auth(factory, stranger)).json() == []
