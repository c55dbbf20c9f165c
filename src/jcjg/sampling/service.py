"""The sampling chain's services: codes, registration on site, sealing, the witness record,
commissions and the receipt check. Keyword-only, never commit; facts are notarised in the
caller's transaction."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, restrict
from jcjg.config import Settings
from jcjg.core.blobs import blob_store, digest_of
from jcjg.core.db import alive, memo
from jcjg.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from jcjg.core.workdays import beijing_date
from jcjg.documents.photos import (
    PhotoProblem,
    StoredPhoto,
    hamming,
    perceptual_hash,
    take_photo,
)
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import canonical_json
from jcjg.projects import service as projects
from jcjg.projects import training
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import Project
from jcjg.regions.models import Region
from jcjg.sampling import codes, identity, pours, reuse, seal
from jcjg.sampling.choices import (
    CommissionStatus,
    RefusalReason,
    SampleStatus,
    commission_transition_problem,
)
from jcjg.sampling.models import (
    Commission,
    CommissionSample,
    IdentityCheck,
    Sample,
    SampleCode,
    SampleCodeBatch,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from jcjg.tenancy.models import Institution

MAX_BATCH = 500
MAX_PREPARED_AGE = dt.timedelta(days=7)  # a sample registered later than this is refused
RECEIPT_PHASH_MAX_DISTANCE = 12  # bits of 64: over this the receipt photo is another specimen
REVOKE_KEY = "witness_key:revoke"


_T = TypeVar("_T")


def _fail(field_name: str, message: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field_name, message, code)])


def iso(moment: dt.datetime) -> str:
    return ledger.timestamp(moment)


# --- codes ----------------------------------------------------------------------------------------


def issue_codes(
    *, db: Session, principal: Principal, project_id: int, count: int, now: dt.datetime
) -> SampleCodeBatch:
    """Issue ``count`` new codes to a project. Serials are counted per region and year under a
    lock on the region's row, so two batches never share a serial."""
    principal.require("sample:issue_codes")
    project = db.scalars(
        restrict(select(Project).where(Project.id == project_id), principal, "read")
    ).first()
    if project is None:
        raise NotFound()
    if not 1 <= count <= MAX_BATCH:
        raise _fail("count", f"每批 1 至 {MAX_BATCH} 个编码")
    year = beijing_date(now).year
    db.execute(select(Region.code).where(Region.code == project.region_code).with_for_update())
    last = db.scalar(
        select(func.max(SampleCode.serial)).where(
            SampleCode.region_code == project.region_code, SampleCode.year == year
        )
    )
    first = (last or 0) + 1
    if first + count - 1 > codes.MAX_SERIAL:
        raise Conflict("本地区本年度的样品编码已用完")
    batch = SampleCodeBatch(
        project_id=project.id,
        region_code=project.region_code,
        year=year,
        first_serial=first,
        count=count,
        issued_at=now,
        issued_by_id=principal.user_id,
    )
    db.add(batch)
    db.flush()
    db.add_all(
        SampleCode(
            code=codes.make_code(project.region_code, year, serial),
            project_id=project.id,
            region_code=project.region_code,
            year=year,
            serial=serial,
            batch_id=batch.id,
        )
        for serial in range(first, first + count)
    )
    db.flush()
    return batch


def batch_codes(db: Session, batch_id: int) -> Sequence[SampleCode]:
    return db.scalars(
        select(SampleCode).where(SampleCode.batch_id == batch_id).order_by(SampleCode.serial)
    ).all()


def code_url(settings: Settings, code: str) -> str:
    """What a tag's QR holds: the code's page on this platform (scanners read the code off
    the URL's last segment)."""
    return f"{settings.base_url.rstrip('/')}/s/{code}"


def parse_code(raw: str, field_name: str = "sample_code") -> str:
    code = codes.normalise(raw)
    problem = codes.code_problem(code)
    if problem:
        raise _fail(field_name, problem)
    return code


# --- photos and identity ----------------------------------------------------------------------


def check_identity(
    *,
    db: Session,
    settings: Settings,
    user_id: int,
    project_id: int | None,
    sample_id: int | None,
    action: str,
    live: StoredPhoto,
    live_bytes: bytes,
    reference_sha256: str | None,
    region_code: str,
) -> IdentityCheck:
    """Compare the live photo with the registered one (the region's threshold) and record it."""
    reference = None
    if reference_sha256:
        try:
            reference = blob_store(settings).get(reference_sha256)
        except KeyError:
            reference = None
    threshold = identity.threshold_for(settings, region_code)
    outcome = identity.load_matcher(settings.identity_matcher).compare(
        live_bytes, reference, threshold=threshold
    )
    row = IdentityCheck(
        user_id=user_id,
        project_id=project_id,
        sample_id=sample_id,
        action=action,
        live_photo_sha256=live.sha256,
        reference_photo_sha256=reference_sha256,
        result=outcome.result.value,
        method=outcome.method,
        distance=outcome.distance,
        threshold=threshold if outcome.distance is not None else None,
    )
    db.add(row)
    return row


