"""Resumable uploads: the tus 1.0.0 protocol (core, creation, checksum, termination,
expiration) under ``/exchange/v1/uploads/``, every request signed like the rest of the API.

A PATCH body is streamed to a temporary file while its SHA-256/SHA-512/SHA-1 are computed;
only when the whole chunk arrived, the signature and Content-Digest verify and the optional
``Upload-Checksum`` matches is it appended and the offset advanced. A connection cut mid-chunk
therefore leaves the upload at the last complete chunk, and the client resumes from the offset
HEAD reports (https://tus.io/protocols/resumable-upload). When the last byte arrives, the file's
SHA-256 is checked against the ``sha256`` metadata (if given) and the file joins the client's
files, as if PUT to ``/exchange/v1/blobs/{sha256}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from jcjg.config import Settings
from jcjg.core import text
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute, Writes
from jcjg.core.errors import (
    BAD_REQUEST,
    NOT_FOUND,
    TOO_LARGE,
    UNSUPPORTED_MEDIA,
    AppError,
    BadRequest,
    NotFound,
)
from jcjg.core.openapi import answers
from jcjg.core.ratelimit import TOO_MANY
from jcjg.exchange import problems
from jcjg.exchange.api import check_rate, record, store_file
from jcjg.exchange.auth import (
    SIGNED,
    SIGNED_ANSWERS,
    BodyHash,
    Caller,
    authenticate,
    authenticate_headers,
    check_digest,
)
from jcjg.exchange.models import Upload
from jcjg.exchange.problems import ExchangeError

router = APIRouter(
    prefix="/exchange/v1/uploads",
    tags=["数据交换"],
    route_class=TransactionalRoute,
    dependencies=[Writes],  # every request is signed: its nonce is recorded
)

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,checksum,termination,expiration"
CHECKSUM_ALGORITHMS = {"sha1": "sha1", "sha256": "sha-256", "sha512": "sha-512"}
OFFSET_MEDIA = "application/offset+octet-stream"


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=True)


# What the tus routes may answer besides a signature's refusals (the OpenAPI document)
_FOUND = answers({404: (NOT_FOUND,), 410: (problems.UPLOAD_GONE,)})
_TUS = answers({412: (problems.TUS_VERSION,)})
CREATE_ANSWERS = {**SIGNED_ANSWERS, **_TUS, **answers({400: (BAD_REQUEST,), 413: (TOO_LARGE,)})}
HEAD_ANSWERS = {**SIGNED_ANSWERS, **_TUS, **_FOUND}
PATCH_ANSWERS = {
    **HEAD_ANSWERS,
    **answers(
        {
            400: (BAD_REQUEST,),
            409: (problems.UPLOAD_CONFLICT,),
            413: (TOO_LARGE,),
            415: (UNSUPPORTED_MEDIA,),
            422: (problems.BLOB_MISMATCH,),
            460: (problems.CHECKSUM_MISMATCH,),
        }
    ),
}


def _header(name: str, schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema}


# The tus headers and the chunk's body, for the OpenAPI document (the routes read them themselves)
_RESUMABLE = _header("Tus-Resumable", {"type": "string", "enum": [TUS_VERSION]})
_COUNT = {"type": "integer", "minimum": 0}
CREATE_EXTRA = {
    **SIGNED,
    "parameters": [
        _RESUMABLE,
        _header("Upload-Length", _COUNT),
        _header("Upload-Metadata", {"type": "string"}, required=False),
    ],
}
HEAD_EXTRA = {**SIGNED, "parameters": [_RESUMABLE]}
PATCH_EXTRA = {
    **SIGNED,
    "parameters": [
        _RESUMABLE,
        _header("Upload-Offset", _COUNT),
        _header("Upload-Checksum", {"type": "string"}, required=False),
    ],
    "requestBody": {
        "required": True,
        "content": {OFFSET_MEDIA: {"schema": {"type": "string", "format": "binary"}}},
    },
}


def _check_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise AppError(
            kind=problems.TUS_VERSION,
            headers={"Tus-Version": TUS_VERSION, "Tus-Resumable": TUS_VERSION},
        )


def _int_header(request: Request, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdecimal() or len(value) > 19:
        raise BadRequest(f"{name} 须是非负整数")
    return int(value)


def parse_metadata(value: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (value optional). A key
    or value holding a character the text boundary refuses (:mod:`jcjg.core.text`: a file name
    is stored and shown) is a bad request."""
    out: dict[str, str] = {}
    if not value:
        return out
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or key in out:
            raise BadRequest("Upload-Metadata 格式不正确")
        try:
            decoded = (
                base64.b64decode(parts[1], validate=True).decode("utf-8")[:500]
                if len(parts) == 2
                else ""
            )
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BadRequest("Upload-Metadata 的值须是 UTF-8 文本的 Base64") from exc
        reason = text.problem(key) or text.problem(decoded)
        if reason is not None:
            raise BadRequest(f"Upload-Metadata 的一项{reason}")
        out[key[:64]] = decoded  # as sent: HEAD gives the metadata back unchanged (tus 1.0)
    return out


