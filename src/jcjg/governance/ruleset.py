"""What the quality rules and the conversion rules share, declared once for each
(:data:`QUALITY`, :data:`CONVERSION`): the rule and version tables, the kinds, the list's
filters, and how a rule is saved and versioned.

Each save keeps the rule's definition (kind, field, parameters, on or off) as its next version
with the time it takes effect; a message is judged (quality) or converted by each rule's latest
version in force when it was signed (its signature's ``created``; the time it was received
without one). A new rule without a time is in force for every message; a change without a time
from the second it is saved. A rule saved before versions were kept (or loaded as reference
data, or by the demo) has none: in force as it stands, and its first change keeps it as version
1 for every message."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from fastapi import Query
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.db import utcnow
from jcjg.core.errors import FieldError, NotFound, ValidationFailed
from jcjg.exchange.models import Message
from jcjg.governance import forms
from jcjg.governance.choices import ConversionKind, QualityKind
from jcjg.governance.models import (
    ConversionRule,
    ConversionRuleVersion,
    DataElement,
    QualityRule,
    QualityRuleVersion,
)

log = logging.getLogger("jcjg.governance.ruleset")
RuleT = TypeVar("RuleT", QualityRule, ConversionRule)
VersionT = TypeVar("VersionT", QualityRuleVersion, ConversionRuleVersion)
T = TypeVar("T")
# a rule's versions, oldest first: from when each is in force (None: for every message) and
# what it does then, as its caller compiled it (None: switched off)
Steps = list[tuple[dt.datetime | None, T | None]]
_CREATED = re.compile(r";created=([0-9]{1,12})(;|$)")


class Head(NamedTuple):
    """What a quality rule's and a conversion rule's forms share, checked
    (:func:`jcjg.governance.rulebook.rule_head`): name, clause, kind, message type with its
    fields in the standard in force, and the time the definition takes effect."""

    name: str
    clause: str
    kind: str
    message_type: str
    fields: Mapping[str, DataElement]
    effective: dt.datetime | None


@dataclass(frozen=True)
class Filter:
    """A rule list's filters: kind, message type, on (``yes``) or off (``no``); blank takes
    all. ``done``: the notice after a save."""

    kind: str = ""
    message_type: str = ""
    enabled: str = ""
    done: str = ""

    def shown(self) -> dict[str, str]:
        return {"kind": self.kind, "message_type": self.message_type, "enabled": self.enabled}


@dataclass(frozen=True)
class RuleSet(Generic[RuleT, VersionT]):
    """One kind of rule kept as data by the province: its tables, its kinds, what its form says
    when no kind or no rule is found, and its pages: the list's address and notices, the
    template of a rule's page."""

    model: type[RuleT]
    version: type[VersionT]
    kinds: Iterable[str]
    no_kind: str
    missing: str
    done: Mapping[str, str]
    url: str  # the list page's
    template: str  # a rule's page, with its form

    def get(self, db: Session, rule_id: int) -> RuleT:
        found = db.get(self.model, rule_id)
        if found is None:
            raise NotFound(self.missing)
        return found

    # --- the list ------------------------------------------------------------------------

    def filters(self) -> Callable[..., Awaitable[Filter]]:
        """The list page's query parameters, as a dependency (a kind not of this set: 400)."""
        pattern: str = "^(|" + "|".join(sorted(self.kinds)) + ")$"

        async def read(  # no I/O: on the event loop, no thread hop
            kind: str = Query("", pattern=pattern),
            message_type: str = Query("", max_length=64, pattern=r"^[a-z0-9_.]*$"),
            enabled: str = Query("", pattern=r"^(|yes|no)$"),
            done: str = Query("", max_length=16),
        ) -> Filter:
            return Filter(kind, message_type, enabled, self.done.get(done, ""))

        return read

    def filtered(self, wanted: Filter) -> Select[Any]:
        """The rules of a kind, a message type, on or off; a blank filter takes all."""
        stmt = select(self.model)
        if wanted.kind:
            stmt = stmt.where(self.model.kind == wanted.kind)
        if wanted.message_type:
            stmt = stmt.where(self.model.message_type == wanted.message_type)
        if wanted.enabled:
            stmt = stmt.where(self.model.enabled.is_(wanted.enabled == "yes"))
        return stmt

    # --- saving and versions ---------------------------------------------------------------

    def store(
        self,
        db: Session,
        principal: Principal,
        values: Mapping[str, Any],
        rule: RuleT | None,
        head: Head,
        *,
        path: str,
        params: dict[str, Any],
    ) -> RuleT:
        """Add a rule (or change ``rule``): its checked ``head``, ``path`` and ``params`` set,
        ``enabled`` read from the form's ``values``, and kept as its next version from
        ``head.effective`` on (none given: a new rule for every message, a change from this
        second on: a signature's time is whole seconds)."""
        if rule is not None and self.versions(db, rule) == []:
            self.keep(db, rule, None, None)  # saved before versions were kept: as it stood
        row = rule or self.model(created_by_id=principal.user_id)
        row.name, row.clause, row.kind = head.name, head.clause, head.kind
        row.message_type, row.path, row.params = head.message_type, path, params
        row.enabled = str(values.get("enabled", "on")) in ("on", "true", "1", "yes")
        if rule is None:
            db.add(row)
        db.flush()
        effective = head.effective
        at = effective if effective or rule is None else utcnow().replace(microsecond=0)
        self.keep(db, row, at, principal.user_id)
        return row

    def versions(self, db: Session, rule: RuleT) -> list[VersionT]:
        """``rule``'s saved definitions, oldest first."""
        return list(
            db.scalars(
                select(self.version)
                .where(self.version.rule_id == rule.id)
                .order_by(self.version.version)
            )
        )

    def keep(
        self, db: Session, rule: RuleT, effective: dt.datetime | None, saved_by: int | None
    ) -> None:
        """``rule`` as it stands now, kept as its next version from ``effective`` on."""
        last = db.scalar(
            select(func.max(self.version.version)).where(self.version.rule_id == rule.id)
        )
        db.add(
            self.version(
                rule_id=rule.id,
                version=(last or 0) + 1,
                kind=rule.kind,
                path=rule.path,
                params=dict(rule.params or {}),
                enabled=rule.enabled,
                effective_at=effective,
                saved_by_id=saved_by,
                saved_at=utcnow(),
            )
        )
        db.flush()

    # --- running --------------------------------------------------------------------------

    def load(
        self,
        db: Session,
        compile: Callable[[RuleT, VersionT | None], T],
        types: Iterable[str] | None = None,
    ) -> dict[str, list[Steps[T]]]:
        """Each rule's versions (of ``types``, or all) by message type, the rules in their
        order, each version compiled by ``compile(rule, version)`` (``version`` None: the rule
        as it stands); a rule on in no version is left out, and so is one that cannot compile
        (refused when saved: a row edited by hand)."""
        # one statement: each rule with its versions in order (a rule never versioned, shipped
        # or saved before versions were kept, once with None; such a rule switched off: not read)
        stmt = (
            select(self.model, self.version)
            .outerjoin(self.version, self.version.rule_id == self.model.id)
            .where(or_(self.model.enabled.is_(True), self.version.id.is_not(None)))
            .order_by(self.model.id, self.version.version)
        )
        if types is not None:
            stmt = stmt.where(self.model.message_type.in_(sorted(set(types))))
        rules: dict[int, RuleT] = {}
        versions: dict[int, list[VersionT]] = {}
        for rule, version in db.execute(stmt):
            rules[rule.id] = rule
            kept = versions.setdefault(rule.id, [])
            if version is not None:
                kept.append(version)
        out: dict[str, list[Steps[T]]] = {}
        for rule in rules.values():
            kept = versions[rule.id]
            try:
                if kept:
                    steps: Steps[T] = [
                        (v.effective_at, compile(rule, v) if v.enabled else None) for v in kept
                    ]
                else:
                    steps = [(None, compile(rule, None) if rule.enabled else None)]
            except (ValueError, re.error):
                log.exception("%s %s cannot run", self.model.__tablename__, rule.id)
                continue
            if any(compiled is not None for _, compiled in steps):
                out.setdefault(rule.message_type, []).append(steps)
        return out


