"""The register's part of an alert's evidence chain: an entry (with its log entry) leads to the
test record it was made from."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.evidence import Link, Source, reading
from jcjg.nonconformity.models import Nonconformity


def _ids(keys: Sequence[str]) -> list[int]:
    return [int(k) for k in keys if k.isdecimal()]


def describe(db: Session, kind: str, keys: Sequence[str]) -> list[Link]:
    if kind != "nonconformity" or not _ids(keys):
        return []
    rows = db.scalars(select(Nonconformity).where(Nonconformity.id.in_(_ids(keys))))
    return [
        Link("不合格结果", f"#{n.id} {n.material} {n.grade}".strip(), f"/nonconformities/{n.id}",
             n.ledger_index, kind, str(n.id), reading(Nonconformity))
        for n in rows
    ]  # fmt: skip


def related(db: Session, kind: str, keys: Sequence[str]) -> list[tuple[str, str]]:
    if kind != "nonconformity" or not _ids(keys):
        return []
    stmt = select(Nonconformity.test_record_id).where(Nonconformity.id.in_(_ids(keys)))
    return [("test_record", str(i)) for i in db.scalars(stmt) if i is not None]


def source() -> Source:
    return Source(describe, related)