def _encode_metadata(meta: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())


def _path(settings: Settings, upload: Upload) -> Path:
    return settings.upload_dir / upload.token


def _get(db: Session, caller: Caller, token: str, *, lock: bool = False) -> Upload:
    if len(token) != 32 or not token.isalnum():
        raise NotFound()
    stmt = select(Upload).where(Upload.token == token)
    if lock:
        # the row as it is now, not as this session loaded it before the chunk streamed in:
        # the session keeps its objects across commits (expire_on_commit off), and a plain
        # select hands the same object back with the offset read then
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    upload = db.scalar(stmt)
    if upload is None or upload.client_id != caller.client.id:
        raise NotFound("断点续传任务不存在")
    if upload.expires_at <= utcnow():
        raise ExchangeError(problems.UPLOAD_GONE)
    return upload


@router.options("/", include_in_schema=False)
@router.options("/{token}", include_in_schema=False)
def options() -> Response:
    """Discovery (unsigned): the version, extensions, size limit and checksum algorithms."""
    return Response(
        status_code=204,
        headers={
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


@router.post(
    "/",
    summary="创建断点续传任务（tus creation）",
    status_code=201,
    openapi_extra=CREATE_EXTRA,
    responses=CREATE_ANSWERS,
)
async def create(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    started = time.perf_counter()
    try:
        _check_version(request)
        if "upload-defer-length" in request.headers:
            raise BadRequest("不支持 Upload-Defer-Length：创建时须给出 Upload-Length")
        length = _int_header(request, "upload-length")
        signed = ("upload-length",) + (
            ("upload-metadata",) if "upload-metadata" in request.headers else ()
        )
        caller = await run_in_threadpool(
            authenticate, db, settings, request, b"", also_required=signed
        )
        await check_rate(request, caller)
        await run_in_threadpool(_check_quota, db, settings, caller)
        if length > settings.exchange_max_upload_bytes:
            raise AppError(
                f"文件超过 {settings.exchange_max_upload_bytes} 字节的上限", kind=TOO_LARGE
            )
        meta = parse_metadata(request.headers.get("upload-metadata"))
        wanted = meta.get("sha256")
        if wanted is not None and (len(wanted) != 64 or not set(wanted) <= set("0123456789abcdef")):
            raise BadRequest("Upload-Metadata 中的 sha256 须是 64 位小写十六进制")
        now = utcnow()
        upload = Upload(
            token=secrets.token_hex(16),
            client_id=caller.client.id,
            length=length,
            offset=0,
            metadata_=meta,
            created_at=now,
            expires_at=now + dt.timedelta(hours=settings.exchange_upload_expiry_hours),
        )
        settings.upload_dir.mkdir(parents=True, exist_ok=True)
        _path(settings, upload).touch()
        db.add(upload)
        await run_in_threadpool(db.flush)
    except AppError as error:
        record(request, "", error.kind.slug, 0, started)
        raise
    record(request, "", "upload_created", 0, started)
    location = f"{str(request.base_url).rstrip('/')}/exchange/v1/uploads/{upload.token}"
    return Response(
        status_code=201,
        headers=_tus_headers(
            Location=location, **{"Upload-Expires": _http_date(upload.expires_at)}
        ),
    )


@router.head(
    "/{token}",
    summary="查询已上传的字节数（tus HEAD）",
    openapi_extra=HEAD_EXTRA,
    responses=HEAD_ANSWERS,
)
async def head(request: Request, token: str, db: SessionDep, settings: SettingsDep) -> Response:
    _check_version(request)
    caller = await run_in_threadpool(authenticate, db, settings, request, b"")
    await check_rate(request, caller)
    upload = await run_in_threadpool(_get, db, caller, token)
    headers = _tus_headers(
        **{
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Upload-Expires": _http_date(upload.expires_at),
        }
    )
    if upload.metadata_:
        headers["Upload-Metadata"] = _encode_metadata(upload.metadata_)
    return Response(status_code=200, headers=headers)


async def _receive_chunk(request: Request, limit: int, folder: Path) -> tuple[Path, BodyHash]:
    """Stream the body into a temporary file (refusing more than ``limit`` bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".chunk-")
    path = Path(name)
    hashes = BodyHash()
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in request.stream():
                hashes.update(chunk)
                if hashes.size > limit:
                    raise AppError("分块超过该文件剩余的长度", kind=TOO_LARGE)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, hashes


def _checksum_ok(value: str | None, hashes: BodyHash) -> bool:
    if value is None:
        return True
    alg, _, encoded = value.strip().partition(" ")
    if alg not in CHECKSUM_ALGORITHMS:
        raise BadRequest(f"不支持的校验算法 {alg[:16]}；可用 {', '.join(CHECKSUM_ALGORITHMS)}")
    try:
        expected = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise BadRequest("Upload-Checksum 的值须是 Base64") from exc
    return hashes.digest(CHECKSUM_ALGORITHMS[alg]) == expected


def _offset_conflict(offset: int, received: int) -> ExchangeError:
    return ExchangeError(
        problems.UPLOAD_CONFLICT, f"Upload-Offset 为 {offset}，平台已收到 {received} 字节"
    )


def _claim(db: Session, upload: Upload, offset: int, size: int) -> None:
    """Advance the upload from ``offset`` to ``offset + size``, compare-and-set: of chunks at
    one offset arriving together only the first moves it; for the others no row matches
    (PostgreSQL re-reads the row the first one locked, once it commits), a 409."""
    moved = db.execute(
        update(Upload)
        .where(Upload.id == upload.id, Upload.offset == offset)
        .values(offset=offset + size)
        .execution_options(synchronize_session=False)
    )
    if getattr(moved, "rowcount", 0) != 1:
        received = db.scalar(select(Upload.offset).where(Upload.id == upload.id))
        raise _offset_conflict(offset, received if received is not None else offset)
    set_committed_value(upload, "offset", offset + size)


def _append(
    db: Session, settings: Settings, caller: Caller, token: str, offset: int, chunk: Path
) -> Upload:
    upload = _get(db, caller, token, lock=True)
    if offset != upload.offset:
        raise _offset_conflict(offset, upload.offset)
    size = chunk.stat().st_size
    if upload.offset + size > upload.length:
        raise AppError("分块超过 Upload-Length", kind=TOO_LARGE)
    _claim(db, upload, offset, size)  # before a byte is written: a loser writes nothing
    target = _path(settings, upload)
    with open(target, "r+b") as out, open(chunk, "rb") as src:
        out.seek(offset)
        while block := src.read(1024 * 1024):
            out.write(block)
        out.truncate()
        out.flush()
        os.fsync(out.fileno())
    if upload.offset == upload.length:
        _complete(db, settings, caller, upload, target)
    db.flush()
    return upload


def _complete(db: Session, settings: Settings, caller: Caller, upload: Upload, path: Path) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    sha256 = digest.hexdigest()
    wanted = upload.metadata_.get("sha256")
    if wanted is not None and wanted != sha256:
        raise ExchangeError(
            problems.BLOB_MISMATCH,
            f"文件的 SHA-256 为 {sha256}，与创建时声明的 {wanted} 不符",
        )
    blob_store(settings).put_file(path, sha256)
    store_file(
        db,
        settings,
        caller,
        sha256,
        None,
        upload.metadata_.get("filetype"),
        upload.metadata_.get("filename"),
        size=upload.length,
    )
    upload.completed_sha256 = sha256


@router.patch(
    "/{token}",
    summary="续传一个分块（tus PATCH）",
    status_code=204,
    openapi_extra=PATCH_EXTRA,
    responses=PATCH_ANSWERS,
)
async def patch(request: Request, token: str, db: SessionDep, settings: SettingsDep) -> Response:
    started = time.perf_counter()
    size = 0
    chunk: Path | None = None
    try:
        _check_version(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != OFFSET_MEDIA:
            raise AppError(f"分块须以 Content-Type: {OFFSET_MEDIA} 提交", kind=UNSUPPORTED_MEDIA)
        offset = _int_header(request, "upload-offset")
        signed = ("upload-offset",) + (
            ("upload-checksum",) if "upload-checksum" in request.headers else ()
        )
        # The signature first (over the headers, the Content-Digest included): nobody without
        # a key gets a byte written. The nonce is committed at once, so it stays spent even
        # if the chunk then fails, and the database is free while the chunk streams in.
        caller, sreq = await run_in_threadpool(
            authenticate_headers, db, settings, request, has_body=True, also_required=signed
        )
        await check_rate(request, caller)
        upload = await run_in_threadpool(_get, db, caller, token)
        if offset != upload.offset:
            raise _offset_conflict(offset, upload.offset)
        remaining = upload.length - offset
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdecimal() and int(declared) > remaining:
            raise AppError("分块超过该文件剩余的长度", kind=TOO_LARGE)
        await run_in_threadpool(db.commit)
        try:
            chunk, hashes = await _receive_chunk(request, remaining, settings.upload_dir)
        except ClientDisconnect:
            return Response(status_code=400)  # nothing kept: the client resumes from HEAD
        size = hashes.size
        check_digest(sreq, hashes, has_body=True)
        if not _checksum_ok(request.headers.get("upload-checksum"), hashes):
            raise ExchangeError(problems.CHECKSUM_MISMATCH)
        upload = await run_in_threadpool(_append, db, settings, caller, token, offset, chunk)
    except AppError as error:
        record(request, "", error.kind.slug, size, started)
        raise
    finally:
        if chunk is not None:
            chunk.unlink(missing_ok=True)
    record(request, "", "stored" if upload.completed_sha256 else "chunk", size, started)
    headers = _tus_headers(
        **{"Upload-Offset": str(upload.offset), "Upload-Expires": _http_date(upload.expires_at)}
    )
    if upload.completed_sha256:
        headers["Upload-SHA256"] = upload.completed_sha256
    return Response(status_code=204, headers=headers)


@router.delete(
    "/{token}",
    summary="终止断点续传任务（tus termination）",
    status_code=204,
    openapi_extra=HEAD_EXTRA,
    responses=HEAD_ANSWERS,
)
async def terminate(
    request: Request, token: str, db: SessionDep, settings: SettingsDep
) -> Response:
    _check_version(request)
    caller = await run_in_threadpool(authenticate, db, settings, request, b"")
    await check_rate(request, caller)
    upload = await run_in_threadpool(_get, db, caller, token, lock=True)
    _path(settings, upload).unlink(missing_ok=True)
    await run_in_threadpool(db.delete, upload)
    return Response(status_code=204, headers=_tus_headers())


MAX_OPEN_UPLOADS = 100


def _check_quota(db: Session, settings: Settings, caller: Caller) -> None:
    """At most MAX_OPEN_UPLOADS unfinished uploads per client: each may reserve disk."""
    open_uploads = db.scalar(
        select(func.count())
        .select_from(Upload)
        .where(
            Upload.client_id == caller.client.id,
            Upload.completed_sha256.is_(None),
            Upload.expires_at > utcnow(),
        )
    )
    if (open_uploads or 0) >= MAX_OPEN_UPLOADS:
        raise AppError(
            f"未完成的断点续传已有 {open_uploads} 个：请先完成或终止（DELETE）再新建",
            kind=TOO_MANY,
            headers={"Retry-After": "60"},
        )


def remove_expired(db: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Delete uploads past their expiry (their partial files too), and the on-disk copies of
    completed ones (their bytes are in the blob store); return how many uploads ended."""
    now = now or utcnow()
    expired = db.scalars(select(Upload).where(Upload.expires_at <= now)).all()
    for upload in expired:
        _path(settings, upload).unlink(missing_ok=True)
        db.delete(upload)
    for upload in db.scalars(select(Upload).where(Upload.completed_sha256.is_not(None))):
        _path(settings, upload).unlink(missing_ok=True)
    db.flush()
    return len(expired)
