"""Reading alerts within scope, and reading and setting the thresholds of rules per region."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from jcjg.alerts import engine, evidence
from jcjg.alerts.choices import AlertStatus, CaseStatus, Severity
from jcjg.alerts.engine import Rule, Thresholds, rule_of, rules
from jcjg.alerts.models import Alert, Case, RuleBasis, RuleThreshold
from jcjg.auth.scopes import Principal, get_scoped, region_clause, restrict
from jcjg.catalogue.regulations import Regulation, by_code, cites, clause_parts
from jcjg.core import labels
from jcjg.core.errors import FieldError, NotFound, ValidationFailed
from jcjg.core.listing import ListView
from jcjg.core.pagination import Key, Order, Paged, PageParams, Total, count_rows
from jcjg.core.pagination import paginate as paginate_rows
from jcjg.core.regioncodes import in_subtree, is_valid_code, scope_prefix
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

log = logging.getLogger(__name__)

_SEVERITY_RANK = case(
    {s.value: s.rank for s in Severity}, value=Alert.severity, else_=len(Severity)
)

# how severe, the most severe highest (the list's sort by severity, descending first)
SEVERITY_LEVEL = len(Severity) - _SEVERITY_RANK


def _rank(severity: str) -> int:
    found = severity_of(severity)
    return found.rank if found else len(Severity)


# the list's order: most severe, then most recently seen first (as search_stmt orders)
ALERT_ORDER = Order(
    (
        Key(_SEVERITY_RANK, lambda a: _rank(a.severity), descending=False),
        Key(Alert.last_seen_at, lambda a: a.last_seen_at),
        Key(Alert.id, lambda a: a.id),
    ),
    (0, dt.datetime.now(dt.UTC), 0),
)

# --- alerts ------------------------------------------------------------------------------------

# the list's filter on age (since the alert was first seen): within or over so many days
AGES: dict[str, tuple[str, int, bool]] = {
    "new1": ("1 天内", 1, False),
    "new7": ("7 天内", 7, False),
    "new30": ("30 天内", 30, False),
    "old7": ("超过 7 天", 7, True),
    "old30": ("超过 30 天", 30, True),
    "old90": ("超过 90 天", 90, True),
}
AGE_PATTERN = "^(" + "|".join(AGES) + ")?$"
# the filter on handling: a case status, or the overdue and escalated cases
HANDLINGS = [(s.value, s.label) for s in CaseStatus] + [
    ("overdue", "整改逾期"),
    ("escalated", "已升级督办"),
]
HANDLING_PATTERN = "^(" + "|".join(v for v, _ in HANDLINGS) + ")?$"


def search_stmt(
    *,
    rule_id: str | None = None,
    status: str = "open",
    region_code: str | None = None,
    institution_id: int | None = None,
    handling: str | None = None,
    today: dt.date | None = None,
    severity: str | None = None,
    project_id: int | None = None,
    age: str | None = None,
    now: dt.datetime | None = None,
) -> Select[Any]:
    """Alerts matching the filters, most severe and most recent first (unscoped: callers
    ``restrict``). ``region_code`` takes its whole subtree; ``status`` may be ``all``;
    ``handling`` is a :class:`CaseStatus` value, ``overdue`` (rectification past its deadline on
    ``today``) or ``escalated``; ``age`` a key of :data:`AGES`, counted back from ``now``."""
    stmt = select(Alert).order_by(_SEVERITY_RANK, Alert.last_seen_at.desc(), Alert.id.desc())
    if rule_id:
        stmt = stmt.where(Alert.rule_id == rule_id)
    if severity:
        stmt = stmt.where(Alert.severity == severity)
    if project_id is not None:
        stmt = stmt.where(Alert.project_id == project_id)
    if age and now is not None:
        _, days, older = AGES[age]
        cutoff = now - dt.timedelta(days=days)
        stmt = stmt.where(Alert.first_seen_at < cutoff if older else Alert.first_seen_at >= cutoff)
    # "all" is every finding: a withdrawn alert never was one
    every = Alert.status != AlertStatus.WITHDRAWN.value
    stmt = stmt.where(Alert.status == status if status != "all" else every)
    if region_code:  # the alert's region, its institution's or its project's
        stmt = stmt.where(region_clause(Alert, region_code))
    if institution_id is not None:
        stmt = stmt.where(Alert.institution_id == institution_id)
    if handling:
        stmt = stmt.outerjoin(Case, Case.alert_id == Alert.id)
        if handling == CaseStatus.NEW.value:
            stmt = stmt.where(Case.id.is_(None))
        elif handling == "overdue":
            stmt = stmt.where(
                Case.status == CaseStatus.RECTIFYING.value, Case.deadline < (today or dt.date.min)
            )
        elif handling == "escalated":
            stmt = stmt.where(Case.escalated_to.is_not(None))
        else:
            stmt = stmt.where(Case.status == handling)
    return stmt


def search(
    *,
    db: Session,
    principal: Principal,
    offset: int = 0,
    limit: int = 20,
    rule_id: str | None = None,
    status: str = "open",
    region_code: str | None = None,
    institution_id: int | None = None,
    handling: str | None = None,
    today: dt.date | None = None,
    **more: Any,
) -> tuple[Sequence[Alert], int]:
    """Alerts within ``principal``'s scope matching the filters (those of :func:`search_stmt`),
    and their total."""
    stmt = restrict(
        search_stmt(
            rule_id=rule_id,
            status=status,
            region_code=region_code,
            institution_id=institution_id,
            handling=handling,
            today=today,
            **more,
        ),
        principal,
        "read",
    )
    total = count_rows(db, stmt)
    return db.scalars(stmt.offset(offset).limit(limit)).all(), total


def scoped(*, principal: Principal, **filters: Any) -> Select[Any]:
    """The alerts within scope matching the filters (those of :func:`search_stmt`)."""
    return restrict(search_stmt(**filters), principal, "read")


def page(
    *,
    db: Session,
    principal: Principal,
    paging: PageParams,
    order: Order = ALERT_ORDER,
    view: ListView | None = None,
    rule_id: str | None = None,
    **filters: Any,
) -> tuple[Paged[Alert], Total, dict[str, int]]:
    """One page of the alerts within scope matching the filters (those of :func:`search_stmt`;
    deep pages by keyset), their total and :func:`counts_by_rule` of the same filters but
    the rule. The list shows both: the total is added up from the counts (exact), not counted
    again, as each count reads every alert within scope that the filters find (issue 44).
    ``view``: the list whose page's columns (``ListView.shown``) the rows are read with."""
    counts = counts_by_rule(db=db, principal=principal, **filters)
    stmt = scoped(principal=principal, rule_id=rule_id, **filters)
    if view is not None:
        stmt = view.page_statement(stmt)
    total = counts.get(rule_id, 0) if rule_id else sum(counts.values())
    return paginate_rows(db, stmt, paging, order), Total(total), counts


