"""Sample codes, samples, electronic seals, witness records, commissions, receipt checks."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin

_SAMPLE_SCOPE: dict[str, str] = {
    "region": "region_code",
    "project": "project_id",
    "institution": "institution_id",
}


class SampleCodeBatch(ChangeLogged, IdMixin, Base):
    """Codes issued together to a project, printed as one label sheet."""

    __tablename__ = "sample_code_batch"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "project": "project_id"}

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    year: Mapped[int] = mapped_column(Integer)
    first_serial: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    def audit_repr(self) -> str:
        return f"{self.count} 个样品编码"


class SampleCode(IdMixin, Base):
    """A unique sample code (唯一性编码, 000 2.0.5) issued to a project; used by one sample."""

    __tablename__ = "sample_code"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "project": "project_id"}
    __table_args__ = (UniqueConstraint("region_code", "year", "serial"),)

    code: Mapped[str] = mapped_column(String(20), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(ForeignKey("sample_code_batch.id"), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class Sample(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A sample (样品) registered on site by the sampler under its tag's code (001 7.1.2)."""

    __tablename__ = "sample"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = _SAMPLE_SCOPE

    sample_code: Mapped[str] = mapped_column(String(20), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    # The lab the sample is commissioned to (set when a commission names it).
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    commission_id: Mapped[int | None] = mapped_column(
        ForeignKey("commission.id"), index=True, default=None
    )
    material: Mapped[str] = mapped_column(String(64))
    specification: Mapped[str] = mapped_column(String(100), default="")  # e.g. C30, HRB400 Φ20
    batch_number: Mapped[str] = mapped_column(String(64), default="")
    quantity: Mapped[str] = mapped_column(String(64), default="")  # represented quantity
    structure_part: Mapped[str] = mapped_column(String(200), default="")
    specimen_count: Mapped[int] = mapped_column(Integer, default=1)
    specimen_size: Mapped[str] = mapped_column(String(64), default="")
    prepared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # made / cast
    # None on a child platform's sample rebuilt here (``origin``): its sampler is the child's
    # user, named by the child's word in ``sampler_name``
    sampler_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True, default=None
    )
    sampled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)  # server time
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)
    distance_m: Mapped[float | None] = mapped_column(Float, default=None)  # outside the site
    photo_sample_sha256: Mapped[str] = mapped_column(String(64))
    photo_tag_sha256: Mapped[str] = mapped_column(String(64))
    photo_person_sha256: Mapped[str] = mapped_column(String(64))
    sample_phash: Mapped[str] = mapped_column(String(16))  # dHash of the sample photo, hex
    status: Mapped[str] = mapped_column(String(16), index=True, default="sampled")
    # concrete and mortar specimens: how they are cured (choices.Curing; "" not declared) and
    # the pour they were cast from (003 I(2))
    curing: Mapped[str] = mapped_column(String(16), default="")
    pour_id: Mapped[int | None] = mapped_column(
        ForeignKey("concrete_pour.id"), index=True, default=None
    )
    # a child platform's sample rebuilt here (jcjg.sampling.facts): the child's name, the leaf
    # of its log, and its sampler's name as the child gave it; only the child changes it
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sampler_name: Mapped[str] = mapped_column(String(64), default="")

    def audit_repr(self) -> str:
        return self.sample_code


