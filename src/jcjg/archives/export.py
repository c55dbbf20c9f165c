"""A project's test archive for handover (档案移交, 001 9.1.2-9.1.3): one zip with the contracts
and reports as PDFs and JSON, every test record with its specimens, revisions and curves (CSV),
the samples with their seals, witness records and photos, the on-site tests with their media,
and the log's proof for everything notarised: the latest signed checkpoint and an inclusion
proof per entry, checkable offline (``jcjg-verify``, any RFC 9162 verifier). ``manifest.json``
lists every file with its SHA-256 and size and each part's retention."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import tempfile
import zipfile
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.archives import retention
from jcjg.auth.scopes import Principal, restrict
from jcjg.config import Settings
from jcjg.contracts.models import Contract
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.exchange.models import Message
from jcjg.ledger import service as ledger
from jcjg.projects.models import Project
from jcjg.reports.models import Report, ReportRecord
from jcjg.sampling.models import Commission, Sample, SampleSeal, WitnessRecord
from jcjg.testing import service as testing
from jcjg.testing.models import Curve, OnSitePlan, OnSiteRecord, Revision, Specimen, TestRecord

SPOOL_BYTES = 64 * 1024 * 1024  # kept in memory up to this, then on disk


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Any, *skip: str) -> dict[str, Any]:
    return {
        c.key: _plain(getattr(obj, c.key))
        for c in obj.__table__.columns
        if c.key not in skip and not c.key.startswith("fp_")
    }


class _Zip:
    def __init__(self, target: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED)
        self.files: list[dict[str, Any]] = []

    def add(self, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=utcnow().timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        digest = hashlib.sha256(data).hexdigest()
        self.files.append({"path": name, "sha256": digest, "bytes": len(data)})

    def add_json(self, name: str, data: Any) -> None:
        self.add(name, json.dumps(data, ensure_ascii=False, indent=2, default=_plain).encode())


def project_archive(
    *, db: Session, settings: Settings, principal: Principal, project: Project
) -> IO[bytes]:
    """The zip (a spooled file at position 0) of what ``principal`` may read of ``project``."""
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    archive = _Zip(out)
    store = blob_store(settings)
    retained: list[dict[str, Any]] = []
    notarised: dict[int, str] = {}  # ledger index -> what

    def keep(kind: str, key: str, obj: Any) -> None:
        until = retention.retained_until(obj)
        retained.append({"kind": kind, "key": key, "retained_until": _plain(until)})

    def scoped(model: Any, *conditions: Any) -> list[Any]:
        if not principal.can(f"{model.__permission_entity__}:read"):
            return []
        stmt = restrict(select(model), principal, "read").where(*conditions)
        return list(db.scalars(stmt.order_by(model.id)))

    archive.add_json("project.json", _row(project))
    for contract in scoped(Contract, Contract.project_id == project.id):
        archive.add(f"contracts/{contract.number}.pdf", store.get(contract.pdf_sha256))
        archive.add_json(f"contracts/{contract.number}.json", _row(contract))
        keep("contract", contract.number, contract)
        if contract.ledger_index is not None:
            notarised[contract.ledger_index] = f"contract {contract.number}"
    for commission in scoped(Commission, Commission.project_id == project.id):
        archive.add_json(f"commissions/{commission.number}.json", _row(commission))
    records = scoped(TestRecord, TestRecord.project_id == project.id)
    numbers = {r.id: r.number for r in records}
    for record in records:
        specimens = list(
            db.scalars(
                select(Specimen)
                .where(Specimen.test_record_id == record.id)
                .order_by(Specimen.position)
            )
        )
        revisions = list(
            db.scalars(
                select(Revision).where(Revision.test_record_id == record.id).order_by(Revision.id)
            )
        )
        archive.add_json(
            f"records/{record.number}.json",
            {
                **_row(record),
                "specimens": [_row(s) for s in specimens],
                "revisions": [_row(v, "revised_by_person_id") for v in revisions],
            },
        )
        keep("test_record", record.number, record)
        position = {s.id: s.position for s in specimens}
        for curve in db.scalars(select(Curve).where(Curve.test_record_id == record.id)):
            archive.add(
                f"curves/{record.number}-{position.get(curve.specimen_id, 0)}.csv",
                _csv(testing.curve_json(settings, curve)),
            )
        if record.message_id:
            index = db.scalar(
                select(Message.ledger_index).where(Message.message_id == record.message_id)
            )
            if index is not None:
                notarised[int(index)] = f"test_record {record.number}"
    for report in scoped(Report, Report.project_id == project.id):
        covered = db.scalars(
            select(ReportRecord.test_record_id).where(ReportRecord.report_id == report.id)
        )
        archive.add_json(
            f"reports/{report.number}.json",
            {
                **_row(report, "token"),
                "test_records": sorted(numbers.get(i, str(i)) for i in covered),
            },
        )
        if report.pdf_sha256:
            archive.add(f"reports/{report.number}.pdf", store.get(report.pdf_sha256))
        keep("report", report.number, report)
        if report.ledger_index is not None:
            notarised[report.ledger_index] = f"report {report.supervision_code}"
    for sample in scoped(Sample, Sample.project_id == project.id):
        seal = db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)).first()
        witness = db.scalars(
            select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)
        ).first()
        archive.add_json(
            f"samples/{sample.sample_code}.json",
            {
                **_row(sample, "sampler_user_id", "photo_person_sha256"),
                "seal": _row(seal, "witness_user_id") if seal else None,
            },
        )
        for role, digest in (("sample", sample.photo_sample_sha256),
                             ("tag", sample.photo_tag_sha256)):  # fmt: skip
            archive.add(f"samples/{sample.sample_code}-{role}.jpg", store.get(digest))
        if witness is not None:
            archive.add(f"samples/{sample.sample_code}-witness.pdf", store.get(witness.pdf_sha256))
        if seal is not None and seal.ledger_index is not None:
            notarised[seal.ledger_index] = f"seal {sample.sample_code}"
    for plan in scoped(OnSitePlan, OnSitePlan.project_id == project.id):
        archive.add_json(f"onsite/plans/{plan.number}.json", _row(plan))
        keep("onsite_plan", plan.number, plan)
    for onsite in scoped(OnSiteRecord, OnSiteRecord.project_id == project.id):
        archive.add_json(f"onsite/records/{onsite.number}.json", _row(onsite))
        for n, digest in enumerate([*onsite.photos, *onsite.clips], start=1):
            archive.add(f"onsite/records/{onsite.number}-{n}-{digest[:12]}", store.get(digest))
        keep("onsite_record", onsite.number, onsite)
    proofs = _proofs(db, notarised)
    archive.add_json("ledger/proofs.json", proofs)
    archive.add_json(
        "manifest.json",
        {
            "format": "jcjg-project-archive/1",
            "project": {"code": project.code, "name": project.name},
            "generated_at": utcnow().isoformat(),
            "retention": retained,
            "files": archive.files,
        },
    )
    archive.zip.close()
    out.seek(0)
    return out


def _csv(curve: dict[str, Any]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    displacement = curve.get("d")
    writer.writerow(["t_s", "force_kn", *(["displacement_mm"] if displacement else [])])
    for i, (t, f) in enumerate(zip(curve["t"], curve["f"], strict=True)):
        writer.writerow([t, f, *([displacement[i]] if displacement else [])])
    return text.getvalue().encode()


def _proofs(db: Session, notarised: dict[int, str]) -> dict[str, Any]:
    """The latest checkpoint and, for each notarised entry it covers, the entry and its
    inclusion proof (entries not yet in a checkpoint are listed as pending)."""
    checkpoint = ledger.latest_checkpoint(db)
    entries, pending = [], []
    for index, what in sorted(notarised.items()):
        if index >= checkpoint.size:
            pending.append({"index": index, "what": what})
            continue
        leaf = ledger.get_leaf(db, index)
        entries.append(
            {
                "what": what,
                "entry": ledger.entry_json(leaf),
                "proof": ledger.inclusion(db, index, checkpoint.size),
            }
        )
    return {"checkpoint": checkpoint.note, "entries": entries, "pending": pending}
