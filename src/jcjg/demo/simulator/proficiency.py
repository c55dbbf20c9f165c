"""Proficiency testing in ``jcjg simulate``: after the simulated days, the region's authority
runs a proficiency test of steel yield strength (a certified value of 450 MPa, sigma_pt 9 MPa)
for the simulated labs; each lab's LIMS sends its results with the ``proficiency_result``
message, signed with its key, over the real exchange; the scheme is then evaluated.

A violating lab (``--violations``) reads about 12 % high on both samples: z about 6, an action
signal, ``proficiency_unsatisfactory``. The others stay within a z of 1.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_rule
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.proficiency import service
from jcjg.proficiency.choices import AssignedMode
from jcjg.proficiency.models import ProficiencyParticipant, ProficiencyResult, ProficiencyScheme
from jcjg.tenancy.models import Institution

RULE = "proficiency_unsatisfactory"
ASSIGNED, SIGMA, UNCERTAINTY = 450.0, 9.0, 2.0
WAIT_SECONDS = 120.0


def scheme_for(db: Session, region: str, codes: Sequence[str], seed: int) -> ProficiencyScheme:
    """The simulated region's scheme (made once per region and seed), every lab invited."""
    code = f"SIM-NLYZ-{region}-{seed}"
    scheme = db.scalars(select(ProficiencyScheme).where(ProficiencyScheme.code == code)).first()
    if scheme is None:
        today = beijing_date(utcnow())
        scheme = ProficiencyScheme(
            code=code, title="模拟地区钢筋屈服强度能力验证", region_code=region,
            item_code="0102", parameter_code="010201", unit="MPa", sample_count=2,
            samples_sent_on=today - dt.timedelta(days=7), deadline=today + dt.timedelta(days=3),
            assigned_mode=AssignedMode.KNOWN.value, assigned_value=ASSIGNED,
            assigned_uncertainty=UNCERTAINTY, sigma_pt=SIGMA, score="z",
        )  # fmt: skip
        db.add(scheme)
        db.flush()
    invited = set(
        db.scalars(
            select(ProficiencyParticipant.institution_id).where(
                ProficiencyParticipant.scheme_id == scheme.id
            )
        )
    )
    institutions = db.scalars(select(Institution).where(Institution.code.in_(list(codes))))
    for n, inst in enumerate(sorted(institutions, key=lambda i: i.code), start=len(invited) + 1):
        if inst.id not in invited:
            db.add(
                ProficiencyParticipant(
                    scheme_id=scheme.id,
                    institution_id=inst.id,
                    region_code=region,
                    code=f"P{n:02d}",
                )
            )
    db.flush()
    return scheme


def payload(
    scheme_code: str, institution_code: str, violator: bool, rng: random.Random
) -> dict[str, Any]:
    """A lab's results: within a z of 1, or 12 % high for a violator."""
    bias = 1.12 if violator else 1.0
    results = [
        {
            "sample": sample,
            "value": round(ASSIGNED * bias + rng.uniform(-SIGMA, SIGMA) * 0.8, 1),
            "expanded_uncertainty": 6.0,
            "coverage_factor": 2.0,
            "method": "GB/T 228.1-2021",
        }
        for sample in ("A", "B")
    ]
    return {
        "message_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "institution_code": institution_code,
        "scheme_code": scheme_code,
        "results": results,
    }


def send(labs: Sequence[tuple[Any, bool]], scheme_code: str, url: str, seed: int) -> list[str]:
    """Each lab's LIMS, (sim, violator) each, sends its results and waits until they are
    applied; the failures."""
    from jcjg.client import Client, PermanentError, TransientError

    failures: list[str] = []
    for sim, violator in labs:
        rng = random.Random(f"{seed}:proficiency:{sim.code}")
        message = payload(scheme_code, sim.code, violator, rng)
        with Client(url, sim.key_id, sim.key, alg="ed25519") as lims:
            try:
                receipt = lims.send("proficiency_result", message, wait=WAIT_SECONDS)
            except (PermanentError, TransientError) as error:
                failures.append(f"proficiency_result {sim.code}: {error}")
                continue
        if receipt.outcome is None or receipt.outcome.status != "applied":
            failures.append(f"proficiency_result {sim.code}: 未在 {WAIT_SECONDS:.0f} 秒内处理")
    return failures


def evaluate(db: Session, scheme_code: str) -> dict[str, int]:
    """Evaluate the scheme and run the rule; the violations planted, by rule. Commits."""
    scheme = db.scalars(
        select(ProficiencyScheme).where(ProficiencyScheme.code == scheme_code)
    ).one()
    if not service.results(db, scheme):
        return {}
    service.score_scheme(db=db, scheme=scheme, now=utcnow())
    run_rule(db, RULE)
    action = db.scalars(
        select(ProficiencyResult.institution_id).where(
            ProficiencyResult.scheme_id == scheme.id, ProficiencyResult.signal == "action"
        )
    ).all()
    db.commit()
    return {RULE: len(set(action))} if action else {}


def run(
    sessions: Callable[[], AbstractContextManager[Session]],
    labs: Sequence[tuple[Any, bool]],
    *,
    region: str,
    url: str,
    seed: int,
) -> tuple[dict[str, int], list[str]]:
    """The whole proficiency test of a simulated region: the scheme, the labs' results over
    the exchange, the evaluation. The violations planted by rule, and the failures."""
    with sessions() as db:
        code = scheme_for(db, region, [sim.code for sim, _ in labs], seed).code
        db.commit()
    failures = send(labs, code, url, seed)
    with sessions() as db:
        return evaluate(db, code), failures
