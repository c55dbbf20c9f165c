"""Posted forms and bodies read before the endpoint runs.

An ``async def`` endpoint runs on the event loop; if it then waits on the database (a row lock
held by another request, the ledger's counter), the loop stops, and the request holding the
lock can never commit: a deadlock that PostgreSQL shows as one connection "idle in
transaction" and another waiting for it. So endpoints that write are plain functions (FastAPI
runs them in its thread pool), and what they need from the request body is read here, in an
async dependency, first: ``form: PostedForm`` or ``body: JsonBody``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from annotated_types import Interval
from fastapi import Depends, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.datastructures import UploadFile

from jcjg.core import text
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.core.plausible import EARLIEST_DAY, LATEST_DAY

CSRF_FIELD = "csrf_token"
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL
NOT_AN_ID = "not_an_id"  # the error type of ``Id``: in a path it names nothing, a 404


def parse_id(raw: object) -> int | None:
    """``raw`` as an id: a whole number (or its ASCII digits) an id column can hold, 1 to
    MAX_ID; None for anything else (0, negatives, true, 1.0, "1e3", "١٢", 2**31)."""
    if isinstance(raw, str) and raw.isascii() and raw.isdecimal() and len(raw) <= 10:
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= MAX_ID:
        return None
    return raw


def form_id(raw: object) -> int | None:
    """The id a form field or query parameter names (``" 12 "`` -> 12), or None when it is not
    a positive whole number an id column can hold."""
    return parse_id(str(raw).strip())


def _checked_id(raw: object) -> int:
    value = form_id(raw) if isinstance(raw, str) else parse_id(raw)
    if value is None:
        raise PydanticCustomError(NOT_AN_ID, f"应为编号（1 到 {MAX_ID} 的整数）")
    return value


ID_CHECK = BeforeValidator(_checked_id)
Id = Annotated[int, Interval(ge=1, le=MAX_ID), ID_CHECK]
"""The one type of an id in a path, a query, a form or a JSON body: beyond the column's range
(and for 0, negatives and non-numbers) a path answers 404 (``core.handlers``), a query 400 and
a body 422 naming the field. ``Id | None`` for an optional one."""

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _checked_day(raw: object) -> dt.date:
    """A day as ``YYYY-MM-DD`` (pydantic alone would take ``0`` as 1970-01-01, a Unix time)
    between 1900 and 2100."""
    day: dt.date | None = None
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        day = raw
    elif isinstance(raw, str) and _DAY.fullmatch(raw.strip()):
        try:
            day = dt.date.fromisoformat(raw.strip())
        except ValueError:
            day = None
    if day is None or not EARLIEST_DAY <= day <= LATEST_DAY:
        raise PydanticCustomError("day", "应为 1900 至 2100 年间 YYYY-MM-DD 格式的日期")
    return day


Day = Annotated[dt.date, BeforeValidator(_checked_day)]
"""A day in a query filter: ``YYYY-MM-DD`` between 1900 and 2100, else 400 naming the
parameter (``?until=0`` is no day)."""


@dataclass(frozen=True)
class PostedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Posted:
    """A form's text fields (in order, repeated names kept) and its chosen files' bytes."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, PostedFile] = field(default_factory=dict)  # the last file of each name
    uploads: list[tuple[str, PostedFile]] = field(default_factory=list)  # all, in order

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self.fields)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The field's last value, as ``FormData.get`` gives it."""
        found = [v for k, v in self.fields if k == name]
        return found[-1] if found else default

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k == name]

    def items(self) -> list[tuple[str, str]]:
        """One (name, last value) per text field, CSRF token included, as ``FormData``."""
        return list(dict(self.fields).items())

    def values(self) -> dict[str, str]:
        """Text fields stripped, the CSRF token left out: what most forms want."""
        return {k: v.strip() for k, v in dict(self.fields).items() if k != CSRF_FIELD}

    def files_of(self, name: str) -> list[PostedFile]:
        """Every file chosen for ``name`` (an input with ``multiple``)."""
        return [f for n, f in self.uploads if n == name]

    def file(self, name: str) -> bytes | None:
        """The bytes of the file chosen for ``name`` (None when none was chosen)."""
        posted = self.files.get(name)
        return posted.data if posted is not None else None


async def read_posted(request: Request) -> Posted:
    """Read the request's form (urlencoded or multipart); uploads' temporary files closed.
    Its text passes the text boundary (:mod:`jcjg.core.text`): refused with a 422 naming the
    field, else in NFC (``password`` fields as typed); the endpoint's :func:`text.text_fields`
    says which fields are multi-line and which it checks itself."""
    posted = Posted()
    rules = text.declared(text.endpoint_of(request))
    async with request.form() as form:
        errors = text.form_problems(form.multi_items(), rules)
        if errors:
            raise text.refuse(errors)
        for name, value in form.multi_items():
            if isinstance(value, str):
                keep = text.is_secret(name) or rules.is_own(name)
                posted.fields.append((name, value if keep else text.nfc(value)))
            elif isinstance(value, UploadFile) and value.filename:
                upload = PostedFile(
                    filename=text.nfc(value.filename),
                    content_type=value.content_type or "application/octet-stream",
                    data=await value.read(),
                )
                posted.files[name] = upload
                posted.uploads.append((name, upload))
    return posted


PostedForm = Annotated[Posted, Depends(read_posted)]


async def read_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(read_body)]


async def read_json(request: Request) -> Any:
    """The body as JSON (its strings in NFC), or a Chinese 422: not JSON, or a string holding a
    character the text boundary refuses (:func:`jcjg.core.text.scan`)."""
    try:
        data = json.loads(await request.body())
    except ValueError as exc:
        raise ValidationFailed(errors=[FieldError("body", "请求体应为 JSON")]) from exc
    errors = text.scan(data)
    if errors:
        raise text.refuse(errors)
    return text.normalise(data)


JsonBody = Annotated[Any, Depends(read_json)]
