"""The one plug-in point for message types.

A domain package declares each message type it accepts in its ``messages`` module and lists
them in its ``DOMAIN`` (``message_types=collect(messages, MessageType)``)::

    @message_type("registry.staff", title="人员信息同步", schema=StaffMessage, example={...})
    def handle_staff(ctx: HandlerContext, message: StaffMessage) -> dict[str, Any]:
        ...  # write domain rows with ctx.db; return a summary for the receipt

``schema`` is a pydantic model extending :class:`MessageBase` (``message_id``,
``institution_code``); its JSON Schema is published at ``/exchange/v1/schemas/{type}``. Bodies
are validated strictly from their JSON (``model_validate_json(..., strict=True)``): each value
in its JSON type, nothing converted. Type dates and times :data:`IsoDate`, :data:`IsoDateTime`,
:data:`IsoAwareDateTime` (plain ``dt.date`` reads ``"0"`` as 1970-01-01 even strictly), and
annotate a union of scalars with :class:`OneError`.
``files`` lists the SHA-256 of the files a message refers to: a message whose files have not
arrived is refused with the missing hashes. The handler runs behind the request, when an apply
worker applies the accepted message (:mod:`jcjg.exchange.apply`), in a savepoint of the batch's
transaction: raising an ``AppError`` (``ValidationFailed`` with the field) rejects the message
with that problem and rolls back everything it wrote; what it returns is the status's
``results``. The rules its writes trigger run once per batch, after it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar, cast
from uuid import UUID

import orjson
from pydantic import (
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core import domains
from jcjg.core.text import TextModel
from jcjg.core.text import problem as text_problem
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.models import Client, Message
from jcjg.tenancy.models import Institution

ALL_SENDERS = frozenset(kind.value for kind in ClientKind)
_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
SHA256_PATTERN = r"^[0-9a-f]{64}$"

# How dates and times are written in a message. Pydantic, even strict, reads "0" or
# "1700000000" as a Unix time; the exchange takes only the written forms its docs give. In JSON
# mode the text is checked and parsed here (by pydantic's own parser, so the forms accepted are
# its), and the field's strict validation then gets the date or time itself.
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DATETIME_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")
_DATE = TypeAdapter(dt.date)
_DATETIME = TypeAdapter(dt.datetime)


def _written(
    value: Any, info: ValidationInfo, kind: str, text: re.Pattern[str], adapter: TypeAdapter[Any]
) -> Any:
    if info.mode != "json":  # Python callers (the demo, forms) pass dates as they like
        return value
    what = "a date written YYYY-MM-DD" if kind == "date" else "an ISO 8601 date-time"
    if not isinstance(value, str):
        raise PydanticCustomError(f"{kind}_type", f"Input should be {what}")
    if not text.match(value):
        raise PydanticCustomError(f"{kind}_format", f"Input should be {what}")
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:  # its own type: date_parsing, datetime_parsing …
        raise PydanticCustomError(exc.errors()[0]["type"], f"Input should be {what}") from None


def _date_text(value: Any, info: ValidationInfo) -> Any:
    """In JSON a date is the text ``YYYY-MM-DD``: no number, no number in a string."""
    return _written(value, info, "date", _DATE_TEXT, _DATE)


def _datetime_text(value: Any, info: ValidationInfo) -> Any:
    """In JSON a time is ISO 8601 text, ``YYYY-MM-DDTHH:MM[:SS[.f]][offset]``: no number."""
    return _written(value, info, "datetime", _DATETIME_TEXT, _DATETIME)


def _decimal_text(value: Any, info: ValidationInfo) -> Any:
    """In JSON a decimal is a number or its text (``120.5``, ``"120.50"``), never true/false.
    Read here because the text boundary's check before it hands the field's validation a
    Python value, which strict validation would take only as a ``Decimal``."""
    if info.mode != "json" or isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError("decimal_type", "Decimal input should be a number or text")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise PydanticCustomError("decimal_parsing", "Input should be a valid decimal") from None


class _DecimalText(BeforeValidator):
    """:data:`DecimalText`: the validator, and in the JSON Schema the text's form (digits, at
    most the field's decimal places) and the decimal places in words."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        places = _decimal_places(schema)
        fraction = "" if places == 0 else rf"(\.[0-9]{{1,{places}}})?" if places else r"(\.[0-9]+)?"
        words = f"至多 {places} 位小数" if places else "整数" if places == 0 else ""
        for branch in json_schema.get("anyOf", ()):
            if branch.get("type") == "string":
                branch["pattern"] = rf"^[+-]?[0-9]+{fraction}$"
            if words and branch.get("type") in ("string", "number"):
                branch["description"] = words  # beside the field's own (an anyOf stays flat)
        return json_schema


