# ruff: noqa: E501  (the raw SQL is kept on one line per clause, to be read against docs/credit.md)
"""Done means (issue 24): a demo institution's published credit score recomputed from its
facts by raw queries and the formula of docs/credit.md, not by the service, equals the stored
score. The model's numbers are read from the stored model version row (the only input)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import text

BEIJING = dt.timezone(dt.timedelta(hours=8))


def _bounds(period: str) -> tuple[dt.date, dt.date]:
    year = int(period[:4])
    if "Q" not in period:
        return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    qn = int(period[-1])
    start = dt.date(year, 3 * qn - 2, 1)
    return start, (dt.date(year + 1, 1, 1) if qn == 4 else dt.date(year, 3 * qn + 1, 1))


def _utc(day: dt.date) -> str:
    moment = dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _counts(db, inst: int, start: dt.date, end: dt.date, today: dt.date) -> dict[str, int]:
    lo, hi = _utc(start), _utc(end)
    one = lambda sql, **kw: db.execute(text(sql), {"i": inst, "lo": lo, "hi": hi, **kw}).scalar()  # noqa: E731
    orders = db.execute(
        text("SELECT deadline, answered_at FROM rectification_order WHERE institution_id = :i "
             "AND issued_at >= :lo AND issued_at < :hi"), {"i": inst, "lo": lo, "hi": hi},
    ).all()  # fmt: skip
    overdue = 0
    for deadline, answered in orders:
        deadline = dt.date.fromisoformat(str(deadline)[:10])
        if answered is None:
            overdue += deadline < today
        else:
            moment = (
                answered
                if isinstance(answered, dt.datetime)
                else dt.datetime.fromisoformat(str(answered))
            )
            moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
            overdue += moment.astimezone(BEIJING).date() > deadline
    return {
        "alert_confirmed": one(
            "SELECT count(*) FROM alert_case WHERE institution_id = :i AND status IN "
            "('confirmed','rectifying','rectified','closed') AND opened_at >= :lo AND opened_at < :hi"),
        "nonconformity_unreported": one(
            "SELECT count(*) FROM nonconformity WHERE institution_id = :i AND found_by = 'platform'"
            " AND found_at >= :lo AND found_at < :hi"),
        "rectification_order": len(orders),
        "rectification_overdue": overdue,
        "penalty": one(
            "SELECT count(*) FROM penalty WHERE institution_id = :i AND decided_on >= :s "
            "AND decided_on < :e", s=start.isoformat(), e=end.isoformat()),
        "proficiency_action": one(
            "SELECT count(*) FROM proficiency_result r JOIN proficiency_scheme s ON s.id = r.scheme_id"
            " WHERE r.institution_id = :i AND r.signal = 'action' AND s.evaluated_at >= :lo"
            " AND s.evaluated_at < :hi"),
        "proficiency_warning": one(
            "SELECT count(*) FROM proficiency_result r JOIN proficiency_scheme s ON s.id = r.scheme_id"
            " WHERE r.institution_id = :i AND r.signal = 'warning' AND s.evaluated_at >= :lo"
            " AND s.evaluated_at < :hi"),
        "exchange_rejected": one(
            "SELECT count(*) FROM exchange_message WHERE institution_id = :i AND status = 'rejected'"
            " AND received_at >= :lo AND received_at < :hi"),
    }  # fmt: skip


def _cent(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _recompute(config: dict, means: dict[str, Decimal], counts: dict[str, int]) -> Decimal:
    weighted = [(Decimal(str(config["weights"].get(s, 0))), m) for s, m in means.items()]
    weighted = [(w, m) for w, m in weighted if w > 0]
    if weighted:
        base = _cent(sum(w * m for w, m in weighted) / sum(w for w, _ in weighted))
    else:
        base = _cent(Decimal(str(config["baseline"])))
    deducted = sum(
        (min(Decimal(str(rule["cap"])), Decimal(str(rule["points"])) * counts.get(kind, 0))
         for kind, rule in config["deductions"].items()),
        Decimal(0),
    )  # fmt: skip
    return _cent(min(Decimal(100), max(Decimal(0), base - deducted)))


@pytest.mark.demo  # as `jcjg demo load` left it
def test_a_demo_institutions_score_is_recomputed_from_its_facts(db, settings):
    import json

    rows = db.execute(
        text("SELECT s.institution_id, s.period, s.score, s.grade, s.computed_at, m.config "
             "FROM credit_score s JOIN credit_model m ON m.id = s.model_id JOIN institution i "
             "ON i.id = s.institution_id WHERE s.is_current = :t AND s.person_id IS NULL "
             "AND s.status = 'published' AND i.name LIKE '%检测中心%' ORDER BY s.period DESC"),
        {"t": True},
    ).all()  # fmt: skip
    assert rows, "the demo publishes the centre's score"
    moved = False
    for inst, period, stored, grade, computed_at, config in rows:
        config = config if isinstance(config, dict) else json.loads(config)
        start, end = _bounds(period)
        moment = (
            computed_at
            if isinstance(computed_at, dt.datetime)
            else dt.datetime.fromisoformat(str(computed_at))
        )
        today = (
            (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(BEIJING).date()
        )
        means: dict[str, Decimal] = {}
        for (source,) in db.execute(
            text(
                "SELECT DISTINCT source FROM credit_evaluation WHERE "
                "institution_id = :i AND period = :p"
            ),
            {"i": inst, "p": period},
        ):
            values = [
                Decimal(str(v))
                for (v,) in db.execute(
                    text(
                        "SELECT score FROM credit_evaluation WHERE institution_id = :i AND period = :p "
                        "AND source = :s"
                    ),
                    {"i": inst, "p": period, "s": source},
                )
            ]
            means[source] = _cent(sum(values, Decimal(0)) / len(values))
        counts = _counts(db, inst, start, end, today)
        expected = _recompute(config, means, counts)
        assert Decimal(str(stored)) == expected, (period, counts, means)
        band = next(g for g, low in config["bands"] if expected >= Decimal(str(low)))
        assert grade == band
        moved = moved or any(counts.values()) or bool(means)
    assert moved  # the demo's facts and evaluations did move a score
