"""Building penalties for tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.penalties.models import Penalty
from tests.factories import Factory


def make_penalty(
    f: Factory, institution=None, *, public: bool = True, number: str | None = None, **values
) -> Penalty:
    inst = institution or f.institution(region_code="360403")
    today = beijing_date(utcnow())
    start = today - dt.timedelta(days=10) if public else today - dt.timedelta(days=400)
    row = Penalty(
        number=number or f"浔建罚字〔2026〕第 {f._next():03d} 号", institution_id=inst.id,
        region_code=inst.region_code, issuer_region_code="360400", issuer="九江市住建局",
        person_ids=[], person_names=["张三"], basis_code="jz57", basis_article="第三十条",
        facts="出具虚假检测报告。", kind="fine", amount=Decimal("20000.00"),
        decided_on=start, public_from=start, public_until=start + dt.timedelta(days=180),
    )  # fmt: skip
    for k, v in values.items():
        setattr(row, k, v)
    f.db.add(row)
    f.db.flush()
    return row


def city(f: Factory, region: str = "360400"):
    return f.user(Role.CITY_AUTHORITY, region_code=region)