def _decimal_places(schema: Any) -> int | None:
    """The decimal places a core schema allows (its decimal schema's, wherever it sits)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "decimal":
        return cast(int | None, schema.get("decimal_places"))
    return _decimal_places(schema.get("schema"))


DecimalText = _DecimalText(_decimal_text)
"""Marks a message's decimal, after its constraints: ``Annotated[Decimal, Field(ge=0,
decimal_places=2), DecimalText]`` takes a JSON number or its text (``120.5``, ``"120.50"``).
The constraints go inside the ``Annotated``, before it, so that they stay in its schema."""


IsoDate = Annotated[dt.date, BeforeValidator(_date_text)]
"""A message's date: ``"2026-11-20"`` (JSON Schema ``format: date``)."""
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_datetime_text)]
"""A message's time, offset optional: ``"2026-11-20T09:30:00+08:00"``."""
IsoAwareDateTime = Annotated[AwareDatetime, BeforeValidator(_datetime_text)]
"""A message's time with its offset (``+08:00`` or ``Z``): refused without one."""


class BaseMessage(TextModel):
    """What every message carries: the client's own id for it. Its strings pass the text
    boundary (:class:`~jcjg.core.text.TextModel`: no controls, bidi or zero-width characters,
    line breaks only in fields typed ``MultiLine``; NFC), when the request is checked and when
    the message is applied; the raw body is kept as sent. The parts of a message (records,
    specimens) extend ``TextModel`` too."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    message_id: UUID = Field(description="客户端生成的消息编号（UUID）；重发同一消息须用同一编号。")


class MessageBase(BaseMessage):
    """A message about one institution's data (most types): it names the institution."""

    institution_code: str = Field(
        min_length=1, max_length=32, description="数据所属检测机构的平台编号。"
    )


class RegionMessageBase(BaseMessage):
    """A message about a region's data that belongs to no institution (projects, from another
    platform): it names the region, which must lie within the sending platform's."""

    region_code: str = Field(
        pattern=r"^[0-9]{6}$", description="数据所属行政区划代码（须在发送平台的辖区内）。"
    )


class OneError:
    """Annotate a union (``float | int | str | None``) to fail as one error at its field,
    ``error_type`` with ``message``, rather than once per member under the member's name
    (``values.peak_kn.float``, ``values.peak_kn.int`` …). Its JSON Schema is unchanged."""

    def __init__(self, error_type: str, message: str) -> None:
        self.error_type = error_type
        self.message = message

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        union = cast(dict[str, Any], schema["schema"] if schema["type"] == "nullable" else schema)
        if union["type"] != "union":
            raise TypeError(f"OneError annotates a union, not {source!r}")
        union.update(custom_error_type=self.error_type, custom_error_message=self.message)
        return schema


M = TypeVar("M", bound=BaseMessage)


@dataclass
class HandlerContext:
    """What a handler may use: the transaction, the settings, the sender, whose data it is
    (``institution`` for institution messages, ``region_code`` always)."""

    db: Session
    settings: Settings
    client: Client
    owner: Institution | None
    region_code: str
    received_at: dt.datetime
    message_id: str
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # a message a child platform forwarded (jcjg.networking): where it was first accepted and
    # what that platform answered; a handler that issues platform facts (a supervision code)
    # keeps the child's instead of issuing its own
    origin: dict[str, Any] | None = None

    @property
    def institution(self) -> Institution:
        if self.owner is None:
            raise RuntimeError("this message type belongs to a region, not an institution")
        return self.owner

    def warn(self, code: str, message: str, **facts: Any) -> None:
        """A finding the lab should see in its receipt that is not a rule's alert."""
        self.warnings.append({"code": code, "message": message, **facts})


Handler = Callable[[HandlerContext, Any], dict[str, Any]]
# MessageType.batch_reads: (the batch's session, its institutions, their messages of the type)
BatchReads = Callable[[Session, Sequence[Institution], Sequence[Message]], None]


def string_members(*names: str) -> re.Pattern[bytes]:
    """The members named ``names`` whose values are strings, in a body's bytes: the name (group
    1) and the string as written (group 2; an escaped quote is not its end; ``"number"`` does
    not match ``"commission_number"``)."""
    alternatives = b"|".join(re.escape(name.encode()) for name in names)
    return re.compile(rb'"(' + alternatives + rb')"\s*:\s*("(?:[^"\\]|\\.)*")')


