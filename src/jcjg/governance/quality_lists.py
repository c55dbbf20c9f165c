"""The data quality lists: institutions' scores, failing messages, rules, runs
(``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.scopes import Principal
from jcjg.core import shared
from jcjg.core.db import utcnow
from jcjg.core.errors import ValidationFailed, errors_by_field
from jcjg.core.listing import Column, ListParams, ListView, label, page_context, when
from jcjg.core.pagination import Key, Order, PageParams
from jcjg.core.templating import redirect, render
from jcjg.exchange.types import message_types
from jcjg.governance.choices import QualityKind
from jcjg.governance.lists import named
from jcjg.governance.models import QualityCheck, QualityRule, QualityRun
from jcjg.governance.quality import score
from jcjg.governance.rulebook import field_label, field_names
from jcjg.governance.ruleset import Filter, RuleSet
from jcjg.tenancy.models import Institution

_LATEST = (dt.datetime.now(dt.UTC), 0)


def type_title(name: str) -> str:
    """A message type's Chinese title (its name when no longer installed)."""
    kind = message_types().get(name)
    if kind is None and (source := shared.sources().get(name)) is not None:
        return source.title  # a derived source of shared data (行政处罚决定)
    return kind.title if kind else name


def figures(db: Session, ids: set[int], month: str) -> dict[int, tuple[int, int, int]]:
    """``{institution: (messages, checks, failed)}`` of ``month`` for ``ids``."""
    if not ids:
        return {}
    rows = db.execute(
        select(
            QualityCheck.institution_id,
            func.count(),
            func.sum(QualityCheck.total),
            func.sum(QualityCheck.failed),
        )
        .where(QualityCheck.institution_id.in_(ids), QualityCheck.month == month)
        .group_by(QualityCheck.institution_id)
    ).all()
    return {int(i): (int(n), int(t or 0), int(f or 0)) for i, n, t, f in rows if i is not None}


def _score_cells(db: Session, rows: Sequence[Institution], month: str) -> list[list[str]]:
    found = figures(db, {r.id for r in rows}, month)
    out = []
    for r in rows:
        messages, total, failed = found.get(r.id, (0, 0, 0))
        value = score(total, failed)
        out.append(
            [
                r.code,
                r.name,
                month,
                str(messages),
                str(total),
                str(failed),
                "" if value is None else f"{value}",
            ]
        )
    return out


def scores_view(month: str) -> ListView:
    return ListView(
        name="data_quality",
        title="数据质量得分",
        columns=(
            Column("code", "机构编号", Institution.code),
            Column("name", "机构名称", Institution.name),
            Column("month", "月份"),
            Column("messages", "检验的消息数"),
            Column("checks", "检验次数"),
            Column("failed", "未通过"),
            Column("score", "得分（%）"),
        ),
        order=Order(
            (
                Key(Institution.code, lambda i: i.code, False),
                Key(Institution.id, lambda i: i.id, False),
            ),
            ("", 0),
        ),
        cells=lambda db, rows: _score_cells(db, rows, month),
    )


def failure_words(failures: list[dict[str, Any]], names: dict[str, str]) -> str:
    """A message's failures in words, each field by its element's Chinese name (``names``:
    :func:`rulebook.field_names` of its message type)."""
    return "；".join(
        f"{f.get('name', '')}：{field_label(names, str(f.get('field', '')))} {f.get('why', '')}"
        for f in failures
    )


def _failure_cells(db: Session, rows: Sequence[QualityCheck]) -> list[list[str]]:
    names = {t: field_names(db, t) for t in {r.message_type for r in rows}}
    return [
        [
            when(r.received_at),
            type_title(r.message_type),
            str(r.total),
            str(r.failed),
            failure_words(r.failures, names[r.message_type]),
        ]
        for r in rows
    ]


FAILURES = ListView(
    name="quality_check",
    title="未通过数据质量检验的数据",
    columns=(
        Column("received_at", "接收时间", QualityCheck.received_at),
        Column("message_type", "消息类型", QualityCheck.message_type),
        Column("total", "检验次数"),
        Column("failed", "未通过", QualityCheck.failed),
        Column("failures", "问题"),
    ),
    order=Order(
        (
            Key(QualityCheck.received_at, lambda c: c.received_at),
            Key(QualityCheck.id, lambda c: c.id),
        ),
        _LATEST,
    ),
    cells=_failure_cells,
)


def rule_words(rule: QualityRule) -> str:
    p = rule.params
    if rule.kind == QualityKind.FORMAT:
        return f"格式 {p.get('pattern', '')}"
    if rule.kind == QualityKind.VALUE_DOMAIN:
        parts = []
        if p.get("codes"):
            parts.append("可取 " + "、".join(p["codes"]))
        if p.get("minimum") is not None or p.get("maximum") is not None:
            parts.append(f"{p.get('minimum', '-∞')}–{p.get('maximum', '+∞')}")
        return "；".join(parts)
    if rule.kind == QualityKind.CONSISTENCY:
        from jcjg.governance.choices import Comparison

        return f"{Comparison(p.get('op', 'le')).label}同一记录的另一字段"
    if rule.kind == QualityKind.TIMELINESS:
        return f"{p.get('hours', 24):g} 小时内上传"
    if rule.kind == QualityKind.RELATED:
        from jcjg.governance.choices import Comparison

        counted = "的条数" if "[]" in rule.path else ""
        return (
            f"{Comparison(p.get('op', 'le')).label}按{p.get('link_name') or p.get('link')}关联的"
            f"{type_title(str(p.get('related_type', '')))}的{p.get('other_name') or p.get('other')}"
            f"{counted}"
        )
    return "须填写"


