"""Data quality (数据质量, 000 7.1.4(2, 3)): rules as data, run on arrival (in the apply step,
once per batch) and offline (a scheduled run with its log), scored per institution, per
message type and per month (docs/governance.md, "Data quality").

A rule names a message type, a field's path (``specimens[].sample_code``) and its kind:

- completeness (完整性): the field is present and not empty in every record that holds it;
- format (格式): every value matches a regular expression;
- value domain (值域): every value is one of the codes, or within a range;
- consistency (一致性): the field compares with another field of the same record
  (``started_at`` not later than ``ended_at``);
- timeliness (及时性): the platform received the message within so many hours of the date or
  time the field holds (the statutory "uploaded in real time", 001 5.4.8).

A message is checked once per rule of its type: a rule passes when every value it judges does.
Its score is the rules passed over the rules applied; an institution's, over all its messages
of the period. Only applied messages are checked (a refused one never became data).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Message
from jcjg.governance.choices import Comparison, QualityKind
from jcjg.governance.models import QualityCheck, QualityRule, QualityRun

log = logging.getLogger("jcjg.governance.quality")
MAX_FAILURES = 20  # kept per message: the first ones, enough to see what is wrong
SCAN_CHUNK = 500


@dataclass(frozen=True)
class Compiled:
    id: int
    name: str
    kind: str
    parent: tuple[str, ...]
    leaf: str
    params: Mapping[str, Any]
    pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, rule: QualityRule) -> Compiled:
        parts = rule.path.split(".")
        pattern = None
        if rule.kind == QualityKind.FORMAT:
            pattern = re.compile(str(rule.params.get("pattern", "")))
        return cls(
            rule.id, rule.name, rule.kind, tuple(parts[:-1]), parts[-1], rule.params, pattern
        )


def _parents(
    data: Any, parts: Sequence[str], where: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records holding a field: the message itself, or each record along the path (a
    missing single record counts as an empty one: its fields are missing)."""
    if not isinstance(data, dict):
        return
    if not parts:
        yield where, data
        return
    head, rest = parts[0], parts[1:]
    key = head.removesuffix("[]")
    name = f"{where}.{key}" if where else key
    value = data.get(key)
    if head.endswith("[]"):
        for i, item in enumerate(value if isinstance(value, list) else []):
            yield from _parents(item, rest, f"{name}.{i}")
    else:
        yield from _parents(value if isinstance(value, dict) else {}, rest, name)


def _leaf_values(parent: Mapping[str, Any], leaf: str, where: str) -> Iterator[tuple[str, Any]]:
    key = leaf.removesuffix("[]")
    name = f"{where}.{key}" if where else key
    value = parent.get(key)
    if value is None:
        return
    if leaf.endswith("[]") and isinstance(value, list):
        for i, item in enumerate(value):
            if item is not None:
                yield f"{name}.{i}", item
    else:
        yield name, value


def _empty(value: Any) -> bool:
    return value is None or (
        isinstance(value, str | list | dict)
        and not (value.strip() if isinstance(value, str) else value)
    )


def _moment(value: Any, tz: dt.tzinfo, end_of_day: bool = False) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            clock = dt.time(23, 59, 59) if end_of_day else dt.time(0, 0)
            return dt.datetime.combine(day, clock, tzinfo=tz)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _comparable(value: Any, tz: dt.tzinfo) -> Any:
    moment = _moment(value, tz)
    if moment is not None:
        return moment
    if isinstance(value, bool):
        return str(value)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return number if number.is_finite() else str(value)  # "NaN", "Infinity": text


_OPS = {
    Comparison.LE: lambda a, b: a <= b,
    Comparison.LT: lambda a, b: a < b,
    Comparison.EQ: lambda a, b: a == b,
    Comparison.NE: lambda a, b: a != b,
}


def _value_problem(rule: Compiled, value: Any) -> str | None:
    params = rule.params
    if rule.kind == QualityKind.FORMAT:
        assert rule.pattern is not None
        if not isinstance(value, str) or not rule.pattern.fullmatch(value):
            return "格式不符合规定"
        return None
    codes = params.get("codes")
    if codes and str(value) not in {str(c) for c in codes}:
        return "不在规定的代码中"
    number = None if isinstance(value, bool) else _comparable(value, dt.UTC)
    if not isinstance(number, Decimal):
        return None if codes else "不是数值"
    low, high = params.get("minimum"), params.get("maximum")
    if low is not None and number < Decimal(str(low)):
        return f"小于规定的下限 {low}"
    if high is not None and number > Decimal(str(high)):
        return f"大于规定的上限 {high}"
    return None


def judge(
    rule: Compiled, data: Any, received_at: dt.datetime, tz: dt.tzinfo
) -> list[dict[str, str]]:
    """What of ``data`` (a message's JSON) fails ``rule``: ``[{field, why}]``, empty when it
    passes."""
    failures: list[dict[str, str]] = []
    for where, parent in _parents(data, rule.parent):
        if rule.kind == QualityKind.COMPLETENESS:
            key = rule.leaf.removesuffix("[]")
            if _empty(parent.get(key)):
                failures.append({"field": f"{where}.{key}" if where else key, "why": "未填写"})
            continue
        if rule.kind == QualityKind.CONSISTENCY:
            other = str(rule.params.get("other", ""))
            a, b = parent.get(rule.leaf), parent.get(other)
            if a is None or b is None:
                continue
            left, right = _comparable(a, tz), _comparable(b, tz)
            try:
                holds = _OPS[Comparison(rule.params.get("op", "le"))](left, right)
            except (TypeError, ArithmeticError):
                holds = False
            if not holds:
                name = f"{where}.{rule.leaf}" if where else rule.leaf
                expected = Comparison(rule.params.get("op", "le")).label
                why = f"与同一记录的 {other} 不一致（应{expected}）"
                failures.append({"field": name, "why": why})
            continue
        for name, value in _leaf_values(parent, rule.leaf, where):
            if rule.kind == QualityKind.TIMELINESS:
                moment = _moment(value, tz, end_of_day=True)
                hours = float(rule.params.get("hours", 24))
                if moment is not None:
                    late = (received_at - moment).total_seconds() / 3600
                    if late > hours:
                        failures.append(
                            {
                                "field": name,
                                "why": f"在其后 {late:.0f} 小时才上传（时限 {hours:g} 小时）",
                            }
                        )
                continue
            problem = _value_problem(rule, value)
            if problem:
                failures.append({"field": name, "why": problem})
    return failures


