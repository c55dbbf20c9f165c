"""The exchange API under ``/exchange/v1``: signed messages, their status, files, and their
JSON Schemas.

Every request except the schema documents is signed (RFC 9421, see docs/exchange-api). The
order of checks for a message: content type (415), size (413), signature (401), client rate
(429), message type (404), JSON and schema (400/422), sender and institution (403), duplicates
(200 ``duplicate`` or 409), referenced files (422 ``missing``); then it is stored with the
promise of its ledger leaf and answered 202 with receipt v2, and applied behind
(:mod:`jcjg.exchange.apply`). Each outcome is tallied for monitoring.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute, Writes
from jcjg.core.errors import (
    TOO_LARGE,
    UNSUPPORTED_MEDIA,
    AppError,
    FieldError,
    NotFound,
    ValidationFailed,
)
from jcjg.core.handlers import app_error_response
from jcjg.core.openapi import answers
from jcjg.core.ratelimit import Limiter, limited, rate_headers, rate_headers_sender
from jcjg.exchange import problems
from jcjg.exchange.auth import SIGNED, SIGNED_ANSWERS, Caller, authenticate, read_body
from jcjg.exchange.cache import ClientInfo, NeedDatabase
from jcjg.exchange.clients import configured_rate
from jcjg.exchange.commit import GroupCommitter
from jcjg.exchange.models import ExchangeFile
from jcjg.exchange.monitor import Recorder
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.service import Accepted, accept, store
from jcjg.exchange.status import status_request, statuses
from jcjg.exchange.types import BaseMessage, MessageType, message_types, standard_schema

router = APIRouter(prefix="/exchange/v1", tags=["数据交换"], route_class=TransactionalRoute)
_SHA256_HEX = frozenset("0123456789abcdef")
# The bodies these routes read themselves, for the OpenAPI document
_MESSAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "一条消息：其 JSON Schema 见 GET /exchange/v1/schemas/{message_type}",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_STATUS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["message_ids"],
                    "properties": {
                        "message_ids": {
                            "type": "array",
                            "items": {"type": "string", "format": "uuid"},
                            "minItems": 1,
                            "maxItems": 100,
                        }
                    },
                }
            }
        },
    }
}
_BLOB_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
T = TypeVar("T")


def recorder_of(request: Request) -> Recorder | None:
    return getattr(request.app.state, "exchange_recorder", None)


def record(request: Request, message_type: str, outcome: str, size: int, started: float) -> None:
    """Tally the request under the client whose key it named (if any key was found)."""
    recorder = recorder_of(request)
    key = getattr(request.state, "exchange_key", None)
    if recorder is None or key is None:
        return
    latency_ms = (time.perf_counter() - started) * 1000
    recorder.record(key.client_id, message_type, outcome, size, latency_ms)


def own_rate(settings: Settings, client: ClientInfo) -> int | None:
    """A client's own limit a minute: the one set on its page, else the settings'
    (:func:`configured_rate`); None: the platform's JCJG_EXCHANGE_RATE_LIMIT_PER_MINUTE."""
    if client.rate_limit_per_minute is not None:
        return client.rate_limit_per_minute
    return configured_rate(settings, client.id, client.institution_code)


async def check_rate(request: Request, caller: Caller) -> None:
    """429 with Retry-After when this client sends faster than its limit (its own, else the
    platform's; in the store every process shares: jcjg.core.ratelimit). Its bucket is the
    client's, whatever address it sends from; the answer carries its RateLimit headers
    (:class:`MessagePath` adds them)."""
    state = request.app.state
    limiters: dict[str, Limiter] = state.rate_limiters
    limiter = limiters.get("exchange")
    if limiter is None:
        return
    own = own_rate(state.settings, caller.client)
    if own is not None:
        limiter = state.exchange_own_limits(own)
    judged = await limiter.judge(f"client:{caller.client.id}")
    headers = request.state.rate_limit_headers = rate_headers(limiter, judged)
    limited(judged.wait, headers)


def require_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise AppError("消息须以 Content-Type: application/json 提交", kind=UNSUPPORTED_MEDIA)


