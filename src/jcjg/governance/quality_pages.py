"""Pages of data quality (数据质量): the institutions' scores of a month with the trend, an
institution's scores by message type and its failing data, the rules (kept by the province)
and the offline runs' log."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.config import get_settings
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.forms import Id, PostedForm
from jcjg.core.jobs import JobSchedule
from jcjg.core.listing import ListParams, list_params, page_context
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.templating import redirect, render
from jcjg.exchange.models import Message
from jcjg.exchange.types import message_types
from jcjg.governance import conversion, forms, jobs, quality, rulebook
from jcjg.governance.choices import Comparison, QualityKind
from jcjg.governance.models import QualityCheck, QualityRule, QualityRun
from jcjg.governance.quality_lists import (
    FAILURES,
    RULES,
    RUNS,
    figures,
    rule_page,
    rule_saved,
    rule_versions,
    rule_words,
    scores_view,
    type_title,
)
from jcjg.governance.ruleset import QUALITY, Filter
from jcjg.tenancy.models import Institution

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("data_quality:read"))]
Manager = Annotated[Principal, Depends(requires("quality_rule:manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
Params = Annotated[ListParams, Depends(list_params)]
Month = Annotated[str, Query(pattern=r"^(|20[0-9]{2}-(0[1-9]|1[0-2]))$")]
TREND_MONTHS = 12
Filters = Annotated[Filter, Depends(QUALITY.filters())]


def _this_month() -> str:
    return utcnow().astimezone(get_settings().tz).strftime("%Y-%m")


def _months_back(month: str, count: int) -> list[str]:
    year, number = int(month[:4]), int(month[5:])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{number:02d}")
        number -= 1
        if number == 0:
            year, number = year - 1, 12
    return out[::-1]


def _visible(principal: Principal) -> Any:
    return restrict(select(QualityCheck), principal, "read")


def _trend(
    db: Session, principal: Principal, month: str, institution_id: int | None
) -> dict[str, Any]:
    months = _months_back(month, TREND_MONTHS)
    stmt = _visible(principal).where(QualityCheck.month.in_(months))
    if institution_id is not None:
        stmt = stmt.where(QualityCheck.institution_id == institution_id)
    inner = stmt.subquery()
    rows = dict(
        (m, (int(t or 0), int(f or 0)))
        for m, t, f in db.execute(
            select(inner.c.month, func.sum(inner.c.total), func.sum(inner.c.failed)).group_by(
                inner.c.month
            )
        )
    )
    first = next((i for i, m in enumerate(months) if m in rows), len(months))
    shown = months[first:]
    return {
        "months": shown,
        "checks": [rows.get(m, (0, 0))[0] for m in shown],
        "scores": [quality.score(*rows[m]) if m in rows else None for m in shown],
    }


def _by_type(
    db: Session, principal: Principal, month: str, institution_id: int | None
) -> list[dict[str, Any]]:
    stmt = _visible(principal).where(QualityCheck.month == month)
    if institution_id is not None:
        stmt = stmt.where(QualityCheck.institution_id == institution_id)
    inner = stmt.subquery()
    rows = db.execute(
        select(
            inner.c.message_type, func.count(), func.sum(inner.c.total), func.sum(inner.c.failed)
        )
        .group_by(inner.c.message_type)
        .order_by(inner.c.message_type)
    )
    return [
        {"title": type_title(t), "messages": int(n), "checks": int(c or 0), "failed": int(f or 0),
         "score": quality.score(int(c or 0), int(f or 0))}
        for t, n, c, f in rows
    ]  # fmt: skip


@router.get("/governance/quality", response_class=HTMLResponse)
def quality_home(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    month: Month = "",
    q: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The institutions' quality scores of a month (the current one by default), the trend and
    the scores by message type; ``?format=xlsx`` exports the scores."""
    month = month or _this_month()
    checked = (
        _visible(principal)
        .where(QualityCheck.month == month)
        .with_only_columns(QualityCheck.institution_id)
    )
    stmt = select(Institution).where(Institution.id.in_(checked))
    if q:
        stmt = stmt.where(or_(Institution.name.contains(q), Institution.code.contains(q)))
    view = scores_view(month)
    if params.exporting:
        return listing.export(request, db, view, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, view, stmt, paging, params)
    found = figures(db, {r.id for r in context["rows"]}, month)
    context.update(
        month=month,
        filters={"q": q, "month": month},
        figures={i: (n, t, f, quality.score(t, f)) for i, (n, t, f) in found.items()},
        trend=_trend(db, principal, month, None),
        by_type=_by_type(db, principal, month, None),
        rules=db.scalar(
            select(func.count()).select_from(QualityRule).where(QualityRule.enabled.is_(True))
        ),
        last_run=db.scalar(select(QualityRun).order_by(QualityRun.started_at.desc()).limit(1)),
    )
    return render(request, "governance/quality.html", context)


