"""Home: what this account can do now and the real counts behind it (no made-up numbers)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import ScopeKind
from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.domains import landing_for
from jcjg.core.errors import PROBLEM_TYPES, NotFound
from jcjg.core.jobs import JobRun, JobSchedule, registered
from jcjg.core.pagination import count_rows
from jcjg.core.templating import render
from jcjg.core.workdays import beijing_date
from jcjg.home import service as dashboard
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)

# (permission, title, link, what it is for) in the order the home page lists them.
FUNCTIONS = [
    (
        "institution:read",
        "检测机构登记",
        "/registry",
        "检测机构、人员、设备、场所、能力、资质证书与报告批准人",
    ),
    ("catalogue:read", "资质目录", "/catalogue", "检测专项、检测项目、参数及人员设备场所最低要求"),
    (
        "alert:read",
        "预警",
        "/alerts",
        "查看辖区或本机构的预警，确认、责令整改、复核办结，逾期升级督办",
    ),
    (
        "test_record:read",
        "不合格台账",
        "/nonconformities",
        "不合格检测结果的登记、通知、处理与闭环",
    ),
    (
        "alert:read",
        "整改通知",
        "/rectification-orders",
        "责令检测机构整改（第十七条情形）、整改答复与复核办结，整改记录在网站公布",
    ),
    ("account:manage", "站内通知", "/inbox", "与您有关的预警处理、整改要求和不合格结果"),
    ("account:manage", "通知设置", "/account/notifications", "邮件、短信、关注的规则与免打扰时段"),
    ("user:read", "用户管理", "/admin/users", "查看、新建、锁定和解锁本辖区或本机构的账号"),
    ("role:read", "角色与权限", "/admin/roles", "查看每个角色拥有的权限，平台管理员可调整"),
    ("audit:read", "审计日志", "/audit", "检索登录、越权、数据修改和个人信息查看记录"),
    ("region:read", "行政区划", "/regions", "浏览 GB/T 2260 行政区划"),
    ("job:read", "定时任务", "/admin/jobs", "查看后台定时任务的运行情况"),
    ("notify:read", "通知发送记录", "/admin/deliveries", "邮件、短信的收件人（脱敏）、结果与重试"),
    ("account:manage", "访问令牌", "/account/tokens", "为接口调用申请和吊销本人的访问令牌"),
    ("account:manage", "修改密码", "/account/password", "按安全规则修改本人密码"),
]


def _handling(db: SessionDep, principal: Principal) -> list[tuple[str, int, str, bool]]:
    """What waits for handling in this account's scope, each a link to the list behind it:
    (title, count, link, whether it is late)."""
    from jcjg.alerts import service as alerts
    from jcjg.nonconformity import service as nonconformities

    today = beijing_date(utcnow())
    out: list[tuple[str, int, str, bool]] = []
    if principal.can("alert:read"):
        counts = alerts.handling_counts(db=db, principal=principal, today=today)
        for title, handling, late in (
            ("待确认的预警", "new", False),
            ("整改中", "rectifying", False),
            ("已整改待复核", "rectified", False),
            ("整改逾期", "overdue", True),
            ("已升级督办", "escalated", True),
        ):
            out.append((title, counts[handling], f"/alerts?handling={handling}", late))
    if principal.can("test_record:read"):
        found = nonconformities.counts(db, principal, today=today, since=today)
        for title, status, late in (
            ("不合格结果未闭环", nonconformities.UNCLOSED, False),
            ("不合格结果逾期", nonconformities.OVERDUE, True),
        ):
            out.append((title, found[status], f"/nonconformities?status={status}", late))
    return out


def _unread(db: SessionDep, principal: Principal) -> list[tuple[str, int, str, bool]]:
    from jcjg.notify.service import unread

    if principal.user_id is None:
        return []
    return [("未读通知", unread(db, principal.user_id), "/inbox", False)]


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("home:view"))],
) -> Response:
    functions = [f for f in FUNCTIONS if principal.can(f[0])]
    landing = landing_for(principal.role)
    if landing is not None:  # a witness's or a sampler's work comes first
        functions.insert(0, ("", landing.title, landing.href, "在手机上办理今天的现场工作"))
    # the scope's figures, counted at most every JCJG_PAGE_FIGURES_SECONDS (the page says when);
    # the account's own unread notifications on every visit
    figures, counted_at = request.app.state.figures.get(
        ("home", principal.scope_key), lambda: _figures(db, principal)
    )
    handling = figures["handling"] + _unread(db, principal)
    last_login = db.scalar(select(User.last_login_at).where(User.id == principal.user_id))
    scope = principal.scope_label()
    if principal.scope_kind is ScopeKind.REGION and principal.region_code:
        scope = f"{regions.full_name(db=db, code=principal.region_code)}及下辖"
    elif principal.scope_kind is ScopeKind.INSTITUTION and principal.institution_id:
        institution = db.get(Institution, principal.institution_id)
        scope = f"本检测机构（{institution.name}）" if institution else scope
    context = {**figures, "functions": functions, "last_login": last_login, "scope": scope,
               "handling": handling, "counted_at": counted_at}  # fmt: skip
    return render(request, "home.html", context)


def _figures(db: SessionDep, principal: Principal) -> dict[str, Any]:
    """What the home shows of the account's scope: its totals and its dashboard."""
    counts: list[tuple[str, int, str]] = []
    if principal.can("institution:read"):
        counts.append(
            ("检测机构", count_rows(db, restrict(select(Institution), principal, "read")), "家")
        )
    if principal.can("user:read"):
        counts.append(("账号", count_rows(db, restrict(select(User), principal, "read")), "个"))
    if principal.can("audit:read"):
        since = utcnow() - dt.timedelta(hours=24)
        stmt = restrict(select(AuditLog).where(AuditLog.at >= since), principal, "read")
        counts.append(("近 24 小时审计记录", count_rows(db, stmt), "条"))
    return {"counts": counts, "handling": _handling(db, principal), **_dashboard(db, principal)}


def _dashboard(db: SessionDep, principal: Principal) -> dict[str, Any]:
    """The numbers of this kind of account (``home/<kind>.html``), from :mod:`.service`."""
    now = utcnow()
    if dashboard.is_authority(principal):
        found = dashboard.authority_home(db=db, principal=principal, now=now)
        return {"dashboard": "authority", "home": found, "charts": dashboard.charts(found)}
    if principal.scope_kind is ScopeKind.INSTITUTION:
        found_i = dashboard.institution_home(db=db, principal=principal, now=now)
        return {"dashboard": "institution", "home": found_i}
    if principal.scope_kind is ScopeKind.PROJECT and principal.can("test_record:read"):
        found_p = dashboard.party_home(db=db, principal=principal, now=now)
        return {"dashboard": "party", "home": found_p}
    return {"dashboard": None}


@router.get("/problems/{slug}", response_class=HTMLResponse)
def problem(
    request: Request, slug: str, principal: Annotated[Principal, Depends(requires(None))]
) -> Response:
    kind = PROBLEM_TYPES.get(slug)
    if kind is None:
        raise NotFound("没有这种问题类型")
    return render(request, "problem.html", {"kind": kind})


@router.get("/admin/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("job:read"))],
) -> Response:
    schedules = {s.name: s for s in db.scalars(select(JobSchedule))}
    runs = db.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(50)).all()
    return render(
        request,
        "jobs.html",
        {"jobs": list(registered().values()), "schedules": schedules, "runs": runs},
    )