# --- the log: an identity check made here is a fact a parent platform keeps (sampling.facts) ---

IDENTITY_CHECK = "identity_check:register"


def identity_person(name: str, salt: str | None) -> dict[str, Any]:
    """What an identity check's entry holds only as a digest: who was checked (the log is
    public and forever; the ID number and the photos never leave this platform), salted with
    the check's own random salt (none for checks notarised before salts: their digest is of
    the name alone), so that a guessed name cannot be tested against the log."""
    return {"person": name} if salt is None else {"person": name, "salt": salt}


def identity_entry(
    db: Session, row: IdentityCheck, sample: Sample, project: Project
) -> dict[str, Any]:
    """The check's outcome, when, of which sample and action, and digests: of the live and
    registered photos (the files stay here) and of who was checked (:func:`identity_person`)."""
    user = db.get(User, row.user_id) if row.user_id else None
    person = identity_person(user.display_name if user else row.person_name, row.person_salt)
    return {
        "sample_code": sample.sample_code, "project_code": project.code, "action": row.action,
        "result": row.result, "method": row.method, "distance": row.distance,
        "threshold": row.threshold, "checked_at": iso(row.checked_at),
        "live_photo_sha256": row.live_photo_sha256,
        "reference_photo_sha256": row.reference_photo_sha256,
        "person_sha256": digest_of(canonical_json(person)),
    }  # fmt: skip


def notarise_identity(db: Session, row: IdentityCheck, sample: Sample, project: Project) -> None:
    if row.person_salt is None:
        row.person_salt = secrets.token_hex(16)
    db.flush()  # its time
    ledger.notarise(db, IDENTITY_CHECK, identity_entry(db, row, sample, project))


# --- registration by the sampler --------------------------------------------------------------


@dataclass
class SampleForm:
    sample_code: str
    material: str
    specification: str = ""
    batch_number: str = ""
    quantity: str = ""
    structure_part: str = ""
    specimen_count: int = 1
    specimen_size: str = ""
    prepared_at: dt.datetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    photos: dict[str, bytes | None] = field(default_factory=dict)
    curing: str = ""  # choices.Curing, concrete and mortar specimens
    pour_id: int | None = None  # the project's pour they were cast from