def regions_with_alerts(*, db: Session, principal: Principal) -> list[tuple[str, str]]:
    """(code, full name) of the regions the list's region filter offers: those of the alerts
    within scope and of their institutions (an out-of-province project's alert is found by
    the lab's home region too), and the cities and provinces above them that the scope
    covers."""
    within = restrict(select(Alert), principal, "read")
    found = db.scalars(
        within.with_only_columns(Alert.region_code, maintain_column_froms=True)
        .where(Alert.region_code.is_not(None))
        .distinct()
    )
    # the alerts' institutions first, distinct (a hash of ~200 ids): as a plain IN the
    # planner probed the alerts once per institution, 0.2 s on a province-year (issue 44)
    labs = within.with_only_columns(Alert.institution_id, maintain_column_froms=True)
    homes = db.scalars(
        select(Institution.region_code)
        .where(Institution.id.in_(labs.where(Alert.institution_id.is_not(None)).distinct()))
        .distinct()
    )
    codes = {c for c in [*found, *homes] if c and is_valid_code(c)}
    above = {a for c in codes for a in (c[:4] + "00", c[:2] + "0000")} - codes
    covered = [a for a in above if principal.covers_region(a)]
    names = regions.display_names(db=db, codes=codes | set(covered))
    shown = codes | {a for a in covered if names[a] != a}  # an unknown code is named itself
    return [(c, names[c]) for c in sorted(shown)]


