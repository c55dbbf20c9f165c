"""Pages of data conversion (数据转换, 000 7.1.4(3)): the conversion rules (kept by the province,
beside the quality rules) and the values they changed on arrival (转换记录: which rule, which
field, the value as sent and as applied), filtered, paged, counted, exported."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, restrict
from jcjg.config import get_settings
from jcjg.core import listing
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import Column, ListParams, ListView, label, list_params, page_context, when
from jcjg.core.pagination import Key, Order, PageParams, page_params
from jcjg.core.templating import render
from jcjg.core.text import text_fields
from jcjg.exchange.types import message_types
from jcjg.governance import conversion, conversion_rules, forms, rulebook
from jcjg.governance.choices import ConversionKind
from jcjg.governance.models import ConversionRecord, ConversionRule
from jcjg.governance.quality_lists import rule_page, rule_saved, rule_versions, type_title
from jcjg.governance.rulebook import field_label
from jcjg.governance.ruleset import CONVERSION, Filter
from jcjg.tenancy.models import Institution

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("data_quality:read"))]
Manager = Annotated[Principal, Depends(requires("quality_rule:manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
Params = Annotated[ListParams, Depends(list_params)]
Filters = Annotated[Filter, Depends(CONVERSION.filters())]
TYPE = Annotated[str, Query(max_length=64, pattern=r"^[a-z0-9_.]*$")]
_LATEST = (dt.datetime.now(dt.UTC), 0)
_FIELDS = ("name", "kind", "message_type", "path", "clause", "map", "units", "effective_at")


def _rule_cells(db: Session, rows: Sequence[ConversionRule]) -> list[list[str]]:
    names = {t: rulebook.field_names(db, t) for t in {r.message_type for r in rows}}
    return [
        [
            r.name,
            label(ConversionKind, r.kind),
            type_title(r.message_type),
            names[r.message_type].get(r.path, r.path),
            conversion_rules.words(r),
            r.clause,
            "启用" if r.enabled else "停用",
        ]
        for r in rows
    ]


RULES = ListView(
    name="conversion_rule",
    title="数据转换规则",
    columns=(
        Column("name", "规则", ConversionRule.name),
        Column("kind", "转换方式", ConversionRule.kind),
        Column("message_type", "消息类型", ConversionRule.message_type),
        Column("path", "字段"),
        Column("what", "转换"),
        Column("clause", "依据"),
        Column("enabled", "状态", ConversionRule.enabled),
    ),
    order=Order((Key(ConversionRule.id, lambda r: r.id, False),), (0,)),
    cells=_rule_cells,
)


def _institutions(db: Session, rows: Sequence[ConversionRecord]) -> dict[int, str]:
    ids = {r.institution_id for r in rows if r.institution_id is not None}
    if not ids:
        return {}
    found = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {institution_id: name for institution_id, name in found}


def _record_cells(db: Session, rows: Sequence[ConversionRecord]) -> list[list[str]]:
    names = _institutions(db, rows)
    fields = {t: rulebook.field_names(db, t) for t in {r.message_type for r in rows}}
    return [
        [
            when(r.received_at),
            names.get(r.institution_id or 0, "—"),
            type_title(r.message_type),
            r.rule_name,
            field_label(fields[r.message_type], r.field),
            forms.shown(r.field, r.before),
            forms.shown(r.field, r.after),
        ]
        for r in rows
    ]


RECORDS = ListView(
    name="conversion_record",
    title="数据转换记录",
    columns=(
        Column("received_at", "接收时间", ConversionRecord.received_at),
        Column("institution", "检测机构"),
        Column("message_type", "消息类型", ConversionRecord.message_type),
        Column("rule", "转换规则", ConversionRecord.rule_name),
        Column("field", "字段"),
        Column("before", "原值"),
        Column("after", "转换后"),
    ),
    order=Order(
        (
            Key(ConversionRecord.received_at, lambda c: c.received_at),
            Key(ConversionRecord.id, lambda c: c.id),
        ),
        _LATEST,
    ),
    cells=_record_cells,
)


def _context(db: Session, message_type: str) -> dict[str, Any]:
    fields = {}
    if message_type:
        for path, element in rulebook.fields_of(db, message_type).items():
            if element.type == "object":
                fields[path] = f"{element.name}（结构型，填写其中的键）"
            elif conversion_rules.target({path: element}, path)[0] is not None:
                fields[path] = element.name
    return {
        "kinds": ConversionKind,
        "types": {name: kind.title for name, kind in sorted(message_types().items())},
        "fields": fields,
        "words": conversion_rules.words,
        "type_title": type_title,
        "units": conversion.UNITS,
    }


@router.get("/governance/quality/conversions", response_class=HTMLResponse)
def rule_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    filters: Filters,
) -> Response:
    """The conversion rules: by kind, message type, on or off; ``?format=xlsx``. The province
    adds one here (``message_type`` chosen: its text fields offered)."""
    stmt = CONVERSION.filtered(filters)
    if params.exporting:
        return listing.export(request, db, RULES, stmt, params, user_id=principal.user_id)
    context = rule_page(request, db, RULES, stmt, paging, params, filters)
    ids = [r.id for r in context["rows"]]
    counted = restrict(
        select(ConversionRecord.rule_id, func.count()).where(ConversionRecord.rule_id.in_(ids)),
        principal,
        "read",
    ).group_by(ConversionRecord.rule_id)
    made = {rule_id: int(n) for rule_id, n in db.execute(counted)}
    context.update(_context(db, filters.message_type), made=made)
    return render(request, "governance/conversion_rules.html", context)


def _values(form: PostedForm) -> dict[str, Any]:
    """The form's values, the key of a structured field joined to its path."""
    values = {key: form.get(key) or "" for key in _FIELDS}
    values["enabled"] = "on" if form.get("enabled") else "off"
    key = (form.get("key") or "").strip()
    values["key"] = key
    if key:
        values["path"] = f"{values['path']}.{key}"
    return values