@router.get("/governance/quality/institutions/{institution_id}", response_class=HTMLResponse)
def quality_institution(
    request: Request,
    db: SessionDep,
    principal: Reader,
    institution_id: Id,
    paging: Paging,
    params: Params,
    month: Month = "",
    show: Annotated[str, Query(pattern=r"^(|all)$")] = "",
) -> Response:
    """One institution's scores: the trend, by message type, and its failing data of the
    month (every checked message with ``show=all``); ``?format=xlsx`` exports that list."""
    institution = get_scoped(db, Institution, institution_id, principal, "read")
    month = month or _this_month()
    stmt = _visible(principal).where(
        QualityCheck.institution_id == institution.id, QualityCheck.month == month
    )
    if not show:
        stmt = stmt.where(QualityCheck.failed > 0)
    if params.exporting:
        return listing.export(request, db, FAILURES, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, FAILURES, stmt, paging, params)
    context.update(
        institution=institution,
        month=month,
        filters={"month": month, "show": show},
        trend=_trend(db, principal, month, institution.id),
        by_type=_by_type(db, principal, month, institution.id),
        type_title=type_title,
        fields={t: rulebook.field_names(db, t) for t in {c.message_type for c in context["rows"]}},
        field_label=rulebook.field_label,
    )
    return render(request, "governance/quality_institution.html", context)


# --- rules ---------------------------------------------------------------------------------

_RULE_FIELDS = ("name", "kind", "message_type", "path", "clause", "enabled", "pattern", "codes",
                "minimum", "maximum", "other", "op", "hours", "link", "related_type",
                "key", "effective_at")  # fmt: skip


def _rule_context(db: Session, message_type: str) -> dict[str, Any]:
    kinds = {name: kind.title for name, kind in sorted(message_types().items())}
    return {
        "kinds": QualityKind,
        "comparisons": Comparison,
        "types": kinds,
        "fields": rulebook.field_names(db, message_type) if message_type else {},
        "rule_words": rule_words,
        "type_title": type_title,
    }


@router.get("/governance/quality/rules", response_class=HTMLResponse)
def rule_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    filters: Filters,
) -> Response:
    """The quality rules: by kind, message type, on or off; ``?format=xlsx`` exports them.
    The province adds one here (``message_type`` chosen: its fields offered)."""
    stmt = QUALITY.filtered(filters)
    if params.exporting:
        return listing.export(request, db, RULES, stmt, params, user_id=principal.user_id)
    context = rule_page(request, db, RULES, stmt, paging, params, filters)
    context.update(_rule_context(db, filters.message_type))
    return render(request, "governance/quality_rules.html", context)


def _values(form: PostedForm) -> dict[str, Any]:
    values = {key: form.get(key) or "" for key in _RULE_FIELDS}
    values["enabled"] = "on" if form.get("enabled") else "off"
    return values


@router.post("/governance/quality/rules", response_class=HTMLResponse)
def rule_create(request: Request, db: SessionDep, principal: Manager, form: PostedForm) -> Response:
    values = _values(form)
    return rule_saved(request, db, principal, QUALITY, 0, values, save=rulebook.save,
                      context=_rule_context)  # fmt: skip


