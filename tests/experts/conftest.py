"""Experts fixtures: a pool of the 江西 province, an institution under review, the province's
officer, and helpers to draw and complete a panel through the API."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.experts.models import Expert, ExpertRelation
from jcjg.ledger import service as ledger
from jcjg.tenancy.models import Institution
from tests.factories import Factory


@dataclass
class Pool:
    institution: Institution  # under review (九江)
    officer: User  # provincial authority of 江西
    experts: list[Expert] = field(default_factory=list)
    conflicted: dict[str, Expert] = field(default_factory=dict)
    accounts: dict[int, User] = field(default_factory=dict)


def add_expert(
    f: Factory,
    code: str,
    *,
    region: str = "360100",
    specialties: tuple[str, ...] = ("01",),
    employer: str = "江西省建筑科学研究院",
    credit: str | None = None,
    available: bool = True,
    account: bool = False,
) -> Expert:
    user = f.user(Role.EXPERT, region_code="360000", commit=False) if account else None
    expert = Expert(
        code=code,
        name=f"专家{code}",
        region_code=region,
        title="正高级工程师",
        employer=employer,
        employer_credit_code=credit,
        specialties=list(specialties),
        available=available,
        user_id=user.id if user else None,
    )
    f.db.add(expert)
    f.db.flush()
    return expert


def build_pool(f: Factory) -> Pool:
    institution = f.institution(region_code="360403", name="九江被评审检测有限公司")
    officer = f.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", commit=False)
    pool = Pool(institution, officer)
    for i in range(6):
        pool.experts.append(add_expert(f, f"ZJ-{i:03d}", specialties=("01", "02"), account=True))
    employed = add_expert(f, "ZJ-EMP", employer=institution.name, credit=institution.credit_code)
    related = add_expert(f, "ZJ-REL")
    f.db.add(
        ExpertRelation(
            expert_id=related.id,
            region_code=related.region_code,
            kind="former_employer",
            organisation=institution.name,
            credit_code=institution.credit_code,
        )
    )
    away = add_expert(f, "ZJ-OFF", available=False)
    pool.conflicted = {"employer": employed, "relation": related, "unavailable": away}
    for e in pool.experts:
        if e.user_id:
            pool.accounts[e.id] = f.db.get_one(User, e.user_id)
    f.db.commit()
    return pool


@pytest.fixture
def pool(factory: Factory) -> Pool:
    return build_pool(factory)


def auth(factory: Factory, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def panel_body(pool: Pool, **extra: object) -> dict:
    return {
        "title": "九江被评审检测有限公司资质评审",
        "kind": "qualification",
        "region_code": "360000",
        "institution_id": pool.institution.id,
        "requirements": [{"specialty": "01", "count": 2}, {"specialty": "02", "count": 1}],
    } | extra


def drawn_panel(client, db: Session, factory: Factory, pool: Pool) -> dict:
    """A panel created, drawn and completed through the API; its JSON."""
    headers = auth(factory, pool.officer)
    panel = client.post("/api/v1/panels", json=panel_body(pool), headers=headers)
    assert panel.status_code == 201, panel.text
    draw = client.post(f"/api/v1/panels/{panel.json()['id']}/draws", headers=headers)
    assert draw.status_code == 201, draw.text
    ledger.integrate(db)
    db.commit()
    done = client.post(f"/api/v1/panel-draws/{draw.json()['id']}/complete", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    return client.get(f"/api/v1/panels/{panel.json()['id']}", headers=headers).json()
