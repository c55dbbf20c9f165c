"""A proficiency scheme of 九江 for the tests: a city authority organising, its labs invited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.sessions import principal_for
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.proficiency import service
from jcjg.proficiency.choices import Source
from jcjg.proficiency.models import ProficiencyScheme
from jcjg.proficiency.schemas import ResultsIn, SchemeIn
from jcjg.tenancy.models import Institution
from tests.factories import Factory

# steel yield strength of eight labs on a pair of samples; lab 8 is far off on both
VALUES_A = [452.0, 447.0, 455.0, 449.0, 451.0, 446.0, 453.0, 498.0]
VALUES_B = [461.0, 458.0, 466.0, 457.0, 460.0, 455.0, 463.0, 512.0]


@dataclass
class Pt:
    scheme: ProficiencyScheme
    organiser: User
    labs: list[Institution]
    staff: list[User] = field(default_factory=list)


def make_scheme(
    factory: Factory,
    *,
    labs: int = 8,
    code: str | None = None,
    samples: int = 2,
    deadline: dt.date | None = None,
    **values: Any,
) -> Pt:
    """A scheme of 九江 (360400) with ``labs`` labs of 浔阳区 invited, nothing submitted."""
    organiser = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    invited = [factory.institution(region_code="360403") for _ in range(labs)]
    principal = principal_for(db=factory.db, user=organiser, settings=factory.settings)
    data = SchemeIn(
        code=code or f"PT-{factory._next()}",
        title="钢筋屈服强度能力验证",
        parameter_code="010201",
        sample_count=samples,
        deadline=deadline or beijing_date(utcnow()) + dt.timedelta(days=10),
        institution_ids=[i.id for i in invited],
        **values,
    )
    scheme = service.create_scheme(db=factory.db, principal=principal, data=data)
    factory.db.commit()
    return Pt(scheme, organiser, invited)


def submit_all(factory: Factory, pt: Pt, count: int | None = None) -> None:
    for n, lab in enumerate(pt.labs[: count or len(pt.labs)]):
        results = [{"sample": "A", "value": VALUES_A[n], "expanded_uncertainty": 6.0}]
        if pt.scheme.sample_count == 2:
            results.append({"sample": "B", "value": VALUES_B[n], "expanded_uncertainty": 6.0})
        service.submit(
            db=factory.db, scheme=pt.scheme, institution_id=lab.id,
            data=ResultsIn.model_validate({"results": results}), now=utcnow(), source=Source.PAGE,
        )  # fmt: skip
    factory.db.commit()


def evaluate(factory: Factory, pt: Pt) -> None:
    principal = principal_for(db=factory.db, user=pt.organiser, settings=factory.settings)
    service.evaluate(db=factory.db, principal=principal, scheme=pt.scheme, now=utcnow())
    factory.db.commit()


@pytest.fixture
def pt(factory: Factory) -> Pt:
    return make_scheme(factory)
