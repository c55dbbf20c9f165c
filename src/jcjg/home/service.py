"""The numbers of the home pages, per kind of account, each counted within the reader's scope
(``restrict``) from the database and paired with the link to the list behind it.

- an authority (region or global scope, ``alert:read``): open alerts by rule, alerts raised per
  Beijing day, nonconformities not closed and overdue, the institutions with most findings, the
  data uploaded today per institution, and the same counts per child region;
- an institution: its open cases with their deadlines and its nonconformities not closed;
- a party unit: the nonconformities of its projects.

Plain dataclasses only: the page renders them and embeds :func:`charts` as JSON for ECharts.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts import service as alerts
from jcjg.alerts.choices import OPEN_CASES, CaseStatus, Severity
from jcjg.alerts.models import Alert, Case
from jcjg.auth.choices import ScopeKind
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.db import beijing_day
from jcjg.core.pagination import count_rows
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.workdays import beijing_date, beijing_midnight
from jcjg.exchange.models import Message
from jcjg.nonconformity import service as nonconformities
from jcjg.nonconformity.choices import NcStatus
from jcjg.nonconformity.models import Nonconformity
from jcjg.projects.models import Project
from jcjg.regions.models import Region
from jcjg.registry.service import institution_names
from jcjg.tenancy.models import Institution

TREND_DAYS = 30  # alerts raised per day: today and the 29 days before
FINDINGS_DAYS = 90  # nonconformities counted for the institutions with most findings
RECENT_DAYS = 30  # nonconformities found lately
TOP_INSTITUTIONS = 10
LISTED = 50  # rows of a home page's own tables (cases, nonconformities); the rest via the link


def _link(path: str, **query: Any) -> str:
    shown = {k: v for k, v in query.items() if v is not None and v != ""}
    return f"{path}?{urlencode(shown)}" if shown else path


# --- what the pages show -----------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """One number of a home page: what it counts, its value, the list behind it (``""`` when
    no list filters to exactly it) and whether it is bad news (shown red when not zero)."""

    key: str  # stable name, the page's ``data-stat`` (tests read the numbers by it)
    title: str
    value: int
    link: str = ""
    late: bool = False


@dataclass(frozen=True)
class Trend:
    """Alerts raised per Beijing day, per severity (most severe first): (value, label, counts)."""

    days: list[dt.date]
    series: list[tuple[str, str, list[int]]]

    @cached_property  # read once a row by the page (30 days: 30 walks of every series)
    def totals(self) -> list[int]:
        return [sum(s[i] for _, _, s in self.series) for i in range(len(self.days))]

    @property
    def total(self) -> int:
        return sum(self.totals)


@dataclass(frozen=True)
class InstitutionFindings:
    institution_id: int
    name: str
    alerts: Number  # open alerts now
    nonconformities: Number  # found in the last FINDINGS_DAYS days

    @property
    def total(self) -> int:
        return self.alerts.value + self.nonconformities.value


@dataclass(frozen=True)
class Uploads:
    institution_id: int
    name: str
    messages: Number
    link: str  # the institution's page


@dataclass(frozen=True)
class RegionRow:
    code: str  # "" for what lies in the reader's region but in none of its children
    name: str
    alerts: Number
    nonconformities: Number
    institutions: Number | None  # None without institution:read


@dataclass
class AuthorityHome:
    today: dt.date
    region_label: str  # whose children the breakdown lists ("九江市", "全国")
    rules: list[Number] = field(default_factory=list)
    trend: Trend | None = None
    nonconformities: list[Number] = field(default_factory=list)
    top: list[InstitutionFindings] = field(default_factory=list)
    uploads: list[Uploads] | None = None
    uploads_total: int = 0
    regions: list[RegionRow] = field(default_factory=list)


@dataclass(frozen=True)
class CaseRow:
    case_id: int
    alert_id: int
    rule_title: str
    subject: str
    status: CaseStatus
    deadline: dt.date | None
    overdue: bool
    escalated: bool


@dataclass(frozen=True)
class NcRow:
    id: int
    material: str
    grade: str
    item_code: str
    project: str  # "" without a project
    institution: str
    structure_part: str
    status: NcStatus
    found_at: dt.datetime
    deadline: dt.date
    overdue: bool


@dataclass
class InstitutionHome:
    today: dt.date
    cases: list[CaseRow]
    cases_total: int
    nonconformities: list[NcRow]


@dataclass(frozen=True)
class ProjectRow:
    project_id: int
    name: str
    unclosed: Number
    overdue: Number


@dataclass
class PartyHome:
    today: dt.date
    projects: list[ProjectRow]
    nonconformities: list[NcRow]


# --- an authority ------------------------------------------------------------------------------


def is_authority(principal: Principal) -> bool:
    return principal.can("alert:read") and principal.scope_kind in (
        ScopeKind.GLOBAL,
        ScopeKind.REGION,
    )


def authority_home(*, db: Session, principal: Principal, now: dt.datetime) -> AuthorityHome:
    today = beijing_date(now)
    home = AuthorityHome(today=today, region_label=_region_label(db, principal))
    home.rules = rule_counts(db=db, principal=principal)
    home.trend = trend(db=db, principal=principal, today=today)
    if principal.can("test_record:read"):
        home.nonconformities = nonconformity_numbers(db=db, principal=principal, today=today)
    home.top = top_institutions(db=db, principal=principal, today=today)
    if principal.can("institution:read"):
        home.uploads = uploads_today(db=db, principal=principal, today=today)
        home.uploads_total = sum(u.messages.value for u in home.uploads)
    home.regions = region_rows(db=db, principal=principal, today=today)
    return home


def rule_counts(*, db: Session, principal: Principal) -> list[Number]:
    """Open alerts per rule, the most first (rules with none left out)."""
    counts = alerts.counts_by_rule(db=db, principal=principal, status="open")
    rows = sorted(((n, rule_id) for rule_id, n in counts.items() if n), key=lambda r: (-r[0], r[1]))
    return [
        Number(f"rule:{rule_id}", alerts.rule_title(rule_id), n, _link("/alerts", rule_id=rule_id))
        for n, rule_id in rows
    ]


def trend(*, db: Session, principal: Principal, today: dt.date) -> Trend:
    """Alerts first raised on each of the last ``TREND_DAYS`` Beijing days (open or closed
    since), per severity."""
    first = today - dt.timedelta(days=TREND_DAYS - 1)
    day = beijing_day(Alert.first_seen_at)
    stmt = (
        restrict(select(Alert), principal, "read")
        .where(
            Alert.first_seen_at >= beijing_midnight(first),
            Alert.first_seen_at < beijing_midnight(today + dt.timedelta(days=1)),
        )
        .with_only_columns(day, Alert.severity, func.count(), maintain_column_froms=True)
        .group_by(day, Alert.severity)
        .order_by(day, Alert.severity)
    )
    counts = {(str(d), s): int(n) for d, s, n in db.execute(stmt)}
    days = [first + dt.timedelta(days=i) for i in range(TREND_DAYS)]
    known = [(s.value, s.label) for s in sorted(Severity, key=lambda s: s.rank)]
    # a severity the code no longer knows is still counted, under its stored value
    strays = sorted({s for _, s in counts} - {v for v, _ in known})
    series = [
        (value, label, [counts.get((d.isoformat(), value), 0) for d in days])
        for value, label in known + [(s, s) for s in strays]
    ]
    return Trend(days, series)


def nonconformity_numbers(*, db: Session, principal: Principal, today: dt.date) -> list[Number]:
    """The register beside what "待办与督办" shows (not closed, overdue): nothing recorded yet,
    handled but not closed, and found in the last ``RECENT_DAYS`` Beijing days; each with the
    filtered register behind it."""
    since = today - dt.timedelta(days=RECENT_DAYS - 1)
    found = nonconformities.counts(db, principal, today=today, since=since)
    out = []
    for key, title, status, found_since in (
        ("open", "待处理", NcStatus.OPEN.value, None),
        ("handling", "处理中（待闭环）", NcStatus.HANDLING.value, None),
        ("recent", f"近 {RECENT_DAYS} 天登记", None, since),
    ):
        since_text = found_since.isoformat() if found_since else None
        link = _link("/nonconformities", status=status, since=since_text)
        out.append(Number(f"nc:{key}", title, found[key], link))
    return out


def top_institutions(
    *, db: Session, principal: Principal, today: dt.date
) -> list[InstitutionFindings]:
    """The institutions with the most findings: open alerts now plus nonconformities found in
    the last ``FINDINGS_DAYS`` Beijing days, the most first (ties by name)."""
    open_alerts = _by_institution(
        db, restrict(select(Alert), principal, "read").where(Alert.status == "open"), Alert
    )
    since = today - dt.timedelta(days=FINDINGS_DAYS - 1)
    found: Counter[int] = Counter()
    if principal.can("test_record:read"):
        found = _by_institution(
            db, nonconformities.search_stmt(principal, since=since), Nonconformity
        )
    ids = set(open_alerts) | set(found)
    names = institution_names(db, ids)
    rows = [
        InstitutionFindings(
            i,
            names.get(i, f"#{i}"),
            Number(
                f"top:{i}:alerts", "未处理预警", open_alerts[i], _link("/alerts", institution_id=i)
            ),
            Number(
                f"top:{i}:nc",
                f"近 {FINDINGS_DAYS} 天不合格",
                found[i],
                _link("/nonconformities", institution_id=i, since=since.isoformat())
                if principal.can("test_record:read")
                else "",
            ),
        )
        for i in ids
    ]
    rows.sort(key=lambda r: (-r.total, r.name, r.institution_id))
    return rows[:TOP_INSTITUTIONS]


def _by_institution(db: Session, stmt: Any, model: Any) -> Counter[int]:
    grouped = (
        stmt.order_by(None)
        .where(model.institution_id.is_not(None))
        .with_only_columns(model.institution_id, func.count(), maintain_column_froms=True)
        .group_by(model.institution_id)
        .order_by(model.institution_id)
    )
    return Counter({int(i): int(n) for i, n in db.execute(grouped)})


def uploads_today(*, db: Session, principal: Principal, today: dt.date) -> list[Uploads]:
    """Messages received through the exchange on Beijing day ``today``, per institution within
    the reader's scope, the most first."""
    scoped = restrict(select(Institution.id), principal, "read")
    stmt = (
        select(Message.institution_id, func.count())
        .where(
            Message.institution_id.in_(scoped),
            Message.received_at >= beijing_midnight(today),
            Message.received_at < beijing_midnight(today + dt.timedelta(days=1)),
        )
        .group_by(Message.institution_id)
        .order_by(Message.institution_id)
    )
    counts = {int(i): int(n) for i, n in db.execute(stmt) if i is not None}
    names = institution_names(db, counts)
    # no list of one institution's messages of a day to link the number to: the name links
    # to the institution (the exchange monitor counts per client over 24 hours, not this)
    rows = [
        Uploads(
            i,
            names.get(i, f"#{i}"),
            Number(f"uploads:{i}", "今日上传", n, ""),
            f"/registry/institutions/{i}",
        )
        for i, n in counts.items()
    ]
    rows.sort(key=lambda r: (-r.messages.value, r.name, r.institution_id))
    return rows