def check_sha256(value: str) -> str:
    if len(value) != 64 or not set(value) <= _SHA256_HEX:
        raise NotFound("地址中的 SHA-256 须是 64 位小写十六进制")
    return value


async def _in_memory_or_database(request: Request, work: Callable[[Session | None], T]) -> T:
    """``work(None)`` here, on the event loop, when what it needs is in memory; otherwise
    (:class:`NeedDatabase`) ``work(db)`` in a thread with a session of its own. A busy process
    thus answers most messages without a thread hop or a query."""
    try:
        return work(None)
    except NeedDatabase:
        factory: sessionmaker[Session] = request.app.state.sessionmaker

        def with_session() -> T:
            with factory() as db:
                return work(db)

        return await run_in_threadpool(with_session)


def _store_now(request: Request, checked: Accepted) -> dict[str, Any]:
    """Store one accepted message in a transaction of its own (group commit off)."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    with factory() as db:
        store(db, [checked])
        db.commit()
    wakeup = getattr(request.app.state, "exchange_wakeup", None)
    if wakeup is not None:
        wakeup.set()
    assert checked.outcome is not None
    if isinstance(checked.outcome, ExchangeError):
        raise checked.outcome
    return checked.outcome


async def accept_message(
    request: Request, settings: Settings, body: bytes, kind: MessageType[Any] | None,
    message_type: str,
) -> dict[str, Any]:  # fmt: skip
    """Authenticate, limit the rate, check the message and store it: its receipt (the stored
    one for a copy). Checks run on the event loop from memory, in a thread when they need the
    database; storing goes through the process's group committer (or, with group commit off,
    a transaction of its own)."""

    def signed_by(db: Session | None) -> Caller:
        return authenticate(db, settings, request, body, remember_nonce=False)

    caller = await _in_memory_or_database(request, signed_by)
    await check_rate(request, caller)
    if kind is None:
        raise ExchangeError(problems.UNKNOWN_TYPE, f"消息类型“{message_type[:64]}”不存在")
    message_kind = kind

    parsed: list[tuple[BaseMessage, Any, str]] = []  # a first try's, for one with the database

    def checked_with(db: Session | None) -> Accepted | dict[str, Any]:
        return accept(db, caller, message_kind, parsed=parsed)

    checked = await _in_memory_or_database(request, checked_with)
    if isinstance(checked, dict):  # sent before: the stored receipt
        return checked
    committer: GroupCommitter | None = getattr(request.app.state, "exchange_committer", None)
    if committer is None:
        return await run_in_threadpool(_store_now, request, checked)
    outcome = await asyncio.wrap_future(committer.submit(checked))
    if isinstance(outcome, ExchangeError):
        raise outcome
    return outcome


@router.post(
    "/messages/{message_type}",
    summary="报送一条消息",
    status_code=202,
    openapi_extra={**SIGNED, **_MESSAGE_BODY},
    responses={
        **SIGNED_ANSWERS,
        200: {"description": "重复报送：status 为 duplicate，返回原回执"},
        202: {"description": "回执 v2：已受理并存证（承诺），稍后按 status_url 查询处理结果"},
        403: {"description": "不能报送其他机构的数据"},
        404: {"description": "消息类型不存在"},
        409: {"description": "消息编号重复但内容不同"},
        413: {"description": "请求体过大"},
        415: {"description": "Content-Type 不是 application/json"},
        422: {"description": "校验未通过，或引用的文件尚未上传（missing）"},
        503: {"description": "暂时无法保存，消息未被受理"},
    },
)
async def post_message(request: Request, message_type: str) -> Response:
    """Accept one signed message of ``message_type`` and answer with its receipt (v2).
    (:class:`MessagePath` answers these requests before the routing; this route is what the
    OpenAPI document describes, and what answers when that middleware is not installed.)"""
    return await message_response(request, message_type)


async def message_response(request: Request, message_type: str) -> Response:
    """The answer to one message: its receipt, or the problem (refusals are tallied too)."""
    started = time.perf_counter()
    settings: Settings = request.app.state.settings
    size = 0
    kind = message_types().get(message_type)
    label = message_type if kind is not None else ""
    try:
        require_json(request)
        body = await read_body(request, settings.exchange_max_body_bytes)
        size = len(body)
        answer = await accept_message(request, settings, body, kind, message_type)
    except AppError as error:
        record(request, label, error.kind.slug, size, started)
        return await app_error_response(request, error)
    record(request, label, answer["status"], size, started)
    return JSONResponse(answer, status_code=202 if answer["status"] == "accepted" else 200)


class MessagePath:
    """ASGI middleware answering ``POST /exchange/v1/messages/{message_type}`` itself, in front
    of the routing: the busiest request of a province's platform skips route matching,
    dependency injection and the request transaction (it has none: the checks read memory and
    the group committer writes). Every other request goes on to the app. Every answer under
    ``/exchange/v1/`` gets the RateLimit headers its request's limit left (signed requests:
    the client's; the others: the address's)."""

    PREFIX = router.prefix + "/messages/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(router.prefix + "/"):
            send = rate_headers_sender(scope, send)
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(self.PREFIX) and "/" not in path[len(self.PREFIX) :]:
                response = await message_response(Request(scope, receive), path[len(self.PREFIX) :])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@router.get(
    "/messages/{message_type}/{message_id}",
    summary="查询一条消息的处理状态",
    openapi_extra=SIGNED,
    dependencies=[Writes],
    responses={
        **SIGNED_ANSWERS,
        200: {"description": "状态：accepted（待处理）、applied（已处理）或 rejected（未通过）"},
        404: {"description": "没有这条消息"},
    },
)
async def get_message(
    request: Request, message_type: str, message_id: str, db: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """Where one message of this client stands: its receipt, its final status with results,
    warnings or the problem, and once integrated its ledger inclusion proof."""
    caller = await run_in_threadpool(authenticate, db, settings, request, b"")
    await check_rate(request, caller)
    found = await run_in_threadpool(
        statuses, db, caller.client.id, [message_id], message_type=message_type
    )
    if not found:
        raise ExchangeError(problems.MESSAGE_UNKNOWN)
    return JSONResponse(found[0])


@router.post(
    "/status",
    summary="批量查询消息的处理状态",
    openapi_extra={**SIGNED, **_STATUS_BODY},
    responses={
        **SIGNED_ANSWERS,
        **answers({413: (TOO_LARGE,), 415: (UNSUPPORTED_MEDIA,)}),
        200: {"description": "messages：找到的消息的状态；unknown：没有的编号"},
    },
)
async def post_status(request: Request, db: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The status of up to 100 messages of this client: ``{"message_ids": [...]}``."""
    require_json(request)
    body = await read_body(request, 64 * 1024)
    caller = await run_in_threadpool(authenticate, db, settings, request, body)
    await check_rate(request, caller)
    wanted = status_request(body)
    found = await run_in_threadpool(statuses, db, caller.client.id, wanted)
    known = {doc["message_id"] for doc in found}
    return JSONResponse({"messages": found, "unknown": [m for m in wanted if m not in known]})