class ConcretePour(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One pour of concrete (混凝土浇筑) on a project, as the site's sampler records it on the
    phone: where, which mix, how much and when. The specimen sets it needs per curing kind
    follow from it (jcjg.sampling.pours, 003 I(2)); the samples cast from it name it."""

    __tablename__ = "concrete_pour"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "project": "project_id",
    }

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    structure_part: Mapped[str] = mapped_column(String(200))  # 浇筑部位
    grade: Mapped[str] = mapped_column(String(16))  # strength grade, C30
    impermeability: Mapped[str] = mapped_column(String(8), default="")  # P6 ... ("" none)
    volume_m3: Mapped[float] = mapped_column(Float)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    # the bottom forms come off by the strength of same-condition cubes (slabs, beams)
    bottom_forms: Mapped[bool] = mapped_column(Boolean, default=False)
    # None on a child platform's pour rebuilt here (``origin``): its sampler is the child's
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    # the child platform whose pour this is (its name here), the leaf of its log, and the
    # pour's id there (the child's samples cast from it name it by that id)
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    origin_id: Mapped[int | None] = mapped_column(BigInteger, default=None)

    def audit_repr(self) -> str:
        return f"{self.structure_part} {self.grade} {self.volume_m3:g} m³"


class WitnessKey(ChangeLogged, IdMixin, Base):
    """A witness's electronic-seal public key (Ed25519), generated on the phone with WebCrypto
    (the private key never leaves it). ``key_id`` is the SHA-256 of the raw public key."""

    __tablename__ = "witness_key"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = {"self": "user_id"}

    # None for a child platform's witness's key, kept here to verify its seals (``origin``):
    # no account here holds it, so nobody here seals with it
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True, default=None
    )
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    device: Mapped[str] = mapped_column(String(200), default="")
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    origin: Mapped[str | None] = mapped_column(String(100), default=None)

    def audit_repr(self) -> str:
        return f"封志密钥 {self.key_id[:16]}"


class SampleSeal(IdMixin, Base):
    """The electronic seal (电子封志, 000 2.0.16): the witness's Ed25519 signature over the
    canonical statement (RFC 8785 JSON) naming the sample and its photos' hashes."""

    __tablename__ = "sample_seal"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = _SAMPLE_SCOPE

    sample_id: Mapped[int] = mapped_column(ForeignKey("sample.id"), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    # None on a child platform's seal rebuilt here (``origin``): the witness is the child's
    # user, named in ``witness_name`` as the statement the witness signed names them
    witness_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True, default=None
    )
    witness_key_id: Mapped[int] = mapped_column(ForeignKey("witness_key.id"))
    statement: Mapped[bytes] = mapped_column(LargeBinary)  # the exact bytes signed
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    sealed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy_m: Mapped[float | None] = mapped_column(Float, default=None)
    distance_m: Mapped[float | None] = mapped_column(Float, default=None)
    photo_seal_sha256: Mapped[str] = mapped_column(String(64))  # the sealed sample
    photo_person_sha256: Mapped[str] = mapped_column(String(64))  # the witness
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)
    leaf_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    witness_name: Mapped[str] = mapped_column(String(64), default="")


class WitnessRecord(IdMixin, Base):
    """The witness record (见证记录), generated when the seal is made: JSON and a signed PDF.
    ``token`` opens its public page (printed as the PDF's QR)."""

    __tablename__ = "witness_record"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = _SAMPLE_SCOPE

    sample_id: Mapped[int] = mapped_column(ForeignKey("sample.id"), unique=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("sample_seal.id"), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    token: Mapped[str] = mapped_column(String(32), unique=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)


class IdentityCheck(IdMixin, Base):
    """A live photo taken with an action and what the identity check made of it (000 4.3.4
    item 2; 001 7.1.2): ``result`` an IdentityResult, ``distance`` the matcher's distance
    between the two faces and ``threshold`` the largest that counted as the same person then.
    Never "passed" without a comparison."""

    __tablename__ = "identity_check"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = {"project": "project_id", "self": "user_id"}

    # None on a child platform's check rebuilt here (``origin``): the person is the child's,
    # named by ``person_name``
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True, default=None
    )
    person_name: Mapped[str] = mapped_column(String(64), default="")
    # the random salt of the person's digest in the check's entry (``person_sha256``): it
    # travels only beside the leaf, so a name guessed cannot be tested against the public log
    person_salt: Mapped[str | None] = mapped_column(String(32), default=None)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("sample.id"), default=None)
    action: Mapped[str] = mapped_column(String(32))  # sample:register, sample:seal
    live_photo_sha256: Mapped[str] = mapped_column(String(64))
    reference_photo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    result: Mapped[str] = mapped_column(String(16))  # IdentityResult
    method: Mapped[str] = mapped_column(String(64))
    distance: Mapped[float | None] = mapped_column(Float, default=None)
    threshold: Mapped[float | None] = mapped_column(Float, default=None)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the child platform whose check this is (its name here) and the leaf of its log
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Commission(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A commission (委托) as the lab's LIMS synchronises it (000 4.3.4 item 3). ``number`` is the
    lab's; ``year`` and ``seq`` its annual sequence for the continuity check (001 9.1.2)."""

    __tablename__ = "commission"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "project": "project_id",
        "institution": "institution_id",
    }
    __table_args__ = (
        UniqueConstraint("institution_id", "number"),
        Index("ix_commission_institution_year_seq", "institution_id", "year", "seq"),
    )

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    commissioned_on: Mapped[dt.date] = mapped_column(Date)
    client_unit: Mapped[str] = mapped_column(String(200), default="")
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # test item codes
    witness_name: Mapped[str] = mapped_column(String(64), default="")
    deliverer_name: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), index=True, default="registered")
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)