def _region_label(db: Session, principal: Principal) -> str:
    if principal.scope_kind is ScopeKind.REGION and principal.region_code:
        region = db.get(Region, principal.region_code)
        return region.name if region else principal.region_code
    return "全国"


def child_regions(db: Session, principal: Principal) -> list[Region]:
    """The regions the breakdown lists: the provinces for a global reader, the children of the
    reader's region, or the region itself when it has none (a county)."""
    if principal.scope_kind is ScopeKind.GLOBAL:
        stmt = select(Region).where(Region.parent_code.is_(None)).order_by(Region.code)
        return list(db.scalars(stmt))
    if principal.scope_kind is not ScopeKind.REGION or not principal.region_code:
        return []
    kids = select(Region).where(Region.parent_code == principal.region_code)
    found = list(db.scalars(kids.order_by(Region.code)))
    if found:
        return found
    own = db.get(Region, principal.region_code)
    return [own] if own else []


def region_rows(*, db: Session, principal: Principal, today: dt.date) -> list[RegionRow]:
    """Open alerts, nonconformities not closed and institutions per child region; what lies in
    none of them (the region's own code, an unknown code) in a last row without links."""
    regions = child_regions(db, principal)
    if not regions:
        return []
    alert_counts = _by_region(
        db, restrict(select(Alert), principal, "read").where(Alert.status == "open"), Alert
    )
    nc_counts: dict[str | None, int] = {}
    if principal.can("test_record:read"):
        stmt = nonconformities.search_stmt(principal, nonconformities.UNCLOSED, today=today)
        nc_counts = _by_region(db, stmt, Nonconformity)
    inst_counts: dict[str | None, int] | None = None
    if principal.can("institution:read"):
        inst_counts = _by_region(db, restrict(select(Institution), principal, "read"), Institution)
    prefixes = [(r, scope_prefix(r.code)) for r in regions]

    def split(counts: dict[str | None, int]) -> tuple[Counter[str], int]:
        per: Counter[str] = Counter()
        rest = 0
        for code, n in counts.items():
            owner = next((r.code for r, p in prefixes if code and code.startswith(p)), None)
            if owner is None:
                rest += n
            else:
                per[owner] += n
        return per, rest

    a, a_rest = split(alert_counts)
    n, n_rest = split(nc_counts)
    i, i_rest = split(inst_counts or {})
    nc_ok = principal.can("test_record:read")
    rows = [
        RegionRow(
            r.code,
            r.name,
            Number(
                f"region:{r.code}:alerts",
                "未处理预警",
                a[r.code],
                _link("/alerts", region_code=r.code),
            ),
            Number(
                f"region:{r.code}:nc",
                "未闭环不合格",
                n[r.code],
                _link("/nonconformities", region_code=r.code, status=nonconformities.UNCLOSED)
                if nc_ok
                else "",
            ),
            Number(
                f"region:{r.code}:institutions",
                "检测机构",
                i[r.code],
                _link("/registry/institutions", region_code=r.code),
            )
            if inst_counts is not None
            else None,
        )
        for r in regions
        # a region a later edition abolished is listed while records still name it
        if r.valid_to_id is None or a[r.code] or n[r.code] or i[r.code]
    ]
    if a_rest or n_rest or i_rest:
        rows.append(
            RegionRow(
                "",
                "未归入省份"
                if principal.scope_kind is ScopeKind.GLOBAL
                else f"{_region_label(db, principal)}本级及其他",
                Number("region:rest:alerts", "未处理预警", a_rest),
                Number("region:rest:nc", "未闭环不合格", n_rest),
                Number("region:rest:institutions", "检测机构", i_rest)
                if inst_counts is not None
                else None,
            )
        )
    return rows


