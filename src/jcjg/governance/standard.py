"""The data standard as data: what the exchange's message types are made of, read off their JSON
Schemas (the code's baseline), and the content of a version (docs/governance.md).

A version's content is one JSON object::

    {"elements": [{"id", "name", "definition", "type", "unit", "clause", "domain", "envelope"}],
     "code_lists": [{"id", "name", "codes": [{"code", "label"}]}],
     "models": [{"id", "title", "fields": [{"path", "element", "required", "repeated"}]}]}

An element's ``envelope`` is what the code takes (its type's widest value domain, checked by the
message's pydantic model); its ``domain`` is what the version allows, always within the
envelope. The baseline's domain is its envelope; a province narrows a domain in a new version
(a code list's codes, a range, a length), and from the version's effective date the exchange
refuses a value outside it (:mod:`jcjg.governance.checks`). A change of type or structure is a
change of the code, never of a version.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from typing import Any, get_args

from pydantic import BaseModel

from jcjg.core import labels
from jcjg.core.text import MULTILINE_PATTERN, SINGLE_LINE_PATTERN, TRIMMED_PATTERN

BASELINE_FILE = "baseline.json"
TYPES = ("string", "integer", "number", "decimal", "boolean", "date", "datetime", "uuid", "object")
# the keys of a value domain, in the order pages show them
DOMAIN_KEYS = (
    "enum",
    "minimum",
    "maximum",
    "exclusive_minimum",
    "exclusive_maximum",
    "min_length",
    "max_length",
    "pattern",
    "decimal_places",
    "text",
)
_JSON_KEYS = {
    "enum": "enum",
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
}
_TEXT = {MULTILINE_PATTERN: "multiline", SINGLE_LINE_PATTERN: "line", TRIMMED_PATTERN: "line"}
_DECIMAL_PLACES = re.compile(r"\(\\\.\[0-9\]\{1,(\d+)\}\)\?\$$")
_NAME_END = re.compile(r"[（(，,；;。:：]")


def content_sha256(content: Mapping[str, Any]) -> str:
    """The SHA-256 of a content's canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- reading a JSON Schema ------------------------------------------------------------------


@dataclass
class _Leaf:
    model: str  # the message type
    path: str  # records[].grade
    owner: str  # the schema that declares it: the $defs name, or the message type
    name: str
    type: str
    domain: dict[str, Any]
    description: str
    required: bool
    repeated: bool

    def signature(self) -> str:
        return json.dumps([self.type, self.domain], sort_keys=True, ensure_ascii=False)