class CommissionSample(IdMixin, Base):
    """A sample a commission covers, by the code on its tag (``sample_id`` when the platform
    knows the code; a code it never issued stays here for the ``untagged_sample`` rule)."""

    __tablename__ = "commission_sample"
    __table_args__ = (UniqueConstraint("commission_id", "sample_code"),)

    commission_id: Mapped[int] = mapped_column(
        ForeignKey("commission.id", ondelete="CASCADE"), index=True
    )
    sample_code: Mapped[str] = mapped_column(String(64), index=True)
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("sample.id"), default=None)


class SampleReceipt(IdMixin, Base):
    """One receipt check (收样/验封) of one tag at the lab: accepted or refused with reasons.
    Refusals are kept; a later accepted check of the same sample does not erase them."""

    __tablename__ = "sample_receipt"
    __permission_entity__: ClassVar[str] = "sample"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "project": "project_id",
        "institution": "institution_id",
    }

    sample_code: Mapped[str] = mapped_column(String(64), index=True)
    sample_id: Mapped[int | None] = mapped_column(ForeignKey("sample.id"), index=True, default=None)
    commission_id: Mapped[int | None] = mapped_column(ForeignKey("commission.id"), default=None)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    photo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    photo_phash: Mapped[str | None] = mapped_column(String(16), default=None)
    phash_distance: Mapped[int | None] = mapped_column(Integer, default=None)
    tag_intact: Mapped[bool] = mapped_column(Boolean, default=True)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    via: Mapped[str] = mapped_column(String(16))  # "exchange" or "page"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    # a check made on the lab's page at a child platform, rebuilt here on the child's sample
    # (sampling.facts): the child's name here and the index of its entry in the child's log
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)


class PhotoPrint(IdMixin, Base):
    """One photo of the sampling chain or of an on-site record, by content (SHA-256) and, for
    the specimen photos, by perceptual hash (dHash) cut into four 16-bit bands: the index
    ``photo_reuse`` looks a new photo up in (two photos within 3 bits share a band; see
    :mod:`jcjg.sampling.reuse`). Written with the photo's sample, seal, receipt or record."""

    __tablename__ = "photo_print"

    kind: Mapped[str] = mapped_column(String(16))  # reuse.KINDS: sample, tag, seal, ...
    subject_type: Mapped[str] = mapped_column(String(24))  # sample, onsite_record
    subject_id: Mapped[int] = mapped_column(Integer)
    subject_label: Mapped[str] = mapped_column(String(64))  # the sample code or record number
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[str | None] = mapped_column(String(16), default=None)
    band0: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    band1: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    band2: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    band3: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
