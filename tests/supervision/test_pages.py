# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""The supervision pages as an officer uses them: a plan made through the form (a bad one
refused with its fields kept), the draw requested and completed from the plan page, the
published inputs, a check filled in on the phone page (a finding with a photo, a bad finding
refused), signed by both drawn officers, published; the log kept through its form."""

from __future__ import annotations

import html
import re

from jcjg.ledger import service as ledger
from jcjg.supervision import service
from jcjg.supervision.models import CheckFinding, SupervisionCheck, SupervisionLog
from tests.factories import login, page_csrf, photo
from tests.supervision.conftest import plan_body


def _form(values: dict) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def test_a_plan_is_made_drawn_checked_signed_and_published_through_the_pages(
    app, browser_client, db, factory, city
):
    page = login(browser_client, city.officer.username)
    blank = page.get("/supervision/plans/new")
    assert blank.status_code == 200 and "建立计划" in blank.text
    token = page_csrf(page, "/supervision/plans/new")
    bad = page.post(
        "/supervision/plans",
        data=_form(plan_body(officers_per_check=1, institution_count=2)) | {"csrf_token": token},
    )
    assert bad.status_code == 422
    assert "2026 年第四季度检测机构双随机抽查" in bad.text  # the officer's typing is kept
    made = page.post(
        "/supervision/plans",
        data=_form(plan_body(institution_count=2)) | {"csrf_token": token},
    )
    assert made.status_code == 303, made.text[:300]
    where = made.headers["location"]
    plan_id = int(re.search(r"/supervision/plans/(\d+)", where).group(1))
    shown = page.get(where)
    assert "抽查计划已建立" in shown.text
    assert page.get(f"/supervision/plans/{plan_id}/draw/inputs.json").status_code == 404

    asked = page.post(f"/supervision/plans/{plan_id}/draw", data={"csrf_token": token})
    assert asked.headers["location"].endswith("done=requested")
    early = page.post(f"/supervision/plans/{plan_id}/draw", data={"csrf_token": token})
    assert early.headers["location"].endswith("done=waiting")  # no checkpoint holds it yet
    ledger.integrate(db)
    db.commit()
    done = page.post(f"/supervision/plans/{plan_id}/draw", data={"csrf_token": token})
    assert done.headers["location"].endswith("done=completed")
    inputs = page.get(f"/supervision/plans/{plan_id}/draw/inputs.json")
    assert inputs.status_code == 200
    assert inputs.json()["format"] == "jcjg-supervision-draw/1"
    assert "attachment" in inputs.headers["content-disposition"]

    db.expire_all()
    checks = db.query(SupervisionCheck).filter_by(plan_id=plan_id).order_by("id").all()
    assert len(checks) == 2
    check = checks[0]
    users = {u.id: u for u in city.officers}
    first, second = (users[o["user_id"]] for o in check.officers)
    items = service.items_for(db, check.check_type)

    _fill_and_sign(app, db, check, first, second, items)
    db.expire_all()
    assert db.get(SupervisionCheck, check.id).status == "signed"
    # signed with problems found: the authority issues a rectification order from it, the
    # institution chosen and the nonconforming item written in
    shown = page.get(f"/supervision/checks/{check.id}")
    link = re.search(r'href="([^"]+)" data-testid="order-from-check"', shown.text)
    assert link is not None
    order_form = page.get(html.unescape(link.group(1)))
    assert order_form.status_code == 200
    assert "两台压力机检定证书过期" in order_form.text
    assert f'name="institution_id" value="{check.institution_id}"' in order_form.text
    assert (
        db.query(SupervisionLog)
        .filter_by(kind="spot_check", institution_id=check.institution_id)
        .count()
        == 1
    )
    refused = page.post(f"/supervision/plans/{plan_id}/publish", data={"csrf_token": token})
    assert refused.status_code == 409  # the second check is not signed


def _fill_and_sign(app, db, check, first, second, items) -> None:
    """The first officer fills the check on the phone page (a bad finding refused, one with a
    photo kept), then both sign."""
    with factory_client(app) as phone:
        login(phone, first.username)
        form = phone.get(f"/supervision/checks/{check.id}")
        assert form.status_code == 200 and items[0].title in form.text
        csrf = page_csrf(phone, f"/supervision/checks/{check.id}")
        refused = phone.post(
            f"/supervision/checks/{check.id}/findings",
            data={"csrf_token": csrf, "item_id": str(items[1].id), "result": "nonconforming"},
        )
        assert refused.status_code == 422  # a nonconforming item says what was found
        assert db.query(CheckFinding).filter_by(check_id=check.id).count() == 0
        saved = phone.post(
            f"/supervision/checks/{check.id}/findings",
            data={
                "csrf_token": csrf, "item_id": str(items[1].id), "result": "nonconforming",
                "finding": "两台压力机检定证书过期", "latitude": "29.70", "longitude": "116.00",
            },
            files={"photo": ("site.jpg", photo(7), "image/jpeg")},
        )  # fmt: skip
        assert saved.status_code == 303, saved.text[:300]
        assert saved.headers["location"].endswith(f"#item-{items[1].id}")
        for item in items:
            if item.id != items[1].id:
                ok = phone.post(
                    f"/supervision/checks/{check.id}/findings",
                    data={"csrf_token": csrf, "item_id": str(item.id), "result": "conforming"},
                )
                assert ok.status_code == 303
        after = phone.get(f"/supervision/checks/{check.id}")
        assert "两台压力机检定证书过期" in after.text
        db.expire_all()
        finding = db.query(CheckFinding).filter_by(check_id=check.id, item_id=items[1].id)
        sha = finding.one().photos[0]
        picture = phone.get(f"/supervision/photos/{check.id}/{sha}")
        assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"
        assert phone.get(f"/supervision/photos/{check.id}/{'0' * 64}").status_code == 404
        unsigned = phone.post(
            f"/supervision/checks/{check.id}/sign", data={"csrf_token": csrf, "summary": "x"}
        )
        assert unsigned.status_code == 422  # no conclusion chosen
        for who in (first, second):
            with factory_client(app) as officer:
                login(officer, who.username)
                mark = page_csrf(officer, f"/supervision/checks/{check.id}")
                signed = officer.post(
                    f"/supervision/checks/{check.id}/sign",
                    data={
                        "csrf_token": mark, "conclusion": "nonconforming",
                        "summary": "设备检定过期，责令整改",
                    },
                )  # fmt: skip
                assert signed.status_code == 303, signed.text[:300]


def factory_client(app):
    from fastapi.testclient import TestClient

    return TestClient(app, headers={"accept": "text/html"}, follow_redirects=False)


def test_the_log_form_keeps_entries_and_shows_the_errors(browser_client, db, factory, city):
    page = login(browser_client, city.officer.username)
    listed = page.get("/supervision/log")
    assert listed.status_code == 200
    assert city.institutions[0].name in listed.text  # offered in the form's choice
    token = page_csrf(page, "/supervision/log")
    bad = page.post(
        "/supervision/log",
        data={"csrf_token": token, "kind": "interview", "entry_date": "2026-11-20", "summary": ""},
    )
    assert bad.status_code == 422
    assert db.query(SupervisionLog).count() == 0
    good = page.post(
        "/supervision/log",
        data={
            "csrf_token": token, "kind": "visit", "entry_date": "2026-11-20",
            "institution_id": str(city.institutions[1].id), "participants": "王五",
            "summary": "走访机构，核对人员到岗情况", "follow_up": "下月复查",
        },
        files={"attachments": ("记录.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
    )  # fmt: skip
    assert good.status_code == 303, good.text[:300]
    entry = db.query(SupervisionLog).one()
    assert entry.kind == "visit" and entry.institution_id == city.institutions[1].id
    filtered = page.get("/supervision/log?kind=visit&since=2026-11-01&until=2026-11-30")
    assert "走访机构，核对人员到岗情况" in filtered.text
    other = page.get("/supervision/log?kind=interview")
    assert "走访机构，核对人员到岗情况" not in other.text


def test_officers_declare_and_withdraw_their_relations(browser_client, db, factory, city):
    """回避申报: an officer declares a relation with an institution of the region (never
    drawn to check it), once; another city's institution is refused; withdraws only their own."""
    from sqlalchemy import select

    from jcjg.supervision.models import OfficerRelation

    officer = city.officers[2]
    page = login(browser_client, officer.username)
    listed = page.get("/supervision/relations")
    assert listed.status_code == 200
    related, _ = city.related
    assert related.display_name in listed.text and "配偶在该机构工作" in listed.text
    theirs = db.scalars(select(OfficerRelation).where(OfficerRelation.user_id == related.id)).one()
    assert f'data-testid="withdraw-{theirs.id}"' not in listed.text  # not one's own
    token = page_csrf(page, "/supervision/relations")
    target = city.institutions[1]
    for bad, status in (({}, 422), ({"institution_id": "abc"}, 422),
                        ({"institution_id": str(city.institutions[0].id + 99)}, 422)):  # fmt: skip
        refused = page.post("/supervision/relations", data={"csrf_token": token, **bad})
        assert refused.status_code == status, bad
        assert 'data-testid="form-error"' in refused.text or "请选择" in refused.text
    body = {"csrf_token": token, "institution_id": str(target.id), "note": "2019 年前在该机构任职"}
    made = page.post("/supervision/relations", data=body)
    assert made.status_code == 303, made.text[:300]
    mine = db.scalars(select(OfficerRelation).where(OfficerRelation.user_id == officer.id)).one()
    assert mine.institution_id == target.id
    again = page.post("/supervision/relations", data=body)
    assert again.status_code == 409
    assert "已申报过" in again.text
    assert page.post(f"/supervision/relations/{theirs.id}/withdraw",
                     data={"csrf_token": token}).status_code == 404  # fmt: skip
    mine_id, theirs_id = mine.id, theirs.id
    gone = page.post(f"/supervision/relations/{mine_id}/withdraw", data={"csrf_token": token})
    assert gone.status_code == 303
    db.expire_all()
    assert db.scalar(select(OfficerRelation.id).where(OfficerRelation.id == mine_id)) is None
    assert db.scalar(select(OfficerRelation.id).where(OfficerRelation.id == theirs_id))


