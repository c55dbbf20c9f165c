"""Testing's part of an alert's evidence chain: the raw record (with the message that carried
it), on-site plans and records; a record leads to its samples, a sample to its records."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.evidence import Link, Source, page_source, reading
from jcjg.exchange.models import Message
from jcjg.exchange.status import ledger_index
from jcjg.testing.models import OnSitePlan, OnSiteRecord, Specimen, TestRecord

_PLANS = page_source(
    "onsite_plan", "现场检测方案", "/testing/onsite/plans/{}", OnSitePlan, "number"
)
_ONSITE = page_source(
    "onsite_record", "现场检测记录", "/testing/onsite/records/{}", OnSiteRecord, "number"
)


def _records(db: Session, ids: list[int]) -> list[Link]:
    out: list[Link] = []
    rows = db.scalars(select(TestRecord).where(TestRecord.id.in_(ids)).order_by(TestRecord.id))
    for record in rows:
        notarised = (
            ledger_index(
                db,
                Message.message_id == record.message_id,
                Message.institution_id == record.institution_id,
            )
            if record.message_id
            else None
        )
        url = f"/testing/records/{record.id}"
        out.append(Link("原始记录（含力值曲线回放）", record.number, url, notarised,
                        "test_record", str(record.id), reading(TestRecord)))  # fmt: skip
    return out


def describe(db: Session, kind: str, keys: Sequence[str]) -> list[Link]:
    if kind == "test_record":
        return _records(db, [int(k) for k in keys if k.isdecimal()])
    return _PLANS.describe(db, kind, keys) + _ONSITE.describe(db, kind, keys)


def related(db: Session, kind: str, keys: Sequence[str]) -> list[tuple[str, str]]:
    if kind == "test_record":
        ids = [int(k) for k in keys if k.isdecimal()]
        codes = db.scalars(
            select(Specimen.sample_code)
            .where(Specimen.test_record_id.in_(ids), Specimen.sample_code.is_not(None))
            .distinct()
            .order_by(Specimen.sample_code)
        )
        return [("sample", c) for c in codes if c]
    if kind == "sample":
        stmt = select(Specimen.test_record_id).where(Specimen.sample_code.in_(keys)).distinct()
        return [("test_record", str(i)) for i in sorted(i for i in db.scalars(stmt) if i)]
    return []


def source() -> Source:
    return Source(describe, related)