def handling_counts(*, db: Session, principal: Principal, today: dt.date) -> dict[str, int]:
    """How many open alerts within scope each handling filter of the list finds (``new``,
    each case status, ``overdue`` on ``today``, ``escalated``): one pass over them, where
    :func:`search` with ``handling`` would count each filter on its own."""
    rectifying = Case.status == CaseStatus.RECTIFYING.value
    buckets: dict[str, Any] = {CaseStatus.NEW.value: Case.id.is_(None)}
    buckets |= {s.value: Case.status == s.value for s in CaseStatus if s is not CaseStatus.NEW}
    buckets |= {"overdue": rectifying & (Case.deadline < today),
                "escalated": Case.escalated_to.is_not(None)}  # fmt: skip
    stmt = (
        restrict(select(Alert), principal, "read")
        .where(Alert.status == AlertStatus.OPEN.value)
        .outerjoin(Case, Case.alert_id == Alert.id)
        .with_only_columns(
            *(func.sum(case((cond, 1), else_=0)) for cond in buckets.values()),
            maintain_column_froms=True,
        )
    )
    found = db.execute(stmt).one()
    return {name: int(n or 0) for name, n in zip(buckets, found, strict=True)}


def counts_by_rule(
    *,
    db: Session,
    principal: Principal,
    status: str = "open",
    region_code: str | None = None,
    institution_id: int | None = None,
    handling: str | None = None,
    today: dt.date | None = None,
    **more: Any,
) -> dict[str, int]:
    """How many alerts of each rule match the filters within scope."""
    stmt = restrict(
        search_stmt(
            status=status,
            region_code=region_code,
            institution_id=institution_id,
            handling=handling,
            today=today,
            **more,
        ),
        principal,
        "read",
    )
    grouped = (
        stmt.order_by(None)
        .with_only_columns(Alert.rule_id, func.count(), maintain_column_froms=True)
        .group_by(Alert.rule_id)
    )
    return {rule_id: int(n) for rule_id, n in db.execute(grouped)}


def institutions_with_alerts(*, db: Session, principal: Principal) -> list[tuple[int, str]]:
    """(id, name) of the institutions that have alerts within scope, for the filter."""
    return _named_with_alerts(db, principal, Alert.institution_id, Institution)


def projects_with_alerts(*, db: Session, principal: Principal) -> list[tuple[int, str]]:
    """(id, name) of the projects that have alerts within scope, for the filter (the names as
    the projects domain gives them to the evidence chain)."""
    scoped = restrict(select(Alert.project_id), principal, "read")
    found = db.scalars(scoped.where(Alert.project_id.is_not(None)).distinct())
    names = evidence.names(db, "project", sorted(i for i in found if i is not None))
    return sorted(names.items(), key=lambda item: (item[1], item[0]))


def _named_with_alerts(
    db: Session, principal: Principal, column: Any, model: Any
) -> list[tuple[int, str]]:
    ids = restrict(select(Alert), principal, "read").with_only_columns(
        column, maintain_column_froms=True
    )
    stmt = (
        select(model.id, model.name)
        .where(model.id.in_(ids.where(column.is_not(None)).distinct()))
        .order_by(model.name, model.id)
    )
    return [(i, n) for i, n in db.execute(stmt)]


def get_alert(*, db: Session, principal: Principal, alert_id: int) -> Alert:
    return get_scoped(db, Alert, alert_id, principal, "read")


