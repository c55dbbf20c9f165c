"""The one plug-in point for message types.

A domain package declares each message type it accepts in its ``messages`` module and lists
them in its ``DOMAIN`` (``message_types=collect(messages, MessageType)``)::

    @message_type("registry.staff", title="人员信息同步", schema=StaffMessage, example={...})
    def handle_staff(ctx: HandlerContext, message: StaffMessage) -> dict[str, Any]:
        ...  # write domain rows with ctx.db; return a summary for the receipt

``schema`` is a pydantic model extending :class:`MessageBase` (``message_id``,
``institution_code``); its JSON Schema is published at ``/exchange/v1/schemas/{type}``.
``files`` lists the SHA-256 of the files a message refers to: a message whose files have not
arrived is refused with the missing hashes. The handler runs behind the request, when an apply
worker applies the accepted message (:mod:`jcjg.exchange.apply`), in a savepoint of the batch's
transaction: raising an ``AppError`` (``ValidationFailed`` with the field) rejects the message
with that problem and rolls back everything it wrote; what it returns is the status's
``results``. The rules its writes trigger run once per batch, after it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import ConfigDict, Field
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core import domains
from jcjg.core.text import TextModel
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.models import Client
from jcjg.tenancy.models import Institution

ALL_SENDERS = frozenset(kind.value for kind in ClientKind)
_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
SHA256_PATTERN = r"^[0-9a-f]{64}$"


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

    @property
    def institution(self) -> Institution:
        if self.owner is None:
            raise RuntimeError("this message type belongs to a region, not an institution")
        return self.owner

    def warn(self, code: str, message: str, **facts: Any) -> None:
        """A finding the lab should see in its receipt that is not a rule's alert."""
        self.warnings.append({"code": code, "message": message, **facts})


Handler = Callable[[HandlerContext, Any], dict[str, Any]]


@dataclass(frozen=True)
class MessageType(Generic[M]):
    name: str
    title: str
    schema: type[M]
    handler: Handler
    example: dict[str, Any]
    description: str = ""
    files: Callable[[M], Iterable[str]] = field(default=lambda _message: ())
    senders: frozenset[str] = ALL_SENDERS

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
) -> Callable[[Handler], MessageType[M]]:
    """Make the decorated handler message type ``name`` (``<domain>.<thing>``, or one
    snake_case word such as ``commission``); it is accepted once its domain lists it in
    ``DOMAIN.message_types``. ``senders`` limits which kinds of client may send it; a region
    message (:class:`RegionMessageBase`) is for other platforms only."""
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
            files=files or (lambda _message: ()),
            senders=allowed,
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


def json_schema(kind: MessageType[Any], base_url: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a message type, with its id, title and example."""
    schema: dict[str, Any] = kind.schema.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{base_url.rstrip('/')}/exchange/v1/schemas/{kind.name}"
    schema["title"] = kind.title
    if kind.description:
        schema["description"] = kind.description
    schema["examples"] = [kind.example]
    return schema