@router.put(
    "/blobs/{sha256}",
    summary="上传小文件（按 SHA-256 寻址，幂等）",
    status_code=201,
    openapi_extra={**SIGNED, **_BLOB_BODY},
    responses={
        **SIGNED_ANSWERS,
        200: {"description": "已有此文件"},
        201: {"description": "已保存"},
    },
)
async def put_blob(
    request: Request, sha256: str, db: SessionDep, settings: SettingsDep
) -> Response:
    """Store a file under its SHA-256; the address must be the content's hash."""
    started = time.perf_counter()
    size = 0
    try:
        check_sha256(sha256)
        body = await read_body(request, settings.exchange_max_blob_bytes)
        size = len(body)
        caller = await run_in_threadpool(authenticate, db, settings, request, body)
        await check_rate(request, caller)
        if hashlib.sha256(body).hexdigest() != sha256:
            raise ExchangeError(problems.BLOB_MISMATCH)
        content_type = request.headers.get("content-type", "")[:100] or None
        created = await run_in_threadpool(
            store_file, db, settings, caller, sha256, body, content_type, None
        )
    except AppError as error:
        record(request, "", error.kind.slug, size, started)
        raise
    record(request, "", "stored", size, started)
    return JSONResponse(
        {"sha256": sha256, "size": size, "status": "stored" if created else "exists"},
        status_code=201 if created else 200,
    )


