"""The quality rules kept as data: added, changed and switched off by the province, each
checked against the data standard in force (the field must be one of the message type's, of
a type the kind can judge), and versioned with an effective time (:mod:`ruleset`, as the
conversion rules are); and what the two kinds of rule share: a message type's fields in the
standard in force, in words, and the head of their forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.governance import forms, service
from jcjg.governance.choices import Comparison, DataType, QualityKind
from jcjg.governance.models import CodeList, DataElement, DataModel, QualityRule
from jcjg.governance.ruleset import QUALITY, Head, RuleSet, effective

TIMED = (DataType.DATE, DataType.DATETIME)
NUMERIC = (DataType.INTEGER, DataType.NUMBER, DataType.DECIMAL)


def fields_of(db: Session, message_type: str) -> dict[str, DataElement]:
    """The fields of a message type in the standard in force, path -> element."""
    version = service.in_force(db)
    if version is None:
        return {}
    model = db.scalar(
        select(DataModel).where(
            DataModel.standard_id == version.id, DataModel.model_id == message_type
        )
    )
    if model is None:
        return {}
    elements = {
        e.element_id: e
        for e in db.scalars(select(DataElement).where(DataElement.standard_id == version.id))
    }
    return {f["path"]: elements[f["element"]] for f in model.fields if f["element"] in elements}


def field_names(db: Session, message_type: str) -> dict[str, str]:
    """A message type's fields, path -> the Chinese name of its element (the standard in
    force), for pages."""
    return {path: element.name for path, element in fields_of(db, message_type).items()}


def code_labels(db: Session, message_type: str) -> dict[str, dict[str, str]]:
    """A message type's fields that have a code list, path -> {code: label} (the standard in
    force), so a page shows a value as its dictionary label (``retired`` -> 已报废)."""
    fields = fields_of(db, message_type)
    wanted = {e.code_list for e in fields.values() if e.code_list}
    if not wanted:
        return {}
    version = service.in_force(db)
    assert version is not None  # the fields came from it
    lists = {
        c.list_id: {str(x["code"]): str(x["label"]) for x in c.codes}
        for c in db.scalars(
            select(CodeList).where(CodeList.standard_id == version.id, CodeList.list_id.in_(wanted))
        )
    }
    return {p: lists[e.code_list] for p, e in fields.items() if e.code_list in lists}


def schema_path(field: str) -> str:
    """A value's field (``equipment.0.status``) as the standard's path (``equipment[].status``)."""
    path = list[str]()
    for part in field.split("."):
        if part.isdecimal() and path:
            path[-1] += "[]"
        else:
            path.append(part)
    return ".".join(path)


def field_label(names: dict[str, str], field: str) -> str:
    """A value's field in words: ``equipment.0.model`` -> 型号（第 1 项）, a key of a
    structured field after its name (检测结果 · 成型日期)."""
    places = [str(int(p) + 1) for i, p in enumerate(field.split(".")) if p.isdecimal() and i]
    joined = schema_path(field)
    words = names.get(joined)
    if words is None and "." in joined:
        head, key = joined.rsplit(".", 1)
        words = f"{names[head]} · {key}" if head in names else None
    words = words or joined
    return words + (f"（第 {'、'.join(places)} 项）" if places else "")


def value_words(codes: dict[str, dict[str, str]], field: str, value: str) -> str:
    """A value as a page shows it: its code list's label where the field has one."""
    return codes.get(schema_path(field), {}).get(value, value)


