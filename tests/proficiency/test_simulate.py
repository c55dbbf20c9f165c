"""``jcjg simulate``'s proficiency test: the labs' LIMS send ``proficiency_result`` over the
real exchange; a violating lab's results are unsatisfactory and fire the rule, the others'
do not."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.demo.simulator import proficiency
from jcjg.demo.simulator import region as sim
from jcjg.proficiency.models import ProficiencyResult, ProficiencyScheme
from tests.client.live import running_exchange


def test_a_violating_lab_is_unsatisfactory(tmp_path: Path) -> None:
    with running_exchange(tmp_path) as exchange:
        with exchange.sessions() as db:
            sims = sim.prepare(
                db, exchange.settings, institutions=3, region="360400", seed=5,
                violations=0.0, key_dir=tmp_path / "keys",
            )  # fmt: skip
            db.commit()
        labs = [(s, n == 0) for n, s in enumerate(sims)]  # the first violates
        planted, failures = proficiency.run(
            exchange.sessions, labs, region="360400", url=exchange.url, seed=5
        )
        assert failures == []
        assert planted == {"proficiency_unsatisfactory": 1}
        with exchange.sessions() as db:
            scheme = db.scalars(select(ProficiencyScheme)).one()
            assert scheme.status == "evaluated"
            rows = db.scalars(select(ProficiencyResult)).all()
            assert len(rows) == 6
            assert {r.source for r in rows} == {"exchange"}
            alerts = db.scalars(
                select(Alert).where(Alert.rule_id == "proficiency_unsatisfactory")
            ).all()
            assert len(alerts) == 2  # both samples of the violating lab
            violator = db.scalars(
                select(ProficiencyResult.institution_id).where(ProficiencyResult.signal == "action")
            ).all()
            assert {a.institution_id for a in alerts} == set(violator)
        # a second run with the same seed sends the same messages again: nothing new
        again, failures = proficiency.run(
            exchange.sessions, labs, region="360400", url=exchange.url, seed=5
        )
        assert failures == []
        assert again == planted


def test_labs_within_limits_plant_nothing(tmp_path: Path) -> None:
    with running_exchange(tmp_path) as exchange:
        with exchange.sessions() as db:
            sims = sim.prepare(
                db, exchange.settings, institutions=2, region="360400", seed=6,
                violations=0.0, key_dir=tmp_path / "keys",
            )  # fmt: skip
            db.commit()
        planted, failures = proficiency.run(
            exchange.sessions, [(s, False) for s in sims], region="360400", url=exchange.url, seed=6
        )
        assert (planted, failures) == ({}, [])
        with exchange.sessions() as db:
            assert not db.scalars(
                select(Alert).where(Alert.rule_id == "proficiency_unsatisfactory")
            ).all()
