"""One boundary for text: what characters the platform takes in, and how it writes them out.

Every string that enters (a form field, a query parameter, the path, a JSON body, an exchange
message's parsed values) is checked here, and refused with a Chinese 422 naming the field when
it holds a character that has no business in data:

- NUL and the other C0 controls, DEL and the C1 controls (U+0080–U+009F): PostgreSQL refuses
  NUL in text (a 500 where SQLite stored it), spreadsheets refuse the controls;
- the bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) and the
  zero-width characters (U+200B–U+200D, U+2060, U+FEFF): they make a name read otherwise than it
  is stored;
- lone surrogates (U+D800–U+DFFF, only JSON's ``\\ud800`` can carry one) and the noncharacters
  U+FFFE, U+FFFF, which no file format can write;
- tab, line feed, carriage return and U+2028/U+2029 too, except in a field declared multi-line.

A field is multi-line where it is declared: a pydantic field typed :data:`MultiLine`
(``reason: MultiLine = Field(...)``, also inside ``list[...]``), a registry field of kind
``LONGTEXT`` (:mod:`jcjg.generic.spec`), a page's form field named in :func:`text_fields`
(``@text_fields(multiline=("note",))`` on the endpoint). Everything else is single-line.

Accepted text is normalised to Unicode NFC (a decomposed "é" becomes one character, a CJK
compatibility ideograph its unified one), except fields whose name contains ``password``: a
secret is hashed and compared as typed. The raw bytes of an exchange message are never
rewritten (its signature and digest are over them); the values parsed from them are checked and
normalised, when the request is checked and again whenever the message is applied.

Where the check runs: :class:`TextModel` (the base of every pydantic model that takes input:
API bodies and exchange messages), the registry's field parser, the form and JSON body FastAPI
parses for an endpoint (:func:`check_body`, a dependency of every ``TransactionalRoute``),
``core.forms.read_posted`` / ``read_json``, and the address (path and query) in
``core.deps.AddressTextMiddleware``.

Text going out (spreadsheets, CSV, PDFs) passes :func:`printable`, which drops what the
platform would not take in: rows stored before this boundary existed cannot break an export.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import types
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import (
    Annotated,
    Any,
    ClassVar,
    ForwardRef,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
)

from fastapi import params
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    GetJsonSchemaHandler,
    PlainValidator,
    ValidationInfo,
    WrapValidator,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from jcjg.core import labels, plausible
from jcjg.core.errors import FieldError, ValidationFailed

# --- the characters --------------------------------------------------------------------------

_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ZERO_WIDTH = "\u200b-\u200d\u2060\ufeff"
_INVALID = "\ud800-\udfff\ufffe\uffff"
_BREAKS = "\t\n\r\u2028\u2029"

FORBIDDEN = re.compile(f"[{_CONTROL}{_BIDI}{_ZERO_WIDTH}{_INVALID}]")
"""Never accepted, in any field."""
LINE_BREAKS = re.compile(f"[{_BREAKS}]")
"""Accepted only in a multi-line field."""
_NOT_PRINTABLE = re.compile(f"[{_CONTROL}{_BIDI}{_ZERO_WIDTH}{_INVALID}\u2028\u2029]")

# The same rules as JSON Schema patterns (ECMA-262, also read by Python's ``re`` and Rust's
# ``regex``), for the documents the platform publishes: a vendor's validator refuses what the
# platform would. Lone surrogates are left out (a pattern cannot name them alike in every
# dialect; only JSON's ``\\ud800`` can carry one, and the field descriptions say so).
_SCHEMA_FORBIDDEN = (
    r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e"
    r"\u2066-\u2069\u200b-\u200d\u2060\ufeff\ufffe\uffff"
)
_SCHEMA_BREAKS = r"\u0009\u000a\u000d\u2028\u2029"
# what str.strip() removes around a value and the platform accepts there
_SCHEMA_SPACE = r"\u0009\u000a\u000d\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
MULTILINE_PATTERN = f"^[^{_SCHEMA_FORBIDDEN}]*$"
"""A multi-line field's text, as a JSON Schema pattern."""
SINGLE_LINE_PATTERN = f"^[^{_SCHEMA_FORBIDDEN}{_SCHEMA_BREAKS}]*$"
"""A single-line field's text (and a key, a query parameter, the path) as a pattern."""
TRIMMED_PATTERN = f"^[{_SCHEMA_SPACE}]*[^{_SCHEMA_FORBIDDEN}{_SCHEMA_BREAKS}]*[{_SCHEMA_SPACE}]*$"
"""A single-line field whose surrounding spaces and line breaks are removed, as a pattern."""

