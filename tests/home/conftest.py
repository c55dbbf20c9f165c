"""A supervised world for the home pages: institutions in two counties of Jiujiang, one at the
city's own code and one in Nanchang, each with alerts (open and closed, of several rules,
severities and days), cases, nonconformities and exchange messages; the accounts that read it.
Times are set around Beijing midnights so that day boundaries are tested."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.orm import Session

from jcjg.alerts.engine import ON_WRITE_KEY
from jcjg.alerts.models import Alert, Case
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date, beijing_midnight
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Message
from jcjg.nonconformity.models import Nonconformity
from jcjg.projects.models import Project
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord
from tests.factories import Factory

DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)


@dataclass
class World:
    now: dt.datetime
    today: dt.date
    labs: dict[str, Institution]
    projects: dict[str, Project]
    users: dict[str, User]
    alerts: list[Alert] = field(default_factory=list)
    cases: dict[str, Case] = field(default_factory=dict)
    ncs: dict[str, Nonconformity] = field(default_factory=dict)


def add_alert(db: Session, lab: Institution | None, n: int, *, rule: str, severity: str,
              seen: dt.datetime, status: str = "open", region: str | None = None,
              project: Project | None = None) -> Alert:  # fmt: skip
    alert = Alert(
        rule_id=rule, key=f"home:{n}", severity=severity, subject_type="equipment",
        subject_id=str(n), subject_repr=f"首页设备 {n}",
        institution_id=lab.id if lab else None,
        region_code=region or (lab.region_code if lab else None),
        project_id=project.id if project else None,
        first_seen_at=seen, last_seen_at=seen, status=status,
        closed_at=seen if status == "closed" else None,
    )  # fmt: skip
    db.add(alert)
    db.flush()
    return alert


def add_case(db: Session, alert: Alert, status: str, deadline: dt.date | None = None,
             escalated_to: str | None = None) -> Case:  # fmt: skip
    case = Case(alert_id=alert.id, status=status, region_code=alert.region_code,
                institution_id=alert.institution_id, deadline=deadline,
                escalated_to=escalated_to)  # fmt: skip
    db.add(case)
    db.flush()
    return case


def add_nc(db: Session, lab: Institution, n: int, *, status: str, deadline: dt.date,
           found_at: dt.datetime, project: Project | None = None) -> Nonconformity:  # fmt: skip
    record = TestRecord(
        institution_id=lab.id, region_code=lab.region_code,
        project_id=project.id if project else None, number=f"HOME-{lab.id}-{n}",
        kind="concrete_compression", item_code="010101", started_at=found_at,
        ended_at=found_at, acquisition="auto", grade="C30", nonconforming_by="both",
    )  # fmt: skip
    db.add(record)
    db.flush()
    item = Nonconformity(
        institution_id=lab.id, region_code=lab.region_code,
        project_id=project.id if project else None, test_record_id=record.id,
        found_by="both", material="混凝土立方体抗压强度", item_code="010101", grade="C30",
        structure_part=f"{n} 层梁板", found_at=found_at, deadline=deadline, status=status,
    )  # fmt: skip
    db.add(item)
    db.flush()
    return item


def add_messages(db: Session, lab: Institution, moments: list[dt.datetime]) -> None:
    client = clients.create_client(
        db, name=f"{lab.name} LIMS", institution=lab, status=ClientStatus.ACTIVE
    )
    for moment in moments:
        db.add(Message(
            client_id=client.id, key_id=f"k-{client.id}", institution_id=lab.id,
            region_code=lab.region_code, message_type="test_record",
            message_id=str(uuid.uuid4()), body=b"{}", content_sha256="0" * 64,
            signature_input="", signature="", received_at=moment, receipt={},
            lane=f"i{lab.id}", leaf_hash=bytes(32), status="applied",
        ))  # fmt: skip
    db.flush()


def build_world(db: Session, factory: Factory, now: dt.datetime | None = None) -> World:
    """The world above, written with the rules off (their findings would add alerts of their
    own: a record uploaded late, a nonconformity past its deadline)."""
    before = db.info.get(ON_WRITE_KEY)
    db.info[ON_WRITE_KEY] = False
    try:
        return _build_world(db, factory, now or utcnow())
    finally:
        db.info[ON_WRITE_KEY] = before


def _build_world(db: Session, factory: Factory, now: dt.datetime) -> World:
    today = beijing_date(now)
    midnight = beijing_midnight(today)
    first = beijing_midnight(today - 29 * DAY)  # the trend's first moment
    labs = {
        "xunyang": factory.institution(region_code="360403", name="浔阳首页检测有限公司"),
        "lianxi": factory.institution(region_code="360402", name="濂溪首页检测中心"),
        "city": factory.institution(region_code="360400", name="九江市本级首页检测站"),
        "nanchang": factory.institution(region_code="360102", name="南昌首页检测有限公司"),
    }
    projects = {
        "bridge": factory.project(region_code="360403", name="浔阳江大桥"),
        "school": factory.project(region_code="360402", name="濂溪实验学校"),
        "other": factory.project(region_code="360402", name="濂溪他人工程"),
    }
    w = World(now, today, labs, projects, {})
    x, lx, city, nc = labs["xunyang"], labs["lianxi"], labs["city"], labs["nanchang"]
    spec: list[tuple[Institution | None, str, str, dt.datetime, str, dict[str, Any]]] = [
        (x, "calibration_expired", "warning", now, "open", {}),
        (x, "calibration_expired", "critical", midnight, "open", {}),  # today's first moment
        (x, "calibration_expired", "warning", midnight - SECOND, "open", {}),  # yesterday
        (x, "certificate_lending", "critical", now - 3 * DAY, "open", {}),
        (x, "late_upload", "info", now - 10 * DAY, "closed", {}),
        (x, "late_upload", "info", first, "open", {}),  # the trend's first day
        (x, "late_upload", "info", first - SECOND, "open", {}),  # just before the window
        (x, "out_of_scope", "critical", now - 60 * DAY, "open", {}),
        (lx, "calibration_expired", "warning", now - 1 * DAY, "open", {}),
        (lx, "late_upload", "info", now - 2 * DAY, "open", {}),
        (lx, "late_upload", "info", now - 2 * DAY, "closed", {}),
        (city, "certificate_lending", "warning", now - 5 * DAY, "open", {}),
        (None, "client_silent", "warning", now - 1 * DAY, "open", {"region": "360400"}),
        (nc, "calibration_expired", "critical", now, "open", {}),
        (nc, "certificate_lending", "warning", now - 1 * DAY, "open", {}),
    ]
    for n, (lab, rule, severity, seen, status, more) in enumerate(spec):
        w.alerts.append(add_alert(db, lab, n, rule=rule, severity=severity, seen=seen,
                                  status=status, **more))  # fmt: skip
    a = w.alerts
    w.cases = {
        "late": add_case(db, a[0], "rectifying", today - 2 * DAY, escalated_to="360400"),
        "soon": add_case(db, a[1], "rectifying", today + 3 * DAY),
        "answered": add_case(db, a[3], "rectified", today + 1 * DAY),
        "confirmed": add_case(db, a[7], "confirmed"),
        "closed": add_case(db, a[2], "closed"),
        "dismissed": add_case(db, a[5], "dismissed"),
        "lianxi": add_case(db, a[8], "rectifying", today - 1 * DAY),
        "nanchang": add_case(db, a[13], "rectifying", today - 5 * DAY),
    }
    recent, old = now - 2 * DAY, now - 120 * DAY
    bridge, school, other = projects["bridge"], projects["school"], projects["other"]
    ncs = [
        ("x_open_late", x, "open", today - 1 * DAY, recent, bridge),
        ("x_open", x, "open", today + 5 * DAY, recent, bridge),
        ("x_handling", x, "handling", today + 2 * DAY, now - 20 * DAY, None),
        ("x_closed", x, "closed", today - 9 * DAY, recent, bridge),
        ("x_old_open", x, "open", today - 100 * DAY, old, None),  # outside the 90 days
        ("lx_handling_late", lx, "handling", today - 3 * DAY, recent, school),
        ("lx_other", lx, "open", today + 9 * DAY, recent, other),
        ("nc_open", nc, "open", today - 4 * DAY, recent, None),
        ("city_open", city, "open", today + 1 * DAY, recent, None),
    ]
    for n, (key, lab, status, deadline, found, project) in enumerate(ncs):
        w.ncs[key] = add_nc(db, lab, n, status=status, deadline=deadline, found_at=found,
                            project=project)  # fmt: skip
    add_messages(db, x, [now, midnight, midnight - SECOND, now - 3 * DAY])
    add_messages(db, lx, [now, now])
    add_messages(db, nc, [now, now, now])
    w.users = {
        "station": factory.user(Role.STATION, region_code="360400", commit=False),
        "city": factory.user(Role.CITY_AUTHORITY, region_code="360400", commit=False),
        "province": factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", commit=False),
        "county": factory.user(Role.STATION, region_code="360403", commit=False),
        "admin": factory.user(Role.PLATFORM_ADMIN, commit=False),
        "staff": factory.user(Role.INSTITUTION_STAFF, institution=x, commit=False),
        "party": factory.user(Role.PARTY_UNIT, project_ids=(bridge.id, school.id), commit=False),
    }
    db.commit()
    return w


@pytest.fixture
def world(db: Session, factory: Factory) -> World:
    return build_world(db, factory)
