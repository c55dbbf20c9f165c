"""Describing an entity once: its fields, how they are validated, shown, masked and filtered."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from jcjg.core import domains, forms, plausible, text
from jcjg.core.errors import FieldError
from jcjg.core.forms import form_id
from jcjg.core.masking import mask_value

# How a field is entered and stored (TEXT is one line; LONGTEXT may hold line breaks and tabs).
TEXT, LONGTEXT, INT, DECIMAL, DATE, BOOL, CHOICE, REF, MULTI, PAIRS = (
    "text",
    "longtext",
    "int",
    "decimal",
    "date",
    "bool",
    "choice",
    "ref",
    "multi",
    "pairs",
)


class FieldProblem(ValueError):
    """A value that does not fit its field; the message is Chinese and shown to the user."""


REGION_REF = "region"


@dataclass(frozen=True)
class FieldSpec:
    """One editable field of an entity."""

    name: str
    label: str
    kind: str = TEXT
    required: bool = False
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: type[StrEnum] | None = None
    # REF/MULTI: which entity or catalogue list the ids point to; a TEXT field holding a region
    # code: REGION_REF (pages show the region's name beside the code)
    ref: str | None = None
    mask: str | None = None  # masking kind ("id_number", "phone", ...) for personal data
    validate: Callable[[Any], str | None] | None = None  # extra check -> Chinese problem or None
    in_list: bool = False
    help: str = ""
    pattern: str | None = None
    default: Any = None  # used when a new record omits the field, and to prefill new forms
    unique: bool = False  # unique across the platform (checked before writing: a field error)

    def parse(self, raw: Any) -> Any:
        """Turn form text, a CSV cell or a JSON value into the stored value, or raise."""
        if isinstance(raw, str):
            raw = raw.strip()
        empty = raw is None or raw == "" or (self.kind == MULTI and raw == [])
        if empty:
            if self.required:
                raise FieldProblem("必填项缺失")
            return [] if self.kind in (MULTI, PAIRS) else (False if self.kind == BOOL else None)
        value = _PARSERS[self.kind](self, raw)
        if self.validate is not None:
            problem = self.validate(value)
            if problem:
                raise FieldProblem(problem)
        return value

    def display(self, value: Any, *, unmasked: bool = False) -> str:
        """The value as text for pages and exports (personal data masked unless asked)."""
        if value is None or value == "" or value == []:
            return ""
        if self.kind == CHOICE and self.choices is not None:
            try:
                return str(self.choices(value).label)  # type: ignore[attr-defined]
            except ValueError:
                return str(value)
        if self.kind == BOOL:
            return "是" if value else "否"
        if self.kind == DATE and isinstance(value, dt.date):
            return value.isoformat()
        if self.kind == PAIRS:
            return "；".join(f"{p['name']}:{p['share']}" for p in value)
        text = str(value)
        if self.mask and not unmasked:
            return mask_value(self.mask, text)
        return text

    def to_cell(self, value: Any) -> str:
        """The value as an import-compatible cell (choices by value, lists joined by ,)."""
        if self.kind == MULTI:
            return ",".join(str(v) for v in value)
        if self.kind == BOOL:
            return "是" if value else "否"
        if self.kind == CHOICE:
            return "" if value is None else str(value)
        return self.display(value, unmasked=True)


MAX_INT = 2_147_483_647  # the database's INTEGER
MAX_DECIMAL = Decimal("9999999999.99")  # NUMERIC(12, 2), the narrowest decimal column


def _clean(value: str, *, multiline: bool = False) -> str:
    """The text boundary (:mod:`jcjg.core.text`): no controls, bidi or zero-width characters,
    line breaks only where ``multiline``; NFC."""
    try:
        return text.clean(value, multiline=multiline)
    except text.TextProblem as problem:
        raise FieldProblem(str(problem)) from None


def _text(spec: FieldSpec, raw: Any) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise FieldProblem("应为文本")
    value = _clean(str(raw), multiline=spec.kind == LONGTEXT)
    if spec.max_length and len(value) > spec.max_length:
        raise FieldProblem(f"长度超出上限（限 {spec.max_length} 个字符）")
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        raise FieldProblem("格式不正确")
    return value


def _number_bounds(spec: FieldSpec, value: float | int | Decimal) -> None:
    too_big = abs(value) > MAX_DECIMAL if isinstance(value, Decimal) else abs(value) > MAX_INT
    if too_big:
        raise FieldProblem("数值过大")
    if spec.minimum is not None and value < spec.minimum:
        raise FieldProblem(f"不能小于 {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise FieldProblem(f"不能大于 {spec.maximum:g}")


def _int(spec: FieldSpec, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise FieldProblem("应为整数")
    try:
        value = int(raw) if isinstance(raw, int) else int(str(raw).replace(",", ""))
    except ValueError:
        raise FieldProblem("应为整数") from None
    _number_bounds(spec, value)
    return value


def _decimal(spec: FieldSpec, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise FieldProblem("应为数字")
    try:
        value = Decimal(str(raw).replace(",", ""))
    except InvalidOperation:
        raise FieldProblem("应为数字") from None
    if not value.is_finite():
        raise FieldProblem("应为数字")
    _number_bounds(spec, value)
    return value.quantize(Decimal("0.01"))


def _date(spec: FieldSpec, raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        day = raw.date()
    elif isinstance(raw, dt.date):
        day = raw
    else:
        text = str(raw).replace("/", "-").replace(".", "-")
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise FieldProblem("日期格式不正确（应为 YYYY-MM-DD）") from None
    problem = plausible.day_problem(day)
    if problem:
        raise FieldProblem(problem)
    return day


def _bool(spec: FieldSpec, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).lower()
    if text in {"1", "true", "on", "yes", "是", "y"}:
        return True
    if text in {"0", "false", "off", "no", "否", "n"}:
        return False
    raise FieldProblem("应为 是/否")


def _choice(spec: FieldSpec, raw: Any) -> str:
    assert spec.choices is not None
    given = str(raw)
    for member in spec.choices:
        if given in (member.value, member.label):  # type: ignore[attr-defined]
            return member.value
    labels = "、".join(m.label for m in spec.choices)  # type: ignore[attr-defined]
    raise FieldProblem(f"不是允许的取值（可选：{labels}）")


def parse_id(raw: Any) -> int:
    """A record id: a positive whole number the database can hold (never true, 1.7 or 1e30;
    ``core.forms.form_id``), or ValueError."""
    value = form_id(raw) if isinstance(raw, str) else forms.parse_id(raw)
    if value is None:
        raise ValueError
    return value


def _ref(spec: FieldSpec, raw: Any) -> int:
    try:
        return parse_id(raw)
    except (TypeError, ValueError):
        raise FieldProblem("应为编号（正整数）") from None


def _multi(spec: FieldSpec, raw: Any) -> list[int]:
    items: Sequence[Any] = raw if isinstance(raw, list) else re.split(r"[,，;；\s]+", str(raw))
    out: list[int] = []
    for item in items:
        if item in ("", None):
            continue
        try:
            out.append(parse_id(item))
        except (TypeError, ValueError):
            raise FieldProblem(f"“{item}”不是编号") from None
    return sorted(set(out))


def _pairs(spec: FieldSpec, raw: Any) -> list[dict[str, Any]]:
    """``甲公司:60；乙公司:40`` or a JSON list of {name, share}: shares in percent."""
    items: list[tuple[str, Any]] = []
    if isinstance(raw, list):
        for entry in raw:
            if not isinstance(entry, dict) or "name" not in entry or "share" not in entry:
                raise FieldProblem("应为 [{name, share}, …]")
            items.append((_clean(str(entry["name"]).strip()), entry["share"]))
    else:
        for part in re.split(r"[;；\n]+", str(raw)):
            if not part.strip():
                continue
            name, sep, share = part.replace("：", ":").rpartition(":")
            if not sep or not name.strip():
                raise FieldProblem("格式应为 名称:比例；名称:比例")
            items.append((_clean(name.strip()), share.strip().rstrip("%")))
    out = []
    total = Decimal(0)
    for name, share in items:
        try:
            value = Decimal(str(share))
        except InvalidOperation:
            raise FieldProblem(f"“{name}”的出资比例不是数字") from None
        if not value.is_finite() or not Decimal(0) < value <= Decimal(100):
            raise FieldProblem(f"“{name}”的出资比例应在 0–100 之间")
        total += value
        out.append({"name": name, "share": float(value)})
    if total > Decimal(100):
        raise FieldProblem("出资比例合计超过 100%")
    return out


_PARSERS: dict[str, Callable[[FieldSpec, Any], Any]] = {
    TEXT: _text,
    LONGTEXT: _text,
    INT: _int,
    DECIMAL: _decimal,
    DATE: _date,
    BOOL: _bool,
    CHOICE: _choice,
    REF: _ref,
    MULTI: _multi,
    PAIRS: _pairs,
}


@dataclass(frozen=True)
class EntitySpec:
    """An institution-scoped entity the generic views serve."""

    kind: str  # URL segment, e.g. "equipment"
    model: type[Any]
    label: str  # 仪器设备
    fields: tuple[FieldSpec, ...]
    title_field: str = "name"
    searchable: tuple[str, ...] = ("name",)
    is_institution: bool = False  # the Institution itself (create/status are special)
    order_by: str = "id"
    description: str = ""
    # checks across fields of a row about to be written (its values applied): field errors
    check: Callable[[Any], list[FieldError]] | None = None
    # who may change or delete a row (principal, the row before the change, the parsed values
    # or None for a delete): a Chinese reason to refuse (403), or None
    guard: Callable[[Any, Any, Mapping[str, Any] | None], str | None] | None = None
    # whether the region an institution is filed to work in may keep rows of this kind (not
    # the registry: the filed region reads it; a filing itself: it withdraws or shortens it)
    filed_writes: bool = False

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    @property
    def list_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.in_list)


_cache: tuple[int, dict[str, EntitySpec]] = (-1, {})


def specs() -> dict[str, EntitySpec]:
    """Every entity kind the installed domains describe (``DOMAIN.specs``), by kind."""
    global _cache
    generation = domains.generation()
    if _cache[0] != generation:
        found: dict[str, EntitySpec] = {}
        for domain in domains.installed():
            for spec in domain.specs:
                if not isinstance(spec, EntitySpec):
                    raise TypeError(f"{domain.name}: not an EntitySpec: {spec!r}")
                if spec.kind in found:
                    raise ValueError(f"entity kind {spec.kind!r} declared twice")
                found[spec.kind] = spec
        _cache = (generation, found)
    return _cache[1]
