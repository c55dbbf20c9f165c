"""One place for the words pages show instead of identifiers.

Every identifier a page could otherwise show has a kind and a Chinese label:

==============  ==================================================  ===============================
kind            what it names                                       where the labels come from
==============  ==================================================  ===============================
``rule``        an alert rule (``loading_rate``)                    the rules' titles
``permission``  a permission (``audit:read``)                       ``Domain.permissions``
``entity``      a kind of object, by table (``test_record``)        ``Domain.labels["entity"]``
``field``       a result, fact or threshold key (``strength_mpa``)  ``Domain.labels["field"]``
``finding``     a key of a rule's findings (``problems``, ``late``) ``Domain.labels["finding"]``
``problem``     a problem type (``signature-invalid``)               ``core.errors.PROBLEM_TYPES``
``page``        where an object of a kind is shown (``{}``: its id)  ``Domain.labels["page"]``
``column``      a table's column (``person.name``)                  the specs' fields, or ``field``
``tag``         a ledger or audit tag (``sample:seal``)             ``entity`` and ``verb`` labels
any other       a stored choice (``role``, ``action`` ...)          an enum in ``Domain.labels``
==============  ==================================================  ===============================

A domain contributes to a kind with a mapping (``{"test_record": "检测记录"}``; several domains
add to the same kind) or owns a kind with an enum whose members have a ``label``. Nothing here
knows a domain: the installed domains are read once per :func:`domains.generation`.

A key nobody labelled never breaks a page: :func:`label` answers something readable (a
numbered key ``2.yield_mpa`` becomes "2 号" and its base's label; an unknown snake_case key is
shown with spaces, which is still no identifier to a reader).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

from jcjg.core import domains
from jcjg.core.errors import PROBLEM_TYPES

_SNAKE = re.compile(r"[a-z]+_[a-z0-9_]+")
_NUMBERED = re.compile(r"(\d+)\.(.+)")
_INDEXED = re.compile(r"([a-z_]+)\[(\d+)\]\.(?:.*\.)?([^.]+)")  # specimens[2].values.yield_kn

_cache: tuple[int, dict[str, dict[str, str]]] = (-1, {})


def _enum_labels(enum: type[Enum]) -> dict[str, str]:
    return {str(m.value): str(getattr(m, "label", m.value)) for m in enum}


def _collect() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    installed = domains.installed()
    for domain in installed:
        for kind, given in domain.labels.items():
            words = _enum_labels(given) if isinstance(given, type) else dict(given)
            tables.setdefault(kind, {}).update(words)
    tables["rule"] = {**tables.get("rule", {}), **domains.rule_titles()}
    columns, entities = tables.setdefault("column", {}), tables.setdefault("entity", {})
    for domain in installed:
        for spec in domain.specs:  # generic.spec.EntitySpec: a model's fields with labels
            table = str(spec.model.__tablename__)
            entities.setdefault(table, str(spec.label))
            columns.update({f"{table}.{f.name}": str(f.label) for f in spec.fields})
    problems = tables.setdefault("problem", {})
    problems.update({slug: kind.title for slug, kind in PROBLEM_TYPES.items()})
    permissions = tables.setdefault("permission", {})
    for domain in installed:
        permissions.update(domain.permissions)
    return tables


def tables() -> dict[str, dict[str, str]]:
    """Every kind and its labels, as the installed domains declare them (kept per generation)."""
    global _cache
    generation = domains.generation()
    if _cache[0] != generation:
        _cache = (generation, _collect())
    return _cache[1]


def table(kind: str) -> dict[str, str]:
    """The labels of one kind (empty for a kind nobody declares)."""
    return dict(tables().get(kind, {}))


def readable(value: str) -> str:
    """An unlabelled key as a reader could take it: ``foo_bar`` -> ``foo bar``."""
    return value.replace("_", " ") if _SNAKE.search(value) else value


def label(kind: str, value: Any) -> str:
    """The Chinese label of ``value`` of ``kind`` (``label("rule", "loading_rate")`` ->
    加荷速度异常). ``None`` is "—"; an unknown key is made readable, never an error."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Enum):
        value = value.value
    text = str(value)
    words = tables().get(kind, {})
    if text in words:
        return words[text]
    if kind == "column" and "." in text:  # "<table>.<column>": the column's own, else a field's
        return label("field", text.partition(".")[2])
    if kind == "action" and ":" in text:  # an audit action named by its tag (camera:watch)
        return label("tag", text)
    if kind == "tag" and ":" in text:  # an audit or ledger tag "<entity>:<action>"
        entity, _, verb = text.partition(":")
        known = entity in tables().get("entity", {}) and verb in tables().get("verb", {})
        return (" " if not known else "").join((label("entity", entity), label("verb", verb)))
    numbered = _NUMBERED.fullmatch(text)
    if numbered and numbered.group(2) in words:
        return f"{numbered.group(1)} 号{words[numbered.group(2)]}"
    indexed = _INDEXED.fullmatch(text)
    if indexed:
        whole, number, part = indexed.groups()
        return f"{label(kind, whole)} {number}：{label(kind, part)}"
    return readable(text)


def page_of(entity: str | None, object_id: object) -> str | None:
    """The address of an object's page from its kind and id (``test_record``, 7 ->
    ``/testing/records/7``), from the domains' ``page`` labels; None when it has none."""
    pattern = tables().get("page", {}).get(entity or "")
    if pattern is None or object_id is None or not str(object_id).isdecimal():
        return None
    return pattern.format(object_id)


def shown(column: str, value: Any) -> str:
    """A stored value as a page shows it: nothing as "—", yes/no in words, a value of a labelled
    choice named like its column (``role``) by its label, anything else as text."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    words = tables().get(column.rpartition(".")[2], {})
    return words.get(str(value), str(value))


def labelled(kind: str, values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``values`` as (label, value) pairs, in their order (a record's results, say)."""
    return [(label(kind, k), v) for k, v in values.items()]


def is_identifier(text: str) -> bool:
    """Whether ``text`` holds something shaped like an identifier (``[a-z]+_[a-z0-9_]+``)."""
    return _SNAKE.search(text) is not None