def _rule_cells(db: Session, rows: Sequence[QualityRule]) -> list[list[str]]:
    return [
        [
            r.name,
            label(QualityKind, r.kind),
            type_title(r.message_type),
            r.path,
            rule_words(r),
            r.clause,
            "启用" if r.enabled else "停用",
        ]
        for r in rows
    ]


RULES = ListView(
    name="quality_rule",
    title="数据质量规则",
    columns=(
        Column("name", "规则", QualityRule.name),
        Column("kind", "类别", QualityRule.kind),
        Column("message_type", "消息类型", QualityRule.message_type),
        Column("path", "字段"),
        Column("requirement", "要求"),
        Column("clause", "依据"),
        Column("enabled", "状态", QualityRule.enabled),
    ),
    order=Order((Key(QualityRule.id, lambda r: r.id, False),), (0,)),
    cells=_rule_cells,
)


def _run_cells(db: Session, rows: Sequence[QualityRun]) -> list[list[str]]:
    trigger = {"schedule": "定时", "page": "手动", "command": "命令"}
    status = {"running": "进行中", "done": "完成", "failed": "失败"}
    return [
        [
            when(r.started_at),
            when(r.finished_at),
            trigger.get(r.trigger, r.trigger),
            when(r.since),
            str(r.rules),
            str(r.messages),
            str(r.checks),
            str(r.failures),
            status.get(r.status, r.status),
        ]
        for r in rows
    ]


RUNS = ListView(
    name="quality_run",
    title="数据质量离线检验记录",
    columns=(
        Column("started_at", "开始", QualityRun.started_at),
        Column("finished_at", "结束"),
        Column("trigger", "方式"),
        Column("since", "检验自"),
        Column("rules", "规则数"),
        Column("messages", "消息数"),
        Column("checks", "检验次数"),
        Column("failures", "未通过"),
        Column("status", "状态"),
    ),
    order=Order(
        (Key(QualityRun.started_at, lambda r: r.started_at), Key(QualityRun.id, lambda r: r.id)),
        _LATEST,
    ),
    cells=_run_cells,
)


# --- the rule lists (quality and conversion) -------------------------------------------------


def rule_page(
    request: Request,
    db: Session,
    view: ListView,
    stmt: Select[Any],
    paging: PageParams,
    params: ListParams,
    filters: Filter,
) -> dict[str, Any]:
    """A rule list's context: the page of ``stmt``'s rows, each one's field by its Chinese
    name (``field_names``), the ``filters``, the notice after a save, and the empty form
    adding one for the filtered message type."""
    context = page_context(request, db, view, stmt, paging, params)
    rows = context["rows"]
    names = {t: field_names(db, t) for t in {r.message_type for r in rows}}
    context.update(
        field_names={r.id: names[r.message_type].get(r.path, "") for r in rows},
        filters=filters.shown(),
        form={"message_type": filters.message_type},
        errors={},
        done=filters.done,
    )
    return context


def rule_saved(
    request: Request,
    db: Session,
    principal: Principal,
    rules: RuleSet[Any, Any],
    rule_id: int,
    values: dict[str, Any],
    *,
    save: Callable[[Session, Principal, dict[str, Any], Any], object],
    context: Callable[[Session, str], dict[str, Any]],
    shown: dict[str, Any] | None = None,
) -> Response:
    """A rule's form posted: the rule (``rule_id``; 0, a new one) saved by ``save`` from the
    form's ``values``, and back to the list; refused, the rule's page again (422) with the
    page's ``context`` for the message type, the form as typed (``shown``, else ``values``),
    each refusal by its field, and the rule's versions."""
    rule = rules.get(db, rule_id) if rule_id else None
    try:
        save(db, principal, values, rule)
    except ValidationFailed as error:
        db.rollback()
        page = context(db, str(values["message_type"]))
        rule = rules.get(db, rule_id) if rule_id else None
        page.update(rule=rule, form=shown or values, errors=errors_by_field(error.errors),
                    error=error.detail)  # fmt: skip
        if rule is not None:
            page.update(rule_versions(db, rules, rule))
        return render(request, rules.template, page, status_code=422)
    return redirect(f"{rules.url}?done=saved")


def rule_versions(db: Session, rules: RuleSet[Any, Any], rule: Any) -> dict[str, Any]:
    """A rule's page: its versions (of ``rules``), who saved each, and now (a version still
    to take effect)."""
    versions = rules.versions(db, rule)
    savers = named(db, User.id, User.display_name, (v.saved_by_id for v in versions))
    return {"versions": versions, "savers": savers, "now": utcnow()}