CODE = "forbidden_character"
"""The ``code`` of a field error this module reports (and pydantic's error type)."""


def _kind(char: str) -> str:
    if re.match(f"[{_BIDI}]", char):
        return "双向文本控制符"
    if re.match(f"[{_ZERO_WIDTH}]", char):
        return "零宽字符"
    if re.match(f"[{_INVALID}]", char):
        return "无效字符"
    if re.match(f"[{_BREAKS}]", char):
        return "换行符或制表符（此项只能填一行）"
    return "控制字符"


def problem(value: str, *, multiline: bool = False, ends_trimmed: bool = False) -> str | None:
    """Why ``value`` is refused, in Chinese (None when it is fine). ``ends_trimmed``: the field
    strips surrounding whitespace, so line breaks at the ends do not count."""
    found = FORBIDDEN.search(value)
    if found is None and not multiline:
        found = LINE_BREAKS.search(value.strip() if ends_trimmed else value)
    if found is None:
        return None
    char = found.group()
    return f"含有不允许的{_kind(char)}（U+{ord(char):04X}）"


def is_secret(name: str) -> bool:
    """A field compared and hashed as typed, never normalised."""
    return "password" in name.lower()


def nfc(value: str) -> str:
    """``value`` in Unicode normal form C."""
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


class TextProblem(ValueError):
    """A value the boundary refuses; the message is Chinese."""


def clean(value: str, *, multiline: bool = False, name: str = "") -> str:
    """``value`` checked and in NFC (as typed for a ``password`` field), or TextProblem."""
    reason = problem(value, multiline=multiline)
    if reason is not None:
        raise TextProblem(reason)
    return value if is_secret(name) else nfc(value)


def printable(value: str) -> str:
    """``value`` without the characters a spreadsheet or PDF cannot write or that the platform
    would refuse today (controls, bidi and zero-width characters, surrogates); tab, line feed and
    carriage return are kept."""
    return _NOT_PRINTABLE.sub("", value)


# --- JSON-like values ------------------------------------------------------------------------


def scan(data: Any, path: str = "body") -> list[FieldError]:
    """Every string in a parsed JSON value (keys too) holding a character never accepted,
    as field errors at its path (``body.people.0.name``). Line breaks are left to the field."""
    return [FieldError(where, reason, CODE) for where, reason in _walk(data, path)]


