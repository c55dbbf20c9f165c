"""``jcjg simulate`` against a live platform: real HTTP, real client, real rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from jcjg import simulate as sim
from jcjg.exchange.models import Client, Message
from jcjg.registry.models import Equipment, Institution, Person
from tests.client.live import running_exchange


def test_a_simulated_region_reports_through_the_api(tmp_path: Path) -> None:
    with running_exchange(tmp_path) as exchange:
        with exchange.sessions() as db:
            sims = sim.prepare(
                db,
                exchange.settings,
                institutions=2,
                region="360400",
                seed=7,
                violations=1.0,
                key_dir=tmp_path / "keys",
            )
            catalogue = sim.catalogue_parameters(db)
        assert len({s.code for s in sims}) == 2
        assert all(s.region.startswith("3604") for s in sims)
        seen: list[tuple[int, int, int]] = []
        summary = sim.run(
            sims,
            url=exchange.url,
            days=2,
            seed=7,
            catalogue=catalogue,
            progress=lambda day, done, total: seen.append((day, done, total)),
        )
        assert summary.failures == []
        total = sum(summary.sent.values())
        assert summary.statuses == {"accepted": total}
        assert set(summary.sent) == {
            "registry.labs",
            "registry.staff",
            "registry.equipment",
            "registry.capabilities",
            "registry.signatories",
        }
        assert summary.files > 0  # calibration certificates went up as files
        # Every institution breaks a rule (violations=1.0) and the receipts said so.
        assert {"calibration_expired", "certificate_lending"} & set(summary.warnings)
        assert seen[-1][0] == 1
        assert seen[-1][1] == seen[-1][2]
        assert any(line.startswith("机构 2 家") for line in summary.lines())
        with exchange.sessions() as db:
            assert db.scalar(select(func.count()).select_from(Message)) == total
            assert db.scalar(select(func.count()).select_from(Person)) > 15
            assert db.scalar(select(func.count()).select_from(Equipment)) > 15
            # Running again with the same seed reuses the institutions, clients and keys.
            again = sim.prepare(
                db,
                exchange.settings,
                institutions=2,
                region="360400",
                seed=7,
                violations=1.0,
                key_dir=tmp_path / "keys",
            )
            assert [s.key_id for s in again] == [s.key_id for s in sims]
            assert db.scalar(select(func.count()).select_from(Institution)) == 2
            assert db.scalar(select(func.count()).select_from(Client)) == 2


def test_prepare_explains_a_missing_region(tmp_path: Path) -> None:
    with (
        running_exchange(tmp_path) as exchange,
        exchange.sessions() as db,
        pytest.raises(ValueError, match="区县"),
    ):
        sim.prepare(
            db, exchange.settings, institutions=1, region="990000", seed=1,
            violations=0, key_dir=tmp_path,
        )  # fmt: skip
