"""The data standard's value domains applied to the exchange (docs/governance.md, "From the
effective date on").

The message types' pydantic models check each element's envelope (types, the code's limits).
A published version that narrows an element's domain adds the narrower check, from its
effective time on, to every message **signed** (the signature's ``created``) at or after that
time: a message signed before is judged by the version then in force, whenever it arrives.

What the request path needs is kept in memory: the published versions' effective times and
their compiled checks, read again when older than ``TTL_SECONDS`` or when this process publishes
a version (another process sees a publication within as many seconds; an effective time lies
in the future when published, so no message is judged by a stale list)."""

from __future__ import annotations

import bisect
import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.errors import FieldError
from jcjg.exchange.cache import NeedDatabase
from jcjg.governance.choices import StandardStatus
from jcjg.governance.models import DataElement, DataModel, DataStandard

TTL_SECONDS = 5.0
CODE = "value_domain"  # the field error's code
# the keys of a domain a version may narrow (the rest: the code's)
NARROWABLE = ("enum", "minimum", "maximum", "min_length", "max_length", "decimal_places")

Check = Callable[[Any], list[FieldError]]


def _values(data: Any, parts: list[str], where: str) -> Iterator[tuple[str, Any]]:
    """The values at a field's path (``records[].grade``) in parsed JSON, with their names in
    errors (``records.0.grade``)."""
    if not parts:
        yield where, data
        return
    head, rest = parts[0], parts[1:]
    repeated = head.endswith("[]")
    key = head[:-2] if repeated else head
    if not isinstance(data, dict) or data.get(key) is None:
        return
    value = data[key]
    name = f"{where}.{key}" if where else key
    if repeated:
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _values(item, rest, f"{name}.{i}")
    else:
        yield from _values(value, rest, name)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def narrowed(domain: Mapping[str, Any], envelope: Mapping[str, Any]) -> dict[str, Any]:
    """What of ``domain`` is narrower than ``envelope`` (the keys the exchange checks itself)."""
    return {k: domain[k] for k in NARROWABLE if k in domain and domain[k] != envelope.get(k)}


