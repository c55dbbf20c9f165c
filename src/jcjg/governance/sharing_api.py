"""The consumers' signed API (docs/sharing.md, 查询服务与数据包): the catalogue as a consumer
may use it, a data set's records page by page, a period's signed and notarised package. Each
request is signed with the consumer's own key (RFC 9421), under the exchange's prefix
because it is verified as the exchange verifies a lab's; no session or token opens it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute, Writes
from jcjg.core.errors import CONFLICT, NOT_FOUND, TOO_LARGE, UNSUPPORTED_MEDIA, VALIDATION
from jcjg.core.openapi import answers
from jcjg.core.ratelimit import rate_limit
from jcjg.exchange.api import require_json
from jcjg.exchange.auth import SIGNED, SIGNED_ANSWERS, read_body
from jcjg.governance import sharing_access
from jcjg.governance.sharing_access import (
    CONSUMER_SUSPENDED,
    NOT_GRANTED,
    PENDING,
    PREFIX,
    RESTRICTED,
    WITHDRAWN,
)

router = APIRouter(tags=["数据共享"], route_class=TransactionalRoute)
Code = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,39}$", description="数据集编号")]
_LIMITED = [
    Writes,
    Depends(rate_limit("exchange")),
]  # the nonce and the access are written; per address
_REFUSED = answers(
    {
        403: (NOT_GRANTED, PENDING, RESTRICTED, CONSUMER_SUSPENDED),
        404: (NOT_FOUND,),
        410: (WITHDRAWN,),
        422: (VALIDATION,),
    }
)


def _parameters(*names: tuple[str, str]) -> dict[str, Any]:
    """The query parameters as documented (read by the route itself, after the signature)."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": text,
            }
            for name, text in names
        ]
    }


_FILTERS = (
    ("institution_code", "检测机构编号"),
    ("region_code", "行政区划代码（2、4 或 6 位；360400 即整个市）"),
    ("received_from", "接收日期起（含，北京时间，YYYY-MM-DD）"),
    ("received_to", "接收日期止（含）"),
)


@router.get(
    f"{PREFIX}/data-sets",
    summary="共享对象可用的数据目录",
    openapi_extra=SIGNED,
    dependencies=_LIMITED,
    responses={**SIGNED_ANSWERS, **answers({403: (CONSUMER_SUSPENDED,)})},
)
def data_sets(request: Request, db: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The published data sets, each with its grade and this consumer's access to it."""
    caller = sharing_access.authenticate(db, settings, request)
    return sharing_access.catalogue(db, caller)


@router.get(
    f"{PREFIX}/data-sets/{{code}}/records",
    summary="按条件分页查询数据集（按订阅的脱敏策略脱敏）",
    openapi_extra={
        **SIGNED,
        **_parameters(
            *_FILTERS,
            (
                "limit",
                f"每页条数（1–{sharing_access.MAX_LIMIT}，默认 {sharing_access.DEFAULT_LIMIT}）",
            ),
            ("after", "翻页位置：上一页答复的 next 已含"),
        ),
    },
    dependencies=_LIMITED,
    responses={**SIGNED_ANSWERS, **_REFUSED},
)
def records(request: Request, db: SessionDep, settings: SettingsDep, code: Code) -> dict[str, Any]:
    """A page of the data set's records, oldest first, masked as the consumer's deliveries
    are; ``next`` is the following page's address (sign it like this one), null at the end."""
    caller = sharing_access.authenticate(db, settings, request)
    return sharing_access.query(db, settings, caller, code, request.query_params)


@router.get(
    f"{PREFIX}/data-sets/{{code}}/package",
    summary="下载数据集一段期间的数据包（签名并存证）",
    openapi_extra={**SIGNED, **_parameters(*_FILTERS)},
    dependencies=_LIMITED,
    response_class=Response,
    responses={
        **SIGNED_ANSWERS,
        **_REFUSED,
        200: {
            "description": "zip：records.jsonl、manifest.json、manifest.sig、ledger.json",
            "content": {"application/zip": {}},
        },
    },
)
def package(request: Request, db: SessionDep, settings: SettingsDep, code: Code) -> Response:
    """The records of a period (``received_from`` and ``received_to`` required, at most a
    year), masked, in a zip whose manifest the platform signs and notarises."""
    caller = sharing_access.authenticate(db, settings, request)
    made = sharing_access.package(db, settings, caller, code, request.query_params)
    return Response(
        made.content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{made.name}"',
            "X-Manifest-SHA256": made.manifest_sha256,
            "X-Ledger-Index": str(made.ledger_index),
        },
    )


_APPLICATION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["purpose"],
                    "additionalProperties": False,
                    "properties": {
                        "purpose": {
                            "type": "string",
                            "maxLength": sharing_access.PURPOSE_LIMIT,
                            "description": "使用数据的用途（供审核）",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    f"{PREFIX}/data-sets/{{code}}/applications",
    summary="共享对象在线申请使用数据集（有条件共享的须经审核）",
    openapi_extra={**SIGNED, **_APPLICATION_BODY},
    dependencies=_LIMITED,
    status_code=201,
    responses={
        **SIGNED_ANSWERS,
        **answers(
            {
                403: (RESTRICTED, CONSUMER_SUSPENDED),
                404: (NOT_FOUND,),
                409: (CONFLICT,),
                410: (WITHDRAWN,),
                413: (TOO_LARGE,),
                415: (UNSUPPORTED_MEDIA,),
                422: (VALIDATION,),
            }
        ),
        201: {
            "description": "申请已登记：status 为 active（公开数据集，即可使用）"
            "或 pending（待审核）"
        },
    },
)
async def application(
    request: Request, db: SessionDep, settings: SettingsDep, code: Code
) -> JSONResponse:
    """Ask for a data set with its purpose: a public set is open at once, a conditional one
    once another officer approved it; every personal field is masked."""
    body = await read_body(request, 8 * 1024)  # small: read before the signature is checked
    caller = await run_in_threadpool(sharing_access.authenticate, db, settings, request, body)
    require_json(request)
    made = await run_in_threadpool(sharing_access.apply, db, caller, code, body)
    return JSONResponse(made, status_code=201)