def _by_region(db: Session, stmt: Any, model: Any) -> dict[str | None, int]:
    grouped = (
        stmt.order_by(None)
        .with_only_columns(model.region_code, func.count(), maintain_column_froms=True)
        .group_by(model.region_code)
        .order_by(model.region_code)
    )
    return {code: int(n) for code, n in db.execute(grouped)}


# --- an institution ----------------------------------------------------------------------------


def institution_home(*, db: Session, principal: Principal, now: dt.datetime) -> InstitutionHome:
    """The institution's cases still to be handled, the soonest deadline first (those without
    one last), and its nonconformities not closed."""
    today = beijing_date(now)
    cases: list[CaseRow] = []
    total = 0
    if principal.can("alert:read"):
        scoped = restrict(select(Case), principal, "read").where(Case.status.in_(OPEN_CASES))
        total = count_rows(db, scoped)
        stmt = (
            scoped.join(Alert, Alert.id == Case.alert_id)
            .add_columns(Alert)
            .order_by(Case.deadline.is_(None), Case.deadline, Case.id)
            .limit(LISTED)
        )
        for case, alert in db.execute(stmt):
            late = (
                case.status == CaseStatus.RECTIFYING.value
                and case.deadline is not None
                and case.deadline < today
            )
            cases.append(
                CaseRow(
                    case.id,
                    alert.id,
                    alerts.rule_title(alert.rule_id),
                    alert.subject_repr,
                    CaseStatus(case.status),
                    case.deadline,
                    late,
                    case.escalated_to is not None,
                )
            )
    rows = _nc_rows(db, principal, today) if principal.can("test_record:read") else []
    return InstitutionHome(today, cases, total, rows)


