"""Public endpoints of the log (no login, rate limited, cacheable): checkpoint, key, entries,
inclusion and consistency proofs, and cosignatures."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NOT_FOUND, BadRequest, FieldError, NotFound
from jcjg.core.forms import RawBody
from jcjg.core.openapi import answers
from jcjg.core.ratelimit import rate_limit
from jcjg.ledger import service
from jcjg.ledger.service import LedgerError

router = APIRouter(
    prefix="/ledger",
    tags=["区块链存证（透明日志）"],
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("ledger"))],
)
Public = Annotated[Principal, Depends(requires(None))]
MAX_INDEX = 2**63 - 1
IMMUTABLE = "public, max-age=31536000, immutable"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

Index = Annotated[int, Query(ge=0, le=MAX_INDEX, description="叶序号（从 0 起）")]
Size = Annotated[int | None, Query(ge=1, le=MAX_INDEX, description="树大小，缺省为最新检查点")]


def _json(data: dict[str, Any], *, fixed: bool) -> JSONResponse:
    cache = IMMUTABLE if fixed else "public, max-age=5"
    return JSONResponse(data, headers={"Cache-Control": cache})


def _bad(exc: LedgerError, field: str) -> BadRequest:
    return BadRequest(str(exc), errors=[FieldError(field, str(exc), "out_of_range")])


@router.get(
    "/checkpoint", summary="最新签名检查点（C2SP signed note）", response_class=PlainTextResponse
)
def checkpoint(db: SessionDep, principal: Public) -> Response:
    row = service.latest_checkpoint(db)
    return PlainTextResponse(row.note, headers={"Cache-Control": "public, max-age=5"})


@router.get("/key", summary="日志验证公钥（note verifier key）", response_class=PlainTextResponse)
def key(principal: Public) -> Response:
    vkey = service.log_identity().vkey
    return PlainTextResponse(vkey + "\n", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/entries/{index}", summary="条目")
def entry(db: SessionDep, principal: Public, index: int) -> Response:
    if not 0 <= index <= MAX_INDEX:
        raise BadRequest(
            "序号必须是非负整数", errors=[FieldError("path.index", "序号必须是非负整数")]
        )
    try:
        leaf = service.get_leaf(db, index)
    except LedgerError as exc:
        raise NotFound(str(exc)) from exc
    return _json(service.entry_json(leaf), fixed=True)


@router.get("/proof/inclusion", summary="包含证明")
def proof_inclusion(db: SessionDep, principal: Public, index: Index, size: Size = None) -> Response:
    try:
        return _json(service.inclusion(db, index, size), fixed=size is not None)
    except LedgerError as exc:
        raise _bad(exc, "query.size" if "大小" in str(exc) else "query.index") from exc


@router.get(
    "/proof/by-hash",
    summary="按叶哈希取包含证明",
    responses=answers({404: (NOT_FOUND,)}),  # no leaf with this hash
)
def proof_by_hash(
    db: SessionDep,
    principal: Public,
    leaf_hash: Annotated[
        str, Query(min_length=64, max_length=64, description="叶哈希（64 位十六进制）")
    ],
    size: Size = None,
) -> Response:
    if not _HEX64.match(leaf_hash):
        raise BadRequest(
            "leaf_hash 应为 64 位十六进制",
            errors=[FieldError("query.leaf_hash", "应为 64 位十六进制")],
        )
    try:
        return _json(
            service.find_by_hash(db, bytes.fromhex(leaf_hash), size), fixed=size is not None
        )
    except LedgerError as exc:
        if "没有这个叶哈希" in str(exc):
            raise NotFound(str(exc)) from exc
        raise _bad(exc, "query.size") from exc


@router.get("/proof/consistency", summary="一致性证明")
def proof_consistency(
    db: SessionDep,
    principal: Public,
    first: Annotated[int, Query(ge=1, le=MAX_INDEX, description="较早的树大小")],
    second: Size = None,
) -> Response:
    try:
        return _json(service.consistency(db, first, second), fixed=second is not None)
    except LedgerError as exc:
        raise _bad(exc, "query.second" if "超出" in str(exc) else "query.first") from exc


@router.post(
    "/checkpoint/{size}/cosignatures",
    summary="为检查点添加联署签名（上级平台或独立见证方）",
    response_class=PlainTextResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "联署签名行（C2SP signed note 的签名行，UTF-8，至多 8192 字节）",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def cosign(db: SessionDep, principal: Public, size: int, body: RawBody) -> Response:
    if not 1 <= size <= MAX_INDEX:
        raise BadRequest(
            "树大小必须是正整数", errors=[FieldError("path.size", "树大小必须是正整数")]
        )
    if len(body) > 8192:
        raise BadRequest("签名行过长")
    try:
        text = body.decode("utf-8")
        row = service.add_cosignatures(db, size, text)
    except (UnicodeDecodeError, LedgerError) as exc:
        raise BadRequest(str(exc)) from exc
    return PlainTextResponse(row.note)
