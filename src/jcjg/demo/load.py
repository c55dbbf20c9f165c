"""Demo data for ``make run`` (``jcjg demo load``): in a province (江西省) with two cities, three
institutions with staff, equipment, labs, capabilities and certificates (:mod:`jcjg.demo.registry`,
with planted problems for the alert rules; their registration notarised in the log), one account
per role, projects and a witnessed-sampling chain (:mod:`jcjg.demo.sampling`), test records
(:mod:`jcjg.demo.testing`), contracts and reports (:mod:`jcjg.demo.reports`), the lab's
systems on the data exchange (:mod:`jcjg.demo.exchange`), then the alerts the rules raise,
some of them handled (:mod:`jcjg.demo.alerts`), and rectification orders
(:mod:`jcjg.demo.rectification`).

The regions and the qualification catalogue are reference data, loaded by ``jcjg db upgrade``,
not by the demo. Idempotent: a second run adds nothing and prints no password (passwords of
accounts it creates are printed once, never stored in clear). Refused in production
(:mod:`jcjg.demo.guard`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_rule, sweep
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.passwords import generate_password, hash_password
from jcjg.catalogue.models import Specialty
from jcjg.config import Settings, get_settings, settings_in_use
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.demo import alerts as alerts_demo
from jcjg.demo import analytics as analytics_demo
from jcjg.demo import credit as credit_demo
from jcjg.demo import exchange as exchange_demo
from jcjg.demo import experts as experts_demo
from jcjg.demo import governance as governance_demo
from jcjg.demo import networking as networking_demo
from jcjg.demo import operations as operations_demo
from jcjg.demo import overview as overview_demo
from jcjg.demo import proficiency as proficiency_demo
from jcjg.demo import rectification as rectification_demo
from jcjg.demo import registry as registry_demo
from jcjg.demo import reports as reports_demo
from jcjg.demo import sampling as sampling_demo
from jcjg.demo import supervision as supervision_demo
from jcjg.demo import testing as testing_demo
from jcjg.demo import training as training_demo
from jcjg.demo import video as video_demo
from jcjg.demo.guard import refuse_in_production
from jcjg.regions import boundaries
from jcjg.regions.models import Region
from jcjg.tenancy.facts import notarise_registered
from jcjg.tenancy.models import Institution


class ReferenceDataMissing(RuntimeError):
    """The database lacks the regions or the catalogue the demo's institutions need."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    region_code: str | None
    institution_code: str | None = None  # a key of jcjg.demo.registry
    enforcement_card: str | None = None  # an officer's 行政执法证号: drawn to check (双随机)
    phone: str | None = None  # where a login code may be sent (accounts.logincode)
    email: str | None = None


DEMO_BOUNDARIES = "boundaries-360000.geojson"  # in jcjg/demo/data

USERS = [
    DemoUser("admin", "平台管理员", Role.PLATFORM_ADMIN, None),
    DemoUser("jx_province", "江西省住建厅质安处", Role.PROVINCIAL_AUTHORITY, "360000"),
    DemoUser("jj_city", "九江市住建局", Role.CITY_AUTHORITY, "360400"),
    DemoUser("nc_city", "南昌市住建局", Role.CITY_AUTHORITY, "360100"),
    DemoUser("jj_station", "九江市建设工程质量安全监督站", Role.STATION, "360400"),
    # the officers the city's spot checks draw: people with enforcement cards, not offices
    DemoUser(
        "jj_officer1",
        "陈立新",
        Role.CITY_AUTHORITY,
        "360400",
        enforcement_card="赣执36040001",
        phone="13907920001",
        email="chenlixin@jjzjj.example.cn",
    ),
    DemoUser(
        "jj_officer2",
        "王敏",
        Role.STATION,
        "360400",
        enforcement_card="赣执36040002",
        phone="13907920002",
        email="wangmin@jjzjz.example.cn",
    ),
    DemoUser(
        "jj_officer3",
        "刘洋",
        Role.STATION,
        "360400",
        enforcement_card="赣执36040003",
        phone="13907920003",
        email="liuyang@jjzjz.example.cn",
    ),
    DemoUser("lab_admin", "检测中心管理员", Role.INSTITUTION_ADMIN, "360403", "jj-center"),
    DemoUser("lab_staff", "检测中心检测员", Role.INSTITUTION_STAFF, "360403", "jj-center"),
    DemoUser("lab2_admin", "恒信检测管理员", Role.INSTITUTION_ADMIN, "360402", "jj-hengxin"),
    DemoUser("owner_unit", "建设单位项目负责人", Role.PARTY_UNIT, "360400"),
    DemoUser("witness", "监理见证员", Role.WITNESS, "360400"),
    DemoUser("sampler", "施工取样员", Role.SAMPLER, "360400"),
    DemoUser("expert", "省库专家", Role.EXPERT, "360000"),
    DemoUser("auditor", "省厅审计员", Role.AUDITOR, "360000"),
    DemoUser("association", "江西省建设工程质量检测协会", Role.ASSOCIATION, "360000"),
]


