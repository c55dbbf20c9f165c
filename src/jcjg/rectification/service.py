"""Rectification orders (责令整改, 002 articles 17-18): an authority (``case:handle``) orders an
institution to rectify one or more of the six behaviours of article 17, with what it found
(its findings, the alerts and nonconformities it cites), what is required and a deadline; the
institution (``case:answer``, its own orders only) answers with evidence; the authority closes
the order or returns it with a reason and a new deadline; and it may publish the order on the
public list (article 18) or take it down again.

Every step is a :class:`RectificationEvent` written with the order in the request's one
transaction, audited (``rectification_order``), notarised in the log
(``rectification_order:<action>``: ids, grounds, statuses, the deadline, the evidence's
hashes; no names) and told to the other side (the institution's users; the issuing region's
authorities of an answer). A refused step raises before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jcjg.alerts.cases import parse_deadline
from jcjg.alerts.models import Alert
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, restrict
from jcjg.config import Settings
from jcjg.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from jcjg.core.evidence import Upload
from jcjg.core.evidence import check as check_evidence
from jcjg.core.evidence import store as store_evidence
from jcjg.core.forms import form_id
from jcjg.core.workdays import BEIJING, add_working_days, beijing_date
from jcjg.ledger import service as ledger
from jcjg.nonconformity.models import Nonconformity
from jcjg.rectification.choices import Ground, OrderAction, OrderStatus
from jcjg.rectification.models import RectificationEvent, RectificationOrder
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution

HANDLE = "case:handle"  # authorities: issue, return, close, publish, unpublish
ANSWER = "case:answer"  # the institution: answer its own orders with evidence

S = OrderStatus
A = OrderAction
# the steps that move an order: from which statuses, to which
TRANSITIONS: dict[OrderAction, tuple[frozenset[OrderStatus], OrderStatus]] = {
    A.ANSWER: (frozenset({S.ISSUED}), S.ANSWERED),
    A.RETURN: (frozenset({S.ANSWERED}), S.ISSUED),
    A.CLOSE: (frozenset({S.ANSWERED}), S.CLOSED),
}
STEPS = (A.ANSWER, A.RETURN, A.CLOSE, A.PUBLISH, A.UNPUBLISH)  # on an order's page
NEEDS_NOTE = {A.ANSWER, A.RETURN, A.PUBLISH, A.UNPUBLISH}
NEEDS_DEADLINE = {A.RETURN}
DEFAULT_WORKING_DAYS = 15  # the deadline the form offers
MAX_TEXT = 2000
MAX_CITED = 50  # alerts, and nonconformities, one order may cite


@dataclass(frozen=True)
class Draft:
    """What the issuing form holds, as typed (ids as text, checked by :func:`issue`)."""

    institution_id: str = ""
    grounds: tuple[str, ...] = ()
    findings: str = ""
    requirement: str = ""
    deadline: str = ""
    alert_ids: tuple[str, ...] = ()
    nonconformity_ids: tuple[str, ...] = ()


def default_deadline(now: dt.datetime) -> dt.date:
    return add_working_days(beijing_date(now), DEFAULT_WORKING_DAYS)


def status_of(order: RectificationOrder) -> OrderStatus:
    return OrderStatus(order.status)


def events_of(db: Session, order: RectificationOrder) -> list[RectificationEvent]:
    return list(
        db.scalars(
            select(RectificationEvent)
            .where(RectificationEvent.order_id == order.id)
            .order_by(RectificationEvent.id)
        )
    )


def _may(principal: Principal, order: RectificationOrder, action: OrderAction) -> bool:
    if action is A.ANSWER:
        return principal.can(ANSWER) and principal.institution_id == order.institution_id
    return principal.can(HANDLE)


def _in_state(order: RectificationOrder, action: OrderAction) -> bool:
    if action is A.PUBLISH:
        return not order.is_public
    if action is A.UNPUBLISH:
        return order.is_public
    if action is A.ISSUE:
        return False
    return status_of(order) in TRANSITIONS[action][0]


def allowed_actions(principal: Principal, order: RectificationOrder) -> list[OrderAction]:
    """What ``principal`` may do with the order now (in the form's order): nothing with a child
    platform's order (it is acted on there)."""
    if order.origin is not None:
        return []
    return [a for a in STEPS if _in_state(order, a) and _may(principal, order, a)]


# --- issuing -----------------------------------------------------------------------------------


def _ids(raw: tuple[str, ...], field: str, what: str, errors: list[FieldError]) -> list[int]:
    values = {v.strip() for v in raw if v.strip()}
    ids = {form_id(v) for v in values}
    if None in ids:
        errors.append(FieldError(field, f"{what}编号应为数字", "type"))
        return []
    if len(values) > MAX_CITED:
        errors.append(FieldError(field, f"最多引用 {MAX_CITED} 条{what}", "too_many"))
        return []
    return sorted(i for i in ids if i is not None)


def _text(value: str, field: str, missing: str, errors: list[FieldError]) -> str:
    value = value.strip()
    if not value:
        errors.append(FieldError(field, missing, "required"))
    elif len(value) > MAX_TEXT:
        errors.append(FieldError(field, f"不超过 {MAX_TEXT} 字", "too_long"))
    return value


def visible_institution(db: Session, principal: Principal, raw: str) -> Institution | None:
    """The institution ``raw`` names when the principal's scope holds it."""
    ident = form_id(raw)
    if ident is None:
        return None
    stmt = select(Institution).where(Institution.id == ident)
    found: Institution | None = db.scalars(restrict(stmt, principal, "read")).first()
    return found


def _cited(
    db: Session, principal: Principal, model: type[Any], ids: list[int], institution_id: int
) -> list[int]:
    """Of ``ids``, those the principal does not see or that are another institution's."""
    if not ids:
        return []
    stmt = restrict(select(model.id).where(model.id.in_(ids)), principal, "read")
    seen = set(db.scalars(stmt.where(model.institution_id == institution_id)))
    return [i for i in ids if i not in seen]


def _next_number(db: Session, region_code: str, now: dt.datetime) -> str:
    """``ZG`` + the issuing region + the Beijing year + a serial within them (0001, ...)."""
    prefix = f"ZG{region_code}{now.astimezone(BEIJING).year}"
    # one issuer of the region at a time takes the next serial (PostgreSQL; SQLite writes one
    # transaction at a time anyway)
    db.scalars(select(Region.code).where(Region.code == region_code).with_for_update()).first()
    last = db.scalars(
        select(RectificationOrder.number)
        .where(RectificationOrder.number.like(f"{prefix}%"))
        .order_by(func.length(RectificationOrder.number).desc(), RectificationOrder.number.desc())
        .limit(1)
    ).first()
    serial = int(last[len(prefix) :]) + 1 if last else 1
    return f"{prefix}{serial:04d}"


def issue(
    *, db: Session, principal: Principal, draft: Draft, now: dt.datetime
) -> RectificationOrder:
    """Order the institution to rectify: checked (403 without ``case:handle``; 422 for a
    missing or wrong field, an institution outside the issuer's scope, a cited alert or
    nonconformity the issuer does not see or of another institution), written, audited,
    notarised and told to the institution."""
    if not principal.can(HANDLE):
        raise PermissionDenied("只有监管部门可以下达整改通知")
    errors: list[FieldError] = []
    institution = visible_institution(db, principal, draft.institution_id)
    if institution is None:
        errors.append(FieldError("institution_id", "请选择辖区内的检测机构", "required"))
    known = {g.value for g in Ground}
    grounds = [g.value for g in Ground if g.value in set(draft.grounds)]
    if not grounds:
        errors.append(FieldError("grounds", "请至少选择一项整改情形", "required"))
    elif set(draft.grounds) - known:
        errors.append(FieldError("grounds", "整改情形不在可选的情形之内", "invalid"))
    findings = _text(draft.findings, "findings", "请写明查实的问题", errors)
    requirement = _text(draft.requirement, "requirement", "请写明整改要求", errors)
    deadline = parse_deadline(draft.deadline, beijing_date(now), errors)
    alert_ids = _ids(draft.alert_ids, "alert_ids", "预警", errors)
    nc_ids = _ids(draft.nonconformity_ids, "nonconformity_ids", "不合格结果", errors)
    if institution is not None:
        foreign = _cited(db, principal, Alert, alert_ids, institution.id)
        if foreign:
            says = "、".join(f"#{i}" for i in foreign)
            errors.append(FieldError("alert_ids", f"预警 {says} 不存在或不属于该检测机构"))
        foreign = _cited(db, principal, Nonconformity, nc_ids, institution.id)
        if foreign:
            says = "、".join(f"#{i}" for i in foreign)
            errors.append(
                FieldError("nonconformity_ids", f"不合格结果 {says} 不存在或不属于该检测机构")
            )
    if errors:
        raise ValidationFailed(errors=errors)
    assert institution is not None
    region = principal.region_code or institution.region_code
    order = RectificationOrder(
        number=_next_number(db, region, now), institution_id=institution.id, region_code=region,
        grounds=grounds, findings=findings, requirement=requirement, alert_ids=alert_ids,
        nonconformity_ids=nc_ids, deadline=deadline, status=S.ISSUED.value,
        issued_by=principal.user_id, issued_at=now,
    )  # fmt: skip
    db.add(order)
    db.flush()
    event = _event(db, order, A.ISSUE, None, principal, now, note="", deadline=deadline)
    order.ledger_index = event.ledger_index
    return order


# --- the steps after -----------------------------------------------------------------------------


def act(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    order: RectificationOrder,
    action: OrderAction,
    now: dt.datetime,
    note: str = "",
    deadline: str | dt.date | None = None,
    evidence: list[Upload] | None = None,
) -> RectificationOrder:
    """Take a step on an order the principal sees: 403 when it is not theirs to take, 409 when
    the order is not in a state for it, 422 for a missing reason, deadline or evidence."""
    evidence = evidence or []
    # one step at a time on an order: a second request waits here, then sees the first's status
    db.refresh(order, with_for_update=True)
    if action is A.ISSUE or not _may(principal, order, action):
        raise PermissionDenied("您不能对这份整改通知执行此操作")
    if order.origin is not None:
        raise PermissionDenied(f"这份整改通知由下级平台“{order.origin}”报送，只能在该平台办理")
    if not _in_state(order, action):
        raise _wrong_state(order, action)
    note = note.strip()
    new_deadline = _clean(action, note=note, deadline=deadline, evidence=evidence, now=now)
    stored = store_evidence(settings, evidence)
    before = status_of(order)
    if action in TRANSITIONS:
        order.status = TRANSITIONS[action][1].value
    if action is A.ANSWER:
        order.answer = note
        order.answer_evidence = stored
        order.answered_by = principal.user_id
        order.answered_at = now
    if new_deadline is not None:
        order.deadline = new_deadline
    if action is A.CLOSE:
        order.closed_at = now
    if action in (A.PUBLISH, A.UNPUBLISH):
        order.is_public = action is A.PUBLISH
        order.published_at = now if action is A.PUBLISH else None
    db.flush()
    _event(db, order, action, before, principal, now, note=note, deadline=new_deadline,
           evidence=stored)  # fmt: skip
    return order


def _wrong_state(order: RectificationOrder, action: OrderAction) -> Conflict:
    """Why the order is not in a state for ``action``."""
    if action is A.PUBLISH:
        return Conflict("这份整改通知已经公布")
    if action is A.UNPUBLISH:
        return Conflict("这份整改通知没有公布")
    return Conflict(f"整改通知状态为“{status_of(order).label}”，不能{action.label}")


def _clean(
    action: OrderAction,
    *,
    note: str,
    deadline: str | dt.date | None,
    evidence: list[Upload],
    now: dt.datetime,
) -> dt.date | None:
    """Check the step's fields (422 with every error); the deadline it sets, if any."""
    errors: list[FieldError] = []
    if action in NEEDS_NOTE and not note:
        says = {
            A.ANSWER: "请写明整改情况",
            A.PUBLISH: "请写明公示的整改情况（将公开显示，请勿写入姓名、电话等个人信息）",
        }.get(action, "请写明理由")
        errors.append(FieldError("note", says, "required"))
    if len(note) > MAX_TEXT:
        errors.append(FieldError("note", f"说明不超过 {MAX_TEXT} 字", "too_long"))
    new_deadline = None
    if action in NEEDS_DEADLINE:
        new_deadline = parse_deadline(deadline, beijing_date(now), errors)
    if action is A.ANSWER and not evidence:
        errors.append(FieldError("evidence", "请上传整改证明材料（PDF 或照片）", "required"))
    if action is not A.ANSWER and evidence:
        errors.append(FieldError("evidence", "只有整改答复附证明材料", "unexpected"))
    errors += check_evidence(evidence)
    if errors:
        raise ValidationFailed(errors=errors)
    return new_deadline


def _event(
    db: Session,
    order: RectificationOrder,
    action: OrderAction,
    before: OrderStatus | None,
    principal: Principal,
    now: dt.datetime,
    *,
    note: str,
    deadline: dt.date | None = None,
    evidence: list[dict[str, Any]] | None = None,
) -> RectificationEvent:
    event = RectificationEvent(
        order_id=order.id, action=action.value,
        from_status=before.value if before else None, to_status=order.status,
        actor_id=principal.user_id, actor_name=principal.display_name[:100], note=note,
        deadline=deadline, evidence=evidence or [], at=now,
    )  # fmt: skip
    db.add(event)
    db.flush()
    event.ledger_index = ledger.notarise(
        db,
        f"rectification_order:{action.value}",
        {
            "order": order.id,
            "number": order.number,
            "institution": order.institution_id,
            "region": order.region_code,
            "grounds": order.grounds,
            "alerts": order.alert_ids,
            "nonconformities": order.nonconformity_ids,
            "from": before.value if before else None,
            "to": order.status,
            "deadline": order.deadline.isoformat(),
            "public": order.is_public,
            "evidence": [e["sha256"] for e in event.evidence],
            "at": now.isoformat(),
        },
    ).index
    record_event(
        db,
        AuditAction.CREATE if action is A.ISSUE else AuditAction.UPDATE,
        object_type="rectification_order",
        object_id=str(order.id),
        object_repr=f"整改通知 {order.number} {action.label}",
        detail=note[:200] or None,
        before=None if before is None else {"status": before.value},
        after={"status": order.status, "deadline": order.deadline.isoformat(),
               "is_public": order.is_public},
    )  # fmt: skip
    _tell(db, order, action, now, note)
    return event


_TOLD = {
    A.ISSUE: "整改通知",
    A.ANSWER: "整改答复待复核",
    A.RETURN: "整改答复被退回，请重新整改",
    A.CLOSE: "整改通知已办结",
    A.PUBLISH: "整改记录已在网站公布",
    A.UNPUBLISH: "整改记录已撤下公布",
}


def recipients(db: Session, order: RectificationOrder, action: OrderAction) -> list[User]:
    """Who hears of a step: the institution's users of every step but its own answer; the
    issuing region's authorities and the issuer of an answer."""
    from jcjg.notify.service import authorities, institution_users

    if action is A.ANSWER:
        issuer = db.get(User, order.issued_by) if order.issued_by else None
        return authorities(db, [order.region_code]) + ([issuer] if issuer else [])
    return institution_users(db, order.institution_id)


def _tell(
    db: Session, order: RectificationOrder, action: OrderAction, now: dt.datetime, note: str
) -> None:
    from jcjg.notify.service import notify

    institution = db.get(Institution, order.institution_id)
    body = []
    if action in (A.ISSUE, A.RETURN):
        body.append(f"整改期限 {order.deadline}")
    if action is A.ISSUE:
        body.append("整改情形：" + "；".join(Ground(g).label for g in order.grounds))
    if note:
        body.append(note[:300])
    notify(db, recipients(db, order, action), kind="rectification",
           severity="critical" if action in (A.ISSUE, A.RETURN) else "warning",
           title=f"{_TOLD[action]}：{order.number} · {institution.name if institution else ''}",
           body="；".join(body), link=f"/rectification-orders/{order.id}", now=now)  # fmt: skip


# --- lists -------------------------------------------------------------------------------------


def search_stmt(
    principal: Principal,
    *,
    status: str | None = None,
    institution_id: int | None = None,
    overdue_on: dt.date | None = None,
) -> Select[Any]:
    """The orders in the principal's scope, newest first, filtered."""
    stmt = select(RectificationOrder).order_by(
        RectificationOrder.issued_at.desc(), RectificationOrder.id.desc()
    )
    if status:
        stmt = stmt.where(RectificationOrder.status == status)
    if institution_id is not None:
        stmt = stmt.where(RectificationOrder.institution_id == institution_id)
    if overdue_on is not None:
        stmt = stmt.where(
            RectificationOrder.status == S.ISSUED.value, RectificationOrder.deadline < overdue_on
        )
    return restrict(stmt, principal, "read")


def institutions_with_orders(db: Session, principal: Principal) -> list[tuple[int, str]]:
    ids = restrict(select(RectificationOrder.institution_id), principal, "read")
    rows = db.execute(
        select(Institution.id, Institution.name)
        .where(Institution.id.in_(ids.scalar_subquery()))
        .order_by(Institution.name, Institution.id)
    )
    return [(i, n) for i, n in rows]


def public_accounts(db: Session, orders: list[RectificationOrder]) -> dict[int, str]:
    """What the public reads of each published order's rectification: the account the
    authority wrote when it last published it (never the institution's own answer, which may
    name people)."""
    rows = db.execute(
        select(RectificationEvent.order_id, RectificationEvent.note)
        .where(
            RectificationEvent.order_id.in_([o.id for o in orders]),
            RectificationEvent.action == A.PUBLISH.value,
        )
        .order_by(RectificationEvent.id)
    )
    return {order_id: note for order_id, note in rows}


def public_stmt() -> Select[Any]:
    """The published orders, the latest published first (no scope: they are public)."""
    return (
        select(RectificationOrder)
        .where(RectificationOrder.is_public.is_(True))
        .order_by(RectificationOrder.published_at.desc(), RectificationOrder.id.desc())
    )


def candidates(
    db: Session, principal: Principal, institution: Institution, wanted: list[int]
) -> tuple[list[Alert], list[Nonconformity]]:
    """What the issuing form offers to cite: the institution's alerts (open ones, and those
    asked for) and its nonconformities not closed, that the issuer sees, the latest first."""
    alerts = db.scalars(
        restrict(
            select(Alert)
            .where(Alert.institution_id == institution.id)
            .where((Alert.status == "open") | Alert.id.in_(wanted))
            .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
            .limit(MAX_CITED),
            principal,
            "read",
        )
    ).all()
    ncs: list[Nonconformity] = []
    if principal.can("test_record:read"):
        ncs = list(
            db.scalars(
                restrict(
                    select(Nonconformity)
                    .where(
                        Nonconformity.institution_id == institution.id,
                        Nonconformity.status != "closed",
                    )
                    .order_by(Nonconformity.found_at.desc(), Nonconformity.id.desc())
                    .limit(MAX_CITED),
                    principal,
                    "read",
                )
            )
        )
    return list(alerts), ncs
