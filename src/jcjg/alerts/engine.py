"""The rules engine: rules, findings, idempotent alerts, write triggers and the daily sweep.

A rule is a pure function of a :class:`RuleContext` (the session, the time, the institutions to
look at, the thresholds of each region) that yields :class:`Finding` objects. :func:`run_rule`
reconciles those findings with the rule's open alerts:

- a finding whose key has an open alert refreshes it (``last_seen_at``, facts, subject);
- a finding with no open alert opens one (a new occurrence, if an earlier one was closed);
- an open alert in the evaluated scope whose key was not found is closed, never deleted.

So running a rule twice raises nothing new, and a partial unique index keeps at most one open
alert per ``(rule_id, key)`` whatever two transactions do at once.

Rules run on writes and on schedule. On writes: a session listener notes the institutions of
new, changed and deleted objects of a rule's ``triggers`` and, just before the transaction
commits, runs those rules narrowed to those institutions, in the same transaction. On schedule:
the ``alerts.sweep`` job runs every rule for the whole platform. The write trigger is on unless
:func:`configure` (called by ``create_app`` with ``JCJG_ALERTS_ON_WRITE``) switched it off; a
session may override that with ``session.info[ON_WRITE_KEY] = True / False``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Select, event, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError, NoInspectionAvailable, SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlalchemy.orm.base import NO_VALUE

from jcjg.alerts.choices import AlertStatus, Severity
from jcjg.alerts.models import Alert, Case, RuleThreshold
from jcjg.core import domains
from jcjg.core import labels as words
from jcjg.core.db import utcnow
from jcjg.core.mixins import jsonable
from jcjg.core.regioncodes import is_valid_code, parent_candidates

if TYPE_CHECKING:
    from jcjg.config import Settings

log = logging.getLogger("jcjg.alerts")

CLOSE_REASON_GONE = "条件已消除"
CLOSE_REASON_BRIEF = "登记信息尚未报送完整时出现、随后消除，不作为发现"
SEEN_GRANULARITY = dt.timedelta(minutes=1)  # last_seen_at is kept to the minute
ON_WRITE_KEY = "alerts.on_write"
_PENDING_KEY = "alerts.pending"
_RUNNING_KEY = "alerts.running"
_RULE_ID = re.compile(r"[a-z][a-z0-9_]{1,63}")
_THRESHOLD_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
_KEY_MAX = 200
_REPR_MAX = 200

Thresholds = dict[str, float | int]
# the rules a session's writes trigger, each with its institutions (or projects; written rows,
# and institutions noted by whole(), for a rule judged by rows; written groups' keys, and
# institutions, for a rule judged by groups)
Pending = dict[str, set[int | str]]
S = TypeVar("S", bound=Select[*tuple[Any, ...]])  # any SELECT, whatever its columns


# --- rules and findings ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing a rule found wrong.

    ``key`` identifies the finding within its rule across runs (``"equipment:17"``; personal
    data only hashed, see :func:`hashed_key`). ``facts`` is JSON-able data shown with the alert,
    personal data masked. ``institution_id`` and ``region_code`` decide who sees the alert.
    """

    key: str
    subject_type: str
    subject_id: str | None
    subject_repr: str
    institution_id: int | None
    region_code: str | None
    facts: dict[str, Any] = field(default_factory=dict)
    project_id: int | None = None
    subject_number: str | None = None  # the record's, report's or asset number, sample code

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > _KEY_MAX:
            raise ValueError(f"finding key must have 1 to {_KEY_MAX} characters: {self.key!r}")


Check = Callable[["RuleContext"], Iterable[Finding]]


@dataclass(frozen=True)
class Rows:
    """A rule judged row by row: its finding on a row of ``model`` (keyed
    ``f"{prefix}:{id}"``) depends on that row and on rows written before it, never on later
    ones (a curve is compared with earlier curves only). A write of such a row then re-judges
    only the written rows, not the institution's every row (ingestion stays linear); a write
    of the rule's other triggers (the equipment a record names) re-judges the rows of the
    written object's institutions, and the sweep, and a change of thresholds, judge them
    all."""

    model: type
    prefix: str

    def key(self, row_id: int) -> str:
        return f"{self.prefix}:{row_id}"