def evaluate(
    rules: Iterable[Compiled], data: Any, received_at: dt.datetime, tz: dt.tzinfo
) -> tuple[int, int, list[dict[str, Any]]]:
    """``(rules applied, rules failed, failures)`` of one message."""
    total = failed = 0
    found: list[dict[str, Any]] = []
    for rule in rules:
        total += 1
        failures = judge(rule, data, received_at, tz)
        if failures:
            failed += 1
            for failure in failures:
                if len(found) < MAX_FAILURES:
                    found.append({"rule": rule.id, "name": rule.name, **failure})
    return total, failed, found


def rules_by_type(db: Session, types: Iterable[str] | None = None) -> dict[str, list[Compiled]]:
    stmt = select(QualityRule).where(QualityRule.enabled.is_(True)).order_by(QualityRule.id)
    if types is not None:
        stmt = stmt.where(QualityRule.message_type.in_(sorted(set(types))))
    out: dict[str, list[Compiled]] = {}
    for rule in db.scalars(stmt):
        out.setdefault(rule.message_type, []).append(Compiled.of(rule))
    return out


def month_of(moment: dt.datetime, tz: dt.tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m")


def check_rows(
    db: Session,
    rows: Sequence[Message],
    rules: Mapping[str, list[Compiled]] | None = None,
    parsed: Mapping[int, Any] | None = None,
) -> int:
    """Check ``rows`` (applied messages) against the rules of their types and keep one
    :class:`QualityCheck` each, replacing an earlier one (``parsed``: bodies already parsed,
    by row id). Returns how many were checked."""
    if rules is None:
        rules = rules_by_type(db, {r.message_type for r in rows})
    wanted = [r for r in rows if rules.get(r.message_type)]
    if not wanted:
        return 0
    tz = get_settings().tz
    now = utcnow()
    db.execute(delete(QualityCheck).where(QualityCheck.message_row_id.in_([r.id for r in wanted])))
    checks = []
    for row in wanted:
        data = (parsed or {}).get(row.id)
        if data is None:
            try:
                data = json.loads(row.body)
            except ValueError:
                continue
        try:
            total, failed, failures = evaluate(rules[row.message_type], data, row.received_at, tz)
        except Exception:  # a rule that cannot judge a message must not stop the lane
            log.exception("quality rules failed on message %s", row.id)
            continue
        checks.append(
            QualityCheck(
                message_row_id=row.id,
                institution_id=row.institution_id,
                region_code=row.region_code,
                message_type=row.message_type,
                month=month_of(row.received_at, tz),
                received_at=row.received_at,
                checked_at=now,
                total=total,
                failed=failed,
                failures=failures,
            )
        )
    db.add_all(checks)
    db.flush()
    return len(checks)


def on_batch(db: Session, applied: Sequence[tuple[Message, Any]]) -> None:
    """The batch's applied messages checked in its transaction, with the bodies their
    handlers parsed."""
    if not applied:
        return
    rows = [row for row, _data in applied]
    check_rows(db, rows, parsed={row.id: data for row, data in applied if data is not None})


def scan(db: Session, *, since: dt.datetime, trigger: str) -> QualityRun:
    """Check again every message applied since ``since`` with today's rules (after a rule
    changed), a chunk per transaction (committed: ingestion's apply steps write between
    them), drop the results of messages whose type has no rule any more, and log the run."""
    run = QualityRun(started_at=utcnow(), since=since, trigger=trigger, status="running")
    db.add(run)
    db.commit()
    rules = rules_by_type(db)
    run.rules = sum(len(v) for v in rules.values())
    ruled = Message.message_type.in_(sorted(rules)) if rules else Message.id < 0
    stale = select(Message.id).where(Message.received_at >= since, ~ruled)
    db.execute(delete(QualityCheck).where(QualityCheck.message_row_id.in_(stale)))
    db.commit()
    last = 0
    while True:
        rows = db.scalars(
            select(Message)
            .where(
                Message.status == MessageStatus.APPLIED,
                Message.received_at >= since,
                Message.id > last,
                ruled,
            )
            .order_by(Message.id)
            .limit(SCAN_CHUNK)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        run.messages += check_rows(db, rows, rules)
        db.commit()
    ids = select(Message.id).where(Message.received_at >= since)
    totals = db.execute(
        select(
            func.coalesce(func.sum(QualityCheck.total), 0),
            func.coalesce(func.sum(QualityCheck.failed), 0),
        ).where(QualityCheck.message_row_id.in_(ids))
    ).one()
    run.checks, run.failures = int(totals[0]), int(totals[1])
    run.finished_at = utcnow()
    run.status = "done"
    db.commit()
    return run


def score(total: int, failed: int) -> float | None:
    """Rules passed over rules applied, in per cent (None when nothing was checked)."""
    return None if not total else round(100.0 * (total - failed) / total, 1)
