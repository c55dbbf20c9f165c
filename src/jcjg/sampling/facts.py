"""A city's witnessed-sampling chain rebuilt on its province (``core.facts``; docs/networking.md,
"A child's facts"): a sample the city's sampler registers (``sample:register``), the seal its
witness signs (``sample:seal``) and the witness record the city makes of it
(``witness_record:create``) become the province's sample, seal and witness record too, so the
province's report chain and its ``/v/<code>`` show the city's report's samples as witnessed and
sealed, and ``/w/<token>`` answers for the city's witness record.

The entries hold digests and the city's user ids, not the texts. So the city sends beside each
leaf what the province needs (``content``), and the province keeps only what the entry's
digests cover or what can be checked without the city:

- a registration: the sample's particulars (material, specification, ..., where it was taken)
  and the sampler's name rest on the city's word (its forward is signed); the sample and tag
  photos travel as files and must be the ones the entry notarised;
- a seal: the statement the witness signed and the witness's public key. The statement's
  SHA-256, the key id (the key's SHA-256) and the signature are the entry's, and the signature
  must verify: the seal rests on the witness's signature, not on the city. The witness's name,
  the time and the place are the statement's; the seal photo travels as a file;
- a witness record: the record itself (its canonical JSON's SHA-256 is the entry's) and its
  signed PDF, a file whose SHA-256 is the entry's.

The photos of people (the sampler's and the witness's live portraits) do not go up: the
province keeps their SHA-256 (in the statement and the record) and shows the sample, tag and
seal photos. The city's samplers and witnesses hold no account on the province: their names are
kept as text (``Sample.sampler_name``, ``SampleSeal.witness_name``), the witness's key as a key
of no account (``WitnessKey.user_id`` None), which nobody here can seal with.

A witness key the city revokes (``witness_key:revoke``: the key, public, and the time) is
revoked on the province's copy as of the same time, so a seal by it made after the revocation is
judged invalid on the province too (``service.verify_seal``) and older seals stay valid.

The province keeps the rows as the city's (``origin``, ``origin_index``): only the city changes
them (sealing such a sample here is refused), the sampling rules that judge the people on site
leave them to the city, and the identity checks and photo index stay the city's."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.facts import (
    Exported,
    FactApplier,
    FactContent,
    ForwardedFact,
    NotYet,
    parsed_content,
)
from jcjg.core.forms import MAX_ID
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.text import MultiLine, TextModel
from jcjg.ledger.canonical import canonical_json
from jcjg.projects import service as projects
from jcjg.projects.models import Project
from jcjg.sampling import codes, pours, seal
from jcjg.sampling.choices import Curing, IdentityResult, RefusalReason, SampleStatus
from jcjg.sampling.models import (
    Commission,
    CommissionSample,
    ConcretePour,
    IdentityCheck,
    Sample,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from jcjg.sampling.service import IDENTITY_CHECK as IDENTITY
from jcjg.sampling.service import identity_person, mark_received_or_refused
from jcjg.tenancy.facts import childs_institution

REGISTER, SEAL, RECORD = "sample:register", "sample:seal", "witness_record:create"
RECEIPT = "sample:receipt"
POUR = pours.POUR_RECORD
REVOKE = "witness_key:revoke"
# A revocation is made and notarised in one transaction: its time lies just before the leaf's.
# Earlier than this before it, the child would be back-dating it (and voiding seals made before).
MAX_REVOCATION_LAG = dt.timedelta(minutes=10)
_HEX64 = r"^[0-9a-f]{64}$"
_HASH = Field(pattern=_HEX64)
_HASH_OR_NONE = Field(default=None, pattern=_HEX64)
_RECORD_PATH = r"/w/([0-9a-f]{32})$"
MAX_STATEMENT = 8192  # bytes; a statement is about 1 KB


# --- what the entries notarised -------------------------------------------------------------


class _Entry(TextModel):
    model_config = ConfigDict(extra="ignore")  # what a later log adds

    sample_code: str = Field(min_length=codes.CODE_LENGTH, max_length=codes.CODE_LENGTH)


E = TypeVar("E", bound=_Entry)


class _Photos(TextModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    sample: str = _HASH
    tag: str = _HASH
    sampler: str = _HASH


class Registered(_Entry):
    """``sample:register`` (``service.register_sample``)."""

    project_code: str = Field(min_length=1, max_length=32)
    sampled_at: dt.datetime
    prepared_at: dt.datetime
    photos: _Photos
    sample_phash: str = Field(pattern=r"^[0-9a-f]{16}$")
    curing: Curing | Literal[""] = ""
    pour_id: int | None = Field(default=None, ge=1, le=MAX_ID, strict=True)  # the child's


class Sealed(_Entry):
    """``sample:seal`` (``service.seal_sample``)."""

    key_id: str = _HASH
    statement_sha256: str = _HASH
    signature: str = Field(min_length=1, max_length=100)


class Recorded(_Entry):
    """``witness_record:create`` (``records.create_witness_record``)."""

    record_sha256: str = _HASH
    pdf_sha256: str = _HASH


class Revoked(TextModel):
    """``witness_key:revoke`` (``service.revoke_key``): the key (public) and when."""

    model_config = ConfigDict(extra="ignore")  # what a later log adds

    key_id: str = _HASH
    public_key: str = Field(min_length=1, max_length=64)  # base64 of the 32 raw bytes
    revoked_at: dt.datetime


class Received(TextModel):
    """``sample:receipt`` (``service.check_receipt``): its code may be any the lab scanned."""

    model_config = ConfigDict(extra="ignore")  # what a later log adds

    sample_code: str = Field(min_length=1, max_length=64)
    institution_code: str = Field(min_length=1, max_length=32)
    accepted: bool = Field(strict=True)
    reasons: list[RefusalReason] = Field(max_length=len(RefusalReason))
    photo_sha256: str | None = _HASH_OR_NONE
    checked_at: dt.datetime


class Poured(TextModel):
    """``concrete_pour:register`` (``pours.record_pour``): the project, the pour's id on the
    child and the digest of its particulars."""

    model_config = ConfigDict(extra="ignore")  # what a later log adds

    project_code: str = Field(min_length=1, max_length=32)
    pour_id: int = Field(ge=1, le=MAX_ID, strict=True)
    sha256: str = _HASH


class Checked(_Entry):
    """``identity_check:register`` (``service.notarise_identity``): the outcome, when, and
    digests; no photo and no ID number, who only as a digest."""

    project_code: str = Field(min_length=1, max_length=32)
    action: Literal["sample:register", "sample:seal"]
    result: IdentityResult
    method: str = Field(min_length=1, max_length=64)
    distance: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False, strict=True)
    threshold: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False, strict=True)
    checked_at: dt.datetime
    live_photo_sha256: str = _HASH
    reference_photo_sha256: str | None = _HASH_OR_NONE
    person_sha256: str = _HASH


# --- what the child sends beside them ---------------------------------------------------------


class File(TextModel):
    """A file the content names, uploaded before the forward (``core.facts``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["sample", "tag", "seal", "pdf", "receipt"]
    sha256: str = _HASH


class RegisterContent(TextModel):
    model_config = ConfigDict(extra="forbid")

    material: str = Field(min_length=1, max_length=64)
    specification: str = Field(default="", max_length=100)
    batch_number: str = Field(default="", max_length=64)
    quantity: str = Field(default="", max_length=64)
    structure_part: str = Field(default="", max_length=200)
    specimen_count: int = Field(ge=1, le=100, strict=True)
    specimen_size: str = Field(default="", max_length=64)
    latitude: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    longitude: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)
    sampler: str = Field(min_length=1, max_length=64)  # the sampler's name
    evidence: list[File] = Field(min_length=2, max_length=2)


