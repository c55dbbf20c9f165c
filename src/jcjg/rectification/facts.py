"""A city's rectification orders rebuilt on its province (``core.facts``; docs/networking.md,
"A child's facts"): every step of an order the city takes (``rectification_order:<action>``:
issue, answer, return, close, publish, unpublish) becomes the same step of the province's copy,
so the province's order list, the institution's dossier and the public 整改公示 hold every
city's orders.

An order's entry names the city's own row ids (the order, the institution, the alerts and
nonconformities it cites) and the SHA-256 of the answer's evidence, not the texts. So the city
sends beside the leaf what the province needs (``content``): the institution's code, the
findings and requirement (on issuing), the step's note and who took it, and the evidence's
particulars; the evidence files themselves are uploaded before the forward, as a message's
files are. The texts rest on the city's word (its forward is signed); the evidence must be the
files the entry notarised. The alerts and nonconformities an order cites are the city's and
stay there (the province has its own).

The province keeps the order as the city's (``origin``): it shows where it came from, only the
city acts on it, and the overdue rule leaves it to the city."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.evidence import Stored
from jcjg.core.facts import Exported, FactApplier, FactContent, ForwardedFact, parsed_content
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.text import MultiLine, TextModel
from jcjg.rectification.choices import Ground, OrderAction, OrderStatus
from jcjg.rectification.models import RectificationEvent, RectificationOrder
from jcjg.rectification.service import MAX_TEXT
from jcjg.tenancy.facts import childs_institution
from jcjg.tenancy.models import Institution

PREFIX = "rectification_order:"


class Stepped(TextModel):
    """A step's entry as the child notarised it (``rectification.service._event``)."""

    model_config = ConfigDict(extra="ignore")  # the child's ids, what a later log adds

    number: str = Field(pattern=r"^ZG\d{10}\d{4,8}$")
    region: str = Field(pattern=r"^\d{6}$")  # the issuing authority's
    grounds: list[Ground] = Field(min_length=1, max_length=len(Ground))
    to: OrderStatus
    deadline: dt.date
    public: bool = Field(strict=True)
    evidence: list[str] = Field(default_factory=list, max_length=10)
    at: dt.datetime


class Content(TextModel):
    """What the province needs of the step beyond its entry."""

    model_config = ConfigDict(extra="forbid")

    institution: str = Field(min_length=1, max_length=32)  # the institution's code
    actor: str = Field(min_length=1, max_length=100)
    note: MultiLine = Field(default="", max_length=MAX_TEXT)
    findings: MultiLine = Field(default="", max_length=MAX_TEXT)
    requirement: MultiLine = Field(default="", max_length=MAX_TEXT)
    evidence: list[Stored] = Field(default_factory=list, max_length=10)


# --- the child: what the entry does not hold ------------------------------------------------------


def contents() -> dict[str, FactContent]:
    return {PREFIX + action.value: content for action in OrderAction}


