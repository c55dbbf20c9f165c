"""JSON API: alerts within scope, the rules, and the thresholds of a rule per region."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts import service
from jcjg.alerts.schemas import AlertRead, BasisBody, RuleRead
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.catalogue.regulations import citer
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NOT_FOUND
from jcjg.core.forms import Id
from jcjg.core.openapi import answers
from jcjg.core.pagination import Page, PageParams, page_params
from jcjg.core.workdays import beijing_date
from jcjg.tenancy.models import Institution

router = APIRouter(prefix="/api/v1", tags=["预警"], route_class=TransactionalRoute)
AlertReader = Annotated[Principal, Depends(requires("alert:read"))]
RuleConfigurer = Annotated[Principal, Depends(requires("rule:configure"))]
RegionCode = Annotated[
    str | None, Query(pattern=r"^[1-9][0-9]{5}$", description="行政区划代码（含下辖）")
]


@router.get("/alerts", summary="预警列表（按数据范围）", response_model=Page[AlertRead])
def list_alerts(
    db: SessionDep,
    principal: AlertReader,
    paging: Annotated[PageParams, Depends(page_params)],
    rule_id: Annotated[str | None, Query(max_length=64, description="规则编号")] = None,
    status: Annotated[
        str,
        Query(
            pattern=r"^(open|closed|withdrawn|all)$",
            description="open 未处理 / closed 已消除 / withdrawn 已撤回（报送未完成时短暂出现，"
            "不算发现）/ all 全部发现（不含已撤回）",
        ),
    ] = "open",
    region_code: RegionCode = None,
    institution_id: Annotated[Id | None, Query(description="检测机构 id")] = None,
    severity: Annotated[
        str | None, Query(pattern=r"^(critical|warning|info)$", description="严重程度")
    ] = None,
    project_id: Annotated[Id | None, Query(description="工程项目 id")] = None,
    handling: Annotated[
        str | None,
        Query(
            pattern=service.HANDLING_PATTERN,
            description="处理情况：new 待确认、confirmed、dismissed、rectifying、rectified、"
            "closed，或 overdue 整改逾期、escalated 已升级督办",
        ),
    ] = None,
    age: Annotated[
        str | None,
        Query(
            pattern=service.AGE_PATTERN,
            description="发现时间：new1/new7/new30 为 1、7、30 天内；"
            "old7/old30/old90 为超过 7、30、90 天",
        ),
    ] = None,
) -> Page[AlertRead]:
    rows, total = service.search(
        db=db,
        principal=principal,
        offset=paging.offset,
        limit=paging.limit,
        rule_id=rule_id,
        status=status,
        region_code=region_code,
        institution_id=institution_id,
        severity=severity,
        project_id=project_id,
        age=age,
        now=(now := utcnow()),
        handling=handling,
        today=beijing_date(now),
    )
    found = _institutions(db, {r.institution_id for r in rows if r.institution_id})
    return Page(
        items=[AlertRead.of(r, found.get(r.institution_id or 0)) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/alerts/{alert_id}", summary="预警详情", response_model=AlertRead)
def get_alert(alert_id: Id, db: SessionDep, principal: AlertReader) -> AlertRead:
    alert = service.get_alert(db=db, principal=principal, alert_id=alert_id)
    institution = db.get(Institution, alert.institution_id) if alert.institution_id else None
    return AlertRead.of(alert, institution)


def _institutions(db: Session, ids: set[int]) -> dict[int, Institution]:
    if not ids:
        return {}
    return {i.id: i for i in db.scalars(select(Institution).where(Institution.id.in_(ids)))}


def _views(db: Session, principal: Principal, region_code: str | None) -> list[RuleRead]:
    region = service.viewing_region(db=db, principal=principal, region_code=region_code)
    cite = citer(db)
    return [RuleRead.of(v, cite) for v in service.rule_views(db=db, region_code=region)]


@router.get(
    "/rules",
    summary="预警规则及本地区阈值",
    response_model=list[RuleRead],
    responses=answers({404: (NOT_FOUND,)}),  # a region outside the account's scope
)
def list_rules(
    db: SessionDep, principal: AlertReader, region_code: RegionCode = None
) -> list[RuleRead]:
    """Every rule with its default thresholds and those in force in ``region_code`` (default:
    the account's own region; another region must lie within the account's scope)."""
    return _views(db, principal, region_code)


@router.put(
    "/rules/{rule_id}/thresholds/{region_code}",
    summary="设置规则在某地区的阈值",
    response_model=RuleRead,
)
def put_thresholds(
    rule_id: str,
    region_code: str,
    values: Annotated[
        dict[str, Any], Body(description='{"阈值项": 数值, ...}；空对象删除本地区设置')
    ],
    db: SessionDep,
    principal: RuleConfigurer,
) -> RuleRead:
    """Replace the region's overrides of the rule with ``values``: keys left out fall back to
    the parent region or the default; ``{}`` removes them all."""
    view = service.set_thresholds(
        db=db, principal=principal, rule_id=rule_id, region_code=region_code, values=values
    )
    return RuleRead.of(view, citer(db))


@router.put(
    "/rules/{rule_id}/basis/{region_code}",
    summary="设置规则在某地区补充的依据",
    response_model=RuleRead,
)
def put_basis(
    rule_id: str, region_code: str, body: BasisBody, db: SessionDep, principal: RuleConfigurer
) -> RuleRead:
    """The region's own basis for the rule, cited after the rule's national basis there and in
    the regions under it: each part "代号 条款" citing a library entry that applies in the
    region (422 naming the part otherwise); ``""`` removes it."""
    view = service.set_basis(
        db=db, principal=principal, rule_id=rule_id, region_code=region_code, clause=body.clause
    )
    return RuleRead.of(view, citer(db))