@dataclass(frozen=True)
class Groups:
    """A rule whose every finding judges one group of an institution's rows and is keyed by
    it (``number_gap``: a year's numbering of one kind of document, keyed
    ``"report:<institution>:<year>"``). ``of(obj)`` gives the keys of the groups a written
    object of the rule's triggers belongs to, before and after the write (a row moved to
    another year concerns both), or None when it cannot tell (its institutions are then judged
    whole). A write then judges the written groups alone (``ctx.keys``: the check reads their
    rows only) and only their alerts open, refresh or close; the sweep and a threshold change
    judge every group. So a lab's tenth year of records does not re-judge the nine before."""

    of: Callable[[object], set[str] | None]


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A rule: stable id, Chinese title, the clause it enforces, severity, the kind of subject,
    default thresholds (overridable per region), the pure check, and the model classes whose
    writes re-run it. ``labels`` gives Chinese names to threshold and fact keys."""

    id: str
    title: str
    clause: str
    severity: Severity
    subject_type: str
    check: Check
    defaults: Mapping[str, float | int] = field(default_factory=dict)
    triggers: tuple[type, ...] = ()
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    # What a write narrows a run to: the written rows' institutions, or their projects (rules on
    # the sampling chain, whose samples reach an institution only at delivery).
    scope: str = "institution"
    # A rule that judges a whole registry waits until an institution's registry is settled
    # (see Settling); None: it judges at every write.
    settles: Settling | None = None
    # A rule judged row by row on write (see Rows); None: by institution (or project)
    rows: Rows | None = None
    # A rule judged by groups of rows on write (see Groups); None: by institution (or rows)
    groups: Groups | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"rule scope must be one of {SCOPES}: {self.scope!r}")
        if self.rows is not None and (
            self.scope != "institution"
            or not any(issubclass(self.rows.model, t) for t in self.triggers)
        ):
            raise ValueError(
                f"rule {self.id!r} judged by rows is by institution and triggered by its rows"
            )
        if self.groups is not None and (self.scope != "institution" or self.rows is not None):
            raise ValueError(f"rule {self.id!r} judged by groups is by institution, not by rows")
        if not _RULE_ID.fullmatch(self.id):
            raise ValueError(f"rule id must be snake_case ASCII: {self.id!r}")
        for key, value in self.defaults.items():
            if not _THRESHOLD_KEY.fullmatch(key):
                raise ValueError(f"threshold key must be snake_case ASCII: {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"threshold {key!r} of rule {self.id!r} must be a number")

    def label(self, key: str) -> str:
        """The Chinese name of a threshold or fact key: the rule's own, else the platform's
        (``core.labels`` kinds ``finding``, then ``field``), else the key made readable."""
        if key in self.labels:
            return self.labels[key]
        if key in words.tables().get("finding", {}):
            return words.label("finding", key)
        return words.label("field", key)

    def __call__(self, ctx: RuleContext) -> Iterable[Finding]:
        return self.check(ctx)


SCOPES = ("institution", "project")


@dataclass(frozen=True)
class Settling:
    """How a rule that judges a whole registry (staffing against the standard, say) waits for
    it to settle: ``unsettled(db, institution_ids, now)`` names the institutions, among those
    given (None: all), whose registry is still arriving; for them a run neither opens nor closes
    alerts (their open alerts stay as they are), and whoever settles them runs the rule again.
    ``quiet()`` is the quiet period: an alert of the rule closed sooner than that after it was
    first seen is withdrawn, not closed (it is not shown as a finding)."""

    unsettled: Callable[[Session, frozenset[int] | None, dt.datetime], set[int]]
    quiet: Callable[[], dt.timedelta]


@dataclass(frozen=True)
class RuleExtension:
    """More findings for a rule of another package (the registry's rules evaluated on each test
    record, say): the check, and the models whose writes re-run the rule as well. The rule's
    own package need not know of it; the extending package lists it in its ``DOMAIN.rules``.
    With ``rows`` (a model among its triggers) its check judges those rows one by one
    (:class:`Rows`): the rule is then judged by rows, a run by rows running this check alone
    (the rule's own findings are its other triggers' runs, by institution)."""

    rule_id: str
    check: Check
    triggers: tuple[type, ...] = ()
    rows: Rows | None = None

    def __call__(self, ctx: RuleContext) -> Iterable[Finding]:
        return self.check(ctx)


def extend_rule(
    rule_id: str, *, triggers: tuple[type, ...] = (), rows: Rows | None = None
) -> Callable[[Check], RuleExtension]:
    """Make the decorated check more findings of rule ``rule_id`` (declared by its own
    package); ``triggers`` are the models whose writes re-run the rule as well; ``rows``: see
    :class:`RuleExtension`."""

    def make(check: Check) -> RuleExtension:
        return RuleExtension(rule_id, check, tuple(triggers), rows)

    return make


def rule(
    id: str,
    *,
    title: str,
    clause: str,
    severity: Severity,
    subject_type: str,
    defaults: Mapping[str, float | int] | None = None,
    triggers: tuple[type, ...] = (),
    description: str = "",
    labels: Mapping[str, str] | None = None,
    scope: str = "institution",
    settles: Settling | None = None,
    rows: Rows | None = None,
    groups: Groups | None = None,
) -> Callable[[Check], Rule]:
    """Make the decorated check function rule ``id``; it runs once its domain lists it in
    ``DOMAIN.rules`` (``collect(rules, Rule, RuleExtension)``)."""

    def make(check: Check) -> Rule:
        return Rule(
            id=id,
            title=title,
            clause=clause,
            severity=severity,
            subject_type=subject_type,
            check=check,
            defaults=dict(defaults or {}),
            triggers=tuple(triggers),
            description=description or (check.__doc__ or "").strip(),
            labels=dict(labels or {}),
            scope=scope,
            settles=settles,
            rows=rows,
            groups=groups,
        )

    return make


@dataclass(frozen=True)
class _Registered:
    rules: dict[str, Rule]
    extensions: dict[str, list[RuleExtension]]
    # the rules that failed on write, with when they last did (monotonic): see run_triggered
    failed: dict[str, float] = field(default_factory=dict)


# a rule that failed on write runs in a savepoint of its own for this long after its last
# failure, not in the one the others share (its failure would roll their work back, and they
# would run again, at every write that triggers it while it stays broken)
FAILED_ALONE_SECONDS = 600.0


_registered: tuple[int, _Registered] = (-1, _Registered({}, {}))


def _current() -> _Registered:
    global _registered
    generation = domains.generation()
    if _registered[0] != generation:
        found: dict[str, Rule] = {}
        more: dict[str, list[RuleExtension]] = {}
        for domain in domains.installed():
            for item in domain.rules:
                if isinstance(item, Rule):
                    found[item.id] = item
                elif isinstance(item, RuleExtension):
                    more.setdefault(item.rule_id, []).append(item)
                else:
                    raise TypeError(
                        f"{domain.name}: a rule must be a Rule or RuleExtension: {item!r}"
                    )
        unknown = set(more) - set(found)
        if unknown:
            raise ValueError(f"rule extensions for rules no domain declares: {sorted(unknown)}")
        for rule_id, extensions in more.items():
            judged = [e for e in extensions if e.rows is not None]
            if not judged:
                continue
            if len(judged) > 1 or found[rule_id].rows is not None or found[rule_id].groups:
                raise ValueError(
                    f"rule {rule_id!r} is judged by rows of one declaration only, "
                    "and not by groups too"
                )
            base = found[rule_id]
            found[rule_id] = dataclasses.replace(
                base, rows=judged[0].rows, triggers=base.triggers + judged[0].triggers
            )
        _registered = (generation, _Registered(found, more))
    return _registered[1]


def rules() -> dict[str, Rule]:
    """Every rule of the installed domains, by id."""
    return dict(_current().rules)


def rule_of(rule_id: str) -> Rule | None:
    return _current().rules.get(rule_id)


def checks_of(rule_: Rule, *, by_rows: bool = False) -> list[Check]:
    """The rule's own check and its extensions'; ``by_rows``: those of a run by rows (the
    extension that judges the rule's rows, when it is an extension's: see RuleExtension)."""
    extensions = _current().extensions.get(rule_.id, [])
    judging = [e.check for e in extensions if e.rows is not None]
    if by_rows and judging:
        return judging
    return [rule_.check, *(e.check for e in extensions)]


def hashed_key(kind: str, value: str) -> str:
    """A finding key naming personal data without holding it: ``id_number:<sha256 hex>``."""
    digest = hashlib.sha256(value.strip().upper().encode("utf-8")).hexdigest()
    return f"{kind}:{digest}"


# --- thresholds --------------------------------------------------------------------------------


def region_chain(region_code: str | None) -> list[str]:
    """The regions whose thresholds apply to ``region_code``, least specific first:
    province, city, the region itself (GB/T 2260)."""
    if not region_code or not is_valid_code(region_code):
        return []
    return [*reversed(parent_candidates(region_code)), region_code]


def _typed(default: float | int, value: float) -> float | int:
    if isinstance(default, int) and float(value).is_integer():
        return int(value)
    return float(value)


def resolve_thresholds(
    rule_: Rule, overrides: Mapping[str, Mapping[str, float]], region_code: str | None
) -> Thresholds:
    """The rule's defaults overlaid with the overrides of ``region_code``'s province, city and
    itself, in that order: the most specific region wins. Unknown keys are ignored."""
    values: Thresholds = dict(rule_.defaults)
    for code in region_chain(region_code):
        for key, value in overrides.get(code, {}).items():
            if key in values:
                values[key] = _typed(rule_.defaults[key], value)
    return values


def load_overrides(db: Session, rule_id: str) -> dict[str, dict[str, float]]:
    """Every region's overrides of rule ``rule_id``: ``{region_code: {key: value}}``."""
    return overrides_of(db, [rule_id]).get(rule_id, {})