def strings_named(body: bytes, members: re.Pattern[bytes], limit: int) -> dict[str, list[str]]:
    """The strings of the members ``members`` finds (:func:`string_members`) in a message's body,
    by name, in their order, found in its bytes without parsing it: a ``batch_reads``' guess at
    the rows a message names (~50 µs over a 167 kB body of curves, where parsing it costs
    ~1.5 ms). Each is stripped; an empty one, one that is no string (a lone surrogate) and one
    the text boundary refuses (its handler refuses the message: one accepted before the
    boundary was, replayed; PostgreSQL refuses a NUL in a query) are left out. At most
    ``limit`` members are read."""
    found: dict[str, list[str]] = {}
    for match in itertools.islice(members.finditer(body), limit):
        try:
            value = orjson.loads(match.group(2))
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, str) and value.strip() and text_problem(value) is None:
            found.setdefault(match.group(1).decode(), []).append(value.strip())
    return found


def no_files(_message: Any) -> Iterable[str]:
    """The files of a message of a type that refers to none."""
    return ()


@dataclass(frozen=True)
class MessageType(Generic[M]):
    name: str
    title: str
    schema: type[M]
    handler: Handler
    example: dict[str, Any]
    description: str = ""
    files: Callable[[M], Iterable[str]] = no_files
    senders: frozenset[str] = ALL_SENDERS
    # work the handler will do that needs no database (decoding the QR codes of a report's
    # PDF), done before the apply transaction and kept for the handler by the function it
    # calls: on SQLite that transaction holds the database's one write lock. It returns the
    # bytes of what it kept on the message itself (None: nothing), which the apply path
    # counts against its bound on the messages it keeps prepared (exchange.apply.PARSED_BYTES)
    prepare: Callable[[M, Settings], int | None] | None = None
    # rows its handlers will ask for that one read can give for every institution of a batch
    # (a registry message's sync row, the instruments equipment messages name): called once a
    # batch, in its transaction, with the institutions that sent messages of this type in it
    # and those messages (stored rows: their bodies as sent, before any conversion rule), to
    # keep what it reads in the batch's memo (core.db.memo). What it reads is a guess: a
    # handler still reads what it does not find kept. The same function for several types is
    # called once, with all of their messages.
    batch_reads: BatchReads | None = None

    @property
    def has_files(self) -> bool:
        """Whether a message of this type may refer to files (else :func:`no_files`)."""
        return self.files is not no_files

    @property
    def per_institution(self) -> bool:
        return issubclass(self.schema, MessageBase)


def message_type(
    name: str,
    *,
    title: str,
    schema: type[M],
    example: dict[str, Any],
    files: Callable[[M], Iterable[str]] | None = None,
    senders: Iterable[str] = ALL_SENDERS,
    prepare: Callable[[M, Settings], int | None] | None = None,
    batch_reads: BatchReads | None = None,
) -> Callable[[Handler], MessageType[M]]:
    """Make the decorated handler message type ``name`` (``<domain>.<thing>``, or one
    snake_case word such as ``commission``); it is accepted once its domain lists it in
    ``DOMAIN.message_types``. ``senders`` limits which kinds of client may send it; a region
    message (:class:`RegionMessageBase`) is for other platforms only. ``prepare`` and
    ``batch_reads``: see :attr:`MessageType.prepare` and :attr:`MessageType.batch_reads`."""
    if not _NAME.fullmatch(name) or len(name) > 56:
        raise ValueError(f"message type names look like 'registry.staff' or 'commission': {name!r}")
    allowed = frozenset(senders)
    if not allowed or not allowed <= ALL_SENDERS:
        raise ValueError(f"senders must be some of {sorted(ALL_SENDERS)}: {sorted(allowed)}")
    if not issubclass(schema, MessageBase) and allowed != {ClientKind.PLATFORM.value}:
        raise ValueError(f"{name!r}: a region message can only come from another platform")

    def make(handler: Handler) -> MessageType[M]:
        return MessageType(
            name=name,
            title=title,
            schema=schema,
            handler=handler,
            example=example,
            description=(handler.__doc__ or "").strip(),
            files=files or no_files,
            senders=allowed,
            prepare=prepare,
            batch_reads=batch_reads,
        )

    return make


_cache: tuple[int, dict[str, MessageType[Any]]] = (-1, {})


