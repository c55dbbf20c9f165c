"""The catalogue's life (数据目录的维护): a published data set's name, category and
description edited, its grade changed or the set withdrawn, each a change one officer asks
for and another approves (docs/sharing.md, 数据集的变更).

What it was and what it became are kept with the change (``before``, ``after``), and the
change log records every write. Applying a stricter grade takes back what no longer
qualifies: to **conditional**, every subscription in force waits for an officer's approval
again; to **restricted**, and on **withdrawal**, every subscription in force or pending is
suspended (nothing delivered, queried or packaged; its waiting deliveries held). A looser
grade leaves the subscriptions as they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.db import utcnow
from jcjg.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from jcjg.governance.choices import (
    DataGrade,
    DataSetChangeKind,
    DataSetChangeStatus,
    DataSetStatus,
    SubscriptionStatus,
)
from jcjg.governance.forms import text
from jcjg.governance.models import DataSet, DataSetChange, Subscription

# the columns an edit may change, and their lengths
EDITABLE = {"name": 100, "category": 40, "description": 2000}
NOTE_LIMIT = 2000
# how strict a grade is: a change to a stricter one takes back what no longer qualifies
STRICTNESS = {DataGrade.PUBLIC: 0, DataGrade.CONDITIONAL: 1, DataGrade.RESTRICTED: 2}
# what a subscription's note says when a change took it back
WHY = {
    DataGrade.CONDITIONAL: "数据集改为有条件共享，须经审核同意后方可继续使用。",
    DataGrade.RESTRICTED: "数据集改为不予共享，订阅中止。",
    DataSetStatus.WITHDRAWN: "数据集已撤销，订阅中止。",
}


def pending_change(db: Session, data_set: DataSet) -> DataSetChange | None:
    """The change of ``data_set`` waiting for review (at most one)."""
    return db.scalar(
        select(DataSetChange).where(
            DataSetChange.data_set_id == data_set.id,
            DataSetChange.status == DataSetChangeStatus.PENDING.value,
        )
    )


def _edit(data_set: DataSet, values: Mapping[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    after = {
        key: text(values, key, limit, errors, required=key == "name")
        for key, limit in EDITABLE.items()
    }
    changed = {k: v for k, v in after.items() if v != getattr(data_set, k)}
    if not changed and not errors:
        errors.append(FieldError("description", "与现在的名称、分类和说明相同", "unchanged"))
    return changed


def _regrade(data_set: DataSet, values: Mapping[str, Any], errors: list[FieldError]) -> str:
    grade = str(values.get("grade") or "")
    if grade not in {g.value for g in DataGrade}:
        errors.append(FieldError("grade", "请选择共享级别", "grade"))
    elif grade == data_set.grade:
        errors.append(FieldError("grade", "与现在的共享级别相同", "unchanged"))
    return grade


def propose(
    db: Session, principal: Principal, data_set: DataSet, values: Mapping[str, Any]
) -> DataSetChange:
    """Ask for a change of a published ``data_set`` (``kind``: edit, regrade or withdraw;
    ``reason`` always; ``name``, ``category``, ``description`` for an edit, ``grade`` for a
    regrade): waits for another officer's review. One change at a time."""
    if data_set.status != DataSetStatus.PUBLISHED:
        raise Conflict(
            "数据集已撤销，不能再变更"
            if data_set.status == DataSetStatus.WITHDRAWN
            else "数据集尚未发布：发布后方可变更"
        )
    if pending_change(db, data_set) is not None:
        raise Conflict("该数据集已有待审核的变更：审核后再提出新的变更")
    errors: list[FieldError] = []
    kind = str(values.get("kind") or "")
    reason = text(values, "reason", NOTE_LIMIT, errors)
    before: dict[str, Any]
    after: dict[str, Any]
    if kind == DataSetChangeKind.EDIT:
        after = _edit(data_set, values, errors)
        before = {k: getattr(data_set, k) for k in after}
    elif kind == DataSetChangeKind.REGRADE:
        before, after = {"grade": data_set.grade}, {"grade": _regrade(data_set, values, errors)}
    elif kind == DataSetChangeKind.WITHDRAW:
        before, after = {"status": data_set.status}, {"status": DataSetStatus.WITHDRAWN.value}
    else:
        errors.append(FieldError("kind", "请选择变更类别", "kind"))
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)
    row = DataSetChange(
        data_set_id=data_set.id,
        kind=kind,
        status=DataSetChangeStatus.PENDING.value,
        before=before,
        after=after,
        reason=reason,
        requested_by_id=principal.user_id,
        effects={},
    )
    db.add(row)
    db.flush()
    return row


