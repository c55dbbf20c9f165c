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
import hashlib
import time
from concurrent.futures import Future
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import UNSUPPORTED_MEDIA, AppError, NotFound
from jcjg.core.ratelimit import TOO_MANY, RateLimiter
from jcjg.exchange import problems
from jcjg.exchange.auth import Caller, authenticate, read_body
from jcjg.exchange.commit import GroupCommitter, Outcome
from jcjg.exchange.models import ExchangeFile
from jcjg.exchange.monitor import Recorder
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.service import accept, store
from jcjg.exchange.status import status_request, statuses
from jcjg.exchange.types import MessageType, json_schema, message_types

router = APIRouter(prefix="/exchange/v1", tags=["数据交换"], route_class=TransactionalRoute)
_SHA256_HEX = frozenset("0123456789abcdef")


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


def check_rate(request: Request, caller: Caller) -> None:
    """429 with Retry-After when this client sends faster than its limit."""
    limiters: dict[str, RateLimiter] = request.app.state.rate_limiters
    limiter = limiters.get("exchange")
    if limiter is None:
        return
    wait = limiter.check(f"client:{caller.client.id}")
    if wait > 0:
        raise AppError(kind=TOO_MANY, headers={"Retry-After": str(int(wait) + 1)})


def require_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise AppError("消息须以 Content-Type: application/json 提交", kind=UNSUPPORTED_MEDIA)


def check_sha256(value: str) -> str:
    if len(value) != 64 or not set(value) <= _SHA256_HEX:
        raise NotFound("地址中的 SHA-256 须是 64 位小写十六进制")
    return value


def accept_and_store(
    request: Request, db: Session, settings: Settings, caller: Caller, kind: MessageType[Any]
) -> dict[str, Any] | Future[Outcome]:
    """Check the message and, when it is new, store it: through the process's group committer
    (a future of its outcome), or in this request's transaction when group commit is off."""
    checked = accept(db, caller, kind)
    if isinstance(checked, dict):  # sent before: the stored receipt
        return checked
    committer: GroupCommitter | None = getattr(request.app.state, "exchange_committer", None)
    if committer is not None:
        # nothing read here is needed any more: give the connection back while the writer
        # stores the message (closing keeps what was loaded readable, unlike a rollback)
        db.close()
        return committer.submit(checked)
    store(db, [checked])
    db.commit()
    wakeup = getattr(request.app.state, "exchange_wakeup", None)
    if wakeup is not None:
        wakeup.set()
    assert checked.outcome is not None
    if isinstance(checked.outcome, ExchangeError):
        raise checked.outcome
    return checked.outcome


def check_and_store(
    request: Request,
    db: Session,
    settings: Settings,
    body: bytes,
    kind: MessageType[Any] | None,
    message_type: str,
) -> dict[str, Any] | Future[Outcome]:
    """Authenticate, limit the rate, check the message and store it (or hand it to the
    writer): everything of the request that runs in a worker thread."""
    caller = authenticate(db, settings, request, body, remember_nonce=False)
    check_rate(request, caller)
    if kind is None:
        raise ExchangeError(problems.UNKNOWN_TYPE, f"消息类型“{message_type[:64]}”不存在")
    return accept_and_store(request, db, settings, caller, kind)


@router.post(
    "/messages/{message_type}",
    summary="报送一条消息",
    status_code=202,
    responses={
        200: {"description": "重复报送：status 为 duplicate，返回原回执"},
        202: {"description": "回执 v2：已受理并存证（承诺），稍后按 status_url 查询处理结果"},
        401: {"description": "签名问题，type 指明原因"},
        403: {"description": "不能报送其他机构的数据"},
        404: {"description": "消息类型不存在"},
        409: {"description": "消息编号重复但内容不同"},
        413: {"description": "请求体过大"},
        415: {"description": "Content-Type 不是 application/json"},
        422: {"description": "校验未通过，或引用的文件尚未上传（missing）"},
        429: {"description": "请求过于频繁（Retry-After）"},
        503: {"description": "暂时无法保存，消息未被受理"},
    },
)
async def post_message(
    request: Request, message_type: str, db: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """Accept one signed message of ``message_type`` and answer with its receipt (v2)."""
    started = time.perf_counter()
    size = 0
    kind = message_types().get(message_type)
    label = message_type if kind is not None else ""
    try:
        require_json(request)
        body = await read_body(request, settings.exchange_max_body_bytes)
        size = len(body)
        # one trip to the thread pool for all the checks: each trip costs a hand-over of the
        # interpreter between the event loop and a thread
        answer = await run_in_threadpool(
            check_and_store, request, db, settings, body, kind, message_type
        )
        if isinstance(answer, Future):
            outcome = await asyncio.wrap_future(answer)
            if isinstance(outcome, ExchangeError):
                raise outcome
            answer = outcome
    except AppError as error:
        record(request, label, error.kind.slug, size, started)
        raise
    record(request, label, answer["status"], size, started)
    return JSONResponse(answer, status_code=202 if answer["status"] == "accepted" else 200)


@router.get(
    "/messages/{message_type}/{message_id}",
    summary="查询一条消息的处理状态",
    responses={
        200: {"description": "状态：accepted（待处理）、applied（已处理）或 rejected（未通过）"},
        404: {"description": "没有这条消息"},
    },
)
def get_message(
    request: Request, message_type: str, message_id: str, db: SessionDep, settings: SettingsDep
) -> JSONResponse:
    """Where one message of this client stands: its receipt, its final status with results,
    warnings or the problem, and once integrated its ledger inclusion proof."""
    caller = authenticate(db, settings, request, b"")
    check_rate(request, caller)
    found = statuses(db, caller.client.id, [message_id], message_type=message_type)
    if not found:
        raise ExchangeError(problems.MESSAGE_UNKNOWN)
    return JSONResponse(found[0])


@router.post(
    "/status",
    summary="批量查询消息的处理状态",
    responses={200: {"description": "messages：找到的消息的状态；unknown：没有的编号"}},
)
async def post_status(request: Request, db: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The status of up to 100 messages of this client: ``{"message_ids": [...]}``."""
    require_json(request)
    body = await read_body(request, 64 * 1024)
    caller = await run_in_threadpool(authenticate, db, settings, request, body)
    check_rate(request, caller)
    wanted = status_request(body)
    found = await run_in_threadpool(statuses, db, caller.client.id, wanted)
    known = {doc["message_id"] for doc in found}
    return JSONResponse({"messages": found, "unknown": [m for m in wanted if m not in known]})


@router.put(
    "/blobs/{sha256}",
    summary="上传小文件（按 SHA-256 寻址，幂等）",
    status_code=201,
    responses={200: {"description": "已有此文件"}, 201: {"description": "已保存"}},
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
        check_rate(request, caller)
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


@router.head("/blobs/{sha256}", summary="查询文件是否已上传")
async def head_blob(
    request: Request, sha256: str, db: SessionDep, settings: SettingsDep
) -> Response:
    """200 when this client has uploaded the file, 404 otherwise (signed, no body)."""
    check_sha256(sha256)
    caller = await run_in_threadpool(authenticate, db, settings, request, b"")
    check_rate(request, caller)
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


@router.get("/schemas/{message_type}", summary="某消息类型的 JSON Schema")
def schema(request: Request, message_type: str) -> JSONResponse:
    kind = message_types().get(message_type)
    if kind is None:
        raise ExchangeError(problems.UNKNOWN_TYPE, f"消息类型“{message_type[:64]}”不存在")
    data: dict[str, Any] = json_schema(kind, str(request.base_url))
    return JSONResponse(data, media_type="application/schema+json")
