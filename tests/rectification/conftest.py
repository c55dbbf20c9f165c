"""An institution in 九江市濂溪区 with an alert and a nonconformity, the city's station, the
institution's staff and another institution of the same county."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.nonconformity.models import Nonconformity
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord


@dataclass
class World:
    lab: Institution
    other_lab: Institution
    alert: Alert
    other_alert: Alert  # the other institution's
    far_alert: Alert  # an institution of Nanchang: outside the station's scope
    nonconformity: Nonconformity
    station: User
    city: User  # the city authority: told of answers
    staff: User
    other_staff: User


def make_nonconformity(db, lab: Institution, number: str) -> Nonconformity:
    now = utcnow()
    record = TestRecord(institution_id=lab.id, region_code=lab.region_code, number=number,
                        kind="concrete_compression", item_code="0108", started_at=now,
                        ended_at=now, acquisition="manual")  # fmt: skip
    db.add(record)
    db.flush()
    row = Nonconformity(institution_id=lab.id, region_code=lab.region_code,
                        test_record_id=record.id, found_by="both", material="混凝土立方体抗压强度",
                        grade="C30", item_code="0108", deadline=beijing_date(now))  # fmt: skip
    db.add(row)
    db.flush()
    return row


@pytest.fixture
def world(db, factory) -> World:
    lab = factory.institution(region_code="360403", name="九江整改测试检测有限公司")
    other_lab = factory.institution(region_code="360403", name="濂溪另一检测站")
    far_lab = factory.institution(region_code="360102", name="南昌某检测公司")
    world = World(
        lab=lab,
        other_lab=other_lab,
        alert=factory.alert(lab, "压力试验机 YAW-2000"),
        other_alert=factory.alert(other_lab, "万能试验机 WAW-600"),
        far_alert=factory.alert(far_lab, "南昌的设备"),
        nonconformity=make_nonconformity(db, lab, "JL-ZG-1"),
        station=factory.user(Role.STATION, region_code="360400"),
        city=factory.user(Role.CITY_AUTHORITY, region_code="360400"),
        staff=factory.user(Role.INSTITUTION_STAFF, institution=lab),
        other_staff=factory.user(Role.INSTITUTION_STAFF, institution=other_lab),
    )
    world.station.display_name = "九江站张三"  # names the public never sees
    world.staff.display_name = "检测员李四"
    db.commit()
    return world