def problem(domain: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` lies outside ``domain`` (Chinese), or None."""
    if "enum" in domain and str(value) not in {str(c) for c in domain["enum"]}:
        return "取值不在数据标准规定的代码中（可用：" + "、".join(map(str, domain["enum"])) + "）"
    if isinstance(value, str) and not any(k in domain for k in ("minimum", "maximum")):
        if "min_length" in domain and len(value) < domain["min_length"]:
            return f"长度不得少于 {domain['min_length']} 个字符（数据标准）"
        if "max_length" in domain and len(value) > domain["max_length"]:
            return f"长度不得超过 {domain['max_length']} 个字符（数据标准）"
    number = (
        _decimal(value)
        if any(k in domain for k in ("minimum", "maximum", "decimal_places"))
        else None
    )
    if number is not None and number.is_finite():
        if "minimum" in domain and number < Decimal(str(domain["minimum"])):
            return f"不得小于 {domain['minimum']}（数据标准）"
        if "maximum" in domain and number > Decimal(str(domain["maximum"])):
            return f"不得大于 {domain['maximum']}（数据标准）"
        places = domain.get("decimal_places")
        exponent = number.as_tuple().exponent
        if places is not None and isinstance(exponent, int) and -exponent > places:
            return f"至多 {places} 位小数（数据标准）"
    return None


def _collect(data: Any, steps: tuple[tuple[str, bool], ...], at: int, out: list[Any]) -> None:
    """The values at a field's path (as :func:`_values` finds them), without their names."""
    if at == len(steps):
        out.append(data)
        return
    key, repeated = steps[at]
    if not isinstance(data, dict):
        return
    value = data.get(key)
    if value is None:
        return
    if not repeated:
        _collect(value, steps, at + 1, out)
    elif isinstance(value, list):
        for item in value:
            _collect(item, steps, at + 1, out)


def inside(domain: Mapping[str, Any]) -> Callable[[Any], bool]:
    """A quick test that a value lies inside ``domain``: True exactly when :func:`problem`
    finds nothing (the codes and bounds prepared once; an integer compared as it is; any
    other value asked of :func:`problem`)."""
    codes = frozenset(str(c) for c in domain["enum"]) if "enum" in domain else None
    low = Decimal(str(domain["minimum"])) if "minimum" in domain else None
    high = Decimal(str(domain["maximum"])) if "maximum" in domain else None
    numeric = any(k in domain for k in ("minimum", "maximum", "decimal_places"))
    lengths = not (low is not None or high is not None) and (
        "min_length" in domain or "max_length" in domain
    )

    def test(value: Any) -> bool:
        if codes is not None and (value if type(value) is str else str(value)) not in codes:
            return False
        if lengths or (numeric and type(value) is not int):
            return problem(domain, value) is None
        if numeric:  # an integer: exact against the bounds, no decimal places
            return (low is None or value >= low) and (high is None or value <= high)
        return True

    return test


def compile_model(fields: list[tuple[str, dict[str, Any]]], version: int) -> Check | None:
    """The check of one message type: its fields' narrowed domains (``[(path, domain)]``).
    The values are tested quickly; a field with a value outside is walked again for the
    errors' names and words."""
    if not fields:
        return None
    plan = [
        (
            re.split(r"\.", path),
            tuple((p.removesuffix("[]"), p.endswith("[]")) for p in path.split(".")),
            domain,
            inside(domain),
        )
        for path, domain in fields
    ]

    def check(data: Any) -> list[FieldError]:
        errors = []
        for parts, steps, domain, test in plan:
            values: list[Any] = []
            _collect(data, steps, 0, values)
            if all(map(test, values)):
                continue
            for name, value in _values(data, parts, ""):
                why = problem(domain, value)
                if why:
                    errors.append(FieldError(name, f"{why}，第 {version} 版", CODE))
        return errors

    return check


@dataclass(frozen=True)
class InForce:
    """A published version as the exchange needs it."""

    version: int
    effective_at: dt.datetime
    checks: Mapping[str, Check]  # message type -> check (only types with narrowed fields)
    domains: Mapping[str, list[tuple[str, dict[str, Any]]]]  # message type -> narrowed fields


def load(db: Session) -> list[InForce]:
    """The published versions, oldest effective first, with their compiled checks."""
    versions = db.execute(
        select(DataStandard.id, DataStandard.version, DataStandard.effective_at)
        .where(DataStandard.status == StandardStatus.PUBLISHED.value)
        .order_by(DataStandard.effective_at, DataStandard.version)
    ).all()
    out = []
    for standard_id, version, effective_at in versions:
        narrow = {
            element_id: narrowed(domain or {}, envelope or {})
            for element_id, domain, envelope in db.execute(
                select(DataElement.element_id, DataElement.domain, DataElement.envelope).where(
                    DataElement.standard_id == standard_id
                )
            )
        }
        narrow = {k: v for k, v in narrow.items() if v}
        domains: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        if narrow:
            for model_id, fields in db.execute(
                select(DataModel.model_id, DataModel.fields).where(
                    DataModel.standard_id == standard_id
                )
            ):
                found = [
                    (f["path"], narrow[f["element"]]) for f in fields if f["element"] in narrow
                ]
                if found:
                    domains[model_id] = found
        checks = {m: c for m, f in domains.items() if (c := compile_model(f, version))}
        out.append(
            InForce(
                version, effective_at or dt.datetime.min.replace(tzinfo=dt.UTC), checks, domains
            )
        )
    return out


class _Memory:
    """The published versions and their effective times, one snapshot replaced whole."""

    def __init__(self) -> None:
        self.loaded_at = -1e18
        self.snapshot: tuple[list[InForce], list[dt.datetime]] = ([], [])

    def get(self, db: Session | None) -> tuple[list[InForce], list[dt.datetime]]:
        if time.monotonic() - self.loaded_at < TTL_SECONDS:
            return self.snapshot
        if db is None:
            raise NeedDatabase
        versions = load(db)
        snapshot = (versions, [v.effective_at for v in versions])
        self.snapshot, self.loaded_at = snapshot, time.monotonic()
        return snapshot

    def forget(self) -> None:
        self.loaded_at = -1e18


MEMORY = _Memory()


def in_force(db: Session | None, at: dt.datetime) -> InForce | None:
    """The published version in force at ``at`` (None: none published yet, the code alone)."""
    versions, times = MEMORY.get(db)
    position = bisect.bisect_right(times, at)
    return versions[position - 1] if position else None


def value_domains(db: Session | None, message_type: str, signed_at: dt.datetime) -> Check | None:
    """The exchange's hook (``exchange.types.VALUE_DOMAINS``): the check of a message of
    ``message_type`` signed at ``signed_at``, or None when no narrower domain applies."""
    version = in_force(db, signed_at)
    return version.checks.get(message_type) if version else None


def _node(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return dict.__getitem__(schema.setdefault("$defs", {}), ref.rsplit("/", 1)[-1])
    branches = [b for b in node.get("anyOf", ()) if b.get("type") != "null"]
    if len(branches) == 1 and "properties" not in node:
        return _node(schema, branches[0])
    return node


_JSON = {
    "enum": "enum",
    "minimum": "minimum",
    "maximum": "maximum",
    "min_length": "minLength",
    "max_length": "maxLength",
}


def _narrow(schema: dict[str, Any], node: dict[str, Any], domain: Mapping[str, Any]) -> None:
    branches = [b for b in node.get("anyOf", ()) if b.get("type") != "null"]
    for branch in branches or [node]:
        target = _node(schema, branch) if "$ref" in branch else branch
        for key, value in domain.items():
            if key in _JSON and not (key == "enum" and target.get("type") not in (None, "string")):
                target[_JSON[key]] = value
            if key == "decimal_places":
                target["description"] = f"至多 {value} 位小数"


def schema_for(
    db: Session | None, message_type: str, schema: dict[str, Any], at: dt.datetime
) -> dict[str, Any]:
    """The exchange's hook (``exchange.types.SCHEMA_DOMAINS``): a message type's JSON Schema
    with the domains of the version in force at ``at``, and that version's number."""
    version = in_force(db, at)
    if version is None:
        return schema
    schema["x-data-standard-version"] = version.version
    for path, domain in version.domains.get(message_type, ()):
        node: dict[str, Any] = schema
        parts = path.split(".")
        for i, part in enumerate(parts):
            repeated = part.endswith("[]")
            node = _node(schema, node)
            prop = node.get("properties", {}).get(part[:-2] if repeated else part)
            if prop is None:
                break
            if repeated:
                prop = _node(schema, prop).get("items", {})
            if i == len(parts) - 1:
                _narrow(schema, prop, domain)
            else:
                node = prop
    return schema
