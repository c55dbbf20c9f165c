"""Witnesses' and samplers' training and the stations' spot checks in ``jcjg simulate``
(003 IV(3); docs/registry.md).

:func:`passes` gives each simulated witness and sampler a pass before the station assigns him
(the platform refuses an untrained person). With violations, on a violating project the
sampler's certificate ran out yesterday while he is on duty (``untrained_on_duty``, see
:func:`expire`), and on the first day the station's spot check finds the stand-in doing the
witness's work (``on_duty_mismatch``, :func:`spot_check`); the other projects' spot checks
find the appointed witness.
"""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_triggered
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal
from jcjg.demo import faces
from jcjg.projects import training
from jcjg.projects.models import MemberTraining


def passes(db: Session, station: Principal, people: dict[str, User], today: dt.date) -> None:
    """A pass valid for a year for each simulated witness and sampler who has none."""
    for kind, role in (("witness", "witness"), ("sampler", "sampler"), ("sampler2", "sampler")):
        user = people[kind]
        if db.scalar(select(MemberTraining.id).where(MemberTraining.user_id == user.id)):
            continue
        training.add_training(
            db=db,
            principal=station,
            raw={
                "username": user.username,
                "role": role,
                "course": "见证取样人员上岗培训（模拟）",
                "organiser": "模拟监督站",
                "start_date": (today - dt.timedelta(days=300)).isoformat(),
                "hours": 16,
                "exam_score": "85",
                "passed": True,
                "certificate_no": f"SIM-PX-{user.id:05d}",
                "valid_until": (today + dt.timedelta(days=65)).isoformat(),
            },
        )


def expire(db: Session, user: User, project_id: int, today: dt.date) -> None:
    """The sampler's certificate ran out yesterday, while he is on duty."""
    for row in db.scalars(select(MemberTraining).where(MemberTraining.user_id == user.id)):
        row.valid_until = today - dt.timedelta(days=1)
    db.flush()
    run_triggered(db, {training.UNTRAINED: {project_id}})


def spot_check(
    station: httpx.Client,
    project_id: int,
    found_name: str,
    appointed: bool,
    at: tuple[float, float],
) -> httpx.Response:
    """The station's spot check of the witness on duty, recorded through its phone page."""
    return station.post(
        f"/projects/{project_id}/spot-checks",
        data={
            "role": "witness",
            "found_name": found_name,
            "is_appointed": "true" if appointed else "false",
            "latitude": f"{at[0]:.6f}",
            "longitude": f"{at[1]:.6f}",
            "note": "" if appointed else "现场见证人员不是聘任人员（模拟）",
        },
        files={"photo": ("site.jpg", faces.hopper(), "image/jpeg")},
        follow_redirects=False,
    )