def _text(value: str, name: str, label: str, limit: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise _fail(name, f"请填写{label}", "missing")
    if len(value) > limit:
        raise _fail(name, f"{label}不超过 {limit} 个字符")
    return value


def register_sample(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    project_id: int,
    form: SampleForm,
    now: dt.datetime,
) -> Sample:
    """The sampler registers a tagged sample on site (001 7.1.2): the platform records its own
    time, the position and the distance to the site, stores the photos, records the identity
    check, and notarises the registration."""
    principal.require("sample:register")
    projects.require_project_member(principal, project_id)
    project = db.get(Project, project_id)
    if project is None:
        raise NotFound()
    # Every field is checked before anything is refused, so the form shows every error at once.
    errors: list[FieldError] = []

    def checked(check: Callable[..., _T], *args: Any) -> _T | None:
        try:
            return check(*args)
        except ValidationFailed as failed:
            errors.extend(failed.errors)
            return None

    code = checked(parse_code, form.sample_code)
    issued = checked(_issued_code, db, project, code) if code is not None else None
    member = projects.active_member(
        db,
        project_id=project.id,
        user_id=principal.user_id or 0,
        role=MemberRole.SAMPLER,
        day=now.date(),
    )
    if member is None:
        raise PermissionDenied("您不是该工程项目当前登记的取样人员")
    material = checked(_text, form.material, "material", "样品名称", 64, True)
    texts = {
        name: checked(_text, getattr(form, name), name, label, limit)
        for name, label, limit in (
            ("specification", "规格型号", 100),
            ("batch_number", "批号", 64),
            ("quantity", "代表数量", 64),
            ("structure_part", "使用部位", 200),
            ("specimen_size", "试件尺寸", 64),
        )
    }
    prepared_at = checked(_prepared_at, form.prepared_at, now)
    pour = checked(pours.pour_for_sample, db, project.id, form.pour_id, prepared_at)
    checked(pours.check_curing, form.curing, form.material, pour)
    if not 1 <= form.specimen_count <= 100:
        errors.append(FieldError("specimen_count", "试件数量应为 1 至 100"))
    position = checked(_position, form.latitude, form.longitude, form.accuracy_m)
    taken = {
        role: checked(take_photo, settings, form.photos.get(role), f"photo_{role}")
        for role in ("sample", "tag", "sampler")
    }
    if errors:
        raise ValidationFailed(errors=errors)
    assert code is not None
    assert issued is not None
    assert material is not None
    assert prepared_at is not None
    assert position is not None
    photos = {role: p for role, p in taken.items() if p is not None}
    sample = Sample(
        sample_code=code,
        project_id=project.id,
        region_code=project.region_code,
        material=material,
        specification=texts["specification"] or "",
        batch_number=texts["batch_number"] or "",
        quantity=texts["quantity"] or "",
        structure_part=texts["structure_part"] or "",
        specimen_count=form.specimen_count,
        specimen_size=texts["specimen_size"] or "",
        prepared_at=prepared_at,
        sampler_user_id=principal.user_id,
        sampled_at=now,
        latitude=position[0],
        longitude=position[1],
        accuracy_m=position[2],
        distance_m=projects.site_distance(project, position[0], position[1]),
        photo_sample_sha256=photos["sample"].sha256,
        photo_tag_sha256=photos["tag"].sha256,
        photo_person_sha256=photos["sampler"].sha256,
        sample_phash=photos["sample"].phash,
        status=SampleStatus.SAMPLED.value,
        curing=form.curing,
        pour_id=pour.id if pour is not None else None,
    )
    db.add(sample)
    issued.used_at = now
    try:
        with db.begin_nested():
            db.flush()
    except Exception as exc:
        raise _fail("sample_code", "该样品编码已被使用", "unique") from exc
    reuse.add_prints(
        db, subject_type="sample", subject_id=sample.id, label=sample.sample_code,
        region_code=sample.region_code, project_id=sample.project_id, taken_at=now,
        photos=[("sample", photos["sample"].sha256, photos["sample"].phash),
                ("tag", photos["tag"].sha256, None),
                ("sampler", photos["sampler"].sha256, None)],
    )  # fmt: skip
    sampler_check = check_identity(
        db=db,
        settings=settings,
        user_id=principal.user_id or 0,
        project_id=project.id,
        sample_id=sample.id,
        action="sample:register",
        live=photos["sampler"],
        live_bytes=form.photos["sampler"] or b"",
        reference_sha256=member.photo_sha256,
        region_code=project.region_code,
    )
    ledger.notarise(
        db,
        "sample:register",
        {
            "sample_code": code,
            "project_code": project.code,
            "sampled_at": iso(now),
            "prepared_at": iso(prepared_at),
            "photos": {role: p.sha256 for role, p in photos.items()},
            "sample_phash": sample.sample_phash,
            "curing": sample.curing,
            # the pour it was cast from, by its id here: a parent counts the pour's specimen
            # sets by it (the pour's own entry names the same id)
            **({"pour_id": sample.pour_id} if sample.pour_id is not None else {}),
        },
    )
    notarise_identity(db, sampler_check, sample, project)  # behind the sample's: a parent needs it
    return sample


def _issued_code(db: Session, project: Project, code: str) -> SampleCode:
    """The issued code ``code`` if this project may still use it."""
    issued = db.scalars(select(SampleCode).where(SampleCode.code == code)).first()
    if issued is None:
        raise _fail("sample_code", "平台未发放过这个样品编码")
    if issued.project_id != project.id:
        raise _fail("sample_code", "该样品编码发放给了其他工程项目")
    if issued.used_at is not None:
        raise _fail("sample_code", "该样品编码已被使用（一个编码只能用于一个样品）", "unique")
    return issued


def _prepared_at(prepared_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if prepared_at is None:
        raise _fail("prepared_at", "请填写制样时间", "missing")
    if prepared_at > now + dt.timedelta(minutes=5):
        raise _fail("prepared_at", "制样时间不能晚于现在")
    if now - prepared_at > MAX_PREPARED_AGE:
        raise _fail("prepared_at", "制样时间早于 7 天前，不能再登记")
    return prepared_at


def _position(
    lat: float | None, lon: float | None, accuracy: float | None
) -> tuple[float | None, float | None, float | None]:
    if lat is None or lon is None:
        return None, None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise _fail("latitude", "定位坐标无效")
    if accuracy is not None and not 0 <= accuracy <= 100_000:
        accuracy = None
    return round(lat, 7), round(lon, 7), None if accuracy is None else round(accuracy, 1)


def sample_by_code(db: Session, principal: Principal, code: str) -> Sample:
    sample = db.scalars(
        restrict(select(Sample).where(Sample.sample_code == code), principal, "read")
    ).first()
    if sample is None:
        raise NotFound("没有这个样品，或它不在您的数据范围内")
    return sample


# --- witness keys and the seal ------------------------------------------------------------------


def register_key(
    *, db: Session, principal: Principal, public_key_b64: str, device: str
) -> WitnessKey:
    """A witness registers the public half of a key pair its phone generated."""
    principal.require("sample:seal")
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("public_key", "公钥应为 base64 编码") from exc
    problem = seal.public_key_problem(raw)
    if problem:
        raise _fail("public_key", problem)
    kid = seal.key_id(raw)
    existing = db.scalars(select(WitnessKey).where(WitnessKey.key_id == kid)).first()
    if existing is not None:
        if existing.user_id != principal.user_id or existing.revoked_at is not None:
            raise Conflict("该公钥已登记或已吊销")
        return existing
    key = WitnessKey(
        user_id=principal.user_id, key_id=kid, public_key=raw, device=device.strip()[:200]
    )
    db.add(key)
    db.flush()
    return key


def active_keys(db: Session, user_id: int) -> Sequence[WitnessKey]:
    return db.scalars(
        select(WitnessKey)
        .where(WitnessKey.user_id == user_id, WitnessKey.revoked_at.is_(None))
        .order_by(WitnessKey.id.desc())
    ).all()


def witness_keys(db: Session, user_id: int) -> Sequence[WitnessKey]:
    """All of a witness's keys, the newest first, revoked ones too."""
    return db.scalars(
        select(WitnessKey).where(WitnessKey.user_id == user_id).order_by(WitnessKey.id.desc())
    ).all()


def witness_in_scope(db: Session, principal: Principal, user_id: int) -> User:
    """A witness whose keys the principal may revoke (``sample:revoke_key``): one assigned to,
    or trained for, a project within its scope, as the person's page finds them (404 else)."""
    principal.require("sample:revoke_key")
    user = training.person(db, principal, user_id)
    if user.role != Role.WITNESS.value:
        raise NotFound()
    return user


def revoke_key(
    *, db: Session, principal: Principal, key_id: str, now: dt.datetime, user_id: int | None = None
) -> WitnessKey:
    """Revoke a witness's seal key: the witness's own (a lost phone; ``user_id`` None), or, by
    an officer of the scope (``sample:revoke_key``), the key of witness ``user_id``. Seals made
    with it from ``now`` on are refused and judged invalid (:func:`verify_seal`); older ones
    stay valid. Notarised as ``witness_key:revoke``, which goes up to the parent platform (its
    key and the time, so the parent marks its copy revoked: ``jcjg.sampling.facts``)."""
    if user_id is None:
        principal.require("sample:seal")
        owner = principal.user_id
    else:
        owner = witness_in_scope(db, principal, user_id).id
    key = db.scalar(
        select(WitnessKey).where(WitnessKey.key_id == key_id, WitnessKey.user_id == owner)
    )
    if key is None or owner is None:
        raise NotFound("没有这个封志密钥")
    if key.revoked_at is not None:
        raise Conflict("该封志密钥已吊销")
    key.revoked_at = now
    db.flush()
    ledger.notarise(
        db,
        REVOKE_KEY,
        {
            "key_id": key.key_id,
            "public_key": base64.b64encode(key.public_key).decode(),
            "revoked_at": iso(now),
        },
    )
    return key


def _project_sample_for_witness(
    db: Session, principal: Principal, code: str
) -> tuple[Sample, Project]:
    principal.require("sample:seal")
    sample = sample_by_code(db, principal, parse_code(code))
    if sample.origin is not None:  # a child platform's sample (jcjg.sampling.facts)
        raise PermissionDenied(f"该样品由下级平台“{sample.origin}”报送，只能在该平台办理见证封样")
    project = db.get(Project, sample.project_id)
    assert project is not None
    return sample, project


def prepare_seal(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    code: str,
    key_id: str,
    photos: dict[str, bytes | None],
    latitude: float | None,
    longitude: float | None,
    accuracy_m: float | None,
    now: dt.datetime,
) -> bytes:
    """Store the witness's photos and return the statement for the phone to sign."""
    sample, project = _project_sample_for_witness(db, principal, code)
    if sample.status != SampleStatus.SAMPLED:
        raise Conflict(f"样品当前状态为“{SampleStatus(sample.status).label}”，不能再封样")
    key = _active_key(db, principal, key_id)
    if key is None:
        raise _fail("key_id", "本机的封志密钥未登记或已吊销：请先在“封志密钥”页面登记")
    stored = {
        role: take_photo(settings, photos.get(role), f"photo_{role}")
        for role in ("seal", "witness")
    }
    position = _position(latitude, longitude, accuracy_m)
    sampler = db.get(User, sample.sampler_user_id)
    witness = db.get(User, principal.user_id)
    statement = {
        "type": seal.STATEMENT_TYPE,
        "sample_code": sample.sample_code,
        "project_code": project.code,
        "material": sample.material,
        "specification": sample.specification,
        "specimen_count": sample.specimen_count,
        "prepared_at": iso(sample.prepared_at),
        "sampled_at": iso(sample.sampled_at),
        "sampler": {"id": sample.sampler_user_id, "name": sampler.display_name if sampler else ""},
        "witness": {"id": principal.user_id, "name": witness.display_name if witness else ""},
        "key_id": key.key_id,
        "sealed_at": iso(now),
        "location": None
        if position[0] is None
        else {"latitude": position[0], "longitude": position[1], "accuracy_m": position[2]},
        "photos": {
            "sample": sample.photo_sample_sha256,
            "tag": sample.photo_tag_sha256,
            "sampler": sample.photo_person_sha256,
            "seal": stored["seal"].sha256,
            "witness": stored["witness"].sha256,
        },
        "sample_phash": sample.sample_phash,
    }
    return seal.statement_bytes(statement)


def _active_key(db: Session, principal: Principal, key_id: object) -> WitnessKey | None:
    """The witness's own key of that id, unless revoked."""
    return db.scalars(
        select(WitnessKey).where(
            WitnessKey.key_id == key_id,
            WitnessKey.user_id == principal.user_id,
            WitnessKey.revoked_at.is_(None),
        )
    ).first()


def seal_sample(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    code: str,
    statement_b64: str,
    signature_b64: str,
    now: dt.datetime,
) -> SampleSeal:
    """Verify the phone's signature over the prepared statement, then store the seal, notarise
    it and generate the witness record. A statement that does not match the sample, is stale,
    names another key or does not verify is refused and nothing is stored."""
    sample, project = _project_sample_for_witness(db, principal, code)
    statement, signature, facts = _decode_statement(statement_b64, signature_b64)
    if sample.status != SampleStatus.SAMPLED:
        raise Conflict(f"样品当前状态为“{SampleStatus(sample.status).label}”，不能再封样")
    sealed_at = _check_statement(settings, principal, sample, project, facts, now)
    photos = facts["photos"]
    key = _active_key(db, principal, facts.get("key_id"))
    if key is None:
        raise _fail("key_id", "封志密钥未登记或已吊销")
    if not seal.verify(key.public_key, statement, signature):
        raise _fail("signature", "电子封志签名验证失败")
    location = facts.get("location") or {}
    lat, lon = location.get("latitude"), location.get("longitude")
    row = SampleSeal(
        sample_id=sample.id,
        project_id=project.id,
        region_code=project.region_code,
        institution_id=sample.institution_id,
        witness_user_id=principal.user_id,
        witness_key_id=key.id,
        statement=statement,
        signature=signature,
        sealed_at=sealed_at,
        latitude=lat,
        longitude=lon,
        accuracy_m=location.get("accuracy_m"),
        distance_m=projects.site_distance(project, lat, lon),
        photo_seal_sha256=photos["seal"],
        photo_person_sha256=photos["witness"],
    )
    db.add(row)
    sample.status = SampleStatus.SEALED.value
    try:
        with db.begin_nested():
            db.flush()
    except Exception as exc:
        raise Conflict("该样品已封样") from exc
    reuse.add_prints(
        db, subject_type="sample", subject_id=sample.id, label=sample.sample_code,
        region_code=sample.region_code, project_id=sample.project_id,
        institution_id=sample.institution_id, taken_at=sealed_at,
        photos=[("seal", photos["seal"], None), ("witness", photos["witness"], None)],
    )  # fmt: skip
    witness_check = _check_witness_identity(db, settings, principal, sample, project, row)
    receipt = ledger.notarise(
        db,
        "sample:seal",
        {
            "sample_code": sample.sample_code,
            "key_id": key.key_id,
            "statement_sha256": digest_of(statement),
            "signature": base64.b64encode(signature).decode(),
        },
    )
    notarise_identity(db, witness_check, sample, project)
    row.ledger_index = receipt.index
    row.leaf_hash = receipt.leaf_hash.hex()
    from jcjg.sampling import records  # local: the PDF machinery loads on first use

    records.create_witness_record(
        db=db, settings=settings, sample=sample, project=project, seal=row, receipt=receipt
    )
    return row


def _decode_statement(
    statement_b64: str, signature_b64: str
) -> tuple[bytes, bytes, dict[str, Any]]:
    """The statement's and the signature's bytes, and the statement's facts."""
    try:
        statement = base64.b64decode(statement_b64, validate=True)
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("signature", "声明和签名应为 base64 编码") from exc
    try:
        facts = seal.parse_statement(statement)
    except ValueError as exc:
        raise _fail("statement", str(exc)) from exc
    return statement, signature, facts


def _check_statement(
    settings: Settings,
    principal: Principal,
    sample: Sample,
    project: Project,
    facts: dict[str, Any],
    now: dt.datetime,
) -> dt.datetime:
    """The statement must be the one prepared for this sample and witness, within the seal
    window, with its photos stored; returns when it was sealed."""
    expected = {
        "sample_code": sample.sample_code,
        "project_code": project.code,
        "prepared_at": iso(sample.prepared_at),
        "sampled_at": iso(sample.sampled_at),
        "sample_phash": sample.sample_phash,
    }
    photos = facts.get("photos") or {}
    if (
        any(facts.get(k) != v for k, v in expected.items())
        or (facts.get("witness") or {}).get("id") != principal.user_id
        or photos.get("sample") != sample.photo_sample_sha256
        or photos.get("tag") != sample.photo_tag_sha256
        or photos.get("sampler") != sample.photo_person_sha256
    ):
        raise _fail("statement", "封志声明与样品信息不一致")
    try:
        sealed_at = dt.datetime.fromisoformat(str(facts.get("sealed_at")))
    except ValueError as exc:
        raise _fail("statement", "封志声明的时间无效") from exc
    window = dt.timedelta(seconds=settings.sampling_seal_window_seconds)
    if not dt.timedelta(0) <= now - sealed_at <= window:
        raise _fail("statement", "封志声明已过期，请重新拍照封样")
    store = blob_store(settings)
    for role in ("seal", "witness"):
        if not isinstance(photos.get(role), str) or not store.exists(photos[role]):
            raise _fail("statement", "封志声明中的照片不存在")
    return sealed_at


def _check_witness_identity(
    db: Session,
    settings: Settings,
    principal: Principal,
    sample: Sample,
    project: Project,
    row: SampleSeal,
) -> IdentityCheck:
    """Compare the witness's photo at the seal with the one registered for the project."""
    member = projects.active_member(
        db,
        project_id=project.id,
        user_id=principal.user_id or 0,
        role=MemberRole.WITNESS,
        day=row.sealed_at.date(),
    )
    return check_identity(
        db=db,
        settings=settings,
        user_id=principal.user_id or 0,
        project_id=project.id,
        sample_id=sample.id,
        action="sample:seal",
        live=StoredPhoto(row.photo_person_sha256, "", 0, 0),
        live_bytes=blob_store(settings).get(row.photo_person_sha256),
        reference_sha256=member.photo_sha256 if member else None,
        region_code=project.region_code,
    )


def verify_seal(db: Session, row: SampleSeal) -> list[str]:
    """Problems with a stored seal (empty: it verifies): the signature over the statement with
    the key registered then, and the statement against the sample as stored now."""
    problems: list[str] = []
    key = db.get(WitnessKey, row.witness_key_id)
    if key is None or not seal.verify(key.public_key, row.statement, row.signature):
        problems.append("签名验证失败")
    elif key.revoked_at is not None and key.revoked_at <= row.sealed_at:
        problems.append("封样时密钥已吊销")
    try:
        facts = seal.parse_statement(row.statement)
    except ValueError:
        return [*problems, "封志声明无法解析"]
    sample = db.get(Sample, row.sample_id)
    if sample is None:
        return [*problems, "样品不存在"]
    photos = facts.get("photos") or {}
    if (
        facts.get("sample_code") != sample.sample_code
        or facts.get("sample_phash") != sample.sample_phash
        or photos.get("sample") != sample.photo_sample_sha256
        or photos.get("tag") != sample.photo_tag_sha256
    ):
        problems.append("样品信息与封志声明不一致")
    return problems


# --- commissions ---------------------------------------------------------------------------


def commission_year_gap(db: Session, institution_id: int, year: int) -> list[int]:
    """Sequence numbers missing from an institution's commissions of ``year`` (1..max)."""
    seqs = set(
        db.scalars(
            select(Commission.seq).where(
                Commission.institution_id == institution_id, Commission.year == year
            )
        )
    )
    if not seqs:
        return []
    return [n for n in range(1, max(seqs) + 1) if n not in seqs][:1000]


def set_commission_status(commission: Commission, status: str, reason: str = "") -> None:
    problem = commission_transition_problem(commission.status, status)
    if problem:
        raise _fail("status", problem)
    commission.status = status
    if reason:
        commission.status_reason = reason[:200]


def link_samples(db: Session, commission: Commission, sample_codes: Sequence[str]) -> list[str]:
    """Make ``sample_codes`` the commission's samples; returns the codes the platform does not
    know (kept for rule ``untagged_sample``)."""
    current = {
        row.sample_code: row
        for row in db.scalars(
            select(CommissionSample).where(CommissionSample.commission_id == commission.id)
        )
    }
    wanted = list(dict.fromkeys(sample_codes))
    known = (
        {s.sample_code: s for s in db.scalars(select(Sample).where(Sample.sample_code.in_(wanted)))}
        if wanted
        else {}
    )
    for code, row in current.items():
        if code not in wanted:
            db.delete(row)
    unknown: list[str] = []
    for code in wanted:
        sample = known.get(code)
        if sample is None:
            unknown.append(code)
        else:
            _hand_to_commission(db, commission, sample)
        if code in current:
            current[code].sample_id = sample.id if sample else None
        else:
            db.add(
                CommissionSample(
                    commission_id=commission.id,
                    sample_code=code,
                    sample_id=sample.id if sample else None,
                )
            )
    db.flush()
    return unknown


def _hand_to_commission(db: Session, commission: Commission, sample: Sample) -> None:
    """A sample of the commission's project, in no other commission, becomes the commission's,
    and it, its seal and its witness record the commission's institution's."""
    if sample.project_id != commission.project_id:
        raise _fail("samples", f"样品 {sample.sample_code} 不属于委托的工程项目")
    if sample.commission_id not in (None, commission.id):
        raise _fail("samples", f"样品 {sample.sample_code} 已在其他委托中")
    sample.commission_id = commission.id
    sample.institution_id = commission.institution_id
    for seal_row in db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)):
        seal_row.institution_id = commission.institution_id
    for record in db.scalars(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)):
        record.institution_id = commission.institution_id


