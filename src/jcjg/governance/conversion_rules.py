"""The conversion rules kept as data: added, changed and switched off by the province, each
checked against the data standard in force. A rule rewrites text: a field of type 字符型 that
no code list or pattern binds (those the exchange checks in the request: a value outside them
never arrives), or a key of a structured field (结构型, such as a test's ``values``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.governance import conversion
from jcjg.governance.choices import ConversionKind, DataType
from jcjg.governance.models import ConversionRule, DataElement
from jcjg.governance.rulebook import rule_head
from jcjg.governance.ruleset import CONVERSION

MAX_PAIRS = 200
_KEY = re.compile(r"^[^.\[\]\s]{1,40}$")


def target(fields: Mapping[str, DataElement], path: str) -> tuple[DataElement | None, str | None]:
    """The element a conversion may rewrite at ``path`` (a key of a structured field: that
    field's element), or None and why not."""
    element = fields.get(path)
    if element is not None:
        if path == "institution_code":
            return None, "机构编号在接收时已与发送的系统核对，不做转换"
        if element.type == DataType.OBJECT:
            return None, "结构型字段请填写其中的键（如 成型日期）"
        if element.type != DataType.STRING:
            return None, "转换规则只用于字符型字段（其他类型在接收时已按类型检查）"
        envelope = element.envelope or {}
        if element.code_list or "enum" in envelope or "pattern" in envelope:
            return (
                None,
                "该字段的取值在接收时已按数据字典或格式检查，不合规定的不会被接收，无需转换",
            )
        return element, None
    if "." in path:
        head, key = path.rsplit(".", 1)
        holder = fields.get(head)
        if holder is not None and holder.type == DataType.OBJECT and _KEY.match(key):
            return holder, None
    return None, "该消息类型没有这个字段（见数据标准）；键只用于结构型字段，且不含点、方括号或空白"


def pairs(raw: Any, field: str, errors: list[FieldError], *, limit: int | None) -> dict[str, str]:
    """Lines ``写法=代码`` (``＝`` too) typed in a form, the left side as sent (its full-width
    forms and spaces folded), the right as applied."""
    out: dict[str, str] = {}
    for number, line in enumerate(str(raw or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        left, sep, right = line.replace("＝", "=").partition("=")
        left = unicodedata.normalize("NFKC", left).strip()
        right = right.strip()
        if not sep or not left or not right:
            errors.append(FieldError(field, f"第 {number} 行须写成“原值=转换后的值”", "pairs"))
            return {}
        if len(left) > 100 or len(right) > 100 or (limit is not None and len(right) > limit):
            errors.append(FieldError(field, f"第 {number} 行的值过长", "string_too_long"))
            return {}
        if left in out and out[left] != right:
            errors.append(FieldError(field, f"“{left}”出现了两次，对应不同的值", "pairs"))
            return {}
        out[left] = right
    if len(out) > MAX_PAIRS:
        errors.append(FieldError(field, f"至多 {MAX_PAIRS} 行", "pairs"))
        return {}
    return out


def _params(
    kind: str, raw: Mapping[str, Any], element: DataElement, errors: list[FieldError]
) -> dict[str, Any]:
    limit = (element.envelope or {}).get("max_length") if element.type == DataType.STRING else None
    if kind == ConversionKind.CODE_MAP:
        mapping = pairs(raw.get("map"), "map", errors, limit=limit)
        if not mapping and not any(e.field == "map" for e in errors):
            errors.append(FieldError("map", "请逐行填写“原值=标准代码”", "missing"))
        return {"map": mapping}
    if kind == ConversionKind.UNIT:
        units = pairs(raw.get("units"), "units", errors, limit=None)
        return {"units": units} if units else {}
    return {}


def save(
    db: Session,
    principal: Principal,
    values: Mapping[str, Any],
    rule: ConversionRule | None = None,
) -> ConversionRule:
    """Add a rule (or change ``rule``) from ``values``: ``name``, ``kind``, ``message_type``,
    ``path``, ``clause``, ``enabled``, and ``map`` (值域转换) or ``units`` (单位, optional);
    ``effective_at``, when the definition takes effect (a message is converted by the version
    in force when it was signed). Each save is kept as a version. A 422 names each refused
    part; nothing is written then."""
    errors: list[FieldError] = []
    head = rule_head(db, values, CONVERSION, errors)
    path = str(values.get("path") or "").strip()
    fields = head.fields
    element, why = target(fields, path) if fields and len(path) <= 200 else (None, None)
    if fields and element is None:
        errors.append(FieldError("path", why or "该消息类型没有这个字段（见数据标准）", "path"))
    params: dict[str, Any] = {}
    if element is not None and head.kind in CONVERSION.kinds:
        params = _params(head.kind, values, element, errors)
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)
    row = CONVERSION.store(db, principal, values, rule, head, path=path, params=params)
    # this process converts by it from its next batch; the others within TTL_SECONDS
    conversion.MEMORY.forget()
    event.listen(db, "after_commit", lambda _s: conversion.MEMORY.forget(), once=True)
    return row


def words(rule: ConversionRule) -> str:
    """What a rule does, in words (lists, pages)."""
    params = rule.params or {}
    if rule.kind == ConversionKind.CODE_MAP:
        shown = [f"{k}→{v}" for k, v in list((params.get("map") or {}).items())[:6]]
        more = len(params.get("map") or {}) - len(shown)
        return "；".join(shown) + (f" 等 {len(shown) + more} 项" if more > 0 else "")
    if rule.kind == ConversionKind.UNIT:
        table = params.get("units") or conversion.UNITS
        targets = sorted(set(table.values()))
        own = "（本规则的写法表）" if params.get("units") else ""
        return "规范为 " + "、".join(targets) + own
    if rule.kind == ConversionKind.DATE:
        return "2026/11/27、2026.11.27、2026年11月27日 → 2026-11-27"
    if rule.kind == ConversionKind.HALFWIDTH:
        return "全角字母、数字、符号与全角空格 → 半角"
    return "去除首尾空白，连续空白合为一个"


def map_text(rule: ConversionRule | None, key: str) -> str:
    """A rule's ``map`` or ``units`` as the form shows it, a pair a line."""
    if rule is None:
        return ""
    return "\n".join(f"{k}={v}" for k, v in (rule.params or {}).get(key, {}).items())
