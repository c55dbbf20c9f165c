"""Counts of on-site test records (现场检测, 000 4.3.4 items 4-5): by institution, project,
test item or month (Beijing, by the work's start), with how many had a plan uploaded for them
and how many none, how many ``onsite_late_upload`` found uploaded late (open or closed: a late
upload stays late), how many were done outside the project's site (``distance_m`` over 0) or
sent no position, and how many an open alert flags now. Counted from the records on each
request (there are far fewer of them than of machine tests), in one SQL query within the
reader's data scope; the filters narrow by region, institution, project, item and days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal, in_prefix, restrict, scope_clause
from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import by_code
from jcjg.core.db import beijing_month
from jcjg.core.errors import BadRequest
from jcjg.core.forms import MAX_ID
from jcjg.core.regioncodes import is_valid_code, scope_prefix
from jcjg.core.workdays import beijing_midnight
from jcjg.regions import service as regions
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution
from jcjg.testing.models import OnSiteRecord
from jcjg.testing.stats import GROUPS, alerted_ids, day_problem, group_query, labels_of

LATE_RULE = "onsite_late_upload"
# what each column counts, as the on-site record list's filter that lists those records
COLUMNS = {
    "with_plan": ("有方案", "plan", "with"),
    "without_plan": ("无方案", "plan", "without"),
    "late": ("上传超时", "late", "true"),
    "outside": ("场外检测", "outside", "true"),
    "unlocated": ("无定位", "unlocated", "true"),
    "flagged": ("有预警", "flagged", "true"),
}


@dataclass(frozen=True)
class OnSiteFilters:
    """What the statistics and the on-site record list both filter by (all optional)."""

    region: str = ""  # a region's code: its whole subtree
    institution: int | None = None
    project: int | None = None
    item: str = ""
    since: dt.date | None = None  # Beijing days of the work's start, both ends included
    until: dt.date | None = None

    def apply(self, stmt: Any) -> Any:
        """``stmt`` (on on-site records) narrowed to the filters."""
        if self.region:
            stmt = stmt.where(in_prefix(OnSiteRecord.region_code, scope_prefix(self.region)))
        if self.institution is not None:
            stmt = stmt.where(OnSiteRecord.institution_id == self.institution)
        if self.project is not None:
            stmt = stmt.where(OnSiteRecord.project_id == self.project)
        if self.item:
            stmt = stmt.where(OnSiteRecord.item_code == self.item)
        if self.since is not None:
            stmt = stmt.where(OnSiteRecord.started_at >= beijing_midnight(self.since))
        if self.until is not None:
            end = beijing_midnight(self.until + dt.timedelta(days=1))
            stmt = stmt.where(OnSiteRecord.started_at < end)
        return stmt

    def query(self) -> dict[str, str]:
        """The filters as list-page query parameters."""
        out = {
            "region": self.region,
            "institution": "" if self.institution is None else str(self.institution),
            "project": "" if self.project is None else str(self.project),
            "item": self.item,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in out.items() if v}


def parse_filters(principal: Principal, raw: dict[str, str]) -> OnSiteFilters:
    """The filters from a page's query, or BadRequest saying in Chinese what is wrong with
    each bad one (a region must lie within the reader's scope)."""
    problems: list[str] = []

    def an_id(name: str, label: str) -> int | None:
        value = raw.get(name, "").strip()
        if not value:
            return None
        if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
            return int(value)
        problems.append(f"{label}“{value[:20]}”不存在")
        return None

    def a_day(name: str, label: str) -> dt.date | None:
        value = raw.get(name, "").strip()
        if not value:
            return None
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            problems.append(f"{label}“{value[:20]}”不是日期（应如 2026-11-01）")
            return None
        problem = day_problem(day, label)
        if problem:
            problems.append(problem)
            return None
        return day

    region = raw.get("region", "").strip()
    if region and not is_valid_code(region):
        problems.append(f"行政区划代码“{region[:20]}”应为 6 位数字，如 360400")
        region = ""
    elif region and not principal.covers_region(region):
        problems.append(f"行政区划 {region} 不在当前账号的数据范围内")
        region = ""
    item = raw.get("item", "").strip()
    if item and not (len(item) <= 12 and item.isascii() and item.isalnum()):
        problems.append(f"检测项目代码“{item[:20]}”不正确")
    filters = OnSiteFilters(
        region=region,
        institution=an_id("institution", "检测机构"),
        project=an_id("project", "工程项目"),
        item=item,
        since=a_day("since", "开始日期"),
        until=a_day("until", "截止日期"),
    )
    if filters.since and filters.until and filters.since > filters.until:
        problems.append("开始日期晚于截止日期")
    if problems:
        raise BadRequest("筛选条件不正确：" + "；".join(problems))
    return filters


def parse_group(by: str) -> str:
    """The grouping asked for, or BadRequest naming the choices."""
    if by not in GROUPS:
        offered = "、".join(f"按{label}" for label in GROUPS.values())
        raise BadRequest(f"统计分组“{by[:20]}”不正确：可选 {offered}")
    return by


@dataclass(frozen=True)
class OnSiteRow:
    key: str  # the group's value: institution or project id, item code, "2026-11"
    label: str
    records: int
    with_plan: int
    late: int  # found by onsite_late_upload (open or closed)
    outside: int  # done outside the project's site (distance over 0)
    unlocated: int  # sent no position (or the project has no site to measure from)
    flagged: int  # with an open alert of any rule

    @property
    def without_plan(self) -> int:
        return self.records - self.with_plan

    def rate(self, part: int) -> float | None:
        """``part`` of the row's records, as a fraction (None: no records to divide by)."""
        return part / self.records if self.records else None

    def link(self, by: str, filters: OnSiteFilters) -> dict[str, str]:
        """The on-site record list's filters for this row's records."""
        return group_query(filters.query(), by, self.key, filters.since, filters.until)


def total(rows: list[OnSiteRow]) -> OnSiteRow:
    return OnSiteRow(
        key="",
        label="合计",
        records=sum(r.records for r in rows),
        with_plan=sum(r.with_plan for r in rows),
        late=sum(r.late for r in rows),
        outside=sum(r.outside for r in rows),
        unlocated=sum(r.unlocated for r in rows),
        flagged=sum(r.flagged for r in rows),
    )


def onsite_stats(
    db: Session, principal: Principal, by: str, filters: OnSiteFilters
) -> list[OnSiteRow]:
    """One row per group of the on-site records within ``principal``'s scope, the largest
    groups first (by month: the latest first)."""
    principal.require("test_record:read")
    key = {
        "institution": OnSiteRecord.institution_id,
        "project": OnSiteRecord.project_id,
        "item": OnSiteRecord.item_code,
        "month": beijing_month(OnSiteRecord.started_at),
    }[parse_group(by)]
    late = alerted_ids("onsite_record", rule_id=LATE_RULE).subquery()
    flagged = alerted_ids("onsite_record", open_only=True).subquery()
    record_id = cast(OnSiteRecord.id, String)
    stmt = (
        select(
            key,
            func.count(OnSiteRecord.id),
            func.sum(case((OnSiteRecord.plan_id.is_not(None), 1), else_=0)),
            func.count(late.c.subject_id),
            func.sum(case((OnSiteRecord.distance_m > 0, 1), else_=0)),
            func.sum(case((OnSiteRecord.distance_m.is_(None), 1), else_=0)),
            func.count(flagged.c.subject_id),
        )
        .select_from(OnSiteRecord)
        .outerjoin(late, late.c.subject_id == record_id)
        .outerjoin(flagged, flagged.c.subject_id == record_id)
        .where(scope_clause(OnSiteRecord, principal))
        .group_by(key)
    )
    found = db.execute(filters.apply(stmt)).all()
    labels = labels_of(db, by, [c[0] for c in found])
    rows = [
        OnSiteRow(
            key="" if value is None else str(value),
            label=labels.get(value, "（未关联工程项目）" if value is None else str(value)),
            records=int(n),
            with_plan=int(planned or 0),
            late=int(late_n or 0),
            outside=int(outside or 0),
            unlocated=int(unlocated or 0),
            flagged=int(flagged_n or 0),
        )
        for value, n, planned, late_n, outside, unlocated, flagged_n in found
    ]
    if by == "month":
        rows.sort(key=lambda r: r.key, reverse=True)
    else:
        rows.sort(key=lambda r: (-r.records, r.label))
    return rows


def chart(rows: list[OnSiteRow], by: str) -> dict[str, Any]:
    """What the page's chart draws (static/js/onsite_stats.js): per row its records with and
    without a plan (stacked), and those uploaded late and done outside the site."""
    ordered = sorted(rows, key=lambda r: r.key) if by == "month" else rows
    return {
        "by": by,
        "labels": [r.label for r in ordered],
        "with_plan": [r.with_plan for r in ordered],
        "without_plan": [r.without_plan for r in ordered],
        "late": [r.late for r in ordered],
        "outside": [r.outside for r in ordered],
        "flagged": [r.flagged for r in ordered],
    }


def table(rows: list[OnSiteRow], by: str) -> list[list[str]]:
    """The figures as a sheet (the export): a header, one line per row, the totals."""
    names = [label for label, _, _ in COLUMNS.values()]
    header = [GROUPS[by], "记录", *names, "无方案率", "上传超时率", "场外检测率"]
    out = [header]
    for r in [*rows, total(rows)]:
        counts = [getattr(r, name) for name in COLUMNS]
        rates = [r.rate(r.without_plan), r.rate(r.late), r.rate(r.outside)]
        out.append([r.label, str(r.records), *(str(n) for n in counts),
                    *("" if x is None else f"{100 * x:.1f}%" for x in rates)])  # fmt: skip
    return out


@dataclass(frozen=True)
class Choices:
    """What the filters' menus offer: (value, label) pairs within the reader's scope."""

    regions: list[tuple[str, str]]
    institutions: list[tuple[str, str]]
    items: list[tuple[str, str]]


def choices(db: Session, principal: Principal) -> Choices:
    """The regions (those of the records within scope and the cities and provinces above them
    that the scope covers), institutions and test items of the on-site records the reader may
    read."""
    visible = restrict(select(OnSiteRecord), principal, "read").subquery()
    codes = {c for c in db.scalars(select(visible.c.region_code).distinct()) if is_valid_code(c)}
    above = {a for c in codes for a in (c[:4] + "00", c[:2] + "0000")} - codes
    # none for a lab's or a project's reader (whose scope is no region)
    shown = {c for c in codes if principal.covers_region(c)}
    shown |= {a for a in above if principal.covers_region(a) and db.get(Region, a) is not None}
    institution_ids = list(db.scalars(select(visible.c.institution_id).distinct()))
    names = db.execute(
        select(Institution.id, Institution.name)
        .where(Institution.id.in_(institution_ids))
        .order_by(Institution.name)
    )
    item_codes = sorted(db.scalars(select(visible.c.item_code).distinct()))
    items = by_code(db=db, model=TestItem, codes=item_codes)
    return Choices(
        regions=[(c, regions.display_name(db=db, code=c)) for c in sorted(shown)],
        institutions=[(str(i), name) for i, name in names],
        items=[(c, f"{c} {items[c].name}" if c in items else c) for c in item_codes],
    )