def _format(
    raw: Mapping[str, Any], element: DataElement, errors: list[FieldError]
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    pattern = str(raw.get("pattern") or "").strip()
    if not pattern or len(pattern) > 200:
        errors.append(FieldError("pattern", "请填写 1–200 个字符的正则表达式", "missing"))
    else:
        try:
            re.compile(pattern)
            params["pattern"] = pattern
        except re.error:
            errors.append(FieldError("pattern", "不是有效的正则表达式", "pattern"))
    if element.type != DataType.STRING:
        errors.append(FieldError("path", "格式规则只用于字符型字段", "type"))
    return params


def _domain(
    raw: Mapping[str, Any], element: DataElement, errors: list[FieldError]
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    text = str(raw.get("codes") or "").replace("，", ",")
    codes = [c.strip() for c in text.split(",") if c.strip()]
    low = forms.number(raw.get("minimum"), "minimum", errors)
    high = forms.number(raw.get("maximum"), "maximum", errors)
    if codes:
        params["codes"] = codes[:200]
    if low is not None:
        params["minimum"] = low
    if high is not None:
        params["maximum"] = high
    if not codes and low is None and high is None:
        errors.append(FieldError("codes", "请填写可取的代码，或数值的上下限", "missing"))
    if (low is not None or high is not None) and element.type not in NUMERIC:
        errors.append(FieldError("path", "上下限只用于数值型字段", "type"))
    if low is not None and high is not None and low > high:
        errors.append(FieldError("maximum", "上限不得小于下限", "range"))
    return params


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def _consistency(
    raw: Mapping[str, Any],
    path: str,
    element: DataElement,
    fields: Mapping[str, DataElement],
    errors: list[FieldError],
) -> dict[str, Any]:
    other = str(raw.get("other") or "").strip()
    op = str(raw.get("op") or "le")
    parent = _parent(path)
    sibling = f"{parent}.{other}" if parent else other
    found = fields.get(sibling) if other and other != path.rsplit(".", 1)[-1] else None
    if found is None:
        errors.append(FieldError("other", "须是同一记录中的另一字段", "other"))
    elif found.type != element.type and not {found.type, element.type} <= set(TIMED):
        errors.append(FieldError("other", "两个字段的类型须相同", "type"))
    if op not in {c.value for c in Comparison}:
        errors.append(FieldError("op", "比较方式不正确", "op"))
    return {"other": other, "op": op}


def _timeliness(
    raw: Mapping[str, Any], element: DataElement, errors: list[FieldError]
) -> dict[str, Any]:
    hours = forms.number(raw.get("hours"), "hours", errors)
    params: dict[str, Any] = {}
    if hours is None or hours <= 0 or hours > 24 * 366:
        errors.append(FieldError("hours", "时限须为 0–8784 之间的小时数", "range"))
    else:
        params["hours"] = hours
    if element.type not in TIMED:
        errors.append(FieldError("path", "及时性规则只用于日期或日期时间字段", "type"))
    return params


def _alike(a: DataElement, b: DataElement) -> bool:
    """Two fields' values compare: one type, dates with times, numbers with numbers."""
    kinds = {a.type, b.type}
    return len(kinds) == 1 or kinds <= set(TIMED) or kinds <= set(NUMERIC)


def _related(
    db: Session,
    raw: Mapping[str, Any],
    path: str,
    element: DataElement,
    fields: Mapping[str, DataElement],
    errors: list[FieldError],
) -> dict[str, Any]:
    """A related-consistency rule's own: this record's reference field (``link``), the related
    message type, its key field, its field to compare (``other``) and the comparison."""
    link = str(raw.get("link") or "").strip()
    related_type = str(raw.get("related_type") or "").strip()
    key = str(raw.get("key") or "").strip()
    other = str(raw.get("other") or "").strip()
    op = str(raw.get("op") or "le")
    linked = fields.get(link)
    if linked is None or linked.type not in (DataType.STRING, DataType.INTEGER):
        errors.append(FieldError("link", "须是本消息中写明关联记录编号的字段", "link"))
    theirs = fields_of(db, related_type) if len(related_type) <= 64 else {}
    if not theirs:
        errors.append(FieldError("related_type", "数据标准中没有这种消息类型", "related_type"))
        return {}
    keyed = theirs.get(key)
    if keyed is None or keyed.type not in (DataType.STRING, DataType.INTEGER):
        errors.append(FieldError("key", "须是关联消息中标识该记录的字段（如编号）", "key"))
    found = theirs.get(other)
    if found is None:
        errors.append(FieldError("other", "关联消息没有这个字段（见数据标准）", "other"))
    elif ("[]" in path) != ("[]" in other):
        errors.append(FieldError("other", "列表字段比较条数，须与另一列表字段比较", "type"))
    elif "[]" not in path and not _alike(found, element):
        errors.append(FieldError("other", "两个字段的类型须相同", "type"))
    if op not in {c.value for c in Comparison}:
        errors.append(FieldError("op", "比较方式不正确", "op"))
    return {"link": link, "related_type": related_type, "key": key, "other": other, "op": op,
            "other_name": found.name if found is not None else "",
            "link_name": linked.name if linked is not None else ""}  # fmt: skip


def _params(
    kind: str,
    path: str,
    element: DataElement,
    raw: Mapping[str, Any],
    fields: Mapping[str, DataElement],
    db: Session | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    errors: list[FieldError] = []
    if kind == QualityKind.RELATED and db is not None:
        return _related(db, raw, path, element, fields, errors), errors
    if kind == QualityKind.FORMAT:
        return _format(raw, element, errors), errors
    if kind == QualityKind.VALUE_DOMAIN:
        return _domain(raw, element, errors), errors
    if kind == QualityKind.CONSISTENCY:
        return _consistency(raw, path, element, fields, errors), errors
    if kind == QualityKind.TIMELINESS:
        return _timeliness(raw, element, errors), errors
    return {}, errors


def rule_head(
    db: Session, values: Mapping[str, Any], rules: RuleSet[Any, Any], errors: list[FieldError]
) -> Head:
    """What a quality rule's and a conversion rule's forms share: the name (1–100 characters),
    the clause (up to 200), the kind (one of ``rules``', else its ``no_kind``), the message
    type with its fields in the standard, and the time the definition takes effect
    (``effective_at``, blank: at once; not before now); each refusal added to ``errors``."""
    name = str(values.get("name") or "").strip()
    clause = str(values.get("clause") or "").strip()
    if not name or len(name) > 100:
        errors.append(FieldError("name", "请填写 1–100 个字符的规则名称", "missing"))
    if len(clause) > 200:
        errors.append(FieldError("clause", "不得超过 200 个字符", "string_too_long"))
    kind = str(values.get("kind") or "")
    if kind not in rules.kinds:
        errors.append(FieldError("kind", rules.no_kind, "kind"))
    message_type = str(values.get("message_type") or "")
    fields = fields_of(db, message_type) if len(message_type) <= 64 else {}
    if not fields:
        errors.append(FieldError("message_type", "数据标准中没有这种消息类型", "message_type"))
    return Head(name, clause, kind, message_type, fields, effective(values, errors))


def save(
    db: Session, principal: Principal, values: Mapping[str, Any], rule: QualityRule | None = None
) -> QualityRule:
    """Add a rule (or change ``rule``) from ``values``: ``name``, ``kind``, ``message_type``,
    ``path``, ``clause``, ``enabled`` and the kind's own (``pattern``; ``codes``, ``minimum``,
    ``maximum``; ``other``, ``op``; ``hours``; ``link``, ``related_type``, ``key``, ``other``,
    ``op``); ``effective_at``, when the definition takes effect (a message is judged by the
    version in force when it was signed). Each save is kept as a version. A 422 names each
    refused part; nothing is written then."""
    errors: list[FieldError] = []
    head = rule_head(db, values, QUALITY, errors)
    path = str(values.get("path") or "").strip()
    element = head.fields.get(path)
    if head.fields and element is None:
        errors.append(FieldError("path", "该消息类型没有这个字段（见数据标准）", "path"))
    params: dict[str, Any] = {}
    if element is not None and not errors:
        params, more = _params(head.kind, path, element, values, head.fields, db)
        errors.extend(more)
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)
    return QUALITY.store(db, principal, values, rule, head, path=path, params=params)


# The rules a platform starts with (loaded once, with the shipped baseline; then the
# province's). Enabled: what the platform's docs and the national texts ask of every record
# (docs/exchange-api/messages.md, "Data quality"); the completeness of optional fields is each
# province's choice, shipped switched off.
DEFAULTS: tuple[dict[str, Any], ...] = (
    {
        "name": "试验开始时间不晚于结束时间",
        "kind": "consistency",
        "message_type": "test_record",
        "path": "started_at",
        "params": {"other": "ended_at", "op": "le"},
        "clause": "000 7.1.4",
        "enabled": True,
    },
    {
        "name": "检测数据应在试验结束后 24 小时内上传",
        "kind": "timeliness",
        "message_type": "test_record",
        "path": "ended_at",
        "params": {"hours": 24},
        "clause": "001 5.4.8",
        "enabled": True,
    },
    {
        "name": "检测记录应有试验环境温度",
        "kind": "completeness",
        "message_type": "test_record",
        "path": "environment.temperature_c",
        "clause": "000 7.1.4",
        "enabled": True,
    },
    {
        "name": "现场检测开始时间不晚于结束时间",
        "kind": "consistency",
        "message_type": "onsite_record",
        "path": "started_at",
        "params": {"other": "ended_at", "op": "le"},
        "clause": "000 7.1.4",
        "enabled": True,
    },
    {
        "name": "现场检测数据应在检测结束后 24 小时内上传",
        "kind": "timeliness",
        "message_type": "onsite_record",
        "path": "ended_at",
        "params": {"hours": 24},
        "clause": "001 5.4.8",
        "enabled": True,
    },
    {
        "name": "检测记录的试验开始时间不早于委托日期",
        "kind": "related",
        "message_type": "test_record",
        "path": "started_at",
        "params": {
            "link": "commission_number",
            "related_type": "commission",
            "key": "number",
            "other": "commissioned_on",
            "op": "ge",
            "other_name": "委托日期",
            "link_name": "委托编号",
        },
        "clause": "000 7.1.4",
        "enabled": True,
    },
    {
        "name": "检测记录应注明检测依据的标准",
        "kind": "completeness",
        "message_type": "test_record",
        "path": "standard",
        "clause": "000 7.1.4",
        "enabled": False,
    },
    {
        "name": "检测记录应注明所用设备",
        "kind": "completeness",
        "message_type": "test_record",
        "path": "equipment[]",
        "clause": "000 7.1.4",
        "enabled": False,
    },
    {
        "name": "检测记录应关联委托编号",
        "kind": "completeness",
        "message_type": "test_record",
        "path": "commission_number",
        "clause": "000 7.1.4",
        "enabled": False,
    },
    {
        "name": "报告应关联委托编号",
        "kind": "completeness",
        "message_type": "report",
        "path": "commission_number",
        "clause": "000 7.1.4",
        "enabled": False,
    },
    {
        "name": "报告应列出所含原始记录",
        "kind": "completeness",
        "message_type": "report",
        "path": "test_record_numbers[]",
        "clause": "000 7.1.4",
        "enabled": False,
    },
    {
        "name": "报告应在签发后 72 小时内上传",
        "kind": "timeliness",
        "message_type": "report",
        "path": "issued_on",
        "params": {"hours": 72},
        "clause": "001 5.4.8",
        "enabled": False,
    },
    {
        "name": "委托应登记见证人员",
        "kind": "completeness",
        "message_type": "commission",
        "path": "witness_name",
        "clause": "000 7.1.4",
        "enabled": False,
    },
    {
        "name": "设备应登记检定/校准有效期",
        "kind": "completeness",
        "message_type": "registry.equipment",
        "path": "equipment[].calibration_valid_until",
        "clause": "000 7.1.4",
        "enabled": False,
    },
)


def load_defaults(db: Session) -> str:
    """The default rules, into a database that has none (reference data: no audit rows)."""
    if db.scalar(select(QualityRule.id).limit(1)) is not None:
        return "数据质量规则：已有规则，未加载默认规则"
    from sqlalchemy import insert

    from jcjg.core.db import utcnow

    now = utcnow()
    db.execute(
        insert(QualityRule),
        [
            {
                "name": d["name"],
                "kind": d["kind"],
                "message_type": d["message_type"],
                "path": d["path"],
                "params": d.get("params", {}),
                "clause": d["clause"],
                "enabled": d["enabled"],
                "created_at": now,
                "updated_at": now,
            }
            for d in DEFAULTS
        ],
    )
    return f"数据质量规则：载入默认规则 {len(DEFAULTS)} 条"