def _resolve(node: dict[str, Any], defs: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    ref = node.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return dict(defs[name]), name
    return node, None


def _scalar(node: dict[str, Any], defs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The type and value domain of a scalar schema (after null is taken out)."""
    node, _ = _resolve(node, defs)
    branches = [b for b in node.get("anyOf", ()) if b.get("type") != "null"]
    if branches:
        kinds = {b.get("type") for b in branches}
        if kinds == {"number", "string"}:  # a DecimalText: a number or its text
            domain: dict[str, Any] = {}
            for branch in branches:
                for key, ours in _JSON_KEYS.items():
                    if key in branch and key != "pattern":
                        domain[ours] = branch[key]
                match = _DECIMAL_PLACES.search(branch.get("pattern", ""))
                if match:
                    domain["decimal_places"] = int(match.group(1))
            return "decimal", domain
        if len(branches) == 1:
            return _scalar(branches[0], defs)
        return "object", {}  # a union of scalars (a result's value): any JSON value
    kind = node.get("type")
    if "enum" in node and kind is None:
        kind = "string"
    domain = {ours: node[key] for key, ours in _JSON_KEYS.items() if key in node}
    if "pattern" in domain and domain["pattern"] in _TEXT:
        domain["text"] = _TEXT[domain.pop("pattern")]
    fmt = node.get("format")
    if kind == "string" and fmt in ("date", "date-time", "uuid"):
        kind = {"date": "date", "date-time": "datetime", "uuid": "uuid"}[fmt]
        domain.pop("text", None)
    if kind not in TYPES:
        kind = "object"
    if kind == "object":
        domain = {}
    return str(kind), domain


def _is_object(node: dict[str, Any], defs: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The record schema a property holds (itself, nullable or in a list), and its name."""
    node, name = _resolve(node, defs)
    branches = [b for b in node.get("anyOf", ()) if b.get("type") != "null"]
    if len(branches) == 1:
        return _is_object(branches[0], defs)
    if "properties" in node:
        return node, name or ""
    return None


def _leaves(
    model: str, node: dict[str, Any], defs: Mapping[str, Any], prefix: str, owner: str
) -> Iterable[_Leaf]:
    required = set(node.get("required", ()))
    for name, prop in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        resolved, _ = _resolve(prop, defs)
        branches = [b for b in resolved.get("anyOf", ()) if b.get("type") != "null"]
        inner = branches[0] if len(branches) == 1 else resolved
        inner, _ = _resolve(inner, defs)
        repeated = inner.get("type") == "array"
        target = inner.get("items", {}) if repeated else prop
        record = _is_object(target, defs)
        if record is not None:
            schema, record_name = record
            yield from _leaves(
                model, schema, defs, f"{path}[]." if repeated else f"{path}.", record_name or owner
            )
            continue
        kind, domain = _scalar(target, defs)
        description = str(prop.get("description") or resolved.get("description") or "")
        yield _Leaf(
            model,
            path + ("[]" if repeated else ""),
            owner,
            name,
            kind,
            domain,
            description,
            name in required,
            repeated,
        )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# names of fields whose declaration gives none a reader could use
NAMES = {
    "accuracy": "准确度等级",
    "acquisition": "数据采集方式",
    "active": "是否有效",
    "address": "地址",
    "area_m2": "面积（m²）",
    "birth_date": "出生日期",
    "calibration_body": "检定/校准机构",
    "calibration_valid_until": "检定/校准有效期至",
    "complete": "登记信息已全部报送",
    "education": "学历",
    "employed_from": "入职日期",
    "event": "样品事件",
    "gender": "性别",
    "inspector_certificate_no": "检测人员证书编号",
    "is_inspector": "是否检测人员",
    "key_role": "关键岗位",
    "lab_name": "场所名称",
    "major": "所学专业",
    "measuring_range": "测量范围",
    "model": "型号",
    "occurred_at": "发生时间",
    "parameter_codes": "检测参数代码",
    "registered_certificate_no": "注册证书编号",
    "retired": "是否停用",
    "revised_by_id_number": "修改人身份证号",
    "specialties": "专业代码",
    "specification": "规格",
    "test_items": "检测项目代码",
    "title": "职称",
    "title_major": "职称专业",
    "years_in_testing": "从事检测工作年限",
}


# labels of codes a message type declares as plain literals (no enum with labels)
CODE_LABELS = {
    "in_use": "在用",
    "out_of_service": "停用待修",
    "retired": "已停用",
    "received": "收样验封",
    "testing": "检测开始",
    "tested": "检测完成",
    "male": "男",
    "female": "女",
    "legal_representative": "法定代表人",
    "technical_director": "技术负责人",
    "quality_manager": "质量负责人",
    "none": "无",
    "junior": "初级",
    "intermediate": "中级",
    "senior": "副高级",
    "professor": "正高级",
    "A": "A 样",
    "B": "B 样",
}


def _short_name(name: str, description: str) -> str:
    if name in NAMES and (not description or re.match(r"[ -~]", description)):
        return NAMES[name]
    known = labels.table("field").get(name)
    if known:
        return known
    text = _NAME_END.split(description.strip(), 1)[0].strip() if description else ""
    return text[:40] or name


def _code_label(value: str, tables: Mapping[str, Mapping[str, str]]) -> str:
    for kind in sorted(tables):
        if kind in ("field", "column", "page", "problem", "finding", "tag"):
            continue
        found = tables[kind].get(value)
        if found:
            return found
    return ""


def _enums(annotation: Any, seen: set[int]) -> Iterable[type[Enum]]:
    """The enums a field's annotation holds (in unions, lists, Annotated, nested models)."""
    if id(annotation) in seen:
        return
    seen.add(id(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        yield annotation
        return
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for info in annotation.model_fields.values():
            yield from _enums(info.annotation, seen)
        return
    for inner in get_args(annotation):
        yield from _enums(inner, seen)


def enum_labels(kinds: Mapping[str, Any]) -> dict[tuple[str, ...], dict[str, str]]:
    """The labels of the message types' enums, by their values (in order)."""
    seen: set[int] = set()
    found: dict[tuple[str, ...], dict[str, str]] = {}
    for kind in kinds.values():
        for enum in _enums(kind.schema, seen):
            values = tuple(str(m.value) for m in enum)
            found[values] = {str(m.value): str(getattr(m, "label", "")) for m in enum}
    return found


def build(kinds: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline content of the message types ``kinds`` (``{name: MessageType}``): one
    element per distinct field (a name the models use with different types or domains gets one
    element per domain, named after the record that declares it), a code list per enumerated
    element, a model per message type."""
    leaves: list[_Leaf] = []
    titles = {}
    for name in sorted(kinds):
        kind = kinds[name]
        schema = kind.schema.model_json_schema()
        titles[name] = kind.title
        leaves.extend(_leaves(name, schema, schema.get("$defs", {}), "", name))
    by_name: dict[str, dict[str, list[_Leaf]]] = defaultdict(lambda: defaultdict(list))
    for leaf in leaves:
        by_name[leaf.name][leaf.signature()].append(leaf)
    element_of: dict[tuple[str, str], str] = {}
    elements: dict[str, dict[str, Any]] = {}
    for name, signatures in sorted(by_name.items()):
        for _signature, group in sorted(signatures.items()):
            if len(signatures) == 1:
                element_id = name
            else:
                owners = Counter(_snake(leaf.owner).replace(".", "_") for leaf in group)
                element_id = f"{sorted(owners, key=lambda o: (-owners[o], o))[0]}.{name}"
                while element_id in elements:
                    element_id += "_"
            first = group[0]
            descriptions = Counter(leaf.description for leaf in group if leaf.description)
            definition = descriptions.most_common(1)[0][0] if descriptions else ""
            elements[element_id] = {
                "id": element_id,
                "name": _short_name(name, definition),
                "definition": definition,
                "type": first.type,
                "unit": "",
                "clause": "",
                "code_list": element_id if "enum" in first.domain else None,
                "domain": dict(first.domain),
                "envelope": dict(first.domain),
            }
            for leaf in group:
                element_of[(leaf.model, leaf.path)] = element_id
    tables = labels.tables()
    by_values = enum_labels(kinds)
    code_lists = [
        {
            "id": element["id"],
            "name": element["name"],
            "codes": [
                {
                    "code": str(code),
                    "label": by_values.get(tuple(map(str, element["envelope"]["enum"])), {}).get(
                        str(code)
                    )
                    or CODE_LABELS.get(str(code))
                    or _code_label(str(code), tables),
                }
                for code in element["envelope"]["enum"]
            ],
        }
        for element in elements.values()
        if element["code_list"]
    ]
    models: dict[str, dict[str, Any]] = {}
    for leaf in leaves:
        model = models.setdefault(
            leaf.model, {"id": leaf.model, "title": titles[leaf.model], "fields": []}
        )
        model["fields"].append(
            {
                "path": leaf.path,
                "element": element_of[(leaf.model, leaf.path)],
                "required": leaf.required,
                "repeated": leaf.repeated,
            }
        )
    return {
        "elements": sorted(elements.values(), key=lambda e: e["id"]),
        "code_lists": sorted(code_lists, key=lambda c: c["id"]),
        "models": [models[name] for name in sorted(models)],
    }


def shipped() -> dict[str, Any]:
    """The baseline shipped with the package (``data/baseline.json``)."""
    text = resources.files("jcjg.governance").joinpath("data", BASELINE_FILE).read_text("utf-8")
    return dict(json.loads(text))


def dumps(content: Mapping[str, Any]) -> str:
    """A content as the shipped file writes it: indented, sorted keys, a final newline."""
    return json.dumps(content, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