def load(
    db: Session, settings: Settings | None = None, now: dt.datetime | None = None
) -> list[tuple[str, str, str]]:
    """Load what is missing; returns (username, role label, password) of accounts created.
    ``now``: the moment the exchange's hourly counts are planted in (default: the present)."""
    settings = settings or get_settings()
    refuse_in_production(settings, "demo load")
    with settings_in_use(settings):  # the rules read curves from these settings' blob store
        return _load(db, settings, now)


def _boundaries(db: Session) -> None:
    """The demo's schematic boundaries of Jiangxi (scripts/gen_boundaries.py): the region
    view draws its map on them. A deployment loads its approved edition instead."""
    shipped = resources.files("jcjg.demo").joinpath("data", DEMO_BOUNDARIES)
    boundaries.load(db, boundaries.parse(shipped.read_text("utf-8"), source=DEMO_BOUNDARIES))


def _load(db: Session, settings: Settings, now: dt.datetime | None) -> list[tuple[str, str, str]]:
    if db.get(Region, "360000") is None or db.scalar(select(Specialty.id).limit(1)) is None:
        raise ReferenceDataMissing(
            "数据库中没有行政区划或资质目录：请先运行 jcjg db upgrade（迁移并加载参考数据）"
        )
    _boundaries(db)
    today = beijing_date(utcnow())
    known = set(db.scalars(select(Institution.name)))
    by_key = registry_demo.load(db, today)
    for inst in by_key.values():
        if inst.name not in known:  # a registration is a platform fact: notarised once
            notarise_registered(db, inst)
    db.flush()
    existing = set(db.scalars(select(User.username)))
    created: list[tuple[str, str, str]] = []
    for demo in USERS:
        if demo.username in existing:
            continue
        password = generate_password()
        institution = by_key[demo.institution_code] if demo.institution_code else None
        user = User(
            username=demo.username,
            display_name=demo.display_name,
            role=demo.role.value,
            region_code=demo.region_code,
            institution_id=institution.id if institution else None,
            enforcement_card=demo.enforcement_card,
            phone=demo.phone,
            email=demo.email,
            password_hash=hash_password(password),
        )
        db.add(user)
        created.append((demo.username, demo.role.label, password))
    db.flush()
    sampling_demo.load(db, settings, by_key)
    training_demo.load(db, settings)
    testing_demo.load(db, settings, by_key)
    reports_demo.load(db, settings, by_key, utcnow())
    exchange_demo.load(db, settings, by_key, now or utcnow())
    networking_demo.load(db, settings, now or utcnow())
    operations_demo.load(db, now or utcnow())
    video_demo.load(db, settings, by_key)
    experts_demo.load(db, settings, by_key)
    proficiency_demo.load(db, settings, by_key)
    supervision_demo.load(db, settings, by_key)
    supervision_demo.load_relation(db, settings, by_key)
    registry_demo.load_filing(db, by_key, beijing_date(utcnow()))  # after the spot-check draw
    sampling_demo.load_out_of_province(db, by_key, beijing_date(utcnow()))
    reports_demo.load_group_transfer(db, settings, by_key, utcnow())
    # last: its messages are applied, and the rules they trigger judge the whole demo region
    governance_demo.load(db, settings, by_key, now or utcnow())
    return created


@dataclass(frozen=True)
class Outcome:
    """What ``jcjg demo load`` did."""

    created: list[tuple[str, str, str]]  # (username, role label, password) of new accounts
    raised: int  # alerts the sweep raised on the planted problems
    handled: int  # alerts the station worked
    orders: int  # rectification orders given


def run(db: Session, settings: Settings) -> Outcome:
    """The whole demo, committed in steps: the data, the sweep that shows the planted problems
    as alerts, the station's handling of some of them and its rectification orders."""
    refuse_in_production(settings, "demo load")
    with settings_in_use(settings):
        return _run(db, settings)


def _run(db: Session, settings: Settings) -> Outcome:
    began = utcnow()
    created = load(db, settings, began)
    db.commit()
    swept = sweep(db)
    # the LIMS's error spike is planted in the hour the load began: judged in that hour even
    # when the sweep ran in the next (a load across a full hour once lost it)
    run_rule(db, "client_error_spike", now=began)
    alerts_demo.date_by_arrival(db)
    db.commit()
    handled = alerts_demo.load(db, settings)
    orders = rectification_demo.load(db, settings)
    run_rule(db, "rectification_order_overdue")  # as the next sweep would, on the orders given
    db.commit()
    overview_demo.load(db, settings)  # the tally and the closed periods' reports
    credit_demo.load(db, settings)  # after the alerts and orders it counts
    analytics_demo.load(db)  # the city authority's saved analyses
    db.commit()
    raised = sum(r.raised for r in swept.results.values())
    return Outcome(created=created, raised=raised, handled=handled, orders=orders)
