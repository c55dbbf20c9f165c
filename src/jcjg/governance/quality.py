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
  time the field holds (the statutory "uploaded in real time", 001 5.4.8);
- related consistency (关联一致性): the field compares with a field of a related record received
  in another message, found by a reference this record holds (a test record's
  ``commission_number`` -> the commission of that ``number``): its value, or for a list its
  number of values (a test's specimens against the commission's samples). The records it looks
  up are indexed on arrival (:class:`QualityReference`); one not received yet is not judged
  (the offline run judges it again once it has come).

A message is checked once per rule of its type, as the rule stood when the message was signed
(each save of a rule is a version with an effective time, :mod:`jcjg.governance.ruleset`): a
rule passes when every value it judges does.
Its score is the rules passed over the rules applied; an institution's, over all its messages
of the period. Only applied messages are checked (a refused one never became data).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Message
from jcjg.governance import conversion
from jcjg.governance.choices import Comparison, QualityKind
from jcjg.governance.models import (
    QualityCheck,
    QualityReference,
    QualityRule,
    QualityRuleVersion,
    QualityRun,
)
from jcjg.governance.ruleset import QUALITY, Steps, in_force, signed_at

log = logging.getLogger("jcjg.governance.quality")
MAX_FAILURES = 20  # kept per message: the first ones, enough to see what is wrong
SCAN_CHUNK = 500
MAX_KEY = 200  # a reference longer than the index keeps is not looked up
# a related record as a related-consistency rule finds it: (message type, key field, key) ->
# its parsed body, or None when not received
Find = Callable[[str, str, str], Any]


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
    def of(cls, rule: QualityRule, version: QualityRuleVersion | None = None) -> Compiled:
        """``rule`` as it stands, or as ``version`` of it defined it."""
        found = version or rule
        parts = found.path.split(".")
        params = found.params or {}
        pattern = None
        if found.kind == QualityKind.FORMAT:
            pattern = re.compile(str(params.get("pattern", "")))
        return cls(rule.id, rule.name, found.kind, tuple(parts[:-1]), parts[-1], params, pattern)


