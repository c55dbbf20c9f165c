"""The audit log list's columns and export (``core.listing``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.models import AuditLog
from jcjg.audit.service import repeats
from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order

# the newest first
AUDIT_ORDER = Order((Key(AuditLog.id, lambda r: r.id),), (0,))


def _action(action: str, times: int | None) -> str:
    """An action's label, with how many times it was refused within the minute (a denial
    repeated: one audit row, the repeats counted)."""
    text = label(AuditAction, action)
    return f"{text}（本分钟共 {times} 次）" if times else text


def _cells(db: Session, rows: Sequence[AuditLog]) -> list[list[str]]:
    times = repeats(db, [r.id for r in rows])
    return [
        [
            when(r.at, "%Y-%m-%d %H:%M:%S"),
            _action(r.action, times.get(r.id)),
            r.username or "",
            r.object_type or "",
            r.object_repr or "",
            r.detail or "",
            r.ip or "",
        ]
        for r in rows
    ]


AUDIT = ListView(
    name="audit_log",
    title="审计日志",
    columns=(
        Column("at", "时间", AuditLog.at),
        Column("action", "操作", AuditLog.action),
        Column("username", "操作人", AuditLog.username),
        Column("object_type", "对象类型"),
        Column("object", "对象"),
        Column("detail", "说明"),
        Column("ip", "来源 IP"),
    ),
    order=AUDIT_ORDER,
    cells=_cells,
)