def overrides_of(db: Session, rule_ids: Iterable[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Each of ``rule_ids``' overrides as :func:`load_overrides` gives them, in one read (a
    rule without any is absent)."""
    rows = db.execute(
        select(
            RuleThreshold.rule_id, RuleThreshold.region_code, RuleThreshold.key, RuleThreshold.value
        ).where(RuleThreshold.rule_id.in_(sorted(set(rule_ids))))
    )
    out: dict[str, dict[str, dict[str, float]]] = {}
    for rule_id, region_code, key, value in rows:
        out.setdefault(rule_id, {}).setdefault(region_code, {})[key] = value
    return out


@dataclass
class RuleContext:
    """What a check sees: the session, the time of the run, the institutions (or, for a
    project-scoped rule, the projects) to look at (None: the whole platform) and the thresholds
    in force in each region."""

    db: Session
    rule: Rule
    now: dt.datetime
    institution_ids: frozenset[int] | None = None
    project_ids: frozenset[int] | None = None
    row_ids: frozenset[int] | None = None  # a rule judged by rows (Rule.rows), on write
    keys: frozenset[str] | None = None  # a rule judged by groups (Rule.groups): theirs, on write
    _overrides: dict[str, dict[str, float]] | None = field(default=None, repr=False)
    _cache: dict[str | None, Thresholds] = field(default_factory=dict, repr=False)

    def thresholds(self, region_code: str | None) -> Thresholds:
        """The rule's thresholds in ``region_code`` (county over city over province over the
        rule's defaults)."""
        if region_code not in self._cache:
            if self._overrides is None:
                self._overrides = load_overrides(self.db, self.rule.id)
            self._cache[region_code] = resolve_thresholds(self.rule, self._overrides, region_code)
        return dict(self._cache[region_code])

    def widest(self, key: str) -> float:
        """The largest value of threshold ``key`` in any region (the default or an override):
        how far back a rule with a window per region must read for all of them."""
        if self._overrides is None:
            self._overrides = load_overrides(self.db, self.rule.id)
        values = [float(self.rule.defaults[key])]
        values += [float(v[key]) for v in self._overrides.values() if key in v]
        return max(values)

    def narrow(self, stmt: S, institution_column: Any) -> S:
        """``stmt`` limited to the institutions of a narrowed run (unchanged for a full run)."""
        if self.institution_ids is None:
            return stmt
        narrowed: S = stmt.where(institution_column.in_(sorted(self.institution_ids)))
        return narrowed

    def narrow_projects(self, stmt: S, project_column: Any) -> S:
        """``stmt`` limited to the projects of a narrowed run (unchanged for a full run)."""
        if self.project_ids is None:
            return stmt
        narrowed: S = stmt.where(project_column.in_(sorted(self.project_ids)))
        return narrowed

    def narrow_rows(self, stmt: S, id_column: Any) -> S:
        """``stmt`` limited to the written rows of a run by rows (unchanged otherwise)."""
        if self.row_ids is None:
            return stmt
        narrowed: S = stmt.where(id_column.in_(sorted(self.row_ids)))
        return narrowed

    def judged_keys(self) -> frozenset[str] | None:
        """The finding keys a run by rows (its rows') or by groups judges (None for any other
        run)."""
        if self.keys is not None:
            return self.keys
        if self.row_ids is None or self.rule.rows is None:
            return None
        return frozenset(self.rule.rows.key(i) for i in self.row_ids)

    def covers(self, institution_id: int | None) -> bool:
        """Whether a finding for ``institution_id`` belongs to this run."""
        return self.institution_ids is None or institution_id in self.institution_ids

    def covers_finding(self, finding: Finding) -> bool:
        """Whether ``finding`` belongs to this run (by institution, project, or row)."""
        keys = self.judged_keys()
        if keys is not None:
            return finding.key in keys
        if self.project_ids is not None:
            return finding.project_id in self.project_ids
        return self.covers(finding.institution_id)


# --- running a rule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """What one run did: alerts opened, found again, closed."""

    raised: int = 0
    refreshed: int = 0
    closed: int = 0

    def __add__(self, other: RunResult) -> RunResult:
        return RunResult(
            self.raised + other.raised, self.refreshed + other.refreshed, self.closed + other.closed
        )


def _plain(value: Any) -> Any:
    """Facts as JSON data: mappings and sequences kept, dates as ISO text, the rest as text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [_plain(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return jsonable(value)


def _fill(alert: Alert, rule_: Rule, finding: Finding) -> bool:
    """Copy what the finding says onto the alert, touching only what changed; True if any."""
    values: dict[str, Any] = {
        "severity": rule_.severity.value,
        "subject_type": finding.subject_type,
        "subject_id": finding.subject_id,
        "subject_repr": finding.subject_repr[:_REPR_MAX],
        "subject_number": (finding.subject_number or None) and finding.subject_number[:64],
        "institution_id": finding.institution_id,
        "region_code": finding.region_code,
        "project_id": finding.project_id,
        "facts": _plain(finding.facts),
    }
    changed = False
    for name, value in values.items():
        if getattr(alert, name) != value:
            setattr(alert, name, value)
            changed = True
    return changed


def _seen(alert: Alert, now: dt.datetime, changed: bool) -> None:
    """Move ``last_seen_at`` on when the alert changed or the last sighting is over a minute
    old: rules run on every write, and rewriting the same alert row on each would make all
    writes of one institution queue on that row's lock for nothing."""
    if changed or alert.last_seen_at is None or now - alert.last_seen_at >= SEEN_GRANULARITY:
        alert.last_seen_at = now


def _new_alert(rule_: Rule, finding: Finding, now: dt.datetime) -> Alert:
    alert = Alert(
        rule_id=rule_.id,
        key=finding.key,
        status=AlertStatus.OPEN.value,
        first_seen_at=now,
        last_seen_at=now,
    )
    _fill(alert, rule_, finding)
    return alert


def _open_alert(db: Session, rule_id: str, key: str) -> Alert | None:
    stmt = select(Alert).where(
        Alert.rule_id == rule_id, Alert.key == key, Alert.status == AlertStatus.OPEN.value
    )
    return db.scalars(stmt).first()


def _insert(db: Session, rule_: Rule, findings: list[Finding], now: dt.datetime) -> tuple[int, int]:
    """Open alerts for ``findings``; returns (opened, refreshed instead).

    Another transaction may have opened the same (rule, key) since this one looked: the unique
    index refuses the second, and that finding then refreshes the alert it found.
    """
    if not findings:
        return 0, 0
    try:
        with db.begin_nested():
            db.add_all([_new_alert(rule_, f, now) for f in findings])
        return len(findings), 0
    except IntegrityError:
        log.info("rule %s: alerts opened concurrently; retrying one by one", rule_.id)
    opened = refreshed = 0
    for finding in findings:
        try:
            with db.begin_nested():
                db.add(_new_alert(rule_, finding, now))
            opened += 1
        except IntegrityError:
            existing = _open_alert(db, rule_.id, finding.key)
            if existing is None:
                raise
            _fill(existing, rule_, finding)
            existing.last_seen_at = now
            refreshed += 1
    db.flush()
    return opened, refreshed


def run_rule(
    db: Session,
    rule_id: str,
    *,
    institution_ids: Iterable[int] | None = None,
    project_ids: Iterable[int] | None = None,
    row_ids: Iterable[int] | None = None,
    keys: Iterable[str] | None = None,
    now: dt.datetime | None = None,
    open_alerts: Mapping[str, Alert] | None = None,
    overrides: dict[str, dict[str, float]] | None = None,
) -> RunResult:
    """Evaluate rule ``rule_id`` and reconcile its alerts, for the whole platform or only for
    ``institution_ids`` (or ``project_ids``; for a rule judged by rows ``row_ids``, by groups
    the groups' finding ``keys``: one of them). Idempotent; flushes, never commits.
    ``open_alerts``: the rule's open alerts of ``institution_ids`` (or of the findings of
    ``row_ids`` or ``keys``) by key, when the caller read them already
    (:func:`run_triggered` reads those of all the rules it runs at once); likewise
    ``overrides``, the rule's :func:`load_overrides`."""
    rule_ = _current().rules[rule_id]
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = _context(db, rule_, now, institution_ids, project_ids, row_ids, keys)
    if ctx is None:
        return RunResult()
    if overrides is not None:
        ctx._overrides = overrides
    institutions = ctx.institution_ids
    found: dict[str, Finding] = {}
    for check in checks_of(rule_, by_rows=ctx.row_ids is not None):
        for finding in check(ctx):
            if ctx.covers_finding(finding):
                found.setdefault(finding.key, finding)  # a key twice in one run: the first counts
    open_in_scope, open_elsewhere = _open_alerts(ctx, found, open_alerts)
    quiet = dt.timedelta(0)
    if rule_.settles is not None:
        held = rule_.settles.unsettled(db, institutions, now)
        if held:  # still arriving: judged when settled
            found = {k: f for k, f in found.items() if f.institution_id not in held}
            open_in_scope = {k: a for k, a in open_in_scope.items() if a.institution_id not in held}
        quiet = rule_.settles.quiet()
    refreshed = closed = 0
    new: list[Finding] = []
    for key, finding in found.items():
        alert = open_in_scope.get(key) or open_elsewhere.get(key)
        if alert is None:
            new.append(finding)
            continue
        _seen(alert, now, _fill(alert, rule_, finding))
        refreshed += 1
    for key, alert in open_in_scope.items():
        if key not in found:
            brief = quiet and now - alert.first_seen_at < quiet and not _handled(db, alert)
            alert.status = (AlertStatus.WITHDRAWN if brief else AlertStatus.CLOSED).value
            alert.closed_at = now
            alert.close_reason = CLOSE_REASON_BRIEF if brief else CLOSE_REASON_GONE
            closed += 1
    db.flush()
    opened, raced = _insert(db, rule_, new, now)
    return RunResult(raised=opened, refreshed=refreshed + raced, closed=closed)


def _context(
    db: Session,
    rule_: Rule,
    now: dt.datetime,
    institution_ids: Iterable[int] | None,
    project_ids: Iterable[int] | None,
    row_ids: Iterable[int] | None,
    keys: Iterable[str] | None,
) -> RuleContext | None:
    """:func:`run_rule`'s context; None when it is narrowed to nothing."""
    if sum(ids is not None for ids in (institution_ids, project_ids, row_ids, keys)) > 1:
        raise ValueError("narrow a run by institutions, projects, rows or groups: one of them")
    if row_ids is not None and rule_.rows is None:
        raise ValueError(f"rule {rule_.id!r} is not judged by rows")
    if keys is not None and rule_.groups is None:
        raise ValueError(f"rule {rule_.id!r} is not judged by groups")
    institutions = None if institution_ids is None else frozenset(institution_ids)
    projects = None if project_ids is None else frozenset(project_ids)
    rows = None if row_ids is None else frozenset(row_ids)
    groups = None if keys is None else frozenset(keys)
    if frozenset() in (institutions, projects, rows, groups):
        return None
    return RuleContext(
        db=db,
        rule=rule_,
        now=now,
        institution_ids=institutions,
        project_ids=projects,
        row_ids=rows,
        keys=groups,
    )


def _handled(db: Session, alert: Alert) -> bool:
    """Whether anyone has handled the alert (a case opened): then it stays a finding."""
    return db.scalar(select(Case.id).where(Case.alert_id == alert.id).limit(1)) is not None


def _open_alerts(
    ctx: RuleContext, found: dict[str, Finding], known: Mapping[str, Alert] | None = None
) -> tuple[dict[str, Alert], dict[str, Alert]]:
    """The rule's open alerts within the run's scope, and those of this run's findings open
    outside it (a subject that moved to one of these institutions keeps its open alert).
    ``known``: those within the scope of a run narrowed to institutions, rows or groups,
    already read."""
    stmt = select(Alert).where(
        Alert.rule_id == ctx.rule.id,
        Alert.status == AlertStatus.OPEN.value,
        Alert.origin.is_(None),  # a child's alert (alerts.facts) is the child's rules' to judge
    )
    keys = ctx.judged_keys()
    if keys is not None and known is not None:
        return dict(known), {}
    if keys is not None:  # the written rows' (groups') findings, wherever they are
        open_in_scope = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), 500):
            rows = ctx.db.scalars(stmt.where(Alert.key.in_(ordered[start : start + 500])))
            open_in_scope.update({a.key: a for a in rows})
        return open_in_scope, {}
    if known is not None and ctx.project_ids is None and ctx.institution_ids is not None:
        open_in_scope = dict(known)
    elif ctx.project_ids is not None:
        open_in_scope = {
            a.key: a for a in ctx.db.scalars(ctx.narrow_projects(stmt, Alert.project_id))
        }
    else:
        open_in_scope = {a.key: a for a in ctx.db.scalars(ctx.narrow(stmt, Alert.institution_id))}
    open_elsewhere: dict[str, Alert] = {}
    if ctx.project_ids is not None or ctx.institution_ids is not None:
        missing = sorted(k for k in found if k not in open_in_scope)
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            rows = ctx.db.scalars(stmt.where(Alert.key.in_(chunk)))
            open_elsewhere.update({a.key: a for a in rows})
    return open_in_scope, open_elsewhere