def _parents(data: Any, parts: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records holding a field: the message itself, or each record along the path (a
    missing single record counts as an empty one: its fields are missing)."""
    return conversion.records_along(data, parts, missing_as_empty=True)


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
    Comparison.GE: lambda a, b: a >= b,
    Comparison.GT: lambda a, b: a > b,
}


def _holds(op: str, a: Any, b: Any) -> bool:
    try:
        return bool(_OPS[Comparison(op)](a, b))
    except (TypeError, ArithmeticError, ValueError):
        return False


def measure(data: Any, path: str, tz: dt.tzinfo) -> Any:
    """What a related-consistency rule compares at ``path`` of a record: for a path through a
    list (``specimens[].position``) the number of values, else the value (None: missing)."""
    parts = path.split(".")
    values = [
        value
        for where, parent in _parents(data, parts[:-1])
        for _name, value in _leaf_values(parent, parts[-1], where)
    ]
    if "[]" in path:
        return Decimal(len(values))
    return _comparable(values[0], tz) if values else None


def references(data: Any, link: str) -> list[str]:
    """The keys a record names at its reference field ``link`` (one, or each of a list)."""
    parts = link.split(".")
    return [
        str(value)
        for where, parent in _parents(data, parts[:-1])
        for _name, value in _leaf_values(parent, parts[-1], where)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != ""
    ]


def _related(rule: Compiled, data: Any, tz: dt.tzinfo, find: Find | None) -> list[dict[str, str]]:
    """A related-consistency rule on one message: each related record found compared."""
    params = rule.params
    if find is None:
        return []
    path = ".".join((*rule.parent, rule.leaf))
    mine = measure(data, path, tz)
    if mine is None:
        return []
    failures = []
    op = str(params.get("op", "le"))
    for key in references(data, str(params["link"])):
        other = find(str(params["related_type"]), str(params["key"]), key)
        theirs = None if other is None else measure(other, str(params["other"]), tz)
        if theirs is None or _holds(op, mine, theirs):
            continue
        expected = Comparison(op).label
        named = params.get("other_name") or params["other"]
        why = f"与关联记录 {key} 不一致（应{expected}其 {named}）"
        failures.append({"field": path.replace("[]", ""), "why": why})
    return failures


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
    rule: Compiled,
    data: Any,
    received_at: dt.datetime,
    tz: dt.tzinfo,
    find: Find | None = None,
) -> list[dict[str, str]]:
    """What of ``data`` (a message's JSON) fails ``rule``: ``[{field, why}]``, empty when it
    passes (``find``: the related records, for a related-consistency rule)."""
    if rule.kind == QualityKind.RELATED:
        return _related(rule, data, tz, find)
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
            if not _holds(str(rule.params.get("op", "le")), left, right):
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
    rules: Iterable[Compiled],
    data: Any,
    received_at: dt.datetime,
    tz: dt.tzinfo,
    find: Find | None = None,
) -> tuple[int, int, list[dict[str, Any]]]:
    """``(rules applied, rules failed, failures)`` of one message."""
    total = failed = 0
    found: list[dict[str, Any]] = []
    for rule in rules:
        total += 1
        failures = judge(rule, data, received_at, tz, find)
        if failures:
            failed += 1
            for failure in failures:
                if len(found) < MAX_FAILURES:
                    found.append({"rule": rule.id, "name": rule.name, **failure})
    return total, failed, found


# the rules of each message type, each as its versions (``ruleset.Steps``)
Rules = Mapping[str, list[Steps[Compiled]]]


def rules_by_type(
    db: Session, types: Iterable[str] | None = None
) -> dict[str, list[Steps[Compiled]]]:
    """The rules of ``types`` (or all) with their versions, by message type (a rule on in no
    version left out)."""
    return QUALITY.load(db, Compiled.of, types)


def compiled(rules: Rules) -> Iterator[Compiled]:
    """Every version of ``rules`` that is switched on."""
    for steps in rules.values():
        for rule_steps in steps:
            yield from (c for _since, c in rule_steps if c is not None)


def month_of(moment: dt.datetime, tz: dt.tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m")


def check_rows(
    db: Session,
    rows: Sequence[Message],
    rules: Rules | None = None,
    parsed: Mapping[int, Any] | None = None,
) -> int:
    """Check ``rows`` (applied messages) against the rules of their types, each as it stood
    when the message was signed, and keep one :class:`QualityCheck` each, replacing an earlier
    one (a message no rule was in force for keeps none; ``parsed``: bodies already parsed, by
    row id). Returns how many were checked."""
    if rules is None:
        rules = rules_by_type(db, {r.message_type for r in rows})
    ruled = [r for r in rows if rules.get(r.message_type)]
    if not ruled:
        return 0
    db.execute(delete(QualityCheck).where(QualityCheck.message_row_id.in_([r.id for r in ruled])))
    chosen = {r.id: in_force(rules[r.message_type], signed_at(r)) for r in ruled}
    wanted = [r for r in ruled if chosen[r.id]]
    if not wanted:
        return 0
    tz = get_settings().tz
    now = utcnow()
    bodies = _bodies(db, wanted, parsed or {})
    finder = _finder(db, wanted, chosen, bodies)
    checks = []
    for row in wanted:
        data = bodies.get(row.id)
        if data is None:
            continue
        try:
            find = finder(row)
            total, failed, failures = evaluate(chosen[row.id], data, row.received_at, tz, find)
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


def _bodies(db: Session, rows: Sequence[Message], parsed: Mapping[int, Any]) -> dict[int, Any]:
    """Each row's body as applied: parsed by its handler, or read again with the conversions
    recorded for it made again."""
    out = {r.id: parsed[r.id] for r in rows if parsed.get(r.id) is not None}
    again = [r for r in rows if r.id not in out]
    for row in again:
        try:
            out[row.id] = json.loads(row.body)
        except ValueError:
            continue
    conversion.replay(db, [r for r in again if r.id in out], out)
    return out


def referenced(rules: Rules) -> dict[str, set[str]]:
    """The related records the rules look up (in any of their versions): message type -> its
    key fields."""
    out: dict[str, set[str]] = {}
    for rule in compiled(rules):
        if rule.kind == QualityKind.RELATED:
            out.setdefault(str(rule.params["related_type"]), set()).add(str(rule.params["key"]))
    return out


def remember(
    db: Session, rows: Sequence[Message], bodies: Mapping[int, Any], wanted: dict[str, set[str]]
) -> None:
    """Index ``rows`` (applied messages, oldest first) for the related-consistency rules that
    look records of their types up by ``wanted``'s key fields: the latest one wins."""
    found: dict[tuple[str, str, str, str], int] = {}
    for row in rows:
        for key_field in wanted.get(row.message_type, ()):
            data = bodies.get(row.id)
            if data is None:
                continue
            for key in references(data, key_field):
                if len(key) <= MAX_KEY:
                    found[(row.lane, row.message_type, key_field, key)] = row.id
    if not found:
        return
    groups: dict[tuple[str, str, str], list[str]] = {}
    for lane, message_type, key_field, key in found:
        groups.setdefault((lane, message_type, key_field), []).append(key)
    for (lane, message_type, key_field), keys in groups.items():
        db.execute(
            delete(QualityReference).where(
                QualityReference.lane == lane,
                QualityReference.message_type == message_type,
                QualityReference.key_field == key_field,
                QualityReference.key.in_(keys),
            )
        )
    db.add_all(
        QualityReference(lane=lane, message_type=t, key_field=f, key=k, message_row_id=row_id)
        for (lane, t, f, k), row_id in found.items()
    )
    db.flush()


def _finder(
    db: Session,
    rows: Sequence[Message],
    chosen: Mapping[int, list[Compiled]],
    bodies: dict[int, Any],
) -> Callable[[Message], Find | None]:
    """For each row, how its related-consistency rules (``chosen``: by row id) find their
    records: looked up for the whole batch at once (an institution's own lane first, then its
    region's)."""
    asked: set[tuple[str, str, str, str]] = set()
    for row in rows:
        data = bodies.get(row.id)
        for rule in chosen.get(row.id, ()):
            if rule.kind != QualityKind.RELATED or data is None:
                continue
            p = rule.params
            for key in references(data, str(p["link"])):
                for lane in (row.lane, f"r{row.region_code}"):
                    asked.add((lane, str(p["related_type"]), str(p["key"]), key[:MAX_KEY]))
    if not asked:
        return lambda _row: None
    index: dict[tuple[str, str, str, str], int] = {}
    lanes = sorted({a[0] for a in asked})
    keys = sorted({a[3] for a in asked})
    for lane, message_type, key_field, key, row_id in db.execute(
        select(
            QualityReference.lane,
            QualityReference.message_type,
            QualityReference.key_field,
            QualityReference.key,
            QualityReference.message_row_id,
        ).where(and_(QualityReference.lane.in_(lanes), QualityReference.key.in_(keys)))
    ):
        if (lane, message_type, key_field, key) in asked:
            index[(lane, message_type, key_field, key)] = row_id
    missing = {i for i in index.values() if i not in bodies}
    if missing:
        others = db.scalars(select(Message).where(Message.id.in_(missing))).all()
        bodies.update(_bodies(db, others, {}))

    def finder(row: Message) -> Find:
        def find(message_type: str, key_field: str, key: str) -> Any:
            for lane in (row.lane, f"r{row.region_code}"):
                row_id = index.get((lane, message_type, key_field, key))
                if row_id is not None and row_id != row.id:
                    return bodies.get(row_id)
            return None

        return find

    return finder


def on_batch(db: Session, applied: Sequence[tuple[Message, Any]]) -> None:
    """The batch's applied messages indexed for the related-consistency rules and checked, in
    its transaction, with the bodies their handlers parsed (converted)."""
    if not applied:
        return
    rows = [row for row, _data in applied]
    parsed = {row.id: data for row, data in applied if data is not None}
    rules = rules_by_type(db)
    wanted = referenced(rules)
    if wanted:
        remember(db, [r for r in rows if r.message_type in wanted], parsed, wanted)
    check_rows(db, rows, rules, parsed=parsed)


def scan(db: Session, *, since: dt.datetime, trigger: str) -> QualityRun:
    """Check again every message applied since ``since`` with the rules as they stand (after
    a rule changed: each message by each rule's version in force when it was signed), a
    chunk per transaction (committed: ingestion's apply steps write between them), drop the
    results of messages whose type has no rule any more, and log the run."""
    run = QualityRun(started_at=utcnow(), since=since, trigger=trigger, status="running")
    db.add(run)
    db.commit()
    rules = rules_by_type(db)
    run.rules = sum(len(v) for v in rules.values())
    ruled = Message.message_type.in_(sorted(rules)) if rules else Message.id < 0
    stale = select(Message.id).where(Message.received_at >= since, ~ruled)
    db.execute(delete(QualityCheck).where(QualityCheck.message_row_id.in_(stale)))
    db.commit()
    _index_since(db, since, referenced(rules))
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


def _index_since(db: Session, since: dt.datetime, wanted: dict[str, set[str]]) -> None:
    """The records the related-consistency rules look up, applied since ``since``, indexed
    (a rule added today finds the commissions of the period), a chunk per transaction."""
    if not wanted:
        return
    last = 0
    while True:
        rows = db.scalars(
            select(Message)
            .where(
                Message.status == MessageStatus.APPLIED,
                Message.received_at >= since,
                Message.id > last,
                Message.message_type.in_(sorted(wanted)),
            )
            .order_by(Message.id)
            .limit(SCAN_CHUNK)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        remember(db, rows, _bodies(db, rows, {}), wanted)
        db.commit()


def score(total: int, failed: int) -> float | None:
    """Rules passed over rules applied, in per cent (None when nothing was checked)."""
    return None if not total else round(100.0 * (total - failed) / total, 1)