def _nc_rows(db: Session, principal: Principal, today: dt.date) -> list[NcRow]:
    """Nonconformities not closed, the soonest deadline first."""
    stmt = (
        nonconformities.search_stmt(principal, nonconformities.UNCLOSED)
        .order_by(None)
        .order_by(Nonconformity.deadline, Nonconformity.id)
        .limit(LISTED)
    )
    items: Sequence[Nonconformity] = db.scalars(stmt).all()
    projects = {
        int(i): name
        for i, name in db.execute(
            select(Project.id, Project.name).where(
                Project.id.in_(sorted({x.project_id for x in items if x.project_id}))
            )
        )
    }
    names = institution_names(db, {x.institution_id for x in items})
    return [
        NcRow(
            x.id,
            x.material,
            x.grade,
            x.item_code,
            projects.get(x.project_id or 0, ""),
            names.get(x.institution_id, ""),
            x.structure_part,
            NcStatus(x.status),
            x.found_at,
            x.deadline,
            x.deadline < today,
        )
        for x in items
    ]


# --- a party unit ------------------------------------------------------------------------------


def party_home(*, db: Session, principal: Principal, now: dt.datetime) -> PartyHome:
    """The nonconformities of the party's projects: per project, and those not closed."""
    today = beijing_date(now)
    projects: Sequence[Any] = []
    if principal.can("project:read"):
        scoped = restrict(select(Project.id, Project.name), principal, "read")
        projects = db.execute(scoped.order_by(Project.name, Project.id)).all()
    unclosed = _by_project(db, nonconformities.search_stmt(principal, nonconformities.UNCLOSED))
    overdue = _by_project(
        db, nonconformities.search_stmt(principal, nonconformities.OVERDUE, today=today)
    )
    rows = [
        ProjectRow(
            int(i),
            name,
            Number(
                f"project:{i}:unclosed",
                "未闭环",
                unclosed[i],
                _link("/nonconformities", project_id=i, status=nonconformities.UNCLOSED),
            ),
            Number(
                f"project:{i}:overdue",
                "逾期未闭环",
                overdue[i],
                _link("/nonconformities", project_id=i, status=nonconformities.OVERDUE),
                late=True,
            ),
        )
        for i, name in projects
    ]
    return PartyHome(today, rows, _nc_rows(db, principal, today))