def message_types() -> dict[str, MessageType[Any]]:
    """Every message type of the installed domains, by name."""
    global _cache
    generation = domains.generation()
    if _cache[0] != generation:
        found: dict[str, MessageType[Any]] = {}
        for domain in domains.installed():
            for kind in domain.message_types:
                if not isinstance(kind, MessageType):
                    raise TypeError(f"{domain.name}: not a MessageType: {kind!r}")
                found[kind.name] = kind
        _cache = (generation, found)
    return _cache[1]


# A higher domain's hooks (the data standard, jcjg.governance): the check a published version's
# narrower value domains add to a message type from its effective time on,
# ``(db | None, message_type, signed_at) -> check | None`` (``check(parsed JSON)`` answers the
# failing fields; with ``db`` None it raises ``cache.NeedDatabase`` when it must read); and the
# JSON Schema as that version states it, ``(db | None, message_type, schema, at) -> schema``.
VALUE_DOMAINS = "exchange.value_domains"
# ... and what runs on each batch of applied messages, in its transaction, before its rules:
# ``(db, applied)`` with the batch's applied ``Message`` rows and each one's body as parsed
# once for its handler, ``[(row, data)]`` (data quality checks, whose writes may trigger rules
# of their own)
BATCH_APPLIED = "exchange.batch_applied"
SCHEMA_DOMAINS = "exchange.schema_domains"
# ... and what converts a batch's messages before their handlers read them (the data standard's
# conversion rules, jcjg.governance): ``(db, message_types) -> {message_type: convert}``, asked
# once a batch; ``convert(row, data) -> data`` answers the body its handler applies, the raw
# message staying as it was signed. No rule: ``{}``, and a message costs one dict lookup.
CONVERSIONS = "exchange.conversions"

Convert = Callable[[Any, Any], Any]


def conversions(db: Session, types: set[str]) -> dict[str, Convert]:
    """The conversions of a batch's message ``types``, by type (none: empty)."""
    found: dict[str, Convert] = {}
    for provider in domains.hooks(CONVERSIONS):
        found.update(provider(db, types))
    return found


def value_domain_check(
    db: Session | None, message_type: str, signed_at: dt.datetime
) -> Callable[[Any], list[Any]] | None:
    """The data standard's check of a message of ``message_type`` signed at ``signed_at``."""
    for provider in domains.hooks(VALUE_DOMAINS):
        check = provider(db, message_type, signed_at)
        if check is not None:
            return cast(Callable[[Any], list[Any]], check)
    return None


MAX_SAFE_INTEGER = 2**53 - 1
"""A message's numbers lie within ±(2^53−1) (the ledger's canonical JSON writes no other)."""
_SUBSCHEMAS = ("properties", "$defs", "patternProperties")
_SUBSCHEMA = ("items", "additionalProperties", "not", "contains")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def bounded(node: Any) -> None:
    """Every number of a JSON Schema ``node`` (in place) bounded by ±(2^53−1), as the request's
    check bounds every number of a message (values, curves and results too)."""
    if not isinstance(node, dict):
        return
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "number" in kinds or "integer" in kinds:
        if "exclusiveMinimum" not in node:
            node["minimum"] = max(node.get("minimum", -MAX_SAFE_INTEGER), -MAX_SAFE_INTEGER)
        if "exclusiveMaximum" not in node:
            node["maximum"] = min(node.get("maximum", MAX_SAFE_INTEGER), MAX_SAFE_INTEGER)
    for key in _SUBSCHEMAS:
        for inner in (node.get(key) or {}).values():
            bounded(inner)
    for key in _SUBSCHEMA:
        bounded(node.get(key))
    for key in _SUBSCHEMA_LISTS:
        for inner in node.get(key) or ():
            bounded(inner)


def json_schema(kind: MessageType[Any], base_url: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a message type, with its id, title and example."""
    schema: dict[str, Any] = kind.schema.model_json_schema()
    bounded(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{base_url.rstrip('/')}/exchange/v1/schemas/{kind.name}"
    schema["title"] = kind.title
    if kind.description:
        schema["description"] = kind.description
    schema["examples"] = [kind.example]
    return schema


def standard_schema(
    db: Session | None, kind: MessageType[Any], base_url: str, at: dt.datetime
) -> dict[str, Any]:
    """:func:`json_schema` as the data standard in force at ``at`` states it."""
    schema = json_schema(kind, base_url)
    for provider in domains.hooks(SCHEMA_DOMAINS):
        schema = provider(db, kind.name, schema, at)
    return schema
