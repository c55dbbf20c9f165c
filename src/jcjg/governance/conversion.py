"""Conversion rules (转换规则, 000 7.1.4(3): 基于数据标准的数据格式、值域转换处理), run on arrival.

A rule names a message type, a text field (or a key of a structured field) and how its values
are rewritten before the type's handler applies them:

- 全角转半角 (``halfwidth``): full-width letters, digits and signs to their ASCII forms;
- 去除多余空白 (``trim``): spaces at either end dropped, runs of spaces made one;
- 日期格式转换 (``date``): ``2026/11/27``, ``2026.11.27``, ``2026年11月27日`` to ``2026-11-27``;
- 计量单位规范写法 (``unit``): ``Mpa``, ``N/mm2`` to ``MPa``, ``KN`` to ``kN`` ... (a table of
  spellings, the platform's or the rule's own);
- 值域转换 (``code_map``): a whole value mapped to the standard's code (``合格`` to
  ``conforming``, a legacy ``1`` to ``conforming``).

The apply step asks for a batch's conversions once (hook ``exchange.types.CONVERSIONS``); the
raw message stays as it was signed and notarised. What a rule changed is kept per message
(:class:`ConversionRecord`: rule, field, before, after), written with the batch's applied
messages (hook ``BATCH_APPLIED``); a refused message leaves none. A message that its type would
refuse once converted is applied as sent (nothing recorded, logged).

The enabled rules are kept in memory per database, read again when older than
:data:`TTL_SECONDS` or when this process saved a rule: with none for a type, its messages cost
one dict lookup."""

from __future__ import annotations

import copy
import datetime as dt
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.db import utcnow
from jcjg.exchange.models import Message
from jcjg.exchange.types import Convert, message_types
from jcjg.governance.choices import ConversionKind
from jcjg.governance.models import ConversionRecord, ConversionRule, ConversionRuleVersion
from jcjg.governance.ruleset import CONVERSION, Steps, in_force, signed_at

log = logging.getLogger("jcjg.governance.conversion")
TTL_SECONDS = 5.0
PENDING = "jcjg.governance.conversions"  # session.info: a batch's changes, by message row id
# the platform's spellings of units (the rule may give its own table instead)
UNITS: dict[str, str] = {
    "Mpa": "MPa", "mpa": "MPa", "MPA": "MPa", "mPa": "MPa", "N/mm2": "MPa", "N/mm²": "MPa",
    "KN": "kN", "Kn": "kN", "kn": "kN",
    "KPa": "kPa", "Kpa": "kPa", "kpa": "kPa", "KPA": "kPa",
    "MM": "mm", "Mm": "mm", "CM": "cm", "Cm": "cm",
    "°C": "℃", "oC": "℃", "摄氏度": "℃",
    "m3": "m³", "M3": "m³", "m2": "m²", "M2": "m²",
    "KG": "kg", "Kg": "kg",
}  # fmt: skip
_DATE = re.compile(
    r"(?<![0-9])((?:19|20)[0-9]{2})\s*(?:[/.\-]|年)\s*([0-9]{1,2})\s*(?:[/.\-]|月)\s*"
    r"([0-9]{1,2})(?:\s*日)?(?![0-9])"
)
_SPACES = re.compile(r"\s+")