def _by_project(db: Session, stmt: Any) -> Counter[int]:
    grouped = (
        stmt.order_by(None)
        .where(Nonconformity.project_id.is_not(None))
        .with_only_columns(Nonconformity.project_id, func.count(), maintain_column_froms=True)
        .group_by(Nonconformity.project_id)
        .order_by(Nonconformity.project_id)
    )
    return Counter({int(i): int(n) for i, n in db.execute(grouped)})


# --- the charts' data --------------------------------------------------------------------------


def charts(home: AuthorityHome) -> dict[str, Any]:
    """What the ECharts of an authority's home draw, embedded in the page as JSON: the same
    numbers as the page's tables. A chart with nothing to draw is left out."""
    drawn = {
        "rules": _rules_chart(home.rules),
        "trend": _trend_chart(home.trend),
        "top": _top_chart(home.top),
        "uploads": _uploads_chart(home.uploads),
        "regions": _regions_chart(home.regions),
    }
    return {name: chart for name, chart in drawn.items() if chart is not None}


def _rules_chart(rules: list[Number]) -> dict[str, Any]:
    return {
        "labels": [n.title for n in rules],
        "values": [n.value for n in rules],
        "links": [n.link for n in rules],
    }


def _trend_chart(trend: Trend | None) -> dict[str, Any] | None:
    if trend is None:
        return None
    return {
        "days": [d.strftime("%m-%d") for d in trend.days],
        "dates": [d.isoformat() for d in trend.days],
        "series": [
            {"key": key, "name": label, "values": values} for key, label, values in trend.series
        ],
    }


def _top_chart(top: list[InstitutionFindings]) -> dict[str, Any] | None:
    if not top:
        return None
    return {
        "labels": [r.name for r in top],
        "alerts": [r.alerts.value for r in top],
        "nonconformities": [r.nonconformities.value for r in top],
        "links": [r.alerts.link for r in top],
    }


def _uploads_chart(uploads: list[Uploads] | None) -> dict[str, Any] | None:
    if uploads is None:
        return None
    return {
        "labels": [u.name for u in uploads],
        "values": [u.messages.value for u in uploads],
        "links": [u.link for u in uploads],
    }


def _regions_chart(rows: list[RegionRow]) -> dict[str, Any] | None:
    """The regions with something to show (the table lists them all)."""
    regions = [
        r
        for r in rows
        if r.alerts.value or r.nonconformities.value or (r.institutions and r.institutions.value)
    ]
    if not regions:
        return None
    return {
        "labels": [r.name for r in regions],
        "codes": [r.code for r in regions],
        "alerts": [r.alerts.value for r in regions],
        "nonconformities": [r.nonconformities.value for r in regions],
        "institutions": [r.institutions.value if r.institutions else 0 for r in regions],
        "links": [r.alerts.link for r in regions],
    }