# --- the receipt check ---------------------------------------------------------------------


@dataclass
class ReceiptInput:
    sample_code: str
    institution: Institution
    commission_number: str | None = None
    photo: bytes | None = None
    photo_sha256: str | None = None
    tag_intact: bool = True
    via: str = "page"
    user_id: int | None = None
    message_id: str | None = None
    notes: str = ""


def check_receipt(
    *, db: Session, settings: Settings, data: ReceiptInput, now: dt.datetime
) -> SampleReceipt:
    """The lab scans a tag (收样/验封, 000 4.3.4 item 1; 001 7.1.2; 003 I(6)): the code must
    exist, belong to the commission and its project, carry a seal that verifies, be in a state
    to be received, and the receipt photo must show the sealed specimen (perceptual hash).
    Accepted or refused, the check is kept; a refused sample is marked so."""
    code = codes.normalise(data.sample_code)
    sample = None
    if codes.code_problem(code) is None:
        sample = db.scalars(select(Sample).where(Sample.sample_code == code)).first()
    reasons = [RefusalReason.TAG_DAMAGED] if not data.tag_intact else []
    commission = commission_by_number(db, data.institution, data.commission_number)
    photo = _receipt_photo(settings, data)
    distance = None
    if sample is None:
        reasons.append(RefusalReason.UNKNOWN_CODE)
    else:
        reasons += _sample_refusals(db, sample, commission, data.institution)
        if photo is not None:
            distance = hamming(photo.phash, sample.sample_phash)
            if distance > RECEIPT_PHASH_MAX_DISTANCE:
                reasons.append(RefusalReason.PHOTO_MISMATCH)
    reasons = list(dict.fromkeys(reasons))
    accepted = not reasons
    project_id = sample.project_id if sample else (commission.project_id if commission else None)
    receipt = SampleReceipt(
        sample_code=code[:64],
        sample_id=sample.id if sample else None,
        commission_id=commission.id if commission else (sample.commission_id if sample else None),
        project_id=project_id,
        institution_id=data.institution.id,
        region_code=data.institution.region_code,
        accepted=accepted,
        reasons=[{"code": r.value, "message": r.label} for r in reasons],
        photo_sha256=photo.sha256 if photo else None,
        photo_phash=photo.phash if photo else None,
        phash_distance=distance,
        tag_intact=data.tag_intact,
        checked_at=now,
        via=data.via,
        user_id=data.user_id,
        message_id=data.message_id,
        notes=data.notes[:2000],
    )
    db.add(receipt)
    if sample is not None:
        mark_received_or_refused(db, sample, commission, data.institution, accepted)
    if sample is not None and photo is not None:
        reuse.add_prints(
            db, subject_type="sample", subject_id=sample.id, label=sample.sample_code,
            region_code=sample.region_code, project_id=sample.project_id,
            institution_id=data.institution.id, taken_at=now,
            photos=[("receipt", photo.sha256, photo.phash)],
        )  # fmt: skip
    db.flush()
    ledger.notarise(
        db,
        "sample:receipt",
        {
            "sample_code": code[:64],
            "institution_code": data.institution.code,
            "accepted": accepted,
            "reasons": [r.value for r in reasons],
            "photo_sha256": receipt.photo_sha256,
            "checked_at": iso(now),
        },
    )
    return receipt