def halfwidth(text: str) -> str:
    """Full-width ASCII forms (U+FF01–U+FF5E) and the ideographic space to ASCII."""
    out = []
    for char in text:
        code = ord(char)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        elif code == 0x3000:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def trim(text: str) -> str:
    """Spaces at either end dropped, every run of white space inside made one space (a
    multi-line text keeps its lines: each line trimmed, runs of blank lines made one)."""
    if "\n" not in text:
        return _SPACES.sub(" ", text).strip()
    lines = [_SPACES.sub(" ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _iso(match: re.Match[str]) -> str:
    year, month, day = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return match.group(0)  # no such day: left as it was


def iso_dates(text: str) -> str:
    """Each date written ``2026/11/27``, ``2026.11.27``, ``2026-1-5`` or ``2026年11月27日`` as
    ``2026-11-27`` (a day that does not exist is left as written)."""
    return _DATE.sub(_iso, text)


def unit_pattern(table: Mapping[str, str]) -> re.Pattern[str] | None:
    """One expression finding any of ``table``'s spellings as a whole unit (not inside a word:
    ``KN`` in ``KNOT`` is not a unit), longest first."""
    spellings = sorted((k for k in table if k), key=len, reverse=True)
    if not spellings:
        return None
    alternatives = "|".join(re.escape(k) for k in spellings)
    return re.compile(rf"(?<![A-Za-z])({alternatives})(?![A-Za-z0-9²³])")


@dataclass(frozen=True)
class Converter:
    """A rule as the apply step runs it."""

    id: int
    name: str
    kind: str
    parent: tuple[str, ...]
    leaf: str
    rewrite: Callable[[str], str]

    @classmethod
    def of(cls, rule: ConversionRule, version: ConversionRuleVersion | None = None) -> Converter:
        """``rule`` as it stands, or as ``version`` of it defined it."""
        found = version or rule
        parts = found.path.split(".")
        return cls(rule.id, rule.name, found.kind, tuple(parts[:-1]), parts[-1], rewriter(found))


def rewriter(rule: ConversionRule | ConversionRuleVersion) -> Callable[[str], str]:
    """What a rule (or a version of it) does to one text value."""
    kind, params = rule.kind, rule.params or {}
    if kind == ConversionKind.HALFWIDTH:
        return halfwidth
    if kind == ConversionKind.TRIM:
        return trim
    if kind == ConversionKind.DATE:
        return iso_dates
    if kind == ConversionKind.UNIT:
        table = dict(params.get("units") or UNITS)
        pattern = unit_pattern(table)
        if pattern is None:
            return lambda text: text
        return lambda text: pattern.sub(lambda m: table[m.group(1)], text)
    if kind == ConversionKind.CODE_MAP:
        mapping = {str(k): str(v) for k, v in (params.get("map") or {}).items()}
        return lambda text: mapping.get(unicodedata.normalize("NFKC", text).strip(), text)
    raise ValueError(f"unknown conversion kind {kind!r}")


def records_along(
    data: Any, parts: Sequence[str], where: str = "", *, missing_as_empty: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records (dicts, as held in ``data``) holding a path's last part, each with its
    place (``equipment.1``): a list's ``[]`` gives each item. A missing single record is left
    out, or with ``missing_as_empty`` counts as an empty one (a quality rule: its fields are
    missing)."""
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
            yield from records_along(item, rest, f"{name}.{i}", missing_as_empty=missing_as_empty)
    elif isinstance(value, dict) or missing_as_empty:
        record = value if isinstance(value, dict) else {}
        yield from records_along(record, rest, name, missing_as_empty=missing_as_empty)


def convert(rules: Sequence[Converter], data: Any) -> list[dict[str, Any]]:
    """Rewrite ``data`` (a message's parsed JSON) in place by ``rules`` in their order; each
    change made: ``{rule, name, kind, field, before, after}``."""
    changes: list[dict[str, Any]] = []
    for rule in rules:
        key = rule.leaf.removesuffix("[]")
        for where, parent in records_along(data, rule.parent):
            name = f"{where}.{key}" if where else key
            value = parent.get(key)
            if rule.leaf.endswith("[]") and isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, str) and (after := rule.rewrite(item)) != item:
                        value[i] = after
                        changes.append(_change(rule, f"{name}.{i}", item, after))
            elif isinstance(value, str) and (after := rule.rewrite(value)) != value:
                parent[key] = after
                changes.append(_change(rule, name, value, after))
    return changes


def _change(rule: Converter, field: str, before: str, after: str) -> dict[str, Any]:
    return {"rule": rule.id, "name": rule.name, "kind": rule.kind, "field": field,
            "before": before, "after": after}  # fmt: skip


def load(db: Session) -> dict[str, list[Steps[Converter]]]:
    """Each rule's versions by message type, the rules in their order (oldest first); a rule
    never switched on in any version is left out."""
    return CONVERSION.load(db, Converter.of)


class _Memory:
    """The enabled rules of each database (by its URL), one snapshot each, replaced whole."""

    def __init__(self) -> None:
        self.snapshots: dict[str, tuple[float, dict[str, list[Steps[Converter]]]]] = {}

    def get(self, db: Session) -> dict[str, list[Steps[Converter]]]:
        url = str(db.get_bind().engine.url)
        found = self.snapshots.get(url)
        if found is not None and time.monotonic() - found[0] < TTL_SECONDS:
            return found[1]
        rules = load(db)
        self.snapshots[url] = (time.monotonic(), rules)
        return rules

    def forget(self) -> None:
        self.snapshots.clear()


MEMORY = _Memory()


def conversions(db: Session, types: set[str]) -> dict[str, Convert]:
    """The exchange's hook (``exchange.types.CONVERSIONS``): for a batch's message types that
    have enabled rules, what converts one message's body."""
    rules = MEMORY.get(db)
    pending: dict[int, list[dict[str, Any]]] = {}
    db.info[PENDING] = pending
    if not rules:
        return {}
    kinds = message_types()

    def one(message_type: str, mine: list[Steps[Converter]]) -> Convert:
        def run(row: Message, data: Any) -> Any:
            chosen = in_force(mine, signed_at(row))
            if not chosen:
                return data
            original = copy.deepcopy(data)
            try:
                changes = convert(chosen, data)
                if changes and message_type in kinds:
                    kinds[message_type].schema.model_validate(data)
            except ValidationError:
                log.warning("converted message %s would be refused: applied as sent", row.id)
                return original
            except Exception:  # a rule that cannot run must not stop the lane
                log.exception("conversion rules failed on message %s", row.id)
                return original
            if changes:
                pending[row.id] = changes
            return data

        return run

    return {t: one(t, rules[t]) for t in types if t in rules}


def record(db: Session, applied: Sequence[tuple[Message, Any]]) -> int:
    """The conversions made on a batch's applied messages, kept (a refused message's dropped).
    Returns how many values were changed."""
    pending: dict[int, list[dict[str, Any]]] = db.info.pop(PENDING, None) or {}
    if not pending:
        return 0
    now = utcnow()
    rows = []
    for message, _data in applied:
        for change in pending.get(message.id, ()):
            rows.append(
                ConversionRecord(
                    message_row_id=message.id,
                    institution_id=message.institution_id,
                    region_code=message.region_code,
                    message_type=message.message_type,
                    rule_id=change["rule"],
                    rule_name=change["name"][:100],
                    kind=change["kind"],
                    field=change["field"][:200],
                    before=change["before"],
                    after=change["after"],
                    received_at=message.received_at,
                    converted_at=now,
                )
            )
    db.add_all(rows)
    db.flush()
    return len(rows)


def replay(db: Session, rows: Sequence[Message], parsed: dict[int, Any]) -> None:
    """The conversions recorded for ``rows`` made again on their parsed bodies (``parsed``, by
    row id, in place): an offline quality run judges what was applied, not the raw message."""
    if not rows:
        return
    found = db.execute(
        select(ConversionRecord.message_row_id, ConversionRecord.field, ConversionRecord.after)
        .where(ConversionRecord.message_row_id.in_([r.id for r in rows]))
        .order_by(ConversionRecord.id)
    ).all()
    for row_id, field, after in found:
        data = parsed.get(row_id)
        parts = field.split(".")
        for part in parts[:-1]:
            if isinstance(data, list) and part.isdecimal() and int(part) < len(data):
                data = data[int(part)]
            elif isinstance(data, dict):
                data = data.get(part)
            else:
                data = None
        last = parts[-1]
        if isinstance(data, dict) and last in data:
            data[last] = after
        elif isinstance(data, list) and last.isdecimal() and int(last) < len(data):
            data[int(last)] = after
