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
from jcjg.exchange.status import ledger_index
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
    parts = _ProjectArchive(db, settings, principal, project, _Zip(out))
    parts.archive.add_json("project.json", _row(project))
    parts.add_contracts()
    parts.add_commissions()
    numbers = parts.add_records()
    parts.add_reports(numbers)
    parts.add_samples()
    parts.add_onsite()
    parts.finish()
    out.seek(0)
    return out


class _ProjectArchive:
    """The parts of one project's archive, each read within the principal's scope, with the
    retention of each kept item and the ledger entries to prove."""

    def __init__(
        self,
        db: Session,
        settings: Settings,
        principal: Principal,
        project: Project,
        archive: _Zip,
    ) -> None:
        self.db = db
        self.settings = settings
        self.principal = principal
        self.project = project
        self.archive = archive
        self.store = blob_store(settings)
        self.retained: list[dict[str, Any]] = []
        self.notarised: dict[int, str] = {}  # ledger index -> what

    def keep(self, kind: str, key: str, obj: Any) -> None:
        until = retention.retained_until(obj)
        self.retained.append({"kind": kind, "key": key, "retained_until": _plain(until)})

    def scoped(self, model: Any) -> list[Any]:
        """The project's rows of ``model`` the principal may read, in id order."""
        if not self.principal.can(f"{model.__permission_entity__}:read"):
            return []
        stmt = restrict(select(model), self.principal, "read")
        stmt = stmt.where(model.project_id == self.project.id)
        return list(self.db.scalars(stmt.order_by(model.id)))

    def add_contracts(self) -> None:
        for contract in self.scoped(Contract):
            self.archive.add(
                f"contracts/{contract.number}.pdf", self.store.get(contract.pdf_sha256)
            )
            self.archive.add_json(f"contracts/{contract.number}.json", _row(contract))
            self.keep("contract", contract.number, contract)
            if contract.ledger_index is not None:
                self.notarised[contract.ledger_index] = f"contract {contract.number}"

    def add_commissions(self) -> None:
        for commission in self.scoped(Commission):
            self.archive.add_json(f"commissions/{commission.number}.json", _row(commission))

    def add_records(self) -> dict[int, str]:
        """Every test record with its specimens, revisions and curves; returns their numbers
        by id."""
        records = self.scoped(TestRecord)
        for record in records:
            self._add_record(record)
        return {r.id: r.number for r in records}

    def _add_record(self, record: TestRecord) -> None:
        db = self.db
        specimens = list(
            db.scalars(
                select(Specimen)
                .where(Specimen.test_record_id == record.id)
                .order_by(Specimen.position)
            )
        )
        revisions = db.scalars(
            select(Revision).where(Revision.test_record_id == record.id).order_by(Revision.id)
        )
        self.archive.add_json(
            f"records/{record.number}.json",
            {
                **_row(record),
                "specimens": [_row(s) for s in specimens],
                "revisions": [_row(v, "revised_by_person_id") for v in revisions],
            },
        )
        self.keep("test_record", record.number, record)
        position = {s.id: s.position for s in specimens}
        for curve in db.scalars(select(Curve).where(Curve.test_record_id == record.id)):
            self.archive.add(
                f"curves/{record.number}-{position.get(curve.specimen_id, 0)}.csv",
                _csv(testing.curve_json(self.settings, curve)),
            )
        if record.message_id:
            index = ledger_index(
                db,
                Message.message_id == record.message_id,
                Message.institution_id == record.institution_id,
            )
            if index is not None:
                self.notarised[int(index)] = f"test_record {record.number}"

    def add_reports(self, numbers: dict[int, str]) -> None:
        for report in self.scoped(Report):
            covered = self.db.scalars(
                select(ReportRecord.test_record_id).where(ReportRecord.report_id == report.id)
            )
            self.archive.add_json(
                f"reports/{report.number}.json",
                {
                    **_row(report, "token"),
                    "test_records": sorted(numbers.get(i, str(i)) for i in covered),
                },
            )
            if report.pdf_sha256:
                self.archive.add(f"reports/{report.number}.pdf", self.store.get(report.pdf_sha256))
            self.keep("report", report.number, report)
            if report.ledger_index is not None:
                self.notarised[report.ledger_index] = f"report {report.supervision_code}"

    def add_samples(self) -> None:
        """Each sample with its seal, its photos and its witness record (PDF)."""
        db, store = self.db, self.store
        for sample in self.scoped(Sample):
            code = sample.sample_code
            seal = db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)).first()
            witness = db.scalars(
                select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)
            ).first()
            self.archive.add_json(
                f"samples/{code}.json",
                {
                    **_row(sample, "sampler_user_id", "photo_person_sha256"),
                    "seal": _row(seal, "witness_user_id") if seal else None,
                },
            )
            self.archive.add(f"samples/{code}-sample.jpg", store.get(sample.photo_sample_sha256))
            self.archive.add(f"samples/{code}-tag.jpg", store.get(sample.photo_tag_sha256))
            if witness is not None:
                self.archive.add(f"samples/{code}-witness.pdf", store.get(witness.pdf_sha256))
            if seal is not None and seal.ledger_index is not None:
                self.notarised[seal.ledger_index] = f"seal {code}"

    def add_onsite(self) -> None:
        """On-site plans, and on-site records with their photos and clips."""
        for plan in self.scoped(OnSitePlan):
            self.archive.add_json(f"onsite/plans/{plan.number}.json", _row(plan))
            self.keep("onsite_plan", plan.number, plan)
        for onsite in self.scoped(OnSiteRecord):
            self.archive.add_json(f"onsite/records/{onsite.number}.json", _row(onsite))
            for n, digest in enumerate([*onsite.photos, *onsite.clips], start=1):
                self.archive.add(
                    f"onsite/records/{onsite.number}-{n}-{digest[:12]}", self.store.get(digest)
                )
            self.keep("onsite_record", onsite.number, onsite)

    def finish(self) -> None:
        """The log's proofs for everything notarised, and the manifest; closes the zip."""
        self.archive.add_json("ledger/proofs.json", _proofs(self.db, self.notarised))
        self.archive.add_json(
            "manifest.json",
            {
                "format": "jcjg-project-archive/1",
                "project": {"code": self.project.code, "name": self.project.name},
                "generated_at": utcnow().isoformat(),
                "retention": self.retained,
                "files": self.archive.files,
            },
        )
        self.archive.zip.close()


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