def _split(db: Session, rule: ConversionRule) -> tuple[str, str]:
    """A rule's path as the form shows it: (the field, the key of a structured field)."""
    fields = rulebook.fields_of(db, rule.message_type)
    if rule.path not in fields and "." in rule.path:
        head, key = rule.path.rsplit(".", 1)
        if head in fields:
            return head, key
    return rule.path, ""


def _shown(values: dict[str, Any]) -> dict[str, Any] | None:
    """The form's values as typed, the field and the key of a structured field apart."""
    if not values.get("key"):
        return None
    return {**values, "path": str(values["path"]).rsplit(".", 1)[0]}


@router.post("/governance/quality/conversions", response_class=HTMLResponse)
@text_fields(multiline=("map", "units"))
def rule_create(request: Request, db: SessionDep, principal: Manager, form: PostedForm) -> Response:
    values = _values(form)
    return rule_saved(request, db, principal, CONVERSION, 0, values, save=conversion_rules.save,
                      context=_context, shown=_shown(values))  # fmt: skip


@router.get("/governance/quality/conversions/{rule_id}", response_class=HTMLResponse)
def rule_detail(request: Request, db: SessionDep, principal: Reader, rule_id: Id) -> Response:
    rule = CONVERSION.get(db, rule_id)
    path, key = _split(db, rule)
    form = {"name": rule.name, "kind": rule.kind, "message_type": rule.message_type,
            "path": path, "key": key, "clause": rule.clause,
            "enabled": "on" if rule.enabled else "off",
            "map": conversion_rules.map_text(rule, "map"),
            "units": conversion_rules.map_text(rule, "units")}  # fmt: skip
    context = _context(db, rule.message_type)
    context.update(rule=rule, form=form, errors={}, error="", **rule_versions(db, CONVERSION, rule))
    return render(request, "governance/conversion_rule.html", context)


@router.post("/governance/quality/conversions/{rule_id}", response_class=HTMLResponse)
@text_fields(multiline=("map", "units"))
def rule_update(
    request: Request, db: SessionDep, principal: Manager, rule_id: Id, form: PostedForm
) -> Response:
    values = _values(form)
    return rule_saved(request, db, principal, CONVERSION, rule_id, values,
                      save=conversion_rules.save, context=_context,
                      shown=_shown(values))  # fmt: skip


@router.get("/governance/quality/converted", response_class=HTMLResponse)
def record_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    q: Annotated[str, Query(max_length=64)] = "",
    message_type: TYPE = "",
    rule_id: Id | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Response:
    """The values the conversion rules changed on arrival, within the reader's scope: by
    institution (name or code), message type, rule and day received (Beijing);
    ``?format=xlsx`` exports them."""
    stmt = restrict(select(ConversionRecord), principal, "read")
    if q:
        found = select(Institution.id).where(
            or_(Institution.name.contains(q), Institution.code.contains(q))
        )
        stmt = stmt.where(ConversionRecord.institution_id.in_(found))
    if message_type:
        stmt = stmt.where(ConversionRecord.message_type == message_type)
    if rule_id:
        stmt = stmt.where(ConversionRecord.rule_id == rule_id)
    tz = get_settings().tz
    if since:
        start = dt.datetime.combine(since, dt.time(), tzinfo=tz)
        stmt = stmt.where(ConversionRecord.received_at >= start)
    if until:
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        stmt = stmt.where(ConversionRecord.received_at < end)
    if params.exporting:
        return listing.export(request, db, RECORDS, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, RECORDS, stmt, paging, params)
    context.update(
        filters={
            "q": q,
            "message_type": message_type,
            "rule_id": rule_id,
            "since": since.isoformat() if since else "",
            "until": until.isoformat() if until else "",
        },
        types={name: kind.title for name, kind in sorted(message_types().items())},
        rules=[
            (rule_id, name)
            for rule_id, name in db.execute(
                select(ConversionRule.id, ConversionRule.name).order_by(ConversionRule.id)
            )
        ],
        institutions=_institutions(db, context["rows"]),
        field_names={
            t: rulebook.field_names(db, t) for t in {r.message_type for r in context["rows"]}
        },
        field_label=field_label,
        type_title=type_title,
        shown=forms.shown,
    )
    return render(request, "governance/conversion_records.html", context)
