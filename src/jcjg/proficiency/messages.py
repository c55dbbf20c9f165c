"""Message type ``proficiency_result``: an institution's results in a proficiency test
(000 4.2.3), sent by its LIMS instead of typed on the platform's page."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select

from jcjg.core.errors import Conflict, FieldError, ValidationFailed
from jcjg.exchange.types import HandlerContext, MessageBase, message_type
from jcjg.proficiency import service
from jcjg.proficiency.choices import Source
from jcjg.proficiency.models import ProficiencyScheme
from jcjg.proficiency.schemas import CODE_PATTERN, ResultIn, ResultsIn


class ProficiencyResultMessage(MessageBase):
    scheme_code: str = Field(pattern=CODE_PATTERN, description="能力验证的试验编号")
    results: list[ResultIn] = Field(min_length=1, max_length=2, description="各样品的检测结果")


_EXAMPLE: dict[str, Any] = {
    "message_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "institution_code": "JC360400-0001",
    "scheme_code": "NLYZ-2026-GJ01",
    "results": [
        {
            "sample": "A",
            "value": 452.0,
            "expanded_uncertainty": 6.0,
            "coverage_factor": 2.0,
            "method": "GB/T 228.1-2021",
        },
        {"sample": "B", "value": 447.5, "expanded_uncertainty": 6.0, "coverage_factor": 2.0},
    ],
}


NOT_INVITED = "本机构未受邀参加该能力验证"


@message_type(
    "proficiency_result",
    title="能力验证结果",
    schema=ProficiencyResultMessage,
    example=_EXAMPLE,
)
def handle_proficiency_result(
    ctx: HandlerContext, message: ProficiencyResultMessage
) -> dict[str, Any]:
    """能力验证结果（000 4.2.3）：受邀参加能力验证的检测机构报送其各样品的检测结果，按试验编号匹配；
    截止日期（北京时间）前可重报，后报的替换先报的；完成统计评价后不再接收。"""
    scheme = ctx.db.scalars(
        select(ProficiencyScheme).where(ProficiencyScheme.code == message.scheme_code)
    ).first()
    if scheme is None:  # the same answer as for a scheme the lab is not in: codes are not probed
        raise ValidationFailed(errors=[FieldError("scheme_code", NOT_INVITED)])
    try:
        done = service.submit(
            db=ctx.db,
            scheme=scheme,
            institution_id=ctx.institution.id,
            data=ResultsIn(results=message.results),
            now=ctx.received_at,
            source=Source.EXCHANGE,
            message_id=ctx.message_id,
        )
    except ValidationFailed as error:
        raise ValidationFailed(
            errors=[
                FieldError("scheme_code" if e.field == "scheme" else e.field, e.message, e.code)
                for e in error.errors
            ]
        ) from error
    except Conflict as error:
        raise ValidationFailed(errors=[FieldError("scheme_code", error.detail)]) from error
    return {
        "scheme_code": scheme.code,
        "participant_code": done.participant.code,
        "created": done.created,
        "updated": done.updated,
    }