def store_file(
    db: Session,
    settings: Settings,
    caller: Caller,
    sha256: str,
    data: bytes | None,
    content_type: str | None,
    filename: str | None,
    *,
    size: int | None = None,
) -> bool:
    """Keep the file (bytes already in the store when ``data`` is None); record that this
    client has it. True when the client did not have it before."""
    have = db.scalar(
        select(ExchangeFile.id).where(
            ExchangeFile.client_id == caller.client.id, ExchangeFile.sha256 == sha256
        )
    )
    if data is not None:
        blob_store(settings).put(data)
    if have is not None:
        return False
    try:
        with db.begin_nested():  # the same file arriving twice at once: one row, no 500
            db.add(
                ExchangeFile(
                    sha256=sha256,
                    size=len(data) if data is not None else (size or 0),
                    client_id=caller.client.id,
                    institution_id=caller.client.institution_id,
                    region_code=caller.client.region_code,
                    filename=filename,
                    content_type=content_type,
                )
            )
    except IntegrityError:
        return False
    return True


@router.head(
    "/blobs/{sha256}",
    summary="查询文件是否已上传",
    openapi_extra=SIGNED,
    dependencies=[Writes],
    responses={**SIGNED_ANSWERS, 404: {"description": "本系统没有上传过这个文件"}},
)
async def head_blob(
    request: Request, sha256: str, db: SessionDep, settings: SettingsDep
) -> Response:
    """200 when this client has uploaded the file, 404 otherwise (signed, no body)."""
    check_sha256(sha256)
    caller = await run_in_threadpool(authenticate, db, settings, request, b"")
    await check_rate(request, caller)
    have = await run_in_threadpool(
        db.scalar,
        select(ExchangeFile.size).where(
            ExchangeFile.client_id == caller.client.id, ExchangeFile.sha256 == sha256
        ),
    )
    if have is None:
        return Response(status_code=404)
    return Response(status_code=200, headers={"Content-Length": str(have)})


@router.get("/schemas", summary="全部消息类型及其 JSON Schema 地址")
def schemas(request: Request, settings: SettingsDep) -> dict[str, str]:
    """A JSON object mapping each message type to the URL of its JSON Schema."""
    base = str(request.base_url).rstrip("/")
    return {name: f"{base}/exchange/v1/schemas/{name}" for name in sorted(message_types())}


class SchemaResponse(JSONResponse):
    media_type = "application/schema+json"


@router.get(
    "/schemas/{message_type}",
    summary="某消息类型的 JSON Schema",
    response_class=SchemaResponse,
    responses={404: {"description": "消息类型不存在"}},
)
def schema(
    request: Request,
    db: SessionDep,
    message_type: str,
    at: Annotated[
        dt.datetime | None,
        Query(description="按此时刻生效的数据标准版本给出（ISO 8601，带时区）；缺省为现在"),
    ] = None,
) -> JSONResponse:
    """The type's JSON Schema as the data standard in force now (or at ``at``) states it: a
    version's narrower value domains from its effective time on (docs/governance.md); the
    version's number in ``x-data-standard-version``."""
    kind = message_types().get(message_type)
    if kind is None:
        raise ExchangeError(problems.UNKNOWN_TYPE, f"消息类型“{message_type[:64]}”不存在")
    if at is not None and at.tzinfo is None:
        raise ValidationFailed(
            errors=[FieldError("query.at", "时刻须带时区（如 +08:00 或 Z）", "timezone_aware")]
        )
    moment = at or utcnow()
    base = str(request.base_url)
    data: dict[str, Any] = standard_schema(db, kind, base, moment)
    return SchemaResponse(data)