def effective(values: Mapping[str, Any], errors: list[FieldError]) -> dt.datetime | None:
    """The time a saved definition takes effect (``effective_at``; blank: at once); not
    before now."""
    raw = values.get("effective_at")
    if isinstance(raw, dt.datetime):
        moment: dt.datetime | None = raw
    else:
        try:
            moment = forms.moment(str(raw or ""))
        except ValidationFailed as error:
            errors.extend(error.errors)
            return None
    if moment is not None and moment < utcnow() - dt.timedelta(minutes=1):
        errors.append(FieldError("effective_at", "生效时间不得早于现在", "datetime_past"))
    return moment


def signed_at(row: Message) -> dt.datetime:
    """When ``row`` was signed (its signature's ``created``), else when it was received."""
    found = _CREATED.search(row.signature_input or "")
    if found is None:
        return row.received_at
    return dt.datetime.fromtimestamp(int(found.group(1)), dt.UTC)


def in_force(rules: Sequence[Steps[T]], at: dt.datetime) -> list[T]:
    """The rules as they stood at ``at``: of each, the latest version saved that was in force
    then (a version to take effect later is not yet; one switched off leaves the rule out)."""
    out = []
    for steps in rules:
        now = [c for since, c in steps if since is None or since <= at]
        if now and now[-1] is not None:
            out.append(now[-1])
    return out


QUALITY: RuleSet[QualityRule, QualityRuleVersion] = RuleSet(
    QualityRule,
    QualityRuleVersion,
    kinds={k.value for k in QualityKind},
    no_kind="请选择规则类别",
    missing="数据质量规则不存在",
    done={
        "saved": "规则已保存，新接收的数据即按此检验（修改只对此后或所填生效时间后"
        "签名的数据生效）；近期数据在下一次离线检验时重新检验。",
        "ran": "已安排离线检验，后台任务稍后执行，完成后列在下面。",
    },
    url="/governance/quality/rules",
    template="governance/quality_rule.html",
)
CONVERSION: RuleSet[ConversionRule, ConversionRuleVersion] = RuleSet(
    ConversionRule,
    ConversionRuleVersion,
    kinds={k.value for k in ConversionKind},
    no_kind="请选择转换方式",
    missing="数据转换规则不存在",
    done={"saved": "规则已保存，新接收的数据在应用时即按此转换（各服务进程在 5 秒内读到）。"},
    url="/governance/quality/conversions",
    template="governance/conversion_rule.html",
)
