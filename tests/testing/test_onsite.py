"""On-site tests: plans ahead of the work (working days or hours per region), records with
position and key images; onsite_plan_late fires for a late plan or a record without one."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy import func, select, update

from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.core.workdays import add_working_days, working_days_between
from jcjg.testing.models import OnSitePlan, OnSiteRecord
from tests.testing.conftest import runs_of

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _start_in(working_days: int) -> str:
    """09:00 local, ``working_days`` working days from today."""
    today = dt.datetime.now(SHANGHAI).date()
    day = add_working_days(today, working_days)
    return dt.datetime.combine(day, dt.time(9), SHANGHAI).isoformat()


def plan(lab, project, number: str, start: str, **extra):
    end = (dt.datetime.fromisoformat(start) + dt.timedelta(hours=8)).isoformat()
    return lab.message(
        number=number, project_code=project.code, item_code="0203",
        method_statement="回弹法检测梁板混凝土强度", planned_start=start, planned_end=end,
        quantity="12 个构件", location="3 层梁板", **extra,
    )  # fmt: skip


def record(lab, project, number: str, plan_number: str | None, **extra):
    now = dt.datetime.now(dt.UTC)
    fields = dict(
        number=number, plan_number=plan_number, project_code=project.code, item_code="0203",
        started_at=(now - dt.timedelta(hours=3)).isoformat(), ended_at=now.isoformat(),
        latitude=29.7113, longitude=116.0022, inspectors=[{"name": "王检测"}],
        data={"测区数": 10, "推定强度_MPa": 32.6},
    )  # fmt: skip
    return lab.message(**(fields | extra))


def sent_long_before(client, lab, db, number: str) -> None:
    """Make plan ``number`` one sent 20 days ago for work that began 3 hours ago (the record
    helper's start), and evaluate the rules again."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3, minutes=5)
    db.execute(
        update(OnSitePlan)
        .where(OnSitePlan.number == number)
        .values(
            received_at=start - dt.timedelta(days=20),
            planned_start=start,
            planned_end=start + dt.timedelta(hours=8),
        )
    )
    db.commit()


def flagged(db) -> set[str]:
    db.expire_all()
    return {
        a.subject_repr
        for a in db.scalars(
            select(Alert).where(Alert.rule_id == "onsite_plan_late", Alert.status == "open")
        )
    }


def test_plans_ahead_and_late_and_records_with_and_without(client, db, factory, lab):
    project = factory.project()
    db.commit()
    for number, days in (("FA-EARLY", 5), ("FA-LATE", 1)):
        response = lab.post(client, "onsite_plan", plan(lab, project, number, _start_in(days)))
        assert response.status_code == 200, response.text
    sent_long_before(client, lab, db, "FA-EARLY")
    ok = lab.post(client, "onsite_record", record(lab, project, "JL-OK", "FA-EARLY"))
    assert ok.status_code == 200, ok.text
    assert ok.json()["results"]["distance_m"] == 0  # inside the geofence
    orphan = lab.post(client, "onsite_record", record(lab, project, "JL-ORPHAN", None))
    assert orphan.status_code == 200, orphan.text
    assert flagged(db) == {"现场检测方案 FA-LATE", "现场检测记录 JL-ORPHAN"}


def test_a_region_counting_hours_instead(client, db, factory, lab):
    """Guangxi's rule: 24 hours ahead, no working days."""
    db.add_all(
        [
            RuleThreshold(rule_id="onsite_plan_late", region_code=lab.institution.region_code,
                          key="working_days", value=0),
            RuleThreshold(rule_id="onsite_plan_late", region_code=lab.institution.region_code,
                          key="hours", value=24),
        ]
    )  # fmt: skip
    project = factory.project()
    db.commit()
    soon = (dt.datetime.now(SHANGHAI) + dt.timedelta(hours=10)).isoformat()
    later = (dt.datetime.now(SHANGHAI) + dt.timedelta(hours=30)).isoformat()
    for number, start in (("GX-SOON", soon), ("GX-LATER", later)):
        assert lab.post(client, "onsite_plan", plan(lab, project, number, start)).status_code == 200
    assert flagged(db) == {"现场检测方案 GX-SOON"}


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("onsite_plan", {"method_statement": ""}, "method_statement"),
        ("onsite_plan", {"planned_end": "2020-01-01T00:00:00+08:00"}, "planned_end"),
        ("onsite_plan", {"project_code": "XM-NONE"}, "project_code"),
        ("onsite_plan", {"planned_start": "2026-11-26T09:00:00"}, "planned_start"),
        ("onsite_record", {"plan_number": "FA-NONE"}, "plan_number"),
        ("onsite_record", {"longitude": None}, "latitude"),
        ("onsite_record", {"photos": ["not-a-hash"]}, "photos"),
        ("onsite_record", {"ended_at": "2020-01-01T00:00:00+08:00"}, "ended_at"),
    ],
)
def test_bad_on_site_messages_are_refused(client, db, factory, lab, kind, change, field):
    project = factory.project()
    db.commit()
    before = (
        db.scalar(select(func.count()).select_from(OnSitePlan)),
        db.scalar(select(func.count()).select_from(OnSiteRecord)),
    )
    payload = (
        plan(lab, project, "FA-BAD", _start_in(5))
        if kind == "onsite_plan"
        else record(lab, project, "JL-BAD", None)
    )
    payload.update(change)
    response = lab.post(client, kind, payload)
    assert response.status_code == 422, response.text
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.text
    db.expire_all()
    assert (
        db.scalar(select(func.count()).select_from(OnSitePlan)),
        db.scalar(select(func.count()).select_from(OnSiteRecord)),
    ) == before