def _walk(data: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(data, str):
        reason = problem(data, multiline=True)
        if reason is not None:
            yield path, reason
    elif isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and (reason := problem(key)) is not None:
                yield path or "body", f"字段名{reason}"
                continue
            yield from _walk(value, where)
    elif isinstance(data, list):
        for n, value in enumerate(data):
            yield from _walk(value, f"{path}.{n}" if path else str(n))


def normalise(data: Any) -> Any:
    """A parsed JSON value with every string (key or value) in NFC, ``password`` fields left
    as typed."""
    if isinstance(data, str):
        return nfc(data)
    if isinstance(data, dict):
        return {
            nfc(k) if isinstance(k, str) else k: (
                v if isinstance(k, str) and is_secret(k) else normalise(v)
            )
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [normalise(v) for v in data]
    return data


# --- pydantic --------------------------------------------------------------------------------


class _MultiLine:
    """The mark of a multi-line field (see :data:`MultiLine`)."""

    def __repr__(self) -> str:
        return "MULTILINE"


MULTILINE = _MultiLine()
MultiLine = Annotated[str, MULTILINE]
"""A text field that may hold line breaks and tabs (remarks, reasons, descriptions)."""


@dataclass(frozen=True)
class FieldPlan:
    holds_text: bool
    multiline: bool
    secret: bool
    trimmed: bool  # the field strips surrounding whitespace (its type, or the model's config)


def _mentions(tp: Any, wanted: Callable[[Any], bool]) -> bool:
    if wanted(tp):
        return True
    return any(_mentions(arg, wanted) for arg in get_args(tp) if not isinstance(arg, str | int))


def _holds_text(tp: Any) -> bool:
    """Whether a value of type ``tp`` can hold a string this model does not check itself."""
    if tp is str or tp is Any or tp is object:
        return True
    origin = get_origin(tp)
    if origin is Annotated:
        return _holds_text(get_args(tp)[0])
    if origin is Literal:
        return False
    if origin is not None:  # unions, lists, dicts, tuples ...
        return any(_holds_text(arg) for arg in get_args(tp) if arg is not Ellipsis)
    return False  # numbers, dates, enums, UUIDs, nested models (they check themselves)


_PLANS: dict[tuple[type[BaseModel], str], FieldPlan] = {}


def plan_of(model: type[BaseModel], name: str) -> FieldPlan:
    """How the boundary treats field ``name`` of ``model`` (kept per field)."""
    key = (model, name)
    plan = _PLANS.get(key)
    if plan is None:
        info = model.model_fields[name]
        multiline = MULTILINE in info.metadata or _mentions(
            info.annotation, lambda t: get_origin(t) is Annotated and MULTILINE in get_args(t)
        )
        trimmed = (
            bool(model.model_config.get("str_strip_whitespace"))
            or any(getattr(m, "strip_whitespace", False) for m in info.metadata)
            or _mentions(info.annotation, lambda t: getattr(t, "strip_whitespace", False) is True)
        )
        plan = FieldPlan(_holds_text(info.annotation), multiline, is_secret(name), trimmed)
        _PLANS[key] = plan
    return plan


class TextModel(BaseModel):
    """The base of every pydantic model that takes input (API bodies, exchange messages and
    their parts): each string of every field (in lists and dicts, keys too) is checked and
    normalised to NFC before the field's own validation. Models that only describe output do
    not inherit it (what is stored is not refused on the way out)."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The model's JSON Schema with the boundary's rule as a ``pattern`` on each string
        (and ``propertyNames`` on each object of text) that has no pattern, format or list of
        values of its own: what a schema-valid value may hold is what the platform takes."""
        json_schema = super().__get_pydantic_json_schema__(core_schema, handler)
        target = handler.resolve_ref_schema(json_schema)
        properties = target.get("properties", {})
        for name, info in cls.model_fields.items():
            plan = plan_of(cls, name)
            node = properties.get(info.alias or name)
            if plan.holds_text and isinstance(node, dict):
                mark_text(node, pattern_for(plan))
            if isinstance(node, dict):
                mark_days(node)
        return json_schema

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each model takes the three validators below only on the fields that need them: the
        boundary on a field whose type can hold text, the plausibility on one whose type can
        hold a day or a float (``_plausible_numbers`` instead on one of numbers only, as they
        came), decided by :class:`_NeededBy` when pydantic builds the schema; a field of
        neither kind costs no Python call. The validators are rebound here under the same
        names, so they run in the order they always did."""
        super().__init_subclass__(**kwargs)
        proxies: tuple[Any, ...] = TextModel.__text_validators__

        def implausible_not_numbers(info: FieldInfo) -> bool:
            return _may_be_implausible(info) and not _implausible_numbers(cls, info)

        def implausible_numbers(info: FieldInfo) -> bool:
            return _implausible_numbers(cls, info)

        needed = (implausible_not_numbers, implausible_numbers, _may_hold_text)
        for proxy, needs in zip(proxies, needed, strict=True):
            info = replace(proxy.decorator_info, fields=_NeededBy(cls, needs), check_fields=False)
            setattr(cls, proxy.wrapped.__func__.__name__, replace(proxy, decorator_info=info))

    @field_validator("*", mode="after")
    @classmethod
    def _plausible(cls, value: Any) -> Any:
        """Every day between 1900 and 2100 and no subnormal number (:mod:`core.plausible`),
        in the field's value and the lists and dicts it holds."""
        if plausible.fine(value):
            return value
        return _implausible(value)

    @field_validator("*", mode="after")
    @classmethod
    def _plausible_numbers(cls, value: Any) -> Any:
        """:meth:`_plausible` on a field that holds numbers only (``list[list[float]]``, a
        curve's points): also passed when its message holds no number written small enough
        (``plausible.numbers_plain``)."""
        if plausible.fine(value) or plausible.numbers_known_fine():
            return value
        return _implausible(value)

    @field_validator("*", mode="before")
    @classmethod
    def _boundary(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        plan = plan_of(cls, info.field_name)
        return _checked(value, plan) if plan.holds_text else value

    # the three proxies (pydantic puts their functions in their place), rebound on each subclass
    __text_validators__: ClassVar[tuple[Any, ...]] = (_plausible, _plausible_numbers, _boundary)


def _implausible(value: Any) -> Any:
    for where, code, reason in plausible.problems(value):
        raise PydanticCustomError(code, f"{where}：{reason}" if where else reason)
    return value


class _NeededBy:
    """The fields of ``model`` a validator runs on, as pydantic's ``fields`` of a field
    validator: ``needs(field_info)`` decides, when the schema is built (so after a forward
    reference is resolved)."""

    def __init__(self, model: type[BaseModel], needs: Callable[[FieldInfo], bool]) -> None:
        self.model, self.needs = model, needs

    def __contains__(self, name: object) -> bool:
        info = self.model.__pydantic_fields__.get(name) if isinstance(name, str) else None
        return info is not None and self.needs(info)

    def __iter__(self) -> Iterator[str]:
        return (n for n, i in self.model.__pydantic_fields__.items() if self.needs(i))

    def __repr__(self) -> str:
        return f"_NeededBy({self.model.__name__}, {self.needs.__name__})"


def _may_hold_text(info: FieldInfo) -> bool:
    """Whether the boundary has work on a field (its plan holds text, or its type is not yet
    known)."""
    return _unresolved(info.annotation) or _holds_text(info.annotation)


def _may_be_implausible(info: FieldInfo) -> bool:
    """Whether a field's value, once validated, can hold what plausible.problems() refuses."""
    return any(_converts(mark) for mark in info.metadata) or _may_hold_day_or_float(info.annotation)


def _implausible_numbers(model: type[BaseModel], info: FieldInfo) -> bool:
    """A field of ``model`` :func:`_may_be_implausible` whose value holds numbers only (no
    day, no text), as it came: nothing converts it on the way in (no validator in its
    annotation, none of the model's field or model validators but after ones), so every
    number it holds was a JSON number of the message."""
    return (
        not any(_converts(mark) for mark in info.metadata)
        and _numbers_only(info.annotation)
        and _may_hold_day_or_float(info.annotation)
        and not _converting_validators(model)
    )


_OWN_VALIDATORS = frozenset({"_plausible", "_plausible_numbers", "_boundary"})


def _converting_validators(model: type[BaseModel]) -> bool:
    """Whether ``model`` has a field validator (not TextModel's own) or a model validator that
    runs before, around or instead of pydantic's parsing (it may read numbers out of text)."""
    found = model.__pydantic_decorators__
    modes = [d.info.mode for n, d in found.field_validators.items() if n not in _OWN_VALIDATORS]
    modes += [d.info.mode for d in found.model_validators.values()]
    return any(mode != "after" for mode in modes)


def _numbers_only(tp: Any) -> bool:
    """Whether a value of type ``tp``, once validated, is a number or holds numbers only (in
    lists, tuples, sets and dict values): no day, no text, nothing this cannot tell."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *marks = get_args(tp)
        return not any(_converts(m) for m in marks) and _numbers_only(base)
    if origin in (list, tuple, set, frozenset):
        args = [arg for arg in get_args(tp) if arg is not Ellipsis]
        return bool(args) and all(_numbers_only(arg) for arg in args)
    if origin is Union or origin is types.UnionType:  # float | None
        return all(arg is type(None) or _numbers_only(arg) for arg in get_args(tp))
    if origin is dict:
        key_value = get_args(tp)
        return len(key_value) == 2 and _numbers_only(key_value[1])
    return tp in (float, int)


def _converts(mark: Any) -> bool:
    """A validator in a field's annotation (it may return anything): pydantic's, or a
    subclass of one (``exchange.types.DecimalText``)."""
    return isinstance(
        mark, BeforeValidator | WrapValidator | PlainValidator | AfterValidator
    ) or type(mark).__module__.startswith("pydantic.functional")


# kinds of value plausible.problems() never looks into
_PLAIN = (str, bytes, int, Decimal, uuid.UUID, enum.Enum, BaseModel, dt.time, dt.timedelta)


def _may_hold_day_or_float(tp: Any) -> bool:
    """Whether a value of type ``tp``, once validated, can be or hold a date, a date-time or a
    float: any list, tuple, set or dict counts (a long list of strings is read as numbers by
    plausible's numpy pass), and so does a type this cannot tell (Any, a custom type)."""
    if tp is None or tp is type(None):
        return False
    origin = get_origin(tp)
    if origin is Annotated:
        base, *marks = get_args(tp)
        return any(_converts(m) for m in marks) or _may_hold_day_or_float(base)
    if origin is Literal:
        return any(isinstance(arg, float) for arg in get_args(tp))
    if origin is Union or origin is types.UnionType:
        return any(_may_hold_day_or_float(arg) for arg in get_args(tp))
    if origin is not None:  # lists, dicts, tuples, type[...] ...
        return True
    if isinstance(tp, type):
        try:
            if issubclass(tp, dt.date | float):
                return True
            return not issubclass(tp, _PLAIN)
        except TypeError:
            return True
    return True  # Any, a forward reference, a type variable, a NewType ...


def _unresolved(tp: Any) -> bool:
    return isinstance(tp, str | ForwardRef | TypeVar)


def pattern_for(plan: FieldPlan) -> str:
    """The JSON Schema pattern of a field's text (:data:`MULTILINE_PATTERN` …)."""
    if plan.multiline:
        return MULTILINE_PATTERN
    return TRIMMED_PATTERN if plan.trimmed else SINGLE_LINE_PATTERN


_OWN_RULE = ("pattern", "format", "enum", "const", "$ref")


def mark_text(node: dict[str, Any], pattern: str) -> None:
    """Put ``pattern`` on each string of a JSON Schema ``node`` (in ``anyOf``, items, the
    values of an object) that states no rule of its own, and the rule for keys on objects."""
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for inner in node.get(key, ()):
            if isinstance(inner, dict):
                mark_text(inner, pattern)
    if any(key in node for key in _OWN_RULE):
        return
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds:
        node["pattern"] = pattern
    if isinstance(node.get("items"), dict):
        mark_text(node["items"], pattern)
    if "object" in kinds:
        node.setdefault("propertyNames", {"pattern": SINGLE_LINE_PATTERN})
        if isinstance(node.get("additionalProperties"), dict):
            mark_text(node["additionalProperties"], pattern)


def mark_days(node: dict[str, Any]) -> None:
    """The plausible days on each date and date-time of a JSON Schema ``node``
    (``formatMinimum`` / ``formatMaximum``, the keywords of ajv-formats; words too)."""
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for inner in node.get(key, ()):
            if isinstance(inner, dict):
                mark_days(inner)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            mark_days(node[key])
    if node.get("format") == "date":
        node.setdefault("formatMinimum", plausible.EARLIEST_DAY.isoformat())
        node.setdefault("formatMaximum", plausible.LATEST_DAY.isoformat())
    elif node.get("format") == "date-time":
        node.setdefault("formatMinimum", f"{plausible.EARLIEST_DAY.isoformat()}T00:00:00Z")
        node.setdefault("formatMaximum", f"{plausible.LATEST_DAY.isoformat()}T23:59:59Z")


def _checked(value: Any, plan: FieldPlan) -> Any:
    if isinstance(value, str):
        if value.isprintable():  # no control, format, separator or unassigned character
            return value if plan.secret or value.isascii() else nfc(value)
        reason = problem(value, multiline=plan.multiline, ends_trimmed=plan.trimmed)
        if reason is not None:
            raise PydanticCustomError(CODE, reason)
        return value if plan.secret else nfc(value)
    if isinstance(value, list | tuple):
        return type(value)(_checked(v, plan) for v in value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                reason = problem(key)
                if reason is not None:
                    raise PydanticCustomError(CODE, "键名" + reason)
                key = nfc(key)
            out[key] = _checked(item, plan)
        return out
    return value


def input_models(root: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``root`` and every model its fields can hold, once each (for the tests that check each
    input model takes its text through the boundary)."""
    seen: set[type[BaseModel]] = set()
    todo = [root]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        yield model
        for info in model.model_fields.values():
            todo.extend(models_in(info.annotation))


def models_in(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models a type annotation names (inside lists, unions ...)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in get_args(tp) for m in models_in(arg)]


# --- requests: forms and JSON bodies ---------------------------------------------------------

ALL = "*"


@dataclass(frozen=True)
class TextFields:
    """What a page's endpoint declares about its form: which fields are multi-line, and which
    it checks itself (login answers a name with controls as any failed login; the registry's
    forms parse every field through their specs). ``ALL`` stands for every field."""

    multiline: frozenset[str] | Literal["*"] = frozenset()
    own: frozenset[str] | Literal["*"] = frozenset()

    def is_multiline(self, name: str) -> bool:
        return self.multiline == ALL or name in self.multiline

    def is_own(self, name: str) -> bool:
        return self.own == ALL or name in self.own


SINGLE_LINE = TextFields()
F = TypeVar("F", bound=Callable[..., Any])


def text_fields(
    *, multiline: Iterable[str] | Literal["*"] = (), own: Iterable[str] | Literal["*"] = ()
) -> Callable[[F], F]:
    """Declare on an endpoint its form's multi-line fields (its textareas) and the fields it
    checks itself; put it below the route decorator::

        @router.post("/cases/{case_id}/notes")
        @text_fields(multiline=("note",))
        def add_note(...): ...
    """
    declared = TextFields(multiline=_names(multiline), own=_names(own))

    def mark(endpoint: F) -> F:
        endpoint.__text_fields__ = declared  # type: ignore[attr-defined]
        return endpoint

    return mark


def _names(given: Iterable[str] | Literal["*"]) -> frozenset[str] | Literal["*"]:
    if isinstance(given, str):  # a lone name would be taken letter by letter
        if given != ALL:
            raise ValueError(f"name the fields in a tuple, or '*' for every field: {given!r}")
        return "*"
    return frozenset(given)


def declared(endpoint: Any) -> TextFields:
    found = getattr(endpoint, "__text_fields__", None)
    return found if isinstance(found, TextFields) else SINGLE_LINE


def endpoint_of(request: Request) -> Any:
    route = request.scope.get("route")
    return getattr(route, "endpoint", None)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def form_problems(items: Iterable[tuple[str, Any]], rules: TextFields) -> list[FieldError]:
    """The fields of a posted form the boundary refuses (text values and file names)."""
    errors: list[FieldError] = []
    for name, value in items:
        reason = problem(name)
        if reason is not None:
            errors.append(FieldError("form", f"字段名{reason}", CODE))
            continue
        if rules.is_own(name):
            continue
        if isinstance(value, str):
            reason = problem(value, multiline=rules.is_multiline(name))
        elif isinstance(value, UploadFile) and value.filename:
            reason = problem(value.filename)
            reason = f"文件名{reason}" if reason else None
        else:
            reason = None
        if reason is not None:
            errors.append(FieldError(name, reason, CODE))
    return errors


# Words for the fields and parameters most often named here that no domain labels.
_WORDS = {
    "q": "关键词",
    "text": "关键词",
    "name": "名称",
    "username": "用户名",
    "password": "密码",
    "note": "备注",
    "notes": "备注",
    "reason": "原因",
    "form": "表单",
    "body": "请求体",
    "path": "地址",
    # the filters and paging of the lists, by the words their forms show
    "page": "页码",
    "per_page": "每页条数",
    "institution": "检测机构",
    "institution_id": "检测机构",
    "project": "工程项目",
    "project_id": "工程项目",
    "item": "检测项目",
    "region": "行政区划",
    "region_code": "行政区划",
    "since": "起始时间",
    "until": "截止时间",
    "month": "月份",
    "severity": "严重程度",
    "sort": "排序",
}


def field_word(field: str) -> str:
    """How a page names a field: its label, else a word for it, else "提交的内容"."""
    name = field.rsplit(".", 1)[-1]
    word = labels.table("field").get(name) or _WORDS.get(name)
    return word or "提交的内容"


def refuse(errors: list[FieldError]) -> ValidationFailed:
    """The 422 for ``errors``: its detail names the fields in words a page may show."""
    names = "、".join(dict.fromkeys(f"“{field_word(e.field)}”" for e in errors))
    return ValidationFailed(f"{names}含有不允许的字符：{errors[0].message}", errors=errors)


async def check_body(request: Request) -> None:
    """A dependency of every route (``core.deps.TransactionalRoute`` puts it first): the form
    or JSON body FastAPI has just parsed for the endpoint (a ``Form`` parameter, a body model or
    dict), checked; a 422 naming the fields. A form read by ``PostedForm`` is checked when it is
    read (``core.forms.read_posted``); a raw body is the endpoint's own (the exchange's)."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    if field is None:
        return
    rules = declared(getattr(route, "endpoint", None))
    if isinstance(field.field_info, params.Form):
        errors = form_problems((await request.form()).multi_items(), rules)
    elif rules.own != ALL and _is_json(request.headers.get("content-type", "")):
        try:
            errors = scan(await request.json())  # parsed already: FastAPI keeps it
        except ValueError:
            return  # FastAPI answers a malformed body itself
    else:
        return
    if errors:
        raise refuse(errors)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


def figure(value: float, digits: int = 3) -> str:
    """A measured figure as people write it: at most ``digits`` significant digits, no
    trailing zeros, never in scientific notation (3170.4 "3170", 0.5123 "0.512", 12.345
    "12.3", 1e-05 "0.00001", 2.0 "2"); not a number: "—"."""
    if not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    rounded = Decimal(repr(value)).quantize(
        Decimal(1).scaleb(math.floor(math.log10(abs(value))) - digits + 1), ROUND_HALF_EVEN
    )
    written = f"{rounded.normalize():f}"
    return "0" if written in ("-0", "0") else written


def chance(probability: float) -> str:
    """A small probability as people read it: "0.0051%（约 1/20000）"; under one in a million,
    "不到百万分之一"; not a number: "—"."""
    if not math.isfinite(probability) or probability < 0:
        return "—"
    if probability < 1e-6:
        return "不到百万分之一"
    percent = figure(probability * 100, 2)
    if probability >= 0.01 or Decimal(percent) >= 1:
        return f"{percent}%"
    return f"{percent}%（约 1/{figure(1 / probability, 2)}）"
