"""The quality figures by message type and the twelve months' trend (issue 43 item 3, done
means: scores match an independent computation): checks of two institutions, three message
types and three months, summed here apart from the pages' queries; on both databases."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.exchange import clients as exchange_clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Message
from jcjg.governance import quality_pages
from jcjg.governance.models import QualityCheck
from jcjg.governance.quality_lists import type_title
from jcjg.tenancy.models import Institution

MONTHS = ("2026-07", "2026-09", "2026-11")
TYPES = ("registry.equipment", "registry.staff", "test_record")


def _checks(db, factory) -> tuple[list[tuple[int, str, str, int, int]], list[int]]:
    """120 checks with random figures (seeded): (institution, type, month, total, failed)."""
    draw = random.Random(43)
    institutions = [factory.institution(region_code="360403") for _ in range(2)]
    clients = [
        exchange_clients.create_client(
            db, name=f"LIMS {i.id}", institution=i, status=ClientStatus.ACTIVE
        ).id
        for i in institutions
    ]
    made: list[tuple[int, str, str, int, int]] = []
    now = dt.datetime.now(dt.UTC)
    for n in range(120):
        institution, client_id = institutions[n % 2], clients[n % 2]
        message = Message(
            client_id=client_id,
            key_id="c1-000000000000",
            institution_id=institution.id,
            region_code="360403",
            lane=f"i{institution.id}",
            message_type=draw.choice(TYPES),
            message_id=f"00000000-0000-4000-8000-{n:012d}",
            body=b"{}",
            content_sha256="0" * 64,
            signature_input="sig1=()",
            signature="sig1=::",
            received_at=now,
            receipt={},
            status="applied",
            leaf_hash=bytes(32),
        )
        db.add(message)
        db.flush()
        total = draw.randint(1, 6)
        row = (institution.id, message.message_type, draw.choice(MONTHS), total,
               draw.randint(0, total))  # fmt: skip
        db.add(QualityCheck(message_row_id=message.id, institution_id=row[0], region_code="360403",
                            message_type=row[1], month=row[2], received_at=now, checked_at=now,
                            total=row[3], failed=row[4], failures=[]))  # fmt: skip
        made.append(row)
    db.flush()
    return made, [i.id for i in institutions]


def _score(total: int, failed: int) -> float | None:
    return round(100 * (total - failed) / total, 1) if total else None


def test_scores_by_type_and_the_trend_match_an_independent_computation(db, factory, settings):
    made, institutions = _checks(db, factory)
    officer = principal_for(
        db=db, user=factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"), settings=settings
    )
    for institution in (None, *institutions):
        rows = [r for r in made if institution is None or r[0] == institution]
        # by type, for each month
        for month in MONTHS:
            sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            for _i, kind, m, total, failed in rows:
                if m == month:
                    sums[kind][0] += 1
                    sums[kind][1] += total
                    sums[kind][2] += failed
            expected = [
                {"title": type_title(k), "messages": n, "checks": t, "failed": f,
                 "score": _score(t, f)}
                for k, (n, t, f) in sorted(sums.items())
            ]  # fmt: skip
            assert quality_pages._by_type(db, officer, month, institution) == expected
        # the trend up to November: from the first month with checks, every month shown
        trend = quality_pages._trend(db, officer, "2026-11", institution)
        shown = ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
        assert trend["months"] == shown
        totals = {m: (sum(r[3] for r in rows if r[2] == m), sum(r[4] for r in rows if r[2] == m))
                  for m in shown}  # fmt: skip
        assert trend["checks"] == [totals[m][0] for m in shown]
        assert trend["scores"] == [
            _score(*totals[m]) if any(r[2] == m for r in rows) else None for m in shown
        ]
    # a lab's own figures only
    lab = principal_for(
        db=db,
        user=factory.user(Role.INSTITUTION_ADMIN, institution=db.get(Institution, institutions[0])),
        settings=settings,
    )
    assert quality_pages._trend(db, lab, "2026-11", None) == quality_pages._trend(
        db, officer, "2026-11", institutions[0]
    )
