"""How a city handled a nonconforming result, rebuilt on its province (``core.facts``;
docs/networking.md, "A child's facts"): the handling the city records (``nonconformity:handle``)
and its closing (``nonconformity:close``) become the handling of the province's own entry of
the same result.

The province holds its own register entry of every nonconforming result of a city's lab: it
enters it itself when it applies the lab's test record or ``nonconformity`` message that the
city forwarded. The city's entry names the city's row id only; so the city sends beside the
leaf the institution's code and the record's number (which name the result on both platforms)
and the handling's note (``content``). The province finds its entry of that result, records the
city's handling, status and time on it and marks them as the city's (``handling_origin``): only
the city handles the entry from then on (a handling here is refused, 403)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from jcjg.core.errors import (
    FieldError,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.facts import (
    Exported,
    FactApplier,
    FactContent,
    ForwardedFact,
    NotYet,
    parsed_content,
)
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.text import MultiLine, TextModel
from jcjg.nonconformity.choices import Handling, NcStatus
from jcjg.nonconformity.models import Nonconformity
from jcjg.tenancy.facts import childs_institution
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord

HANDLE, CLOSE = "nonconformity:handle", "nonconformity:close"
REGISTER, LINK, REPORT = "nonconformity:register", "nonconformity:link", "nonconformity:report"


class Handled(TextModel):
    """A handling's entry as the child notarised it (``service.record_handling``)."""

    model_config = ConfigDict(extra="ignore")  # the child's id, what a later log adds

    handling: Handling
    status: NcStatus
    at: dt.datetime


class Entered(TextModel):
    """A register step's entry as the child notarised it (``service._enter``, ``_link``,
    ``_report_record``): the result's record number, who found it, when."""

    model_config = ConfigDict(extra="ignore")  # the child's row ids, the report's times

    number: str = Field(min_length=1, max_length=64)
    found_by: Literal["lab", "platform", "both"]
    at: dt.datetime


class Named(TextModel):
    """What a register step's entry names only by the child's row id: the institution."""

    model_config = ConfigDict(extra="forbid")

    institution: str = Field(min_length=1, max_length=32)  # its code


class Content(TextModel):
    model_config = ConfigDict(extra="forbid")

    institution: str = Field(min_length=1, max_length=32)  # its code
    number: str = Field(min_length=1, max_length=64)  # the raw record's
    # the handling's note; None when the child has handled the entry again since (that later
    # entry brings its own)
    note: MultiLine | None = Field(default=None, max_length=2000)


# --- the child: what the entry does not hold ------------------------------------------------------


def contents() -> dict[str, FactContent]:
    return {HANDLE: content, CLOSE: content, REGISTER: named, LINK: named, REPORT: named}


def named(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The institution a register step's entry names by the child's row id, by its code."""
    item = db.get(Nonconformity, data.get("nonconformity"))
    inst = db.get(Institution, item.institution_id) if item is not None else None
    return Exported({"institution": inst.code}) if inst is not None else None


def content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The result the entry names (institution and record number) and the handling's note,
    while the entry's handling is still the latest."""
    item = db.get(Nonconformity, data.get("nonconformity"))
    if item is None or item.handling_origin is not None:
        return None  # gone, or a grandchild's handling: not ours to send
    inst = db.get(Institution, item.institution_id)
    record = db.get(TestRecord, item.test_record_id) if item.test_record_id else None
    number = record.number if record is not None else item.reported_number
    if inst is None or number is None:
        return None
    latest = item.handled_at is not None and item.handled_at.isoformat() == data.get("at")
    return Exported(
        {"institution": inst.code, "number": number, "note": item.handling_note if latest else None}
    )


# --- the parent: the handling recorded on its own entry ---------------------------------------


def appliers() -> dict[str, FactApplier]:
    return {HANDLE: handled, CLOSE: handled, REGISTER: entered, LINK: entered, REPORT: entered}


def entered(db: Session, fact: ForwardedFact) -> bool | None:
    """The child's register step of a result, on this platform's own entry of that result
    (entered here from the lab's record or report the child forwarded: held until it is): the
    entry names the child's (its name, region, step's index, who found it there). A step of a
    wider level's (the province's own entry, when the city's is named already) changes nothing
    and is only recorded."""
    try:
        step = Entered.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if step.at.tzinfo is None:
        raise ValidationFailed(errors=[FieldError("at", "时间须带时区")])
    if fact.content is None:
        raise ValidationFailed(errors=[FieldError("content", "缺少不合格结果所属的检测机构")])
    given = parsed_content(Named, fact.content)
    item = _entry(db, fact, Content(institution=given.institution, number=step.number))
    if item.origin is not None and item.origin != fact.platform:
        narrower = scope_prefix(item.origin_region or "")
        if fact.region_code == item.origin_region or not fact.region_code.startswith(narrower):
            return False  # named already by a platform at or below this one
    item.origin, item.origin_region = fact.platform, fact.region_code
    item.origin_index, item.origin_found_by = fact.index, step.found_by
    db.flush()
    return None


def handled(db: Session, fact: ForwardedFact) -> None:
    try:
        step = Handled.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if step.at.tzinfo is None:
        raise ValidationFailed(errors=[FieldError("at", "时间须带时区")])
    if step.status is NcStatus.OPEN:
        raise ValidationFailed(errors=[FieldError("status", "处理后的状态应为处理中或已闭环")])
    if fact.content is None:
        raise ValidationFailed(errors=[FieldError("content", "缺少不合格结果的机构与原始记录编号")])
    given = parsed_content(Content, fact.content)
    item = _entry(db, fact, given)
    if item.handling_origin == fact.platform and item.handled_at == step.at:
        return  # sent again: the forward is at-least-once
    item.handling, item.handled_at, item.status = step.handling.value, step.at, step.status.value
    if given.note is not None:
        item.handling_note = given.note.strip()
    item.closed_at = step.at if step.status is NcStatus.CLOSED else None
    item.handling_origin, item.handling_origin_index = fact.platform, fact.index
    db.flush()


def _entry(db: Session, fact: ForwardedFact, given: Content) -> Nonconformity:
    """The province's entry of the result: its institution's (within the child's region) and
    its record's number, the record stored here or the number the lab reported."""
    inst = childs_institution(db, fact, given.institution)
    records = select(TestRecord.id).where(
        TestRecord.institution_id == inst.id, TestRecord.number == given.number
    )
    item = db.scalar(
        select(Nonconformity).where(
            Nonconformity.institution_id == inst.id,
            or_(
                Nonconformity.test_record_id.in_(records),
                Nonconformity.reported_number == given.number,
            ),
        )
    )
    if item is None:  # the lab's record or report is still to be applied here: held
        raise NotYet(
            f"本平台的不合格台账没有检测机构“{given.institution}”原始记录 {given.number} 的结果"
        )
    return item