@router.get("/governance/quality/rules/{rule_id}", response_class=HTMLResponse)
def rule_detail(request: Request, db: SessionDep, principal: Reader, rule_id: Id) -> Response:
    rule = QUALITY.get(db, rule_id)
    params = {k: ("，".join(v) if isinstance(v, list) else v) for k, v in rule.params.items()}
    params.pop("other_name", None)
    params.pop("link_name", None)
    form = {"name": rule.name, "kind": rule.kind, "message_type": rule.message_type,
            "path": rule.path, "clause": rule.clause, "enabled": "on" if rule.enabled else "off",
            **params}  # fmt: skip
    context = _rule_context(db, rule.message_type)
    context.update(rule=rule, form=form, errors={}, error="", **rule_versions(db, QUALITY, rule))
    return render(request, "governance/quality_rule.html", context)


@router.post("/governance/quality/rules/{rule_id}", response_class=HTMLResponse)
def rule_update(
    request: Request, db: SessionDep, principal: Manager, rule_id: Id, form: PostedForm
) -> Response:
    values = _values(form)
    return rule_saved(request, db, principal, QUALITY, rule_id, values, save=rulebook.save,
                      context=_rule_context)  # fmt: skip


# --- offline runs --------------------------------------------------------------------------


@router.get("/governance/quality/runs", response_class=HTMLResponse)
def run_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The log of the offline quality runs (scheduled and by hand); ``?format=xlsx``."""
    stmt = select(QualityRun)
    if params.exporting:
        return listing.export(request, db, RUNS, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, RUNS, stmt, paging, params)
    context.update(done=QUALITY.done.get(done, ""), days=jobs.SCAN_DAYS)
    return render(request, "governance/quality_runs.html", context)


@router.post("/governance/quality/runs", response_class=HTMLResponse)
def run_now(request: Request, db: SessionDep, principal: Manager) -> Response:
    """Have the worker check the last weeks' data again with today's rules at its next turn
    (the run commits chunk by chunk, outside any page's transaction)."""
    now = utcnow()
    moved = db.execute(
        update(JobSchedule)
        .where(JobSchedule.name == jobs.quality_scan.name)
        .values(next_run_at=now)
    )
    if not getattr(moved, "rowcount", 0):
        db.add(JobSchedule(name=jobs.quality_scan.name, next_run_at=now))
    return redirect("/governance/quality/runs?done=ran")


def _at(data: Any, field: str) -> Any:
    """The value at an error's field name (``people.0.title``) in parsed JSON."""
    for part in field.split("."):
        if isinstance(data, list) and part.isdecimal() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


@router.get(
    "/governance/quality/institutions/{institution_id}/checks/{check_id}",
    response_class=HTMLResponse,
)
def quality_check(
    request: Request, db: SessionDep, principal: Reader, institution_id: Id, check_id: Id
) -> Response:
    """One checked message: what it is, each failure with the value found (personal data
    masked)."""
    institution = get_scoped(db, Institution, institution_id, principal, "read")
    check = db.scalar(
        _visible(principal).where(
            QualityCheck.id == check_id, QualityCheck.institution_id == institution.id
        )
    )
    if check is None:
        raise NotFound("没有这条检验结果")
    message = db.get(Message, check.message_row_id)
    data = json.loads(message.body) if message else {}
    if message is not None:  # the values as applied: the conversions made on arrival
        conversion.replay(db, [message], {message.id: data})
    found = []
    names = rulebook.field_names(db, check.message_type)
    codes = rulebook.code_labels(db, check.message_type)
    for failure in check.failures:
        field = str(failure.get("field", ""))
        value = _at(data, field)
        shown = "（未填写）" if value in (None, "", []) else json.dumps(value, ensure_ascii=False)
        text = rulebook.value_words(codes, field, shown.strip('"'))
        found.append(
            {
                **failure,
                "label": rulebook.field_label(names, field),
                "value": forms.shown(field, text),
            }
        )
    context = {
        "institution": institution,
        "check": check,
        "message": message,
        "found": found,
        "type_title": type_title,
        "number": data.get("number") if isinstance(data, dict) else None,
    }
    return render(request, "governance/quality_check.html", context)