_BY_NUMBER = "sampling.commission"  # a batch's memo: (_BY_NUMBER, institution id, number) -> row


def read_commissions_ahead(db: Session, wanted: Sequence[tuple[int, str]]) -> None:
    """The commissions a batch's messages name, as ``(institution id, number)``, read in one
    statement for the batch and kept in its memo for :func:`commission_by_number` (one
    statement a message before). Only those found are kept: a message of the batch may
    register one not found."""
    kept = memo(db)
    pairs = sorted(set(wanted))
    if kept is None or not pairs:
        return
    stmt = select(Commission).where(tuple_(Commission.institution_id, Commission.number).in_(pairs))
    for commission in db.scalars(stmt):
        kept[(_BY_NUMBER, commission.institution_id, commission.number)] = commission


def commission_numbered(db: Session, institution: Institution, number: str) -> Commission | None:
    """The institution's commission of this number, None when it has none: as a batch read it
    ahead (:func:`read_commissions_ahead`) when it did."""
    kept = memo(db)
    ahead = kept.get((_BY_NUMBER, institution.id, number)) if kept is not None else None
    if ahead is not None and alive(ahead):
        return cast(Commission, ahead)
    return db.scalars(
        select(Commission).where(
            Commission.institution_id == institution.id, Commission.number == number
        )
    ).first()