@dataclass
class SweepResult:
    """Each rule's result, and the rules that failed (id -> error)."""

    results: dict[str, RunResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def sweep(
    db: Session, now: dt.datetime | None = None, *, each: Callable[[str], None] | None = None
) -> SweepResult:
    """Run every rule for the whole platform, each in a savepoint: a failing rule is logged
    and reported, the others still run. Flushes, never commits; ``each(rule_id)`` is called
    after each rule (the daily job commits there: one rule's writes a transaction)."""
    now = now or utcnow()
    result = SweepResult()
    for rule_id in sorted(_current().rules):
        try:
            with db.begin_nested():
                result.results[rule_id] = run_rule(db, rule_id, now=now)
        except Exception as exc:
            log.exception("rule %s failed in the sweep", rule_id)
            result.failed[rule_id] = f"{type(exc).__name__}: {exc}"
        if each is not None:
            each(rule_id)
    return result


# --- running on writes -------------------------------------------------------------------------

_settings_on_write = True


def configure(settings: Settings) -> None:
    """Apply the settings (``JCJG_ALERTS_ON_WRITE``) and register every rule. Called by
    ``create_app``; the switch is process-wide, a session can override it (``ON_WRITE_KEY``)."""
    global _settings_on_write
    _settings_on_write = settings.alerts_on_write


def on_write_enabled(session: Session) -> bool:
    """Whether writes in ``session`` run the rules they trigger."""
    value = session.info.get(ON_WRITE_KEY)
    return _settings_on_write if value is None else bool(value)


def institution_ids_of(obj: object) -> set[int]:
    """The institutions a written object concerns: ``alert_institution_ids()`` when the object
    has it, otherwise its institution column (``__scope_columns__["institution"]``, by default
    ``institution_id``), before and after the write (a row that moved concerns both)."""
    custom = getattr(obj, "alert_institution_ids", None)
    if callable(custom):
        return {int(i) for i in custom() if i is not None}
    name = getattr(type(obj), "__scope_columns__", {}).get("institution", "institution_id")
    try:
        state = sa_inspect(obj)
    except NoInspectionAvailable:
        return set()
    ids = {v for v in _values_of(state, name) or () if v}
    if not ids:
        try:
            value = getattr(obj, name, None)
        except SQLAlchemyError:  # a deleted row whose attributes are gone
            value = None
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
    return {int(i) for i in ids}


def written_values(obj: object, name: str) -> set[Any] | None:
    """A written object's column ``name``, before and after the write (one value unless it
    changed; nulls left out): what a rule's :class:`Groups` tells a written row's groups by.
    None when it cannot tell (not a mapped column, or a value not loaded)."""
    try:
        state = sa_inspect(obj)
    except NoInspectionAvailable:
        return None
    return _values_of(state, name)


def _values_of(state: Any, name: str) -> set[Any] | None:
    """:func:`written_values` of an inspected object's ``state``."""
    if name not in state.mapper.column_attrs:
        return None
    if name not in state.committed_state and name in state.dict:  # not set since loaded (or new)
        value = state.dict[name]
        return None if value is None else {value}
    if state.key is not None and state.committed_state.get(name) is NO_VALUE:
        return None  # set on a stored row without being loaded first: its old value is unknown
    history = state.attrs[name].history  # never loads: a value not loaded is none of these
    values = {v for v in (*history.added, *history.unchanged, *history.deleted) if v is not None}
    return values or None


def project_ids_of(obj: object) -> set[int]:
    """The projects a written object concerns: its ``project_id`` before and after the write."""
    try:
        state = sa_inspect(obj)
    except NoInspectionAvailable:
        return set()
    if "project_id" not in state.mapper.column_attrs:
        return set()
    history = state.attrs["project_id"].history
    ids = {v for v in (*history.added, *history.unchanged, *history.deleted) if v}
    return {int(i) for i in ids}


# the rules that writes trigger, with their classes, for the registration they were read from
# (every commit asks: see _run_on_commit)
_watched_by: tuple[_Registered | None, tuple[tuple[str, tuple[type, ...]], ...]] = (None, ())


def _watched() -> tuple[tuple[str, tuple[type, ...]], ...]:
    global _watched_by
    if not domains.is_installed():  # a migration or a script with no platform: no rules
        return ()
    current = _current()
    if _watched_by[0] is current:
        return _watched_by[1]
    out = []
    for r in current.rules.values():
        triggers = r.triggers + tuple(
            t for e in current.extensions.get(r.id, []) for t in e.triggers
        )
        if triggers:
            out.append((r.id, triggers))
    _watched_by = (current, tuple(out))
    return _watched_by[1]


# the rules each written class triggers, for the registration they were read from (every flush
# asks for every object it wrote)
_by_class: tuple[_Registered | None, dict[type, tuple[str, ...]]] = (None, {})


def _triggered_by(kind: type) -> tuple[str, ...]:
    """The rules an object of class ``kind`` triggers when written."""
    global _by_class
    current = _current()
    if _by_class[0] is not current:
        _by_class = (current, {})
    found = _by_class[1].get(kind)
    if found is None:
        found = tuple(rule_id for rule_id, triggers in _watched() if issubclass(kind, triggers))
        _by_class[1][kind] = found
    return found


@event.listens_for(Session, "after_flush")
def _collect(session: Session, flush_context: UOWTransaction) -> None:
    """Note which rules the flushed objects trigger, and for which institutions."""
    note_written(session, (*session.new, *session.dirty, *session.deleted))


def note_written(session: Session, objs: Iterable[object]) -> None:
    """Note which rules the written ``objs`` trigger, and for which institutions (or rows, or
    groups): what a flush notes by itself, for writes made without one
    (``core.db.update_in_place``)."""
    if session.info.get(_RUNNING_KEY) or not on_write_enabled(session):
        return
    if not domains.is_installed():  # a migration or a script with no platform: no rules
        return
    current = _current()
    for obj in objs:
        if isinstance(obj, Alert):
            continue
        rule_ids = _triggered_by(type(obj))
        if not rule_ids:
            continue
        pending: Pending = session.info.setdefault(_PENDING_KEY, {})
        by_scope: dict[str, set[int]] = {}
        for rule_id in rule_ids:
            ids = _noted(current.rules[rule_id], obj, by_scope)
            if ids:
                pending.setdefault(rule_id, set()).update(ids)


def _noted(rule_: Rule, obj: object, by_scope: dict[str, set[int]]) -> Iterable[int | str]:
    """What a written ``obj`` notes for a rule it triggers: the written row itself, for a rule
    judged by rows (its institutions' every row, see whole(), when it is another trigger); the
    written groups' keys, for a rule judged by groups (else its institutions); else its
    institutions or projects (``by_scope``: those already told of ``obj``, by scope, so that
    the rules it triggers read its institutions once: an instrument renewed triggers four)."""
    if rule_.groups is not None:
        try:
            keys = rule_.groups.of(obj)
        except Exception:  # a broken rule never refuses the write: judged by its institutions
            log.exception("rule %s could not tell the groups of a written %s", rule_.id,
                          type(obj).__name__)  # fmt: skip
            keys = None
        return _told(obj, _INSTITUTIONS, by_scope) if keys is None else keys
    rows = rule_.rows
    if rows is not None and isinstance(obj, rows.model):
        row_id = getattr(obj, "id", None)
        return (row_id,) if isinstance(row_id, int) else ()
    if rows is not None:
        return [whole(i) for i in _told(obj, _INSTITUTIONS, by_scope)]
    return _told(obj, "project" if rule_.scope == "project" else _INSTITUTIONS, by_scope)


_INSTITUTIONS = "institution"  # every scope but a project's is told by institutions


def _told(obj: object, scope: str, by_scope: dict[str, set[int]]) -> set[int]:
    """``obj``'s projects or institutions, read once for all the rules it triggers."""
    told = by_scope.get(scope)
    if told is None:
        told = by_scope[scope] = (
            project_ids_of(obj) if scope == "project" else institution_ids_of(obj)
        )
    return told


@event.listens_for(Session, "before_commit")
def _run_on_commit(session: Session) -> None:
    """Before the outermost commit: run the triggered rules for their institutions, once."""
    if session.in_nested_transaction() or session.info.get(_RUNNING_KEY):
        return
    if not on_write_enabled(session):
        session.info.pop(_PENDING_KEY, None)
        return
    if not _watched():
        return
    session.flush()  # what is still unflushed triggers too
    pending: Pending | None = session.info.pop(_PENDING_KEY, None)
    if pending:
        run_triggered(session, pending)


def take_pending(session: Session) -> Pending:
    """Flush, then take the rules the session's writes so far trigger, with their institutions;
    the caller runs them now (``run_triggered``) instead of at commit, e.g. to report findings
    in its answer. Empty when writes do not run rules in this session."""
    if session.info.get(_RUNNING_KEY) or not on_write_enabled(session):
        return {}
    session.flush()
    pending: Pending = session.info.pop(_PENDING_KEY, None) or {}
    return pending


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def whole(institution_id: int) -> int:
    """How a rule judged by rows notes, among the ids of its written rows, an institution whose
    every row it judges again (a write of its other triggers): the id negated (ids are
    positive), so that the pending rules stay one set of ids a rule wherever they are merged
    (``exchange.apply`` merges each message's); :func:`run_triggered` tells them apart."""
    return -institution_id


def _split(ids: Iterable[int | str]) -> tuple[frozenset[int], frozenset[int]]:
    """A rule judged by rows' pending ids: its written rows, and the institutions noted by
    :func:`whole`."""
    listed = [i for i in ids if isinstance(i, int)]
    return frozenset(i for i in listed if i > 0), frozenset(-i for i in listed if i < 0)


def _split_groups(ids: Iterable[int | str]) -> tuple[frozenset[str], frozenset[int]]:
    """A rule judged by groups' pending ids: its written groups' keys, and the institutions
    judged whole (a written object whose groups :class:`Groups` could not tell)."""
    listed = list(ids)
    return (
        frozenset(i for i in listed if isinstance(i, str)),
        frozenset(i for i in listed if isinstance(i, int)),
    )


def _open_alerts_among(
    db: Session, column: Any, wanted: Mapping[str, frozenset[Any]]
) -> dict[str, dict[str, Alert]]:
    """The open alerts (not a child's) of each rule of ``wanted`` whose ``column`` (the
    institution, or the key) holds one of the rule's values, by key: what :func:`_open_alerts`
    reads for a run of that rule narrowed to those institutions (or by rows: their findings)."""
    found: dict[str, dict[str, Alert]] = {rule_id: {} for rule_id in wanted}
    values = sorted(set().union(*wanted.values())) if wanted else []
    for start in range(0, len(values), 500):
        for alert in db.scalars(
            select(Alert).where(
                Alert.rule_id.in_(sorted(wanted)),
                Alert.status == AlertStatus.OPEN.value,
                Alert.origin.is_(None),
                column.in_(values[start : start + 500]),
            )
        ):
            if getattr(alert, column.key) in wanted[alert.rule_id]:
                found[alert.rule_id][alert.key] = alert
    return found


def _rows_outside(
    db: Session, rule_: Rule, rows: frozenset[int], institutions: frozenset[int]
) -> frozenset[int]:
    """Those of a rule's written ``rows`` whose institution is not among ``institutions``."""
    if not rows or rule_.rows is None:
        return frozenset()
    model: Any = rule_.rows.model
    return frozenset(
        row.id
        for row in db.scalars(select(model).where(model.id.in_(sorted(rows))))
        if not set(institution_ids_of(row)) & institutions
    )


def run_triggered(
    db: Session, pending: Mapping[str, Iterable[int | str]], now: dt.datetime | None = None
) -> dict[str, RunResult]:
    """Run each rule for its institutions (its projects, for a project-scoped rule; its rows,
    for a rule judged by rows; its groups, for a rule judged by groups), all in one savepoint;
    should one fail, all again, each in a savepoint of its own. A failing rule is logged and
    skipped: a broken rule must not refuse the write (the sweep reports it). A rule that
    failed in the last :data:`FAILED_ALONE_SECONDS` is kept out of the shared savepoint and
    runs in one of its own after it, so that while it stays broken the others run once."""
    db.info[_RUNNING_KEY] = True
    registered = _current()
    known = registered.rules
    by_institution = {
        rule_id: frozenset(i for i in ids if isinstance(i, int))
        for rule_id, ids in pending.items()
        if rule_id in known
        and known[rule_id].rows is None
        and known[rule_id].groups is None
        and known[rule_id].scope != "project"
    }
    # a rule judged by groups: its written groups, and the institutions it judges whole
    grouped = {
        rule_id: _split_groups(ids)
        for rule_id, ids in pending.items()
        if rule_id in known and known[rule_id].groups is not None
    }
    by_institution |= {rule_id: ids for rule_id, (_, ids) in grouped.items() if ids}
    # a rule judged by rows: its written rows, unless their institutions' every row is judged
    # again (a write of its other triggers), which they are then among
    split = {
        rule_id: _split(ids)
        for rule_id, ids in pending.items()
        if rule_id in known and known[rule_id].rows is not None
    }
    by_keys = {
        rule_id: frozenset(rows.key(i) for i in split[rule_id][0])
        for rule_id in split
        if not split[rule_id][1] and (rows := known[rule_id].rows) is not None
    }
    by_keys |= {rule_id: keys for rule_id, (keys, ids) in grouped.items() if not ids}
    try:
        # the open alerts of the rules run for institutions or rows, in one read of each kind
        # rather than one a rule (a rule reconciles only its own alerts, so a rule run before
        # another leaves the other's as they were read)
        already = _open_alerts_among(db, Alert.institution_id, by_institution)
        already |= _open_alerts_among(db, Alert.key, by_keys)
        # and their thresholds' overrides, in one read too (most rules ask for them)
        running = sorted(rule_id for rule_id in pending if rule_id in known)
        limits = overrides_of(db, running) if running else {}

        def run(rule_id: str) -> RunResult:
            ids = frozenset(pending[rule_id])
            numbers = frozenset(i for i in ids if isinstance(i, int))  # all but groups' keys
            mine = limits.get(rule_id, {})
            if rule_id in split and split[rule_id][1]:
                written, institutions = split[rule_id]
                result = run_rule(
                    db, rule_id, institution_ids=institutions, now=now, overrides=mine
                )
                # rows written elsewhere than those institutions (judged twice if not)
                rest = _rows_outside(db, known[rule_id], written, institutions)
                if rest:
                    result += run_rule(db, rule_id, row_ids=rest, now=now, overrides=mine)
                return result
            if rule_id in grouped:
                keys, institutions = grouped[rule_id]
                result = RunResult()
                if institutions:
                    result += run_rule(
                        db, rule_id, institution_ids=institutions, now=now,
                        open_alerts=already[rule_id], overrides=mine,
                    )  # fmt: skip
                if keys:  # (a group of those institutions judged twice: rare, alike)
                    result += run_rule(
                        db, rule_id, keys=keys, now=now, overrides=mine,
                        open_alerts=None if institutions else already[rule_id],
                    )  # fmt: skip
                return result
            if rule_id in split:
                return run_rule(
                    db, rule_id, row_ids=numbers, now=now, open_alerts=already[rule_id],
                    overrides=mine,
                )  # fmt: skip
            if known[rule_id].scope == "project":
                return run_rule(db, rule_id, project_ids=numbers, now=now, overrides=mine)
            return run_rule(
                db, rule_id, institution_ids=numbers, now=now,
                open_alerts=already[rule_id], overrides=mine,
            )  # fmt: skip

        def judged(rule_id: str) -> str:
            what = "groups or institutions" if rule_id in grouped else known[rule_id].scope + "s"
            return f"{what} {sorted(pending[rule_id], key=str)}"

        return _in_savepoints(db, running, run, registered.failed, judged)
    finally:
        db.info.pop(_RUNNING_KEY, None)


def _in_savepoints(
    db: Session,
    running: list[str],
    run: Callable[[str], RunResult],
    failed: dict[str, float],
    judged: Callable[[str], str],
) -> dict[str, RunResult]:
    """:func:`run_triggered`'s rules run: those that failed lately (``failed``) each in a
    savepoint of its own, the others in one they share; should one of these fail, all of them
    again, each in its own. A rule that fails is logged (what it ``judged``), noted in
    ``failed`` and left out of the results."""
    results: dict[str, RunResult] = {}
    since = time.monotonic() - FAILED_ALONE_SECONDS
    alone = [rule_id for rule_id in running if failed.get(rule_id, since) > since]
    shared = [rule_id for rule_id in running if rule_id not in alone]
    try:
        # the others in one savepoint (two statements, where one each took two a rule)
        if shared:
            with db.begin_nested():
                for rule_id in shared:
                    results[rule_id] = run(rule_id)
    except Exception:
        # one failed, and took the others' work with it: each again in a savepoint of its own,
        # the failing one logged and skipped
        log.info("a rule raised in the rules' shared savepoint; each runs alone now")
        results.clear()
        alone = running
    for rule_id in alone:
        try:
            with db.begin_nested():
                results[rule_id] = run(rule_id)
        except Exception:
            failed[rule_id] = time.monotonic()
            log.exception("rule %s failed on write (%s)", rule_id, judged(rule_id))
    return results
