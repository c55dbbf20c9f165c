"""``POST /exchange/v1/forwards``: a child platform forwards the next leaves of its log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import TOO_LARGE, UNSUPPORTED_MEDIA
from jcjg.core.openapi import answers
from jcjg.exchange.api import check_rate, require_json
from jcjg.exchange.auth import SIGNED, SIGNED_ANSWERS, authenticate, read_body
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.problems import ExchangeError
from jcjg.networking import problems
from jcjg.networking.receive import receive
from jcjg.networking.wire import FORWARDS_PATH

router = APIRouter(tags=["平台互联"], route_class=TransactionalRoute)

_FORWARD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "下级平台存证日志的后续若干叶（见 docs/networking.md）",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    FORWARDS_PATH,
    summary="下级平台转发其存证日志（报送消息与平台事实）",
    openapi_extra={**SIGNED, **_FORWARD_BODY},
    responses={
        **SIGNED_ANSWERS,
        **answers(
            {
                403: (problems.NOT_A_CHILD,),
                409: (problems.CHILD_HALTED, problems.FORWARD_GAP),
                413: (TOO_LARGE,),
                415: (UNSUPPORTED_MEDIA,),
            }
        ),
        200: {
            "description": "next_index：本平台期待的下一个序号；outcomes：各结果的条数；"
            "refused：被拒收的叶及原因"
        },
        422: {"description": "格式不符、日志标识不符，或引用的文件尚未上传（missing）"},
    },
)
async def post_forward(request: Request, db: SessionDep, settings: SettingsDep) -> JSONResponse:
    """Check and keep one forward; the messages in it are applied here behind the answer."""
    require_json(request)
    body = await read_body(request, settings.network_forward_max_bytes)
    caller = await run_in_threadpool(authenticate, db, settings, request, body)
    check_rate(request, caller)
    if caller.client.kind != ClientKind.PLATFORM:
        raise ExchangeError(problems.NOT_A_CHILD)
    answer = await run_in_threadpool(receive, db, settings, caller, body)
    return JSONResponse(answer.as_dict())