def commission_by_number(
    db: Session, institution: Institution, number: str | None
) -> Commission | None:
    """The institution's commission a message or form names by its number (None when it names
    none); refused on ``commission_number`` when the institution has no such commission."""
    if not number:
        return None
    commission = commission_numbered(db, institution, number)
    if commission is None:
        raise _fail("commission_number", "本机构没有这个委托编号（请先同步委托）")
    return commission


def _receipt_photo(settings: Settings, data: ReceiptInput) -> StoredPhoto | None:
    """The receipt photo, taken now (page) or uploaded before by its SHA-256 (exchange)."""
    if data.photo is not None:
        return take_photo(settings, data.photo, "photo")
    if data.photo_sha256:
        stored = blob_store(settings).get(data.photo_sha256)
        return StoredPhoto(data.photo_sha256, _phash(stored), 0, 0)
    return None


def _sample_refusals(
    db: Session, sample: Sample, commission: Commission | None, institution: Institution
) -> list[RefusalReason]:
    """Why a known sample cannot be received: another project or commission, no seal or one
    that does not verify, already received."""
    reasons: list[RefusalReason] = []
    if commission is not None:
        if sample.project_id != commission.project_id:
            reasons.append(RefusalReason.WRONG_PROJECT)
        named = db.scalar(
            select(CommissionSample.id).where(
                CommissionSample.commission_id == commission.id,
                CommissionSample.sample_code == sample.sample_code,
            )
        )
        if named is None:
            reasons.append(RefusalReason.WRONG_COMMISSION)
    elif sample.institution_id not in (None, institution.id):
        reasons.append(RefusalReason.WRONG_COMMISSION)
    row = db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)).first()
    if row is None:
        reasons.append(RefusalReason.NOT_SEALED)
    elif verify_seal(db, row):
        reasons.append(RefusalReason.SEAL_INVALID)
    if sample.status in (SampleStatus.RECEIVED, SampleStatus.TESTING, SampleStatus.TESTED):
        reasons.append(RefusalReason.WRONG_STATE)
    return reasons


def mark_received_or_refused(
    db: Session,
    sample: Sample,
    commission: Commission | None,
    institution: Institution,
    accepted: bool,
) -> None:
    """An accepted sample is the lab's and received, and so is its commission when it may
    be; a refused one is marked refused unless another lab holds it."""
    if not accepted:
        if sample.institution_id in (None, institution.id):
            sample.status = SampleStatus.REFUSED.value
        return
    sample.status = SampleStatus.RECEIVED.value
    sample.institution_id = institution.id
    owner = commission or (
        db.get(Commission, sample.commission_id) if sample.commission_id else None
    )
    if owner is not None and not commission_transition_problem(
        owner.status, CommissionStatus.RECEIVED.value
    ):
        owner.status = CommissionStatus.RECEIVED.value


def _phash(data: bytes) -> str:
    try:
        return perceptual_hash(data)
    except PhotoProblem as exc:
        raise _fail("photo_sha256", str(exc)) from exc
