"""What stands behind a report, as the public verification page shows it (000 4.1.2): the
contract, the commission, the samples with their seals and witness records, the test records
with their curves and revisions. Names are masked; faces are not shown (only the sample and
tag photos)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import by_code
from jcjg.contracts.models import Contract
from jcjg.core.masking import mask_name
from jcjg.projects.models import Project
from jcjg.reports.models import Report, ReportRecord
from jcjg.sampling import service as sampling
from jcjg.sampling.models import Commission, Sample, SampleSeal, WitnessRecord
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import Acquisition, TestKind
from jcjg.testing.models import Curve, Revision, Specimen, TestRecord


@dataclass
class PublicSample:
    code: str
    material: str
    specification: str
    structure_part: str
    sampled_at: Any
    sealed: bool
    seal_problems: list[str]
    witness_token: str | None


@dataclass
class PublicRecord:
    id: int
    number: str
    kind: str
    item_code: str
    grade: str
    started_at: Any
    ended_at: Any
    acquisition: str
    lab_judgement: str
    platform_judgement: str
    curves: list[tuple[int, int]] = field(default_factory=list)  # (specimen position, curve id)
    revisions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Ref:
    """What a page shows of a row the chain points at (plain values: the chain outlives the
    request's session in the cache)."""

    id: int
    label: str  # name or number
    detail: Any = None  # the commission's date, the replaced report's reason


@dataclass(frozen=True)
class PublicContract:
    number: str
    client_unit: str  # the owner, a unit: not personal data
    signed_on: Any
    received_at: Any
    ledger_index: int | None


@dataclass
class Chain:
    institution: Ref | None
    project: Ref | None
    commission: Ref | None
    items: dict[str, str]  # code -> name
    samples: list[PublicSample]
    records: list[PublicRecord]
    replaced_by: Ref | None
    replaces: Ref | None
    contracts: list[PublicContract] = field(default_factory=list)


def record_ids(db: Session, report: Report) -> list[int]:
    return list(
        db.scalars(select(ReportRecord.test_record_id).where(ReportRecord.report_id == report.id))
    )


def build(db: Session, report: Report) -> Chain:
    ids = record_ids(db, report)
    records = list(
        db.scalars(select(TestRecord).where(TestRecord.id.in_(ids)).order_by(TestRecord.ended_at))
    )
    specimens = list(db.scalars(select(Specimen).where(Specimen.test_record_id.in_(ids))))
    curves = list(db.scalars(select(Curve).where(Curve.test_record_id.in_(ids))))
    revisions = list(
        db.scalars(select(Revision).where(Revision.test_record_id.in_(ids)).order_by(Revision.id))
    )
    position = {s.id: s.position for s in specimens}
    public_records = []
    for r in records:
        public_records.append(
            PublicRecord(
                id=r.id,
                number=r.number,
                kind=TestKind(r.kind).label,
                item_code=r.item_code,
                grade=r.grade,
                started_at=r.started_at,
                ended_at=r.ended_at,
                acquisition=Acquisition(r.acquisition).label,
                lab_judgement=r.lab_judgement,
                platform_judgement=r.platform_judgement,
                curves=sorted(
                    (position.get(c.specimen_id, 0), c.id)
                    for c in curves
                    if c.test_record_id == r.id
                ),
                revisions=[
                    {
                        "field": v.field,
                        "before": v.before,
                        "after": v.after,
                        "reason": v.reason,
                        "revised_by": mask_name(v.revised_by),
                        "revised_at": v.revised_at,
                        "auto_acquired": v.auto_acquired,
                    }
                    for v in revisions
                    if v.test_record_id == r.id
                ],
            )
        )
    commission = db.get(Commission, report.commission_id) if report.commission_id else None
    # the samples the report's specimens were cut from; only when no specimen names its sample
    # (a record sent without the codes), the commission's: a commission may hold cubes, mortar
    # and blocks, and a mortar report lists the mortar's samples, not the cubes'
    codes = {s.sample_code for s in specimens if s.sample_code}
    stmt = select(Sample).where(Sample.sample_code.in_(codes))
    if not codes and commission is not None:
        stmt = select(Sample).where(Sample.commission_id == commission.id)
    samples = list(db.scalars(stmt.order_by(Sample.sample_code)))
    seals = {
        s.sample_id: s
        for s in db.scalars(
            select(SampleSeal).where(SampleSeal.sample_id.in_([s.id for s in samples]))
        )
    }
    witness = dict(
        db.execute(
            select(WitnessRecord.sample_id, WitnessRecord.token).where(
                WitnessRecord.sample_id.in_([s.id for s in samples])
            )
        ).all()
    )
    public_samples = []
    for s in samples:
        seal = seals.get(s.id)
        public_samples.append(
            PublicSample(
                code=s.sample_code,
                material=s.material,
                specification=s.specification,
                structure_part=s.structure_part,
                sampled_at=s.sampled_at,
                sealed=seal is not None,
                seal_problems=sampling.verify_seal(db, seal) if seal else [],
                witness_token=witness.get(s.id),
            )
        )
    items = {c: i.name for c, i in by_code(db=db, model=TestItem, codes=report.items).items()}
    replaced_by = db.scalars(select(Report).where(Report.replaces_id == report.id)).first()
    institution = db.get(Institution, report.institution_id)
    project = db.get(Project, report.project_id) if report.project_id else None
    replaces = db.get(Report, report.replaces_id) if report.replaces_id else None
    contracts = (
        db.scalars(
            select(Contract)
            .where(
                Contract.institution_id == report.institution_id,
                Contract.project_id == report.project_id,
            )
            .order_by(Contract.signed_on)
        ).all()
        if report.project_id
        else []
    )
    return Chain(
        institution=Ref(institution.id, institution.name) if institution else None,
        project=Ref(project.id, project.name) if project else None,
        commission=Ref(commission.id, commission.number, commission.commissioned_on)
        if commission
        else None,
        items={code: items.get(code, code) for code in report.items},
        samples=public_samples,
        records=public_records,
        replaced_by=Ref(replaced_by.id, replaced_by.number) if replaced_by else None,
        replaces=Ref(replaces.id, replaces.number, replaces.status_reason) if replaces else None,
        contracts=[
            PublicContract(c.number, c.client_unit, c.signed_on, c.received_at, c.ledger_index)
            for c in contracts
        ],
    )


class ChainCache:
    """The chains of reports for the public page, each built at most every 30 seconds (and
    again at once when the report's status or file changes): a busy QR page does not rebuild
    it for every phone. One per app (``app.state.chain_cache``): its database's reports."""

    SECONDS = 30.0
    MAX_REPORTS = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chains: dict[int, tuple[float, tuple[Any, ...], Chain]] = {}

    def get(self, db: Session, report: Report) -> Chain:
        key = (report.status, report.pdf_sha256, report.replaces_id)
        now = time.monotonic()
        with self._lock:
            hit = self._chains.get(report.id)
        if hit is not None and hit[0] > now and hit[1] == key:
            return hit[2]
        chain = build(db, report)
        with self._lock:
            if len(self._chains) >= self.MAX_REPORTS:
                self._chains.clear()
            self._chains[report.id] = (now + self.SECONDS, key, chain)
        return chain
