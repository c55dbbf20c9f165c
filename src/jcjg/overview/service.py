"""Who sees which region's overview, and the periodic supervision reports: made for each
authority's region once a month or quarter has closed, kept as a blob, notarised, and sent to
the region's authority and the one above (docs/overview.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.auth.choices import ScopeKind
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.errors import FieldError, NotFound, ValidationFailed
from jcjg.core.regioncodes import in_subtree, is_valid_code
from jcjg.core.workdays import BEIJING, beijing_date
from jcjg.ledger import service as ledger
from jcjg.notify.service import AUTHORITY_ROLES, authorities, notify
from jcjg.overview import figures as fig
from jcjg.overview import periods
from jcjg.overview.models import SupervisionReport
from jcjg.overview.periods import Period, PeriodKind
from jcjg.overview.report import report_pdf
from jcjg.overview.sections import report_sections
from jcjg.regions import service as regions
from jcjg.regions.models import Region

REPORT_TYPE = "supervision_report:issue"
REPORT_KINDS = (PeriodKind.MONTH, PeriodKind.QUARTER)
# how many closed periods back the job makes what is missing (older ones: on demand)
CATCH_UP = {PeriodKind.MONTH: 3, PeriodKind.QUARTER: 2}


def own_region(principal: Principal) -> str:
    """The region a principal oversees ("" the whole country: the platform's global roles)."""
    if principal.scope_kind is ScopeKind.GLOBAL:
        return ""
    return principal.region_code or ""


def region_for(db: Session, principal: Principal, asked: str | None) -> str:
    """The region the overview shows: the one asked for if it lies in the principal's region
    (404 otherwise, as another region's data), else the principal's own."""
    mine = own_region(principal)
    if principal.scope_kind not in (ScopeKind.GLOBAL, ScopeKind.REGION) or (
        principal.scope_kind is ScopeKind.REGION and not mine
    ):
        raise NotFound()
    if not asked:
        return mine
    if not is_valid_code(asked) or db.get(Region, asked) is None:
        raise NotFound()
    if mine and not in_subtree(asked, mine):
        raise NotFound()
    return asked


def public_region(db: Session, asked: str | None) -> str:
    """The public summary's region: the one asked for (a province or a city; 404 for an unknown
    or county code), else the only province holding institutions, else the whole country."""
    if asked:
        region = db.get(Region, asked) if is_valid_code(asked) else None
        if region is None or region.level == "county":
            raise NotFound()
        return asked
    from jcjg.tenancy.models import Institution

    codes = {c[:2] for c in db.scalars(select(Institution.region_code).distinct())}
    return f"{codes.pop()}0000" if len(codes) == 1 else ""


def period_for(text: str | None, today: dt.date) -> Period:
    """The period asked for (``2026``, ``2026Q3``, ``2026-10``), the current year by default."""
    if not text:
        return periods.year(today.year)
    found = periods.parse(text)
    if found is None:
        raise ValidationFailed(errors=[FieldError("period", "统计期间应写作年份（2026）、"
                                                  "季度（2026Q3）或月份（2026-10）")])  # fmt: skip
    return found


def today() -> dt.date:
    return beijing_date(utcnow())


def as_of(period: Period, day: dt.date) -> dt.date:
    """The day the states are read on: the period's last day once it has closed, else today."""
    return min(period.end, day)


def name_of(db: Session, region_code: str) -> str:
    return regions.display_name(db=db, code=region_code) if region_code else "全国"


def breadcrumbs(db: Session, region_code: str, top: str) -> list[tuple[str, str]]:
    """(code, name) from the reader's own region ``top`` down to ``region_code``."""
    chain: list[tuple[str, str]] = []
    code: str | None = region_code
    while code:
        region = db.get(Region, code)
        if region is None:
            break
        chain.append((code, region.name))
        if code == top:
            break
        code = region.parent_code
    if not top:
        chain.append(("", "全国"))
    return chain[::-1]


# --- the reports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    report: SupervisionReport
    created: bool


def report_regions(db: Session) -> list[str]:
    """The regions whose authority gets reports: those of active authority and station
    accounts."""
    rows = db.scalars(
        select(User.region_code).where(User.role.in_(AUTHORITY_ROLES), User.is_active.is_(True),
                                       User.region_code.isnot(None)).distinct()
    )  # fmt: skip
    return sorted({r for r in rows if r})


def existing(db: Session, region_code: str, period: Period) -> SupervisionReport | None:
    return db.scalar(
        select(SupervisionReport).where(
            SupervisionReport.region_code == region_code, SupervisionReport.period == period.key
        )
    )


def make_report(
    db: Session, settings: Settings, *, region_code: str, period: Period,
    user_id: int | None = None, now: dt.datetime | None = None,
) -> Made:  # fmt: skip
    """The region's report of ``period`` (a closed month or quarter): the one kept, or made now:
    its figures collected, the PDF drawn and stored, its SHA-256 notarised, the region's
    authority and the one above told. Idempotent: one report per region and period."""
    found = existing(db, region_code, period)
    if found is not None:
        return Made(found, False)
    now = now or utcnow()
    day = beijing_date(now)
    if period.kind not in REPORT_KINDS or period.end >= day:
        raise ValidationFailed(errors=[FieldError("period", "只能为已结束的月份或季度生成报告")])
    data = fig.collect(db, region_code, period, period.end)
    top = fig.top_institutions(db, region_code, period)
    trend = fig.trend(db, region_code, period)
    extra = report_sections(db, region_code, period)
    pdf = report_pdf(
        figures=data, region_name=name_of(db, region_code), period_label=period.label,
        kind_label=period.kind.label, trend=trend, top=top, extra=extra,
        platform_name=settings.platform_name,
        generated=now.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
    )  # fmt: skip
    digest = blob_store(settings).put(pdf)
    data = {**data, "top_institutions": top, "trend": trend}
    row = SupervisionReport(
        region_code=region_code, period=period.key, kind=period.kind.value,
        start_date=period.start, end_date=period.end, pdf_sha256=digest, size=len(pdf),
        figures=data, generated_at=now, generated_by=user_id,
    )  # fmt: skip
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:  # made meanwhile by another run
        kept = existing(db, region_code, period)
        if kept is None:
            raise
        return Made(kept, False)
    row.ledger_index = ledger.notarise(db, REPORT_TYPE, entry(row)).index
    row.notified = len(_tell(db, row, period, now))
    db.flush()
    return Made(row, True)


def entry(row: SupervisionReport) -> dict[str, Any]:
    """What the ledger keeps of a report: its region, period and the PDF's SHA-256."""
    return {"region_code": row.region_code, "period": row.period, "kind": row.kind,
            "pdf_sha256": row.pdf_sha256, "size": row.size}  # fmt: skip


def _tell(db: Session, row: SupervisionReport, period: Period, now: dt.datetime) -> list[Any]:
    region = db.get(Region, row.region_code)
    parent = region.parent_code if region is not None else None
    users = authorities(db, [row.region_code, parent])
    name = name_of(db, row.region_code)
    return notify(
        db, users, kind="supervision_report", severity="info", now=now,
        title=f"{name}{period.label}检测监管情况报告已生成",
        body=f"报告已存档并记入存证日志第 {row.ledger_index} 条。",
        link=f"/overview/reports/{row.id}/pdf",
    )  # fmt: skip


def catch_up(db: Session, settings: Settings, now: dt.datetime | None = None) -> list[Made]:
    """Every missing report of the closed periods the job covers (``CATCH_UP``), for every
    region of an authority; what exists is left as it is."""
    now = now or utcnow()
    day = beijing_date(now)
    out = []
    for region_code in report_regions(db):
        for kind in REPORT_KINDS:
            for period in periods.closed(kind, day, CATCH_UP[kind]):
                if existing(db, region_code, period) is None:
                    out.append(make_report(db, settings, region_code=region_code,
                                           period=period, now=now))  # fmt: skip
    return out


def pdf_of(settings: Settings, row: SupervisionReport) -> bytes:
    data = blob_store(settings).get(row.pdf_sha256)
    if hashlib.sha256(data).hexdigest() != row.pdf_sha256:  # pragma: no cover - the store checks
        raise NotFound()
    return data