def content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The step notarised at ``index``: its order's institution and texts, its note, who took
    it, its evidence (the files uploaded with the forward)."""
    event = db.scalar(select(RectificationEvent).where(RectificationEvent.ledger_index == index))
    if event is None:
        return None
    order = db.get(RectificationOrder, event.order_id)
    inst = db.get(Institution, order.institution_id) if order else None
    if order is None or inst is None or order.number != data.get("number"):
        return None
    given: dict[str, Any] = {
        "institution": inst.code, "actor": event.actor_name, "note": event.note,
        "evidence": list(event.evidence),
    }  # fmt: skip
    if event.action == OrderAction.ISSUE.value:
        given |= {"findings": order.findings, "requirement": order.requirement}
    return Exported(given, tuple(f["sha256"] for f in event.evidence))


# --- the parent: the step taken on its copy ---------------------------------------------------


def appliers() -> dict[str, FactApplier]:
    return {PREFIX + action.value: _applier(action) for action in OrderAction}


def _applier(action: OrderAction) -> FactApplier:
    def apply(db: Session, fact: ForwardedFact) -> None:
        step, given = _parsed(fact)
        if action is OrderAction.ISSUE:
            _issue(db, fact, step, given)
        else:
            _step(db, fact, action, step, given)

    return apply


def _issue(db: Session, fact: ForwardedFact, step: Stepped, given: Content) -> None:
    same = db.scalar(select(RectificationOrder).where(RectificationOrder.number == step.number))
    if same is not None:
        if same.origin == fact.platform:
            return  # sent again: the forward is at-least-once
        raise Conflict(
            f"整改通知编号 {step.number} 在本平台已用于另一份整改通知",
            errors=[FieldError("number", "已登记", "duplicate")],
        )
    if not given.findings.strip() or not given.requirement.strip():
        raise ValidationFailed(
            errors=[FieldError("content", "下达整改通知须附查实的问题和整改要求")]
        )
    inst = childs_institution(db, fact, given.institution)
    order = RectificationOrder(
        number=step.number, institution_id=inst.id, region_code=step.region,
        grounds=[g.value for g in step.grounds], findings=given.findings,
        requirement=given.requirement, alert_ids=[], nonconformity_ids=[],
        deadline=step.deadline, status=step.to.value, issued_at=step.at,
        is_public=step.public, origin=fact.platform, origin_index=fact.index,
    )  # fmt: skip
    db.add(order)
    db.flush()
    _event(db, order, OrderAction.ISSUE, None, step, given)


def _step(
    db: Session, fact: ForwardedFact, action: OrderAction, step: Stepped, given: Content
) -> None:
    order = db.scalar(
        select(RectificationOrder).where(
            RectificationOrder.number == step.number, RectificationOrder.origin == fact.platform
        )
    )
    if order is None or not order.region_code.startswith(scope_prefix(fact.region_code)):
        raise NotFound(f"整改通知 {step.number} 未由该下级平台报送，无从{action.label}")
    taken = db.scalar(
        select(RectificationEvent.id).where(
            RectificationEvent.order_id == order.id,
            RectificationEvent.action == action.value,
            RectificationEvent.at == step.at,
        )
    )
    if taken is not None:
        return  # sent again
    before = OrderStatus(order.status)
    order.status, order.deadline, order.origin_index = step.to.value, step.deadline, fact.index
    if action is OrderAction.ANSWER:
        order.answer, order.answered_at = given.note, step.at
        order.answer_evidence = [f.model_dump() for f in given.evidence]
    if action is OrderAction.CLOSE:
        order.closed_at = step.at
    if action in (OrderAction.PUBLISH, OrderAction.UNPUBLISH):
        order.is_public = action is OrderAction.PUBLISH
        order.published_at = step.at if order.is_public else None
    db.flush()
    _event(db, order, action, before, step, given)


def _event(
    db: Session,
    order: RectificationOrder,
    action: OrderAction,
    before: OrderStatus | None,
    step: Stepped,
    given: Content,
) -> None:
    deadline = step.deadline if action in (OrderAction.ISSUE, OrderAction.RETURN) else None
    db.add(
        RectificationEvent(
            order_id=order.id,
            action=action.value,
            from_status=before.value if before else None,
            to_status=step.to.value,
            actor_name=given.actor,
            note=given.note,
            deadline=deadline,
            evidence=[f.model_dump() for f in given.evidence],
            at=step.at,
        )
    )
    db.flush()


def _parsed(fact: ForwardedFact) -> tuple[Stepped, Content]:
    try:
        step = Stepped.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if step.at.tzinfo is None:
        raise ValidationFailed(errors=[FieldError("at", "时间须带时区")])
    if not step.region.startswith(scope_prefix(fact.region_code)):
        raise ValidationFailed(
            f"下达整改通知的行政区划 {step.region} 不在下级平台“{fact.platform}”的辖区内",
            errors=[FieldError("region", "不在该下级平台辖区内", "scope")],
        )
    if fact.content is None:
        raise ValidationFailed(errors=[FieldError("content", "缺少整改通知的内容")])
    given = parsed_content(Content, fact.content)
    if [f.sha256 for f in given.evidence] != step.evidence:
        raise ValidationFailed(
            "随整改答复报送的证明材料与存证不符",
            errors=[FieldError("content.evidence", "与存证的文件摘要不符", "mismatch")],
        )
    return step, given
