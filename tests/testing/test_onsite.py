"""On-site tests: plans ahead of the work (working days or hours per region), records with
position and key images; onsite_plan_late fires for a late plan or a record without one."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy import func, select

from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.core.workdays import add_working_days
from jcjg.testing.models import OnSitePlan, OnSiteRecord

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
    return lab.message(
        number=number, plan_number=plan_number, project_code=project.code, item_code="0203",
        started_at=(now - dt.timedelta(hours=3)).isoformat(), ended_at=now.isoformat(),
        latitude=29.7113, longitude=116.0022, inspectors=[{"name": "王检测"}],
        data={"测区数": 10, "推定强度_MPa": 32.6}, **extra,
    )  # fmt: skip


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
