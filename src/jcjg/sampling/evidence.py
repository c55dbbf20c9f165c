"""The sampling chain's part of an alert's evidence chain: samples (with the log entry of their
seal) and commissions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.evidence import Link, Source, page_source, reading
from jcjg.sampling.models import Commission, Sample, SampleSeal

_COMMISSIONS = page_source("commission", "委托", "/commissions/{}", Commission, "number")


def _samples(db: Session, codes: Sequence[str]) -> list[Link]:
    found = set(db.scalars(select(Sample.sample_code).where(Sample.sample_code.in_(codes))))
    seals = {
        code: index
        for code, index in db.execute(
            select(Sample.sample_code, SampleSeal.ledger_index)
            .join(SampleSeal, SampleSeal.sample_id == Sample.id)
            .where(Sample.sample_code.in_(codes))
            .order_by(SampleSeal.id)
        )
    }
    return [
        Link("样品（照片、封志、见证记录）", code, f"/samples/{code}", seals.get(code),
             "sample", code, reading(Sample))
        for code in codes
        if code in found
    ]  # fmt: skip


def describe(db: Session, kind: str, keys: Sequence[str]) -> list[Link]:
    if kind == "sample":
        return _samples(db, [k for k in keys if k])
    return _COMMISSIONS.describe(db, kind, keys)


def source() -> Source:
    return Source(describe)