def rule_title(rule_id: str) -> str:
    """The title of a registered rule (a rule gone from the code: "已停用的规则" and its id made
    readable, never the bare id)."""
    found = rule_of(rule_id)
    return found.title if found else f"已停用的规则（{labels.readable(rule_id)}）"


# --- rules and thresholds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    region_code: str
    key: str
    value: float | int


@dataclass(frozen=True)
class RuleView:
    """A rule as seen from one region: its defaults, the thresholds in force there and the
    overrides that make them (province, city, county)."""

    rule: Rule
    region_code: str | None
    thresholds: Thresholds
    overrides: list[Override]
    # the regions' own bases (province, city, the region itself): (region code, clause)
    local: tuple[tuple[str, str], ...] = ()

    @property
    def clause(self) -> str:
        """What the rule cites in the region: its own clause, then the regions' bases."""
        return _with_bases(self.rule, self.local)

    def own_basis(self) -> str:
        """The basis the viewed region itself set ("" none)."""
        return next((c for code, c in self.local if code == self.region_code), "")


def get_rule(rule_id: str) -> Rule:
    found = rule_of(rule_id)
    if found is None:
        raise NotFound(f"没有预警规则 {rule_id}")
    return found


def viewing_region(*, db: Session, principal: Principal, region_code: str | None) -> str | None:
    """The region whose thresholds ``principal`` looks at: its own by default, or one inside
    its scope; anything else is not found."""
    if not region_code or region_code == principal.region_code:
        return principal.region_code
    region = regions.get(db=db, code=region_code)
    if not principal.covers_region(region.code):
        raise NotFound(f"行政区划 {region_code} 不在当前账号的数据范围内")
    return region.code


def rule_view(
    *,
    db: Session,
    rule_: Rule,
    region_code: str | None,
    bases: Mapping[str, tuple[tuple[str, str], ...]] | None = None,
) -> RuleView:
    """The rule as seen from ``region_code``; ``bases``: every rule's local bases there, when
    the caller read them at once (:func:`rule_views`)."""
    chain = engine.region_chain(region_code)
    overrides: dict[str, dict[str, float]] = {}
    if chain:
        rows = db.scalars(
            select(RuleThreshold).where(
                RuleThreshold.rule_id == rule_.id, RuleThreshold.region_code.in_(chain)
            )
        )
        for row in rows:
            overrides.setdefault(row.region_code, {})[row.key] = row.value
    listed = [
        Override(code, key, _typed(rule_, key, value))
        for code in chain
        for key, value in sorted(overrides.get(code, {}).items())
        if key in rule_.defaults
    ]
    thresholds = engine.resolve_thresholds(rule_, overrides, region_code)
    if bases is None:
        bases = local_bases(db, chain, rule_.id)
    return RuleView(rule_, region_code, thresholds, listed, bases.get(rule_.id, ()))


def local_bases(
    db: Session, chain: Sequence[str], rule_id: str | None = None
) -> dict[str, tuple[tuple[str, str], ...]]:
    """The bases the regions of ``chain`` set, by rule (``rule_id``'s only, when given), each
    as (region code, clause) in the chain's order: province, city, the region itself."""
    if not chain:
        return {}
    stmt = select(RuleBasis).where(RuleBasis.region_code.in_(chain))
    if rule_id is not None:
        stmt = stmt.where(RuleBasis.rule_id == rule_id)
    found: dict[str, dict[str, str]] = {}
    for row in db.scalars(stmt):
        found.setdefault(row.rule_id, {})[row.region_code] = row.clause
    return {
        rule: tuple((code, by_region[code]) for code in chain if code in by_region)
        for rule, by_region in found.items()
    }


def citing_bases(db: Session, regulation: Regulation) -> list[tuple[str, str]]:
    """The local bases that cite ``regulation`` (``catalogue.citing``): (the rule's title and
    the region that set it, the clause), by title."""
    rows = [r for r in db.scalars(select(RuleBasis)) if cites(r.clause, regulation)]
    names = regions.display_names(db=db, codes={r.region_code for r in rows})
    found = []
    for row in rows:
        rule_ = engine.rule_of(row.rule_id)
        if rule_ is not None:
            region = names.get(row.region_code, row.region_code)
            found.append((f"{rule_.title}（{region}设定的依据）", row.clause))
    return sorted(found)


