"""``POST /exchange/v1/forwards``: a child platform forwards the next leaves of its log;
``/exchange/v1/platform-applications``: a platform applies to become a child (000 6.0.7)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jcjg.config import Settings
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import TOO_LARGE, UNSUPPORTED_MEDIA
from jcjg.core.openapi import answers
from jcjg.core.ratelimit import rate_limit
from jcjg.exchange import problems as exchange_problems
from jcjg.exchange.api import check_rate, require_json
from jcjg.exchange.auth import SIGNED, SIGNED_ANSWERS, authenticate, read_body
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.problems import ExchangeError
from jcjg.networking import applications, problems
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
    await check_rate(request, caller)
    if caller.client.kind != ClientKind.PLATFORM:
        raise ExchangeError(problems.NOT_A_CHILD)
    answer = await run_in_threadpool(receive, db, settings, caller, body)
    return JSONResponse(answer.as_dict())


_APPLICATION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "接入申请：平台名称、所辖区划、访问地址、存证日志公钥、转发签名公钥、联系人"
        "（见 docs/networking.md 申请接入）；以所附公钥对应的私钥签名，keyid 为 apply- 加公钥"
        " SHA-256 的前 32 位十六进制",
        "content": {"application/json": {"schema": applications.ApplicationIn.model_json_schema()}},
    }
}
_APPLICATION_ANSWER = (
    "reference：申请编号；status：pending（待审批）、approved（已批准）、rejected（未批准）；"
    "批准后 key_id、upstream_url、upstream_log_key 为转发所需的设置"
)


# what an applicant's signature can be refused for (it names its own key: no unknown, revoked
# or suspended key here)
_APPLICANT_401 = (
    exchange_problems.SIGNATURE_MISSING,
    exchange_problems.SIGNATURE_MALFORMED,
    exchange_problems.SIGNATURE_INCOMPLETE,
    exchange_problems.SIGNATURE_INVALID,
    exchange_problems.SIGNATURE_EXPIRED,
    exchange_problems.SIGNATURE_STALE,
    exchange_problems.DIGEST_MISMATCH,
    problems.APPLICATION_KEY_MISMATCH,
)


def _upstream_url(request: Request, settings: Settings) -> str:
    return settings.base_url if settings.base_url_given else str(request.base_url)


@router.post(
    applications.APPLICATIONS_PATH,
    summary="其他监管平台申请接入为本平台的下级平台（000 6.0.7）",
    openapi_extra={**SIGNED, **_APPLICATION_BODY},
    dependencies=[Depends(rate_limit("network_application"))],
    responses={
        **answers(
            {
                401: _APPLICANT_401,
                409: (problems.APPLICATION_EXISTS,),
                413: (TOO_LARGE,),
                415: (UNSUPPORTED_MEDIA,),
            }
        ),
        201: {"description": "申请已收到，待上级平台审批。" + _APPLICATION_ANSWER},
        200: {"description": "同一把密钥再次提交：回答原申请。" + _APPLICATION_ANSWER},
        422: {"description": "字段不符（逐项说明），或公钥、地址、日志公钥格式不正确"},
    },
)
async def post_application(request: Request, db: SessionDep, settings: SettingsDep) -> JSONResponse:
    """Keep an application for access (signed with the key it applies with)."""
    applications.require_signature(request)  # unsigned: 401 before the body is read
    require_json(request)
    body = await read_body(request, applications.MAX_BODY)
    made = await run_in_threadpool(applications.submit, db, settings, request, body)
    location = f"{applications.APPLICATIONS_PATH}/{made.application.reference}"
    return JSONResponse(
        applications.answer(db, made.application, _upstream_url(request, settings)),
        status_code=201 if made.created else 200,
        headers={"Location": location},
    )


@router.get(
    applications.APPLICATIONS_PATH + "/{reference}",
    summary="查询接入申请的审批结果",
    openapi_extra=SIGNED,
    dependencies=[Depends(rate_limit("network_application"))],
    responses={
        **answers({401: _APPLICANT_401, 404: (problems.APPLICATION_NOT_FOUND,)}),
        200: {"description": _APPLICATION_ANSWER},
    },
)
def get_application(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    reference: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{16,32}$")],
) -> JSONResponse:
    """Where an application stands (signed with the key it was sent with)."""
    row = applications.find(db, settings, request, reference)
    return JSONResponse(applications.answer(db, row, _upstream_url(request, settings)))
