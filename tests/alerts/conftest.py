"""Throwaway rules on the ``Institution`` model, installed for one test at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, Rule, RuleContext
from jcjg.core import domains
from jcjg.core.domains import Domain
from jcjg.tenancy.models import Institution

DAY = dt.timedelta(days=1)


def suspended_check(ctx: RuleContext) -> Iterator[Finding]:
    """Institutions suspended for at least ``grace_days`` (a threshold per region)."""
    stmt = select(Institution).where(Institution.status == "suspended").order_by(Institution.id)
    for inst in ctx.db.scalars(ctx.narrow(stmt, Institution.id)):
        grace = ctx.thresholds(inst.region_code)["grace_days"]
        days = (ctx.now - inst.updated_at) // DAY
        if days >= grace:
            yield Finding(
                key=f"institution:{inst.id}",
                subject_type="institution",
                subject_id=str(inst.id),
                subject_repr=inst.name,
                institution_id=inst.id,
                region_code=inst.region_code,
                facts={"status": inst.status, "days": days, "grace_days": grace},
            )


SUSPENDED = Rule(
    id="test_suspended",
    title="测试：检测机构被暂停",
    clause="000 4.1.3",
    severity=Severity.WARNING,
    subject_type="institution",
    check=suspended_check,
    defaults={"grace_days": 0},
    triggers=(Institution,),
    description="检测机构被暂停超过宽限天数。",
    labels={"grace_days": "宽限天数", "days": "已暂停天数", "status": "状态"},
)


def _broken(ctx: RuleContext) -> Iterator[Finding]:
    raise RuntimeError("规则出错")
    yield  # pragma: no cover - makes this a generator


BROKEN = Rule(
    id="test_broken",
    title="测试：总是出错的规则",
    clause="—",
    severity=Severity.INFO,
    subject_type="institution",
    check=_broken,
    triggers=(Institution,),
)


@pytest.fixture
def only_rules() -> Iterator[Callable[..., None]]:
    """Make the installed domains hold exactly the given rules for this test (a throwaway
    domain of them in place of every domain's rules; restored afterwards)."""
    with ExitStack() as stack:

        def install(*rules: Rule) -> None:
            test = Domain(name=f"test_rules_{len(stack._exit_callbacks)}", title="测试规则",
                          rules=rules)  # fmt: skip
            stack.enter_context(domains.installed_with(test, keep=domains.stripped("rules")))

        yield install


@pytest.fixture
def suspended(only_rules: Callable[..., None]) -> Rule:
    only_rules(SUSPENDED)
    return SUSPENDED
