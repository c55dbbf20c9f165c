"""Home: what this account can do now and the real counts behind it (no made-up numbers)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import ScopeKind
from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.domains import NavEntry, landing_for, nav_for
from jcjg.core.errors import PROBLEM_TYPES, NotFound
from jcjg.core.jobs import JobRun, JobSchedule, registered
from jcjg.core.pagination import count_rows
from jcjg.core.templating import render, templates
from jcjg.core.workdays import beijing_date
from jcjg.home import service as dashboard
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)


def functions(principal: Principal) -> list[NavEntry]:
    """What the home lists under 您现在可以: the menu this account sees (each domain declares
    its entries, with what they are for), the landing page of a field role first."""
    role = principal.role.value if principal.role else None
    entries = [e for _, group in nav_for(role, principal.can) for e in group if e.href != "/"]
    landing = landing_for(principal.role)
    return sorted(entries, key=lambda e: e is not landing)


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
    # the scope's figures, counted at most every JCJG_PAGE_FIGURES_SECONDS (the page says when);
    # the account's own unread notifications on every visit
    figures, counted_at = request.app.state.figures.get(
        ("home", principal.scope_key), lambda: _kept(db, principal)
    )
    handling = figures["handling"] + _unread(db, principal)
    last_login = db.scalar(select(User.last_login_at).where(User.id == principal.user_id))
    scope = principal.scope_label()
    if principal.scope_kind is ScopeKind.REGION and principal.region_code:
        scope = f"{regions.full_name(db=db, code=principal.region_code)}及下辖"
    elif principal.scope_kind is ScopeKind.INSTITUTION and principal.institution_id:
        institution = db.get(Institution, principal.institution_id)
        scope = f"本检测机构（{institution.name}）" if institution else scope
    context = {**figures, "functions": functions(principal), "last_login": last_login,
               "scope": scope, "handling": handling, "counted_at": counted_at}  # fmt: skip
    return render(request, "home.html", context)


def _kept(db: SessionDep, principal: Principal) -> dict[str, Any]:
    """The figures, and their dashboard (``home/<kind>.html``) rendered once with them: it
    depends on nothing else of the request (the scope's permissions are in the key), and
    rendering the authority's was most of the home's time (issue 44)."""
    figures = _figures(db, principal)
    if figures["dashboard"]:
        template = templates().get_template(f"home/{figures['dashboard']}.html")
        html = template.render({**figures, "principal": principal})  # autoescaped
        figures["dashboard_html"] = Markup(html)  # noqa: S704 - our own autoescaped template
    return figures


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