def test_photos_must_be_uploaded_first(client, db, factory, lab):
    project = factory.project()
    db.commit()
    photo = b"\xff\xd8 a key photo"
    digest = hashlib.sha256(photo).hexdigest()
    payload = record(lab, project, "JL-PHOTO", None, photos=[digest])
    missing = lab.post(client, "onsite_record", payload)
    assert missing.status_code == 422
    assert missing.json()["missing"] == [digest]
    path = f"/exchange/v1/blobs/{digest}"
    headers = lab.headers("PUT", path, photo, content_type="image/jpeg")
    assert client.put(path, content=photo, headers=headers).status_code == 201
    again = lab.post(client, "onsite_record", {**payload, "message_id": str(uuid.uuid4())})
    assert again.status_code == 200, again.text
    db.expire_all()
    row = db.scalars(select(OnSiteRecord).where(OnSiteRecord.number == "JL-PHOTO")).one()
    assert row.photos == [digest]


def _plans_and_records_with_a_photo(client, db, factory, lab) -> tuple[bytes, str]:
    """Two plans (one 5 working days ahead, one only 1) and two records (one with its key
    photo, one without a plan and off the site); returns the photo and its digest."""
    project = factory.project()
    db.commit()
    photo = b"\xff\xd8\xff\xe0 a key photo"
    digest = hashlib.sha256(photo).hexdigest()
    path = f"/exchange/v1/blobs/{digest}"
    headers = lab.headers("PUT", path, photo, content_type="image/jpeg")
    assert client.put(path, content=photo, headers=headers).status_code == 201
    for payload in (
        plan(lab, project, "FA-PAGE", _start_in(5)),
        plan(lab, project, "FA-LATE", _start_in(1)),
    ):
        assert lab.post(client, "onsite_plan", payload).status_code == 200
    for payload in (
        record(lab, project, "JL-PAGE", "FA-PAGE", photos=[digest]),
        record(lab, project, "JL-NOPLAN", None, latitude=29.80, longitude=116.0022),
    ):
        assert lab.post(client, "onsite_record", payload).status_code == 200
    return photo, digest


def test_on_site_pages(client, browser_client, db, factory, lab):
    from jcjg.auth.choices import Role
    from tests.factories import login

    html = {"accept": "text/html"}
    photo, digest = _plans_and_records_with_a_photo(client, db, factory, lab)
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)

    plans = browser_client.get("/testing/onsite", headers=html)
    assert plans.status_code == 200
    assert "FA-PAGE" in plans.text
    assert "提前 5 个工作日" in plans.text
    late_only = browser_client.get("/testing/onsite?flagged=true", headers=html).text
    assert "FA-LATE" in late_only
    assert "FA-PAGE" not in late_only
    assert "钢筋及保护层厚度" in plans.text  # the item by its name, not its code
    records = browser_client.get("/testing/onsite?show=records", headers=html).text
    assert "JL-PAGE" in records
    assert "钢筋及保护层厚度" in records
    assert "项目 0203" not in records
    assert "无方案" in records
    assert "场外" in records  # JL-NOPLAN is 10 km north of the site

    db.expire_all()
    plan_row = db.scalars(select(OnSitePlan).where(OnSitePlan.number == "FA-PAGE")).one()
    row = db.scalars(select(OnSiteRecord).where(OnSiteRecord.number == "JL-PAGE")).one()
    detail = browser_client.get(f"/testing/onsite/plans/{plan_row.id}", headers=html).text
    assert "回弹法检测梁板混凝土强度" in detail
    assert f"/testing/onsite/records/{row.id}" in detail
    page = browser_client.get(f"/testing/onsite/records/{row.id}", headers=html).text
    assert "在项目电子围栏内" in page
    assert "推定强度_MPa" in page
    media = f"/testing/onsite/records/{row.id}/media/{digest}"
    assert media in page
    served = browser_client.get(media)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.content == photo
    assert browser_client.get(media.replace(digest, "0" * 64)).status_code == 404
    assert browser_client.get(media.replace(digest, "not-a-digest")).status_code in (400, 422)
    late = db.scalars(select(OnSitePlan).where(OnSitePlan.number == "FA-LATE")).one()
    flagged_page = browser_client.get(f"/testing/onsite/plans/{late.id}", headers=html).text
    assert "提前 1 个工作日（应 3 个）" in flagged_page

    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.INSTITUTION_STAFF).username)  # another lab
    assert browser_client.get(f"/testing/onsite/records/{row.id}", headers=html).status_code == 404
    assert (
        browser_client.get(f"/testing/onsite/plans/{plan_row.id}", headers=html).status_code == 404
    )
    assert browser_client.get(media).status_code == 404
    assert "FA-PAGE" not in browser_client.get("/testing/onsite", headers=html).text
    assert browser_client.get("/testing/onsite?show=nothing", headers=html).status_code == 400