class SealContent(TextModel):
    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=MAX_STATEMENT * 4 // 3 + 4)  # base64
    public_key: str = Field(min_length=1, max_length=64)  # base64 of the 32 raw bytes
    evidence: list[File] = Field(min_length=1, max_length=1)


class _Party(TextModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: int | None = None
    name: str = Field(min_length=1, max_length=64)


class _Location(TextModel):
    model_config = ConfigDict(extra="forbid")

    latitude: float = Field(ge=-90, le=90, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, allow_inf_nan=False)
    accuracy_m: float | None = Field(default=None, allow_inf_nan=False)


class _StatementPhotos(_Photos):
    seal: str = _HASH
    witness: str = _HASH


class Statement(TextModel):
    """The seal's statement (``service.prepare_seal``), as the witness signed it."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["jcjg.sample-seal/v1"]
    sample_code: str = Field(max_length=codes.CODE_LENGTH)
    project_code: str = Field(max_length=32)
    material: str = Field(max_length=64)
    specification: str = Field(max_length=100)
    specimen_count: int = Field(ge=1, le=100, strict=True)
    prepared_at: str = Field(max_length=40)
    sampled_at: str = Field(max_length=40)
    sampler: _Party
    witness: _Party
    key_id: str = _HASH
    sealed_at: dt.datetime
    location: _Location | None
    photos: _StatementPhotos
    sample_phash: str = Field(pattern=r"^[0-9a-f]{16}$")


class _RecordSample(TextModel):
    model_config = ConfigDict(extra="forbid")

    sample_code: str = Field(max_length=codes.CODE_LENGTH)
    material: str = Field(max_length=64)
    specification: str = Field(max_length=100)
    batch_number: str = Field(max_length=64)
    quantity: str = Field(max_length=64)
    structure_part: str = Field(max_length=200)
    specimen_count: int = Field(ge=1, le=100, strict=True)
    specimen_size: str = Field(max_length=64)
    prepared_at: str = Field(max_length=40)
    sampled_at: str = Field(max_length=40)


class _RecordProject(TextModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    address: str = Field(max_length=200)


class _RecordPerson(TextModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    unit: str = Field(max_length=200)


class _RecordLocation(_Location):
    distance_outside_site_m: float | None = Field(default=None, allow_inf_nan=False)


class _RecordSeal(TextModel):
    model_config = ConfigDict(extra="forbid")

    key_id: str = _HASH
    public_key: str = Field(max_length=64)
    statement: str = Field(max_length=MAX_STATEMENT * 4 // 3 + 4)
    signature: str = Field(max_length=100)
    algorithm: Literal["Ed25519"]


class _RecordLedger(TextModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, strict=True)
    leaf_hash: str = _HASH
    entry_type: str = Field(max_length=64)
    notarised_at: str = Field(max_length=40)


class Record(TextModel):
    """The witness record (``records.create_witness_record``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["jcjg.witness-record/v1"]
    sample: _RecordSample
    project: _RecordProject
    sampler: _RecordPerson
    witness: _RecordPerson
    sealed_at: str = Field(max_length=40)
    location: _RecordLocation | None
    photos: _StatementPhotos
    seal: _RecordSeal
    ledger: _RecordLedger
    public_url: str = Field(max_length=300, pattern=r"^https?://\S+" + _RECORD_PATH)


class RecordContent(TextModel):
    model_config = ConfigDict(extra="forbid")

    record: dict[str, Any]
    evidence: list[File] = Field(min_length=1, max_length=1)


class ReceiptContent(TextModel):
    """A receipt check made on the lab's page at the child (``via`` ``page``); of one made
    from the lab's message (``exchange``) only ``via``: the parent checks that message itself."""

    model_config = ConfigDict(extra="forbid")

    via: Literal["page", "exchange"]
    commission_number: str | None = Field(default=None, min_length=1, max_length=64)
    tag_intact: bool = Field(default=True, strict=True)
    phash_distance: int | None = Field(default=None, ge=0, le=64, strict=True)
    notes: MultiLine = Field(default="", max_length=2000)
    evidence: list[File] = Field(default_factory=list, max_length=1)


class IdentityContent(TextModel):
    """Who was checked, by name, and the salt of the entry's digest of it
    (``service.identity_person``; none for a check notarised before salts)."""

    model_config = ConfigDict(extra="forbid")

    person: str = Field(min_length=1, max_length=64)
    salt: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


class PourContent(TextModel):
    """A pour's particulars (``pours.pour_particulars``): no person in them."""

    model_config = ConfigDict(extra="forbid")

    structure_part: str = Field(min_length=1, max_length=200)
    grade: str = Field(pattern=rf"^{pours.GRADE.pattern}$")
    impermeability: str = Field(default="", pattern=rf"^$|^{pours.IMPERMEABILITY.pattern}$")
    volume_m3: float = Field(ge=0.1, le=pours.MAX_VOLUME_M3, allow_inf_nan=False)
    started_at: dt.datetime
    ended_at: dt.datetime
    bottom_forms: bool = Field(strict=True)


# --- the child: what the entries do not hold ----------------------------------------------------


def contents() -> dict[str, FactContent]:
    return {
        REGISTER: register_content, SEAL: seal_content, RECORD: record_content,
        RECEIPT: receipt_content, POUR: pour_content, IDENTITY: identity_content,
    }  # fmt: skip


def identity_content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """Who was checked, while the check is still the one ``data`` notarised (no photo goes)."""
    sample = _own_sample(db, data)
    if sample is None or sample.origin:
        return None
    row = db.scalar(
        select(IdentityCheck)
        .where(
            IdentityCheck.sample_id == sample.id,
            IdentityCheck.action == data.get("action"),
            IdentityCheck.live_photo_sha256 == data.get("live_photo_sha256"),
            IdentityCheck.origin.is_(None),
        )
        .order_by(IdentityCheck.id.desc())
        .limit(1)
    )
    user = db.get(User, row.user_id) if row is not None and row.user_id else None
    if row is None or user is None:
        return None
    given = identity_person(user.display_name, row.person_salt)
    if _sha(canonical_json(given)) != data.get("person_sha256"):
        return None  # renamed since
    return Exported(content=given)


def pour_content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The pour's particulars, while they are still what ``data`` notarised."""
    pour_id = data.get("pour_id")
    pour = db.get(ConcretePour, pour_id) if type(pour_id) is int and 0 < pour_id <= MAX_ID else None
    if pour is None or pour.origin:
        return None
    fields = pours.pour_particulars(pour)
    if pours.particulars_digest(fields) != data.get("sha256"):
        return None
    return Exported(content=fields)


def _own_sample(db: Session, data: Mapping[str, Any]) -> Sample | None:
    return db.scalar(select(Sample).where(Sample.sample_code == data.get("sample_code")))


def register_content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The sample's particulars and the sampler's name; its sample and tag photos."""
    sample = _own_sample(db, data)
    photos = data.get("photos") or {}
    if (
        sample is None
        or not isinstance(photos, dict)
        or (sample.photo_sample_sha256, sample.photo_tag_sha256, sample.sample_phash)
        != (photos.get("sample"), photos.get("tag"), data.get("sample_phash"))
    ):
        return None
    given: dict[str, Any] = {
        "material": sample.material, "specification": sample.specification,
        "batch_number": sample.batch_number, "quantity": sample.quantity,
        "structure_part": sample.structure_part, "specimen_count": sample.specimen_count,
        "specimen_size": sample.specimen_size, "latitude": sample.latitude,
        "longitude": sample.longitude, "accuracy_m": sample.accuracy_m,
        "sampler": _sampler_name(db, sample),
        "evidence": [{"role": "sample", "sha256": sample.photo_sample_sha256},
                     {"role": "tag", "sha256": sample.photo_tag_sha256}],
    }  # fmt: skip
    return Exported(given, (sample.photo_sample_sha256, sample.photo_tag_sha256))


def _sampler_name(db: Session, sample: Sample) -> str:
    user = db.get(User, sample.sampler_user_id) if sample.sampler_user_id else None
    return user.display_name if user is not None else sample.sampler_name


def seal_content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The statement the witness signed and the witness's public key; the seal photo."""
    sample = _own_sample(db, data)
    row = db.scalar(select(SampleSeal).where(SampleSeal.sample_id == sample.id)) if sample else None
    key = db.get(WitnessKey, row.witness_key_id) if row else None
    if row is None or key is None or _sha(row.statement) != data.get("statement_sha256"):
        return None
    given = {
        "statement": _b64(row.statement), "public_key": _b64(key.public_key),
        "evidence": [{"role": "seal", "sha256": row.photo_seal_sha256}],
    }  # fmt: skip
    return Exported(given, (row.photo_seal_sha256,))


def record_content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The witness record and its signed PDF."""
    sample = _own_sample(db, data)
    row = (
        db.scalar(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id))
        if sample
        else None
    )
    if (
        row is None
        or row.pdf_sha256 != data.get("pdf_sha256")
        or _sha(canonical_json(row.record)) != data.get("record_sha256")
    ):
        return None
    given = {"record": row.record, "evidence": [{"role": "pdf", "sha256": row.pdf_sha256}]}
    return Exported(given, (row.pdf_sha256,))


# --- the parent: the chain rebuilt ----------------------------------------------------------


def receipt_content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """How the lab's receipt check was made and, made on its page, what the entry does not
    hold (the commission's number, the tag's state, the photo's distance, the notes) and its
    receipt photo."""
    row = db.scalar(
        select(SampleReceipt).where(
            SampleReceipt.sample_code == data.get("sample_code"),
            SampleReceipt.checked_at == _parsed_time(data.get("checked_at")),
            SampleReceipt.origin.is_(None),  # a grandchild's: not ours to send
        )
    )
    if row is None or row.photo_sha256 != data.get("photo_sha256"):
        return None
    if row.via != "page":
        return Exported({"via": row.via})
    commission = db.get(Commission, row.commission_id) if row.commission_id else None
    photo = [{"role": "receipt", "sha256": row.photo_sha256}] if row.photo_sha256 else []
    given = {
        "via": row.via, "commission_number": commission.number if commission else None,
        "tag_intact": row.tag_intact, "phash_distance": row.phash_distance, "notes": row.notes,
        "evidence": photo,
    }  # fmt: skip
    return Exported(given, tuple(f["sha256"] for f in photo))


def _parsed_time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def appliers() -> dict[str, FactApplier]:
    return {
        REGISTER: register, SEAL: sealed, RECORD: recorded, RECEIPT: received, REVOKE: revoked,
        POUR: poured, IDENTITY: identity_checked,
    }  # fmt: skip


def identity_checked(db: Session, fact: ForwardedFact) -> None:
    """The city's identity check of its sampler or witness, kept on the city's sample as the
    city's, by the person's name (no account here); the photos stay with the city, their
    digests are the sample's and the seal's. The rule that judges it stays the city's."""
    entry = _entry(Checked, fact)
    if entry.checked_at.tzinfo is None:
        raise ValidationFailed(errors=[FieldError("checked_at", "时间须带时区")])
    compared = entry.distance is not None and entry.threshold is not None
    if entry.result in (IdentityResult.PASSED, IdentityResult.FAILED) and (
        not compared
        or (entry.result == IdentityResult.PASSED) != (entry.distance <= entry.threshold)  # type: ignore[operator]
    ):
        raise _mismatch("result", "核验结论与人脸距离、阈值不符")
    given = parsed_content(IdentityContent, _content(fact, "身份核验"))
    if _sha(canonical_json(dict(fact.content or {}))) != entry.person_sha256:
        raise _mismatch("content.person", "与存证的被核验人摘要不符")
    sample = _childs_sample(db, fact, entry.sample_code, "记录身份核验")
    if entry.action == "sample:register":
        photo: str | None = sample.photo_person_sha256
    else:
        row = db.scalar(select(SampleSeal).where(SampleSeal.sample_id == sample.id))
        if row is None or row.origin != fact.platform:
            raise NotFound(f"样品 {sample.sample_code} 的封志未由该下级平台报送，无从记录身份核验")
        photo = row.photo_person_sha256
    if photo != entry.live_photo_sha256:
        raise _mismatch("live_photo_sha256", "现场照片与该下级平台报送的样品、封志不符")
    same = db.scalar(
        select(IdentityCheck.id).where(
            IdentityCheck.origin == fact.platform, IdentityCheck.origin_index == fact.index
        )
    )
    if same is not None:
        return  # sent again: the forward is at-least-once
    db.add(
        IdentityCheck(
            user_id=None, person_name=given.person, project_id=sample.project_id,
            sample_id=sample.id, action=entry.action,
            live_photo_sha256=entry.live_photo_sha256,
            reference_photo_sha256=entry.reference_photo_sha256, result=entry.result.value,
            method=entry.method, distance=entry.distance,
            threshold=entry.threshold, checked_at=entry.checked_at,
            origin=fact.platform, origin_index=fact.index,
        )
    )  # fmt: skip
    db.flush()


def poured(db: Session, fact: ForwardedFact) -> None:
    """The city's concrete pour, kept here as the city's on the province's copy of its project
    (the specimen-set rules that judge it stay the city's); sent again: nothing."""
    try:
        entry = Poured.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if pours.particulars_digest(_content(fact, "浇筑")) != entry.sha256:
        raise _mismatch("content", "浇筑信息与存证的摘要不符")
    given = parsed_content(PourContent, _content(fact, "浇筑"))
    for name in ("started_at", "ended_at"):
        if getattr(given, name).tzinfo is None:
            raise ValidationFailed(errors=[FieldError(f"content.{name}", "时间须带时区")])
    hours = (given.ended_at - given.started_at).total_seconds() / 3600
    if not 0 <= hours <= pours.MAX_POUR_HOURS:
        raise ValidationFailed(
            errors=[FieldError("content.ended_at", "浇筑结束时间应在开始后 7 天以内")]
        )
    project = _childs_project(db, fact, entry.project_code)
    same = db.scalar(
        select(ConcretePour.id).where(
            ConcretePour.origin == fact.platform, ConcretePour.origin_index == fact.index
        )
    )
    if same is not None:
        return  # sent again: the forward is at-least-once
    db.add(
        ConcretePour(
            project_id=project.id, region_code=project.region_code,
            structure_part=given.structure_part, grade=given.grade,
            impermeability=given.impermeability, volume_m3=given.volume_m3,
            started_at=given.started_at, ended_at=given.ended_at,
            bottom_forms=given.bottom_forms, recorded_by=None,
            origin=fact.platform, origin_index=fact.index, origin_id=entry.pour_id,
        )
    )  # fmt: skip
    db.flush()


def _childs_pour(db: Session, fact: ForwardedFact, project: Project, pour_id: int) -> ConcretePour:
    """The child's pour its sample was cast from, by the child's id (its entry's ``pour_id``),
    as the child sent it on the same project: its specimen sets are counted here by it."""
    pour = db.scalar(
        select(ConcretePour).where(
            ConcretePour.origin == fact.platform,
            ConcretePour.origin_id == pour_id,
            ConcretePour.project_id == project.id,
        )
    )
    if pour is None:
        raise NotFound(f"浇筑（下级平台编号 {pour_id}）未由该下级平台在该工程项目上报送")
    return pour


def _childs_project(db: Session, fact: ForwardedFact, code: str) -> Project:
    """The project within the child's region the fact names; held while no project of that
    code is here (the child's project message or entry, applied behind, may bring it)."""
    project = db.scalar(
        select(Project).where(
            Project.code == code,
            Project.region_code.startswith(scope_prefix(fact.region_code), autoescape=True),
        )
    )
    if project is None:
        if db.scalar(select(Project.id).where(Project.code == code)) is None:
            raise NotYet(f"工程项目“{code}”在本平台尚不存在")
        raise NotFound(f"工程项目“{code}”在本平台不存在或不在该下级平台辖区内")
    return project


def register(db: Session, fact: ForwardedFact) -> None:
    """The city's sample, registered here as the city's on the province's copy of its
    project; the same sent again: nothing."""
    entry = _entry(Registered, fact)
    for name in ("sampled_at", "prepared_at"):
        if getattr(entry, name).tzinfo is None:
            raise ValidationFailed(errors=[FieldError(name, "时间须带时区")])
    given = parsed_content(RegisterContent, _content(fact, "取样登记"))
    _files(given.evidence, {"sample": entry.photos.sample, "tag": entry.photos.tag})
    same = db.scalar(select(Sample).where(Sample.sample_code == entry.sample_code))
    if same is not None:
        if same.origin == fact.platform:
            return  # sent again: the forward is at-least-once
        raise Conflict(
            f"样品编码 {entry.sample_code} 在本平台已登记为另一个样品",
            errors=[FieldError("sample_code", "已登记", "duplicate")],
        )
    project = db.scalar(
        select(Project).where(
            Project.code == entry.project_code,
            Project.region_code.startswith(scope_prefix(fact.region_code), autoescape=True),
        )
    )
    if project is None:
        if db.scalar(select(Project.id).where(Project.code == entry.project_code)) is None:
            # the child's project message, applied here behind the forward, may bring it
            raise NotYet(f"工程项目“{entry.project_code}”在本平台尚不存在")
        raise NotFound(f"工程项目“{entry.project_code}”在本平台不存在或不在该下级平台辖区内")
    pour = _childs_pour(db, fact, project, entry.pour_id) if entry.pour_id is not None else None
    sample = Sample(
        sample_code=entry.sample_code, project_id=project.id, region_code=project.region_code,
        material=given.material, specification=given.specification,
        batch_number=given.batch_number, quantity=given.quantity,
        structure_part=given.structure_part, specimen_count=given.specimen_count,
        specimen_size=given.specimen_size, prepared_at=entry.prepared_at,
        sampler_user_id=None, sampler_name=given.sampler, sampled_at=entry.sampled_at,
        latitude=given.latitude, longitude=given.longitude, accuracy_m=given.accuracy_m,
        distance_m=projects.site_distance(project, given.latitude, given.longitude),
        photo_sample_sha256=entry.photos.sample, photo_tag_sha256=entry.photos.tag,
        photo_person_sha256=entry.photos.sampler, sample_phash=entry.sample_phash,
        status=SampleStatus.SAMPLED.value, curing=entry.curing,
        pour_id=pour.id if pour is not None else None,
        origin=fact.platform, origin_index=fact.index,
    )  # fmt: skip
    db.add(sample)
    db.flush()
    # a commission the lab sent before the sample came names it already
    for named in db.scalars(
        select(CommissionSample).where(
            CommissionSample.sample_code == sample.sample_code,
            CommissionSample.sample_id.is_(None),
        )
    ):
        named.sample_id = sample.id
        commission = db.get(Commission, named.commission_id)
        if commission is not None and commission.project_id == sample.project_id:
            sample.commission_id = sample.commission_id or commission.id
            sample.institution_id = sample.institution_id or commission.institution_id
    db.flush()


def sealed(db: Session, fact: ForwardedFact) -> None:
    """The witness's seal of the city's sample, kept here when the statement is the entry's
    and its signature verifies with the key the entry names."""
    entry = _entry(Sealed, fact)
    given = parsed_content(SealContent, _content(fact, "封志"))
    statement = _unb64(given.statement, "content.statement")
    public_key = _unb64(given.public_key, "content.public_key")
    signature = _unb64(entry.signature, "signature")
    if len(statement) > MAX_STATEMENT:
        raise _mismatch("content.statement", "封志声明过长")
    if _sha(statement) != entry.statement_sha256:
        raise _mismatch("content.statement", "与存证的封志声明摘要不符")
    if seal.key_id(public_key) != entry.key_id or seal.public_key_problem(public_key):
        raise _mismatch("content.public_key", "与存证的封志公钥不符")
    if not seal.verify(public_key, statement, signature):
        raise _mismatch("signature", "电子封志签名验证失败")
    said = _statement(statement)
    _files(given.evidence, {"seal": said.photos.seal})
    sample = _childs_sample(db, fact, entry.sample_code, "封样")
    if (
        said.sample_code != sample.sample_code
        or said.key_id != entry.key_id
        or said.sample_phash != sample.sample_phash
        or (said.photos.sample, said.photos.tag, said.photos.sampler)
        != (sample.photo_sample_sha256, sample.photo_tag_sha256, sample.photo_person_sha256)
    ):
        raise _mismatch("content.statement", "封志声明与该下级平台报送的样品信息不一致")
    if said.sealed_at.tzinfo is None:
        raise ValidationFailed(errors=[FieldError("content.statement", "封样时间须带时区")])
    same = db.scalar(select(SampleSeal).where(SampleSeal.sample_id == sample.id))
    if same is not None:
        if same.statement == statement and same.origin == fact.platform:
            return  # sent again
        raise Conflict(f"样品 {sample.sample_code} 在本平台已有另一份封志")
    key = _key(db, fact, entry.key_id, public_key)
    project = db.get(Project, sample.project_id)
    place = said.location
    lat, lon = (place.latitude, place.longitude) if place else (None, None)
    row = SampleSeal(
        sample_id=sample.id, project_id=sample.project_id, region_code=sample.region_code,
        institution_id=sample.institution_id, witness_user_id=None,
        witness_name=said.witness.name, witness_key_id=key.id, statement=statement,
        signature=signature, sealed_at=said.sealed_at, latitude=lat, longitude=lon,
        accuracy_m=place.accuracy_m if place else None,
        distance_m=projects.site_distance(project, lat, lon) if project else None,
        photo_seal_sha256=said.photos.seal, photo_person_sha256=said.photos.witness,
        origin=fact.platform, origin_index=fact.index,
    )  # fmt: skip
    db.add(row)
    if sample.status == SampleStatus.SAMPLED.value:
        sample.status = SampleStatus.SEALED.value
    sample.sampler_name = said.sampler.name  # the witness signed it
    db.flush()


def recorded(db: Session, fact: ForwardedFact) -> None:
    """The city's witness record of a seal it sent, with its signed PDF; ``/w/<token>`` here
    answers for it under the city's token."""
    entry = _entry(Recorded, fact)
    given = parsed_content(RecordContent, _content(fact, "见证记录"))
    if _sha(canonical_json(given.record)) != entry.record_sha256:
        raise _mismatch("content.record", "与存证的见证记录摘要不符")
    _files(given.evidence, {"pdf": entry.pdf_sha256})
    try:
        record = Record.model_validate(given.record)
    except ValidationError as exc:
        raise ValidationFailed(
            errors=[
                FieldError(f"content.record.{e.field}", e.message, e.code)
                for e in field_errors_from_pydantic(exc.errors())
            ]
        ) from exc
    if record.sample.sample_code != entry.sample_code:
        raise _mismatch("content.record", "见证记录的样品编码与存证不符")
    sample = _childs_sample(db, fact, entry.sample_code, "出具见证记录")
    row = db.scalar(select(SampleSeal).where(SampleSeal.sample_id == sample.id))
    if row is None or row.origin != fact.platform:
        raise NotFound(f"样品 {sample.sample_code} 的封志未由该下级平台报送，无从出具见证记录")
    if record.seal.statement != _b64(row.statement) or record.seal.key_id != _key_id(db, row):
        raise _mismatch("content.record", "见证记录的封志与该下级平台报送的封志不一致")
    token = _token(record.public_url)
    same = db.scalar(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id))
    if same is not None:
        if same.origin == fact.platform and same.pdf_sha256 == entry.pdf_sha256:
            return  # sent again
        raise Conflict(f"样品 {sample.sample_code} 在本平台已有另一份见证记录")
    if db.scalar(select(WitnessRecord.id).where(WitnessRecord.token == token)) is not None:
        raise Conflict("见证记录的查验码在本平台已用于另一份见证记录")
    kept = WitnessRecord(
        sample_id=sample.id, seal_id=row.id, project_id=sample.project_id,
        region_code=sample.region_code, institution_id=sample.institution_id, token=token,
        record=dict(given.record), pdf_sha256=entry.pdf_sha256,
        origin=fact.platform, origin_index=fact.index,
    )  # fmt: skip
    db.add(kept)
    db.flush()


def revoked(db: Session, fact: ForwardedFact) -> None:
    """A witness's key the city revoked: its copy here is revoked as of the same time, so a
    seal by it made later (arriving later) is judged invalid here as there, and earlier ones
    stay valid. A key the province does not hold yet (never used for a seal sent up) is kept as
    the city's, revoked: a seal by it that comes later is judged against it. Sent again:
    nothing."""
    try:
        entry = Revoked.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if entry.revoked_at.tzinfo is None:
        raise ValidationFailed(errors=[FieldError("revoked_at", "时间须带时区")])
    notarised = fact.notarised_at
    if notarised.tzinfo is None:
        notarised = notarised.replace(tzinfo=dt.UTC)
    if not notarised - MAX_REVOCATION_LAG <= entry.revoked_at <= notarised:
        raise _mismatch("revoked_at", "吊销时间与下级平台存证的时间不符")
    public_key = _unb64(entry.public_key, "public_key")
    if seal.public_key_problem(public_key) or seal.key_id(public_key) != entry.key_id:
        raise _mismatch("public_key", "与存证的封志密钥编号不符")
    key = db.scalar(select(WitnessKey).where(WitnessKey.key_id == entry.key_id))
    if key is None:
        key = WitnessKey(
            user_id=None, key_id=entry.key_id, public_key=public_key, origin=fact.platform,
            revoked_at=entry.revoked_at,
        )  # fmt: skip
        db.add(key)
    elif key.origin != fact.platform:
        raise NotFound(f"封志密钥 {entry.key_id[:16]}… 不是该下级平台的，无从吊销")
    elif key.revoked_at is None:
        key.revoked_at = entry.revoked_at
    db.flush()  # revoked before: sent again, nothing changes


# --- helpers ------------------------------------------------------------------------------


def received(db: Session, fact: ForwardedFact) -> bool | None:
    """The lab's receipt check made on its page at the city, kept here as the city's on the
    city's sample: the sample is received (or refused) here as there. One made from the lab's
    message (the province checks that message itself) or of a code the city did not know is
    only recorded (False)."""
    try:
        entry = Received.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if entry.checked_at.tzinfo is None:
        raise ValidationFailed(errors=[FieldError("checked_at", "时间须带时区")])
    given = parsed_content(ReceiptContent, _content(fact, "收样"))
    if given.via == "exchange" or RefusalReason.UNKNOWN_CODE in entry.reasons:
        return False
    wanted = {"receipt": entry.photo_sha256} if entry.photo_sha256 else {}
    _files(given.evidence, wanted)
    if entry.accepted == bool(entry.reasons):
        raise ValidationFailed(errors=[FieldError("reasons", "收样的结论与拒收原因不符")])
    sample = _childs_sample(db, fact, entry.sample_code, "收样")
    inst = childs_institution(db, fact, entry.institution_code)
    same = db.scalar(
        select(SampleReceipt.id).where(
            SampleReceipt.sample_id == sample.id,
            SampleReceipt.checked_at == entry.checked_at,
            SampleReceipt.origin == fact.platform,
        )
    )
    if same is not None:
        return None  # sent again: the forward is at-least-once
    commission = None
    if given.commission_number is not None:  # when the province holds it (the lab's message)
        commission = db.scalar(
            select(Commission).where(
                Commission.institution_id == inst.id,
                Commission.number == given.commission_number,
            )
        )
    db.add(
        SampleReceipt(
            sample_code=sample.sample_code, sample_id=sample.id,
            commission_id=commission.id if commission else sample.commission_id,
            project_id=sample.project_id, institution_id=inst.id,
            region_code=inst.region_code, accepted=entry.accepted,
            reasons=[{"code": r.value, "message": r.label} for r in entry.reasons],
            photo_sha256=entry.photo_sha256, photo_phash=None,
            phash_distance=given.phash_distance, tag_intact=given.tag_intact,
            checked_at=entry.checked_at, via="page", user_id=None, message_id=None,
            notes=given.notes, origin=fact.platform, origin_index=fact.index,
        )
    )  # fmt: skip
    mark_received_or_refused(db, sample, commission, inst, entry.accepted)
    db.flush()
    return None


def _entry(model: type[E], fact: ForwardedFact) -> E:
    try:
        entry = model.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    problem = codes.code_problem(entry.sample_code)
    if problem:
        raise ValidationFailed(errors=[FieldError("sample_code", problem)])
    if not entry.sample_code.startswith(scope_prefix(fact.region_code)):
        raise ValidationFailed(
            f"样品编码 {entry.sample_code} 的行政区划不在下级平台“{fact.platform}”的辖区内",
            errors=[FieldError("sample_code", "不在该下级平台辖区内", "scope")],
        )
    return entry


def _content(fact: ForwardedFact, what: str) -> Mapping[str, Any]:
    if fact.content is None:
        raise ValidationFailed(errors=[FieldError("content", f"缺少{what}的内容")])
    return fact.content


def _files(given: list[File], wanted: dict[str, str]) -> None:
    """The content's files must be the entry's, role by role."""
    if {f.role: f.sha256 for f in given} != wanted or len(given) != len(wanted):
        raise _mismatch("content.evidence", "与存证的文件摘要不符")


def _childs_sample(db: Session, fact: ForwardedFact, code: str, doing: str) -> Sample:
    sample = db.scalar(
        select(Sample).where(Sample.sample_code == code, Sample.origin == fact.platform)
    )
    if sample is None or not sample.region_code.startswith(scope_prefix(fact.region_code)):
        raise NotFound(f"样品 {code} 未由该下级平台报送，无从{doing}")
    return sample


def _key(db: Session, fact: ForwardedFact, key_id: str, public_key: bytes) -> WitnessKey:
    """The witness's key: the one this platform holds under that id (a key id is the key's
    SHA-256: the same key), else kept as the child's, of no account here."""
    key = db.scalar(select(WitnessKey).where(WitnessKey.key_id == key_id))
    if key is None:
        key = WitnessKey(user_id=None, key_id=key_id, public_key=public_key, origin=fact.platform)
        db.add(key)
        db.flush()
    return key


def _key_id(db: Session, row: SampleSeal) -> str | None:
    key = db.get(WitnessKey, row.witness_key_id)
    return key.key_id if key else None


def _statement(data: bytes) -> Statement:
    try:
        parsed = seal.parse_statement(data)
        return Statement.model_validate(parsed)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise _mismatch("content.statement", _first_problem(exc)) from exc


def _first_problem(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        errors = field_errors_from_pydantic(exc.errors())
        return f"封志声明的 {errors[0].field}：{errors[0].message}" if errors else "封志声明无效"
    return str(exc)


def _token(public_url: str) -> str:
    found = re.search(_RECORD_PATH, public_url)
    assert found is not None  # the model's pattern
    return found.group(1)


def _mismatch(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[FieldError(field_name, message, "mismatch")])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, field_name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(errors=[FieldError(field_name, "应为 base64 编码")]) from exc