def decide(
    db: Session, principal: Principal, change: DataSetChange, *, approve: bool, note: str
) -> None:
    """Approve (the change is applied now) or refuse (with a reason) a pending change: never
    by who asked for it."""
    if change.status != DataSetChangeStatus.PENDING:
        raise Conflict("该变更不在待审核状态")
    if principal.user_id == change.requested_by_id:
        raise PermissionDenied("数据集的变更须由申请人以外的人审核")
    note = note.strip()
    if not approve and not note:
        raise ValidationFailed(errors=[FieldError("note", "不批准时请写明理由", "missing")])
    if len(note) > NOTE_LIMIT:
        raise ValidationFailed(
            errors=[FieldError("note", f"不得超过 {NOTE_LIMIT} 个字符", "string_too_long")]
        )
    if approve:
        data_set = db.get_one(DataSet, change.data_set_id)
        if data_set.status != DataSetStatus.PUBLISHED:
            raise Conflict("数据集已不在发布状态，该变更不能生效")
        change.effects = _apply(db, change, data_set)
    change.status = (DataSetChangeStatus.APPLIED if approve else DataSetChangeStatus.REJECTED).value
    change.decided_by_id, change.decided_at = principal.user_id, utcnow()
    change.decision_note = note
    db.flush()


def _apply(db: Session, change: DataSetChange, data_set: DataSet) -> dict[str, int]:
    """Make the change on ``data_set``; returns what it did to the set's subscriptions."""
    if change.kind == DataSetChangeKind.EDIT:
        for key, value in change.after.items():
            if key in EDITABLE:
                setattr(data_set, key, value)
        return {}
    if change.kind == DataSetChangeKind.REGRADE:
        old, new = DataGrade(data_set.grade), DataGrade(change.after["grade"])
        data_set.grade = new.value
        if STRICTNESS[new] <= STRICTNESS[old]:
            return {}
        if new == DataGrade.CONDITIONAL:
            return _take_back(db, data_set, (SubscriptionStatus.ACTIVE,), new)
        return _take_back(
            db, data_set, (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING), new
        )
    data_set.status = DataSetStatus.WITHDRAWN.value
    return _take_back(
        db,
        data_set,
        (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING),
        DataSetStatus.WITHDRAWN,
    )


def _take_back(
    db: Session,
    data_set: DataSet,
    statuses: tuple[SubscriptionStatus, ...],
    why: DataGrade | DataSetStatus,
) -> dict[str, int]:
    """The subscriptions of ``data_set`` in ``statuses`` sent back for approval (a set made
    conditional) or suspended; the change log records each."""
    rows = db.scalars(
        select(Subscription).where(
            Subscription.data_set_id == data_set.id,
            Subscription.status.in_([s.value for s in statuses]),
        )
    ).all()
    to = (
        SubscriptionStatus.PENDING if why == DataGrade.CONDITIONAL else SubscriptionStatus.SUSPENDED
    )
    for row in rows:
        row.status = to.value
        row.decision_note = WHY[why]
        if to == SubscriptionStatus.PENDING:
            # any officer may approve it again: nobody asked for it this time
            row.requested_by_id, row.decided_by_id, row.decided_at = None, None, None
    return {to.value: len(rows)} if rows else {}