def test_work_started_before_the_plan_allows(client, db, factory, lab):
    """A plan uploaded 5 working days ahead of its planned start, and the work done at once:
    the record is flagged (its plan only had hours); work on or after the planned start is
    not."""
    project = factory.project()
    db.commit()
    assert (
        lab.post(client, "onsite_plan", plan(lab, project, "FA-FAR", _start_in(5))).status_code
        == 200
    )
    at_once = lab.post(client, "onsite_record", record(lab, project, "JL-AT-ONCE", "FA-FAR"))
    assert at_once.status_code == 200, at_once.text
    assert flagged(db) == {"现场检测记录 JL-AT-ONCE"}
    facts = db.scalars(select(Alert).where(Alert.rule_id == "onsite_plan_late")).one().facts
    # the work began 3 hours before the plan arrived: the same working day, or (sent between
    # 00:00 and 03:00 Beijing time) the day before, one working day back when that is a workday
    began = dt.datetime.fromisoformat(facts["开始时间"]).astimezone(SHANGHAI).date()
    ahead = working_days_between(dt.datetime.now(SHANGHAI).date(), began)
    assert ahead in (0, -1)
    assert facts["问题"] == [f"实际开始早于方案计划开始（提前 {ahead} 个工作日（应 3 个））"]
    future = dt.datetime.fromisoformat(_start_in(5))
    too_soon = record(
        lab, project, "JL-FUTURE", "FA-FAR",
        started_at=future.isoformat(), ended_at=(future + dt.timedelta(hours=2)).isoformat(),
    )  # fmt: skip
    refused = lab.post(client, "onsite_record", too_soon)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "ended_at"
    sent_long_before(client, lab, db, "FA-FAR")  # the work waited for the plan
    on_time = lab.post(client, "onsite_record", record(lab, project, "JL-ON-TIME", "FA-FAR"))
    assert on_time.status_code == 200
    assert flagged(db) == set()  # the plan had its lead time after all: both records are fine


def test_onsite_late_upload_after_the_hours_allowed(client, lab, db, factory, monkeypatch):
    """Judged by rows: each record's write judges that record alone."""
    project = factory.project(region_code=lab.institution.region_code)
    db.commit()
    now = dt.datetime.now(dt.UTC)
    runs = runs_of(monkeypatch, "onsite_late_upload")
    for number, hours_ago in (("XC-ONTIME", 23.5), ("XC-LATE", 30)):
        ended = now - dt.timedelta(hours=hours_ago)
        body = record(lab, project, number, None, started_at=(ended - dt.timedelta(hours=2))
                      .isoformat(), ended_at=ended.isoformat())  # fmt: skip
        assert lab.post(client, "onsite_record", body).status_code == 200
    db.expire_all()
    late = db.scalars(
        select(Alert).where(Alert.rule_id == "onsite_late_upload", Alert.status == "open")
    ).all()
    assert [a.subject_number for a in late] == ["XC-LATE"]
    assert late[0].facts["late"] == "6.0 小时"
    ids = dict(db.execute(select(OnSiteRecord.number, OnSiteRecord.id)).all())
    assert runs == [{"row_ids": {ids["XC-ONTIME"]}}, {"row_ids": {ids["XC-LATE"]}}]
    assert late[0].subject_type == "onsite_record"