def _with_bases(rule_: Rule, local: Sequence[tuple[str, str]]) -> str:
    return "；".join([rule_.clause, *(clause for _, clause in local)])


def rule_clause(db: Session, rule_: Rule, region_code: str | None) -> str:
    """What ``rule_`` cites for a subject of ``region_code``: its clause, then the bases its
    province, city and the region itself set."""
    local = local_bases(db, engine.region_chain(region_code), rule_.id)
    return _with_bases(rule_, local.get(rule_.id, ()))


BASIS_MAX = 500


def clean_basis(db: Session, clause: str, region_code: str) -> str:
    """A region's basis as it will be kept: parts "代号 条款" separated by "；", each citing an
    entry of the regulation library that applies in the whole region (its characters were
    checked at the boundary). Raises :class:`ValidationFailed` naming what is wrong."""
    field = "body.clause"
    text = clause.strip()
    if len(text) > BASIS_MAX:
        raise ValidationFailed(
            "依据有误", errors=[FieldError(field, f"不能超过 {BASIS_MAX} 个字符", "too_long")]
        )
    known = by_code(db)
    region_name = regions.display_name(db=db, code=region_code) or region_code
    parts: list[str] = []
    for part in clause_parts(text):
        code, _, article = part.partition(" ")
        regulation = known.get(code)
        if regulation is None:
            why = f"“{code}”不是法规库中法规的引用代号（写作“代号 条款”，如 jz57 第二十二条）"
        elif not article.strip():
            why = f"请写明《{regulation.title}》的条款（如 {code} 第十条）"
        elif not _covers(regulation.region_code, region_code):
            why = f"《{regulation.title}》不适用于{region_name}全境（只能引用本地区及上级的文件）"
        else:
            parts.append(f"{code} {article.strip()}")
            continue
        raise ValidationFailed("依据有误", errors=[FieldError(field, why, "invalid")])
    return "；".join(parts)


def _covers(document_region: str, region_code: str) -> bool:
    """Whether a document issued for ``document_region`` ("" national) applies in the whole of
    ``region_code``: it is national, the region's own or its province's or city's."""
    return not document_region or in_subtree(region_code, document_region)


def set_basis(
    *, db: Session, principal: Principal, rule_id: str, region_code: str, clause: str
) -> RuleView:
    """Make ``clause`` the region's own basis for rule ``rule_id`` (empty: none), cited after
    the rule's national basis for the region and those under it."""
    principal.require("rule:configure")
    rule_ = get_rule(rule_id)
    region = regions.get(db=db, code=region_code) if is_valid_code(region_code) else None
    if region is None or not principal.covers_region(region.code):
        raise NotFound(f"行政区划 {region_code} 不存在或不在当前账号的数据范围内")
    text = clean_basis(db, clause, region.code)
    row = db.scalar(
        select(RuleBasis).where(RuleBasis.rule_id == rule_.id, RuleBasis.region_code == region.code)
    )
    if not text:
        if row is not None:
            db.delete(row)
    elif row is None:
        db.add(RuleBasis(rule_id=rule_.id, region_code=region.code, clause=text))
    elif row.clause != text:
        row.clause = text
    db.flush()
    return rule_view(db=db, rule_=rule_, region_code=region.code)


def rule_views(*, db: Session, region_code: str | None) -> list[RuleView]:
    known = rules()
    bases = local_bases(db, engine.region_chain(region_code))  # every rule's, in one query
    return [
        rule_view(db=db, rule_=known[i], region_code=region_code, bases=bases)
        for i in sorted(known)
    ]


def _typed(rule_: Rule, key: str, value: float) -> float | int:
    default = rule_.defaults.get(key, 0.0)
    return int(value) if isinstance(default, int) and float(value).is_integer() else value