def test_the_administrator_keeps_the_checklist(browser_client, db, factory, city):
    """The check items: read by the officers, kept by the administrator (added, reworded,
    retired: a retired item is on no new check); a duplicate code or a bad field refused with
    the typing kept; an officer may not change them."""
    from jcjg.auth.choices import Role
    from jcjg.supervision.models import CheckItem

    items = service.items_for(db, "institution")
    officer = login(browser_client, city.officer.username)
    listed = officer.get("/supervision/items")
    assert listed.status_code == 200 and items[0].title in listed.text
    assert 'data-testid="item-form"' not in listed.text
    token = page_csrf(officer, "/supervision/items")
    body = {"csrf_token": token, "check_type": "institution", "code": "X01", "title": "新增项"}
    assert officer.post("/supervision/items", data=body).status_code == 403
    browser_client.cookies.clear()
    admin = login(browser_client, factory.user(Role.PLATFORM_ADMIN).username)
    token = page_csrf(admin, "/supervision/items")
    body = {"csrf_token": token, "check_type": "institution", "code": "I99",
            "title": "检测报告归档", "guidance": "抽查近三个月报告的归档", "sort": "99",
            "is_active": "1"}  # fmt: skip
    added = admin.post("/supervision/items", data=body)
    assert added.status_code == 303, added.text[:300]
    new = db.query(CheckItem).filter_by(code="I99").one()
    assert new in service.items_for(db, "institution")
    again = admin.post("/supervision/items", data=body | {"title": "重复编号"})
    assert again.status_code == 409 and "重复编号" in again.text
    bad = admin.post("/supervision/items", data=body | {"code": "坏 编号", "sort": "x"})
    assert bad.status_code == 422 and "坏 编号" in bad.text
    retired = admin.post(
        f"/supervision/items/{new.id}",
        data={"csrf_token": token, "check_type": "institution", "code": "I99",
              "title": "检测报告归档（停用）", "guidance": "", "sort": "5"},
    )  # fmt: skip
    assert retired.status_code == 303, retired.text[:300]
    db.expire_all()
    new = db.get(CheckItem, new.id)
    assert (new.title, new.sort, new.is_active) == ("检测报告归档（停用）", 5, False)
    assert new not in service.items_for(db, "institution")
    moved = admin.post(
        f"/supervision/items/{new.id}",
        data={"csrf_token": token, "check_type": "institution", "code": "I98", "title": "改编号"},
    )
    assert moved.status_code == 422 and "不能修改" in moved.text
    assert admin.post(f"/supervision/items/{10**9}", data=body).status_code == 404
    inactive = admin.get("/supervision/items?status=inactive")
    assert "检测报告归档（停用）" in inactive.text and items[0].title not in inactive.text
