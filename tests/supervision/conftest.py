"""Supervision fixtures: a city (九江) with institutions and officers, one officer related to an
institution, and a helper to draw a plan through the API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.ledger import service as ledger
from jcjg.supervision.models import OfficerRelation
from jcjg.tenancy.models import Institution
from tests.factories import Factory


@dataclass
class City:
    officer: User  # the city authority (plans)
    institutions: list[Institution] = field(default_factory=list)
    officers: list[User] = field(default_factory=list)
    related: tuple[User, Institution] | None = None


def build_city(f: Factory) -> City:
    cards = iter(f"赣执T{secrets.token_hex(4)}" for _ in range(4))
    city = City(f.user(Role.CITY_AUTHORITY, region_code="360400", commit=False,
                       enforcement_card=next(cards)))  # fmt: skip
    city.officers.append(city.officer)
    for i in range(4):
        city.institutions.append(f.institution(region_code="360403" if i % 2 else "360402"))
    for _ in range(3):
        officer = f.user(
            Role.STATION, region_code="360400", commit=False, enforcement_card=next(cards)
        )
        city.officers.append(officer)
    # the station's own account, an office without a card: never drawn
    f.user(Role.STATION, region_code="360400", commit=False).display_name = "九江市监督站"
    related = city.officers[1]
    f.db.add(
        OfficerRelation(
            user_id=related.id,
            institution_id=city.institutions[0].id,
            region_code="360400",
            note="配偶在该机构工作",
        )
    )
    city.related = (related, city.institutions[0])
    f.institution(region_code="360100")  # another city's: never in the population
    f.db.commit()
    return city


@pytest.fixture
def city(factory: Factory) -> City:
    return build_city(factory)


def auth(factory: Factory, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def plan_body(**extra: object) -> dict:
    return {
        "title": "2026 年第四季度检测机构双随机抽查",
        "region_code": "360400",
        "period_start": "2026-11-01",
        "period_end": "2026-12-31",
        "basis": "002 第十六条",
        "institution_count": 4,
        "officers_per_check": 2,
        "recent_months": 12,
    } | extra


def drawn_plan(client, db: Session, factory: Factory, city: City, **extra: object) -> dict:
    headers = auth(factory, city.officer)
    plan = client.post("/api/v1/supervision/plans", json=plan_body(**extra), headers=headers)
    assert plan.status_code == 201, plan.text
    pid = plan.json()["id"]
    asked = client.post(f"/api/v1/supervision/plans/{pid}/draw", headers=headers)
    assert asked.status_code == 201, asked.text
    ledger.integrate(db)
    db.commit()
    done = client.post(f"/api/v1/supervision/plans/{pid}/draw/complete", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["draw"]["status"] == "completed"
    return done.json()