MAX_THRESHOLD = 100_000  # days, counts, ratios: nothing sensible is larger


def clean_thresholds(rule_: Rule, values: Mapping[str, Any]) -> dict[str, float]:
    """Check submitted threshold values: known keys, finite non-negative numbers, whole
    numbers where the default is one. Raises :class:`ValidationFailed` with every bad field."""
    errors: list[FieldError] = []
    clean: dict[str, float] = {}
    allowed = "、".join(rule_.defaults) or "无"
    for key, value in values.items():
        field = f"body.{key}"
        if key not in rule_.defaults:
            errors.append(FieldError(field, f"没有这个阈值项（可设：{allowed}）", "unknown"))
        elif isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(FieldError(field, "应为数字", "float_type"))
        elif not math.isfinite(value):
            errors.append(FieldError(field, "应为有限的数字", "finite_number"))
        elif value < 0:
            errors.append(FieldError(field, "不能为负数", "greater_than_equal"))
        elif value > MAX_THRESHOLD:
            errors.append(FieldError(field, f"不能大于 {MAX_THRESHOLD}", "less_than_equal"))
        elif isinstance(rule_.defaults[key], int) and not float(value).is_integer():
            errors.append(FieldError(field, "应为整数", "int_type"))
        else:
            clean[key] = float(value)
    if errors:
        raise ValidationFailed("阈值设置有误，见 errors 中逐项说明。", errors=errors)
    return clean


def set_thresholds(
    *,
    db: Session,
    principal: Principal,
    rule_id: str,
    region_code: str,
    values: Mapping[str, Any],
) -> RuleView:
    """Make ``values`` the overrides of rule ``rule_id`` in ``region_code`` (keys left out lose
    their override; an empty mapping removes them all), then re-run the rule for the
    institutions of that region so that the new thresholds take effect at once."""
    principal.require("rule:configure")
    rule_ = get_rule(rule_id)
    region = regions.get(db=db, code=region_code) if is_valid_code(region_code) else None
    if region is None or not principal.covers_region(region.code):
        raise NotFound(f"行政区划 {region_code} 不存在或不在当前账号的数据范围内")
    clean = clean_thresholds(rule_, values)
    existing = {
        row.key: row
        for row in db.scalars(
            select(RuleThreshold).where(
                RuleThreshold.rule_id == rule_.id, RuleThreshold.region_code == region.code
            )
        )
    }
    for key, value in clean.items():
        row = existing.pop(key, None)
        if row is None:
            db.add(RuleThreshold(rule_id=rule_.id, region_code=region.code, key=key, value=value))
        elif row.value != value:
            row.value = value
    for row in existing.values():
        db.delete(row)
    db.flush()
    rerun(db, rule_, region.code)
    return rule_view(db=db, rule_=rule_, region_code=region.code)


def rerun(db: Session, rule_: engine.Rule, region_code: str) -> None:
    """Judge again what rule ``rule_`` judges in ``region_code`` (its thresholds changed there):
    its institutions' every finding, a rule judged by rows included (as the sweep does: its
    writes judge only their rows); a rule on projects over every project (what it finds is
    reconciled by project, and a project's region is its own, not its institutions'). A rule
    that fails is logged and left to the sweep, as on a write: the thresholds are kept."""
    try:
        with db.begin_nested():
            if rule_.scope == "project":
                engine.run_rule(db, rule_.id)
                return
            ids = db.scalars(
                select(Institution.id).where(
                    Institution.region_code.startswith(scope_prefix(region_code))
                )
            )
            engine.run_rule(db, rule_.id, institution_ids=set(ids))
    except Exception:
        log.exception("rule %s failed when its thresholds changed in %s", rule_.id, region_code)


def status_label(value: str) -> str:
    try:
        return AlertStatus(value).label
    except ValueError:
        return value


def severity_of(value: str) -> Severity | None:
    try:
        return Severity(value)
    except ValueError:
        return None
