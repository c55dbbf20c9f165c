"""Pages of the sampling chain.

- desk (PC): ``/samples`` and a sample's whole chain, photos, the witness record PDF;
  ``/commissions``; ``/receipt``, the lab's receipt check (收样/验封) by scanning or typing a tag;
- phone (H5, also inside a WeChat web view): ``/m`` picks a project; the sampler registers a
  tagged sample with photos and position; the witness enrols the phone's seal key (WebCrypto
  Ed25519, private key non-extractable in IndexedDB) and seals samples;
- public: ``/s/{code}`` (what a tag's QR opens), ``/w/{token}`` (a witness record's public page,
  the PDF's QR) and ``/witness-keys/{key_id}`` (a seal key, for verification outside).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.choices import Role
from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.config import Settings
from jcjg.core import listing
from jcjg.core.blobs import BlobCorrupted, BlobNotFound, blob_store
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import FieldError, NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, JsonBody, Posted, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_rows, count_total, page_params, paginate
from jcjg.core.templating import Column, contributions, redirect, render
from jcjg.core.text import TextModel
from jcjg.documents.photos import PhotoProblem, store_photo
from jcjg.projects import service as projects
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import Project
from jcjg.sampling import codes, pours, records, reuse, service
from jcjg.sampling.choices import (
    RECEIPT_COLUMNS,
    CommissionStatus,
    Curing,
    IdentityResult,
    SampleStatus,
)
from jcjg.sampling.lists import SAMPLES, project_names
from jcjg.sampling.models import (
    Commission,
    CommissionSample,
    IdentityCheck,
    PhotoPrint,
    Sample,
    SampleCode,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("sample:read"))]
# What other domains add to a sample's receipts (core.templating Column): the hook
# ``sampling.receipt_columns`` is called with (db, principal, receipts) and answers columns of
# the receipts table, cells by receipt id (video: 查看收样视频).
ProjectReader = Annotated[Principal, Depends(requires("project:read"))]
Sampler = Annotated[Principal, Depends(requires("sample:register"))]
Witness = Annotated[Principal, Depends(requires("sample:seal"))]
Receiver = Annotated[Principal, Depends(requires("sample:receive"))]
Public = Annotated[Principal, Depends(requires(None))]
Code = Annotated[str, Path(min_length=1, max_length=64)]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
KeyRevoker = Annotated[Principal, Depends(requires("sample:revoke_key"))]
PHOTO_ROLES = {"sample", "tag", "sampler", "seal", "witness", "receipt", "reference"}
# Photos of people are personal data (identity checks compare them): pages show them masked,
# and each read of one is audited and needs personal_data:unmask (authorities) or, for those who
# check identities on site, person_photo:view outside an institution (stations: they review
# identity_mismatch); a lab's accounts never open the photos of the parties' people.
PERSON_PHOTOS = {"sampler": "取样人员", "witness": "见证人员", "reference": "登记人员"}
_CHOICES: dict[str, Any] = {
    "curings": {c.value: c for c in Curing},
    "sample_statuses": {s.value: s for s in SampleStatus},
    "commission_statuses": {s.value: s for s in CommissionStatus},
    "identity_results": {r.value: r for r in IdentityResult},
    "display": codes.display,
}


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _names(db: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i)
    if not wanted:
        return {}
    return dict(db.execute(select(User.id, User.display_name).where(User.id.in_(wanted))).all())


# --- desk pages -------------------------------------------------------------------------------


@router.get("/samples", response_class=HTMLResponse)
def sample_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The samples within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    stmt = restrict(select(Sample), principal, "read")
    if status:
        stmt = stmt.where(Sample.status == status)
    if q:
        stmt = stmt.where(Sample.sample_code.like(f"%{codes.normalise(q)}%"))
    if params.exporting:
        return listing.export(request, db, SAMPLES, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, SAMPLES.order_for(params))
    rows = paged.rows
    return render(
        request,
        "sampling/list.html",
        {
            "rows": rows,
            "total": total,
            "paging": paging,
            "paged": paged,
            "status": status,
            "q": q,
            "project_names": project_names(db, rows),
            "listing": Listing.of(request, SAMPLES, params),
            **_CHOICES,
        },
    )


def _chain(db: Session, sample: Sample) -> dict[str, Any]:
    project = db.get(Project, sample.project_id)
    row = db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)).first()
    record = db.scalars(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)).first()
    receipts = db.scalars(
        select(SampleReceipt).where(SampleReceipt.sample_id == sample.id).order_by(SampleReceipt.id)
    ).all()
    checks = db.scalars(
        select(IdentityCheck).where(IdentityCheck.sample_id == sample.id).order_by(IdentityCheck.id)
    ).all()
    commission = db.get(Commission, sample.commission_id) if sample.commission_id else None
    key = db.get(WitnessKey, row.witness_key_id) if row else None
    institutions = dict(
        db.execute(
            select(Institution.id, Institution.name).where(
                Institution.id.in_({r.institution_id for r in receipts})
            )
        ).all()
    )
    return {
        "sample": sample,
        "project": project,
        "seal": row,
        "seal_problems": service.verify_seal(db, row) if row else [],
        "key": key,
        "record": record,
        "receipts": receipts,
        "checks": checks,
        "commission": commission,
        "institutions": institutions,
        "names": _names(
            db,
            {sample.sampler_user_id, row.witness_user_id if row else None}
            | {c.user_id for c in checks},
        ),
        **_CHOICES,
    }


@router.get("/samples/{code}", response_class=HTMLResponse)
def sample_detail(request: Request, db: SessionDep, principal: Reader, code: Code) -> Response:
    sample = service.sample_by_code(db, principal, codes.normalise(code))
    context = _chain(db, sample)
    context["receipt_columns"] = contributions(
        RECEIPT_COLUMNS, Column, db, principal, list(context["receipts"])
    )
    context["unmask_people"] = may_see_people(principal)
    return render(request, "sampling/detail.html", context)


@router.get("/witnesses/{user_id}/keys", response_class=HTMLResponse)
def witness_keys(
    request: Request,
    db: SessionDep,
    principal: KeyRevoker,
    user_id: Id,
    revoked: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """A witness's seal keys, for an officer of the scope, who may revoke one."""
    witness = service.witness_in_scope(db, principal, user_id)
    context = {"witness": witness, "keys": service.witness_keys(db, witness.id),
               "revoked": revoked[:16]}  # fmt: skip
    return render(request, "sampling/witness_keys.html", context)


@router.post("/witnesses/{user_id}/keys/{key_id}/revoke")
def witness_key_revoke(
    db: SessionDep, principal: KeyRevoker, user_id: Id, key_id: KeyId
) -> Response:
    """An officer revokes a witness's key (the witness reported the phone lost)."""
    service.revoke_key(db=db, principal=principal, key_id=key_id, now=utcnow(), user_id=user_id)
    return redirect(f"/witnesses/{user_id}/keys?revoked={key_id[:16]}")


def _photo_of(db: Session, sample: Sample, role: str) -> str | None:
    if role == "sample":
        return sample.photo_sample_sha256
    if role == "tag":
        return sample.photo_tag_sha256
    if role == "sampler":
        return sample.photo_person_sha256
    row = db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)).first()
    if role in ("seal", "witness"):
        if row is None:
            return None
        return row.photo_seal_sha256 if role == "seal" else row.photo_person_sha256
    return None


def may_see_people(principal: Principal) -> bool:
    """Whether this account may open the photos of the chain's people (each read audited)."""
    return principal.can("personal_data:unmask") or (
        principal.can("person_photo:view") and principal.institution_id is None
    )


@router.get("/samples/{code}/photos/{role}")
def sample_photo(
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    code: Code,
    role: Annotated[str, Path(max_length=16)],
    receipt: Id | None = None,
    check: Id | None = None,
) -> Response:
    """A photo of the sample's chain; one of a person (``sampler``, ``witness``, or the
    ``reference`` an identity ``check`` compared with) only for those who may see personal
    data unmasked, each read audited."""
    sample = service.sample_by_code(db, principal, codes.normalise(code))
    digest = None
    if role in PERSON_PHOTOS and not may_see_people(principal):
        principal.require("personal_data:unmask")
    if role == "receipt" and receipt is not None:
        row = db.get(SampleReceipt, receipt)
        if row is not None and row.sample_id == sample.id:
            digest = row.photo_sha256
    elif role == "reference" and check is not None:
        checked = db.get(IdentityCheck, check)
        if checked is not None and checked.sample_id == sample.id:
            digest = checked.reference_photo_sha256
    elif role in PHOTO_ROLES:
        digest = _photo_of(db, sample, role)
    if not digest:
        raise NotFound()
    try:
        data = blob_store(settings).get(digest)
    except KeyError:  # a child platform's portraits stay with it (jcjg.sampling.facts)
        raise NotFound("照片未报送到本平台") from None
    cache = "private, max-age=3600"
    if role in PERSON_PHOTOS:
        record_event(
            db,
            AuditAction.UNMASK,
            object_type="sample",
            object_id=str(sample.id),
            object_repr=f"样品 {sample.sample_code}",
            detail=f"查看{PERSON_PHOTOS[role]}照片原图",
        )
        cache = "private, no-store"
    return Response(data, media_type=image_type(data), headers={"Cache-Control": cache})


@router.get("/photo-prints/{print_id}/compare/{other_id}")
def photo_comparison(
    db: SessionDep, settings: SettingsDep, principal: Reader, print_id: Id, other_id: Id
) -> Response:
    """The evidence of ``photo_reuse`` drawn: the photo on the left, the one it was found to be
    on the right (JPEG), each shrunk to the same height. Only photos of things, never of people
    (those are personal data); the other photo only for a reader who may see its sample or
    record (otherwise a grey panel)."""
    mine = _readable_print(db, principal, print_id)
    if mine is None or reuse.family(mine.kind) in ("sampler", "witness"):
        raise NotFound()
    other = _readable_print(db, principal, other_id)
    if other is not None and reuse.family(other.kind) != reuse.family(mine.kind):
        other = None
    store = blob_store(settings)
    try:
        left = store.get(mine.sha256)
        right = store.get(other.sha256) if other is not None else None
    except (BlobNotFound, BlobCorrupted) as error:
        raise NotFound() from error
    body = reuse.side_by_side(left, right)
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private"})


def _readable_print(db: Session, principal: Principal, print_id: int) -> PhotoPrint | None:
    """A sample photo's index entry when the reader may see its sample (an on-site record's
    photos are shown on the record's page)."""
    row = db.get(PhotoPrint, print_id)
    if row is None or row.subject_type != "sample":
        return None
    try:
        get_scoped(db, Sample, row.subject_id, principal, "read")
    except NotFound:
        return None
    return row


def image_type(data: bytes) -> str:
    """The media type of a stored photo (JPEG, PNG or WebP: what documents.photos takes)."""
    if data[:4] == b"\x89PNG":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"


@router.get("/samples/{code}/witness-record.pdf")
def witness_record_pdf(
    db: SessionDep, settings: SettingsDep, principal: Reader, code: Code
) -> Response:
    sample = service.sample_by_code(db, principal, codes.normalise(code))
    record = db.scalars(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)).first()
    if record is None:
        raise NotFound("该样品尚未生成见证记录")
    return Response(
        blob_store(settings).get(record.pdf_sha256),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="witness-{sample.sample_code}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/samples/{code}/witness-record.json")
def witness_record_json(db: SessionDep, principal: Reader, code: Code) -> Response:
    sample = service.sample_by_code(db, principal, codes.normalise(code))
    record = db.scalars(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)).first()
    if record is None:
        raise NotFound("该样品尚未生成见证记录")
    return JSONResponse(record.record, headers={"Cache-Control": "private, no-store"})


@router.get("/commissions", response_class=HTMLResponse)
def commission_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    stmt = restrict(select(Commission), principal, "read")
    if status:
        stmt = stmt.where(Commission.status == status)
    total = count_rows(db, stmt)
    rows = db.scalars(
        stmt.order_by(Commission.id.desc()).offset(paging.offset).limit(paging.limit)
    ).all()
    institutions = dict(
        db.execute(
            select(Institution.id, Institution.name).where(
                Institution.id.in_({r.institution_id for r in rows})
            )
        ).all()
    )
    gaps: dict[tuple[int, int], list[int]] = {}
    for r in rows:
        if (r.institution_id, r.year) not in gaps:
            gaps[(r.institution_id, r.year)] = service.commission_year_gap(
                db, r.institution_id, r.year
            )
    return render(
        request,
        "sampling/commissions.html",
        {
            "rows": rows,
            "total": total,
            "paging": paging,
            "status": status,
            "institutions": institutions,
            "gaps": gaps,
            **_CHOICES,
        },
    )


@router.get("/commissions/{commission_id}", response_class=HTMLResponse)
def commission_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    commission_id: Id,
) -> Response:
    commission = get_scoped(db, Commission, commission_id, principal, "read")
    lines = db.scalars(
        select(CommissionSample).where(CommissionSample.commission_id == commission.id)
    ).all()
    samples = {
        s.id: s
        for s in db.scalars(
            select(Sample).where(Sample.id.in_({x.sample_id for x in lines if x.sample_id}))
        )
    }
    return render(
        request,
        "sampling/commission.html",
        {
            "commission": commission,
            "lines": lines,
            "samples": samples,
            "project": db.get(Project, commission.project_id),
            "institution": db.get(Institution, commission.institution_id),
            **_CHOICES,
        },
    )


# --- the lab's receipt check ----------------------------------------------------------------


def _own_institution(db: Session, principal: Principal) -> Institution:
    institution = (
        db.get(Institution, principal.institution_id) if principal.institution_id else None
    )
    if institution is None:
        raise ValidationFailed("收样验封由检测机构的账号操作")
    return institution


@router.get("/receipt", response_class=HTMLResponse)
def receipt_form(
    request: Request,
    db: SessionDep,
    principal: Receiver,
    code: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    _own_institution(db, principal)
    recent = db.scalars(
        restrict(select(SampleReceipt), principal, "read")
        .order_by(SampleReceipt.id.desc())
        .limit(20)
    ).all()
    return render(
        request,
        "sampling/receipt.html",
        {
            "values": {"sample_code": codes.normalise(code) if code else ""},
            "errors": {},
            "result": None,
            "recent": recent,
            **_CHOICES,
        },
    )


@router.post("/receipt", response_class=HTMLResponse)
def receipt_check(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Receiver,
    form: PostedForm,
) -> Response:
    institution = _own_institution(db, principal)
    values, photo = form.values(), form.file("photo")
    status_code = 200
    result = None
    errors: dict[str, str] = {}
    try:
        if not values.get("sample_code"):
            raise ValidationFailed(
                errors=[FieldError("sample_code", "请扫描或输入样品编码", "missing")]
            )
        if photo is None:
            raise ValidationFailed(
                errors=[FieldError("photo", "请拍摄收样时的样品照片", "missing")]
            )
        result = service.check_receipt(
            db=db,
            settings=settings,
            data=service.ReceiptInput(
                sample_code=values["sample_code"],
                institution=institution,
                commission_number=values.get("commission_number") or None,
                photo=photo,
                tag_intact=values.get("tag_intact", "1") == "1",
                via="page",
                user_id=principal.user_id,
                notes=values.get("notes", ""),
            ),
            now=utcnow(),
        )
    except ValidationFailed as error:
        db.rollback()
        errors = errors_by_field(error.errors)
        status_code = 422
    recent = db.scalars(
        restrict(select(SampleReceipt), principal, "read")
        .order_by(SampleReceipt.id.desc())
        .limit(20)
    ).all()
    return render(
        request,
        "sampling/receipt.html",
        {
            "values": values if result is None else {},
            "errors": errors,
            "result": result,
            "recent": recent,
            **_CHOICES,
        },
        status_code=status_code,
    )


# --- phone pages ------------------------------------------------------------------------------


def _my_projects(db: Session, principal: Principal) -> list[Project]:
    return list(
        db.scalars(restrict(select(Project), principal, "read").order_by(Project.name)).all()
    )


@router.get("/m", response_class=HTMLResponse)
def mobile_home(request: Request, db: SessionDep, principal: ProjectReader) -> Response:
    keys = service.active_keys(db, principal.user_id or 0) if principal.can("sample:seal") else []
    return render(
        request,
        "m/home.html",
        {"projects": _my_projects(db, principal), "keys": keys},
    )


@router.get("/m/projects/{project_id}", response_class=HTMLResponse)
def mobile_project(
    request: Request,
    db: SessionDep,
    principal: ProjectReader,
    project_id: Id,
    code: Annotated[str, Query(max_length=200)] = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "read")
    pending = db.scalars(
        select(Sample)
        .where(Sample.project_id == project.id, Sample.status == SampleStatus.SAMPLED.value)
        .order_by(Sample.sampled_at)
    ).all()
    recent = db.scalars(
        select(Sample)
        .where(Sample.project_id == project.id, Sample.status != SampleStatus.SAMPLED.value)
        .order_by(Sample.id.desc())
        .limit(10)
    ).all()
    now = utcnow()
    return render(
        request,
        "m/project.html",
        {
            "project": project,
            "pending": pending,
            "recent": recent,
            "values": {
                "sample_code": codes.normalise(code) if code else "",
                "prepared_at": now.astimezone(request.app.state.settings.tz).strftime(
                    "%Y-%m-%dT%H:%M"
                ),
                "specimen_count": "3",
            },
            "errors": {},
            "error": "",
            "names": _names(db, {s.sampler_user_id for s in pending}),
            "now": now,
            "pours": pours.recent_pours(db, project.id),
            "pour_title": pours.pour_title,
            "pour_done": done == "pour",
            **_CHOICES,
        },
    )


REGISTER_PHOTOS = ("sample", "tag", "sampler")


def _pour_id(raw: str) -> int | None:
    """The pour the form names (None: none; -1: not one, refused by the service)."""
    if not raw.strip():
        return None
    found = form_id(raw)
    return -1 if found is None else found


def kept_photo_token(settings: Settings, user_id: int, digest: str) -> str:
    """A reference to a photo already uploaded with a form that failed, so the sampler need not
    take it again: its SHA-256 and a MAC binding it to the user (no one else can reuse it)."""
    mac = hmac.new(
        settings.secret_key.encode(), f"kept-photo:{user_id}:{digest}".encode(), hashlib.sha256
    ).hexdigest()[:32]
    return f"{digest}.{mac}"


def kept_photo_digest(settings: Settings, user_id: int, token: str) -> str | None:
    """The SHA-256 a :func:`kept_photo_token` refers to, or None when it is not one of this
    user's."""
    digest = token.partition(".")[0]
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        return None
    good = kept_photo_token(settings, user_id, digest)
    return digest if hmac.compare_digest(good.encode(), token.encode()) else None


def _registration_photos(
    settings: Settings, principal: Principal, form: Posted, values: dict[str, str]
) -> dict[str, bytes | None]:
    """The photos of the registration: each newly taken one, else the one kept from the last
    failed submit (a taken photo replaces a kept one)."""
    photos: dict[str, bytes | None] = {}
    for role in REGISTER_PHOTOS:
        data = form.file(f"photo_{role}")
        if not data:
            digest = kept_photo_digest(
                settings, principal.user_id or 0, values.get(f"kept_photo_{role}", "")
            )
            if digest is not None:
                try:
                    data = blob_store(settings).get(digest)
                except (BlobNotFound, BlobCorrupted):
                    data = None
        photos[role] = data
    return photos


def _keep_photos(
    settings: Settings,
    principal: Principal,
    photos: dict[str, bytes | None],
    errors: dict[str, str],
) -> dict[str, str]:
    """Tokens of the photos that were fine, to send back with the form after an error."""
    kept: dict[str, str] = {}
    for role, data in photos.items():
        if not data or f"photo_{role}" in errors:
            continue
        try:
            digest = store_photo(settings, data).sha256
        except PhotoProblem:
            continue
        kept[role] = kept_photo_token(settings, principal.user_id or 0, digest)
    return kept


@router.get("/m/kept-photos/{token}")
def kept_photo(
    settings: SettingsDep,
    principal: Sampler,
    token: Annotated[str, Path(max_length=200)],
) -> Response:
    """A photo kept from the sampler's own failed submit (shown beside its field)."""
    digest = kept_photo_digest(settings, principal.user_id or 0, token)
    if digest is None:
        raise NotFound()
    try:
        data = blob_store(settings).get(digest)
    except (BlobNotFound, BlobCorrupted) as exc:
        raise NotFound() from exc
    return Response(data, media_type=image_type(data), headers={"Cache-Control": "private"})


@router.post("/m/projects/{project_id}/samples", response_class=HTMLResponse)
def mobile_register(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Sampler,
    project_id: Id,
    form: PostedForm,
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "read")
    values = form.values()
    photos = _registration_photos(settings, principal, form, values)
    # Errors the page finds itself, shown together with the service's.
    found: list[FieldError] = []
    prepared_at = None
    if values.get("prepared_at"):
        try:
            prepared_at = dt.datetime.fromisoformat(values["prepared_at"])
        except ValueError:
            found.append(FieldError("prepared_at", "时间格式不正确"))
        else:
            if prepared_at.tzinfo is None:
                prepared_at = prepared_at.replace(tzinfo=settings.tz)
    try:
        count = int(values.get("specimen_count") or "1")
    except ValueError:
        count = 0
    try:
        sample = service.register_sample(
            db=db,
            settings=settings,
            principal=principal,
            project_id=project.id,
            form=service.SampleForm(
                sample_code=values.get("sample_code", ""),
                material=values.get("material", ""),
                specification=values.get("specification", ""),
                batch_number=values.get("batch_number", ""),
                quantity=values.get("quantity", ""),
                structure_part=values.get("structure_part", ""),
                specimen_count=count,
                specimen_size=values.get("specimen_size", ""),
                prepared_at=prepared_at,
                latitude=_float(values.get("latitude")),
                longitude=_float(values.get("longitude")),
                accuracy_m=_float(values.get("accuracy")),
                photos=photos,
                curing=values.get("curing", ""),
                pour_id=_pour_id(values.get("pour_id", "")),
            ),
            now=utcnow(),
        )
    except ValidationFailed as error:
        db.rollback()
        errors = errors_by_field(found + error.errors)
        kept = _keep_photos(settings, principal, photos, errors)
        return _refused(
            request, db, principal, project_id,
            {"values": values, "errors": errors, "error": error.detail, "kept": kept},
        )  # fmt: skip
    check = db.scalars(
        select(IdentityCheck).where(
            IdentityCheck.sample_id == sample.id, IdentityCheck.action == "sample:register"
        )
    ).first()
    return render(
        request,
        "m/registered.html",
        {"sample": sample, "project": project, "check": check, **_CHOICES},
    )


def _refused(
    request: Request, db: Session, principal: Principal, project_id: int, more: dict[str, Any]
) -> Response:
    """The phone's project page again after a refused form (422), its errors in ``more``."""
    project = get_scoped(db, Project, project_id, principal, "read")
    context: dict[str, Any] = {
        "project": project, "pending": [], "recent": [], "values": {}, "errors": {},
        "error": "", "names": {}, "now": utcnow(), "pours": pours.recent_pours(db, project.id),
        "pour_title": pours.pour_title, **_CHOICES,
    }  # fmt: skip
    return render(request, "m/project.html", context | more, status_code=422)


def _local_time(raw: str, settings: Settings) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)
    return moment


@router.post("/m/projects/{project_id}/pours", response_class=HTMLResponse)
def mobile_pour(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Sampler,
    project_id: Id,
    form: PostedForm,
) -> Response:
    """The site's sampler records a concrete pour (003 I(2))."""
    project = get_scoped(db, Project, project_id, principal, "read")
    values = form.values()
    # a time the page cannot read, said as such (the service sees it as missing)
    found = [
        FieldError(name, "时间格式不正确")
        for name in ("started_at", "ended_at")
        if values.get(name) and _local_time(values[name], settings) is None
    ]
    try:
        pours.record_pour(
            db=db,
            principal=principal,
            project_id=project.id,
            form=pours.PourForm(
                structure_part=values.get("part", ""),
                grade=values.get("grade", ""),
                impermeability=values.get("impermeability", ""),
                volume_m3=_float(values.get("volume_m3")),
                started_at=_local_time(values.get("started_at", ""), settings),
                ended_at=_local_time(values.get("ended_at", ""), settings),
                bottom_forms=values.get("bottom_forms", "") in ("1", "on", "true"),
            ),
            now=utcnow(),
        )
    except ValidationFailed as error:
        db.rollback()
        return _refused(
            request, db, principal, project_id,
            {"pour_values": values, "pour_errors": errors_by_field(found + error.errors)},
        )  # fmt: skip
    return redirect(f"/m/projects/{project.id}?done=pour#pour")


@router.get("/m/keys", response_class=HTMLResponse)
def mobile_keys(
    request: Request,
    db: SessionDep,
    principal: Witness,
    revoked: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    keys = service.active_keys(db, principal.user_id or 0)
    return render(request, "m/keys.html", {"keys": keys, "revoked": revoked[:16]})


@router.post("/m/keys/{key_id}/revoke")
def mobile_key_revoke(db: SessionDep, principal: Witness, key_id: KeyId) -> Response:
    """The witness revokes one of their own keys (a lost or replaced phone)."""
    service.revoke_key(db=db, principal=principal, key_id=key_id, now=utcnow())
    return redirect(f"/m/keys?revoked={key_id[:16]}")


@router.post("/m/keys")
def mobile_key_register(db: SessionDep, principal: Witness, body: JsonBody) -> Response:
    if not isinstance(body, dict):
        raise ValidationFailed(errors=[FieldError("body", "请求体应为 JSON 对象")])
    key = service.register_key(
        db=db,
        principal=principal,
        public_key_b64=str(body.get("public_key", "")),
        device=str(body.get("device", ""))[:200],
    )
    return JSONResponse({"key_id": key.key_id, "registered_at": key.registered_at.isoformat()})


@router.get("/m/samples/{code}/seal", response_class=HTMLResponse)
def mobile_seal_page(request: Request, db: SessionDep, principal: Witness, code: Code) -> Response:
    sample = service.sample_by_code(db, principal, codes.normalise(code))
    project = db.get(Project, sample.project_id)
    assert project is not None
    member = projects.active_member(
        db,
        project_id=project.id,
        user_id=principal.user_id or 0,
        role=MemberRole.WITNESS,
        day=utcnow().date(),
    )
    return render(
        request,
        "m/seal.html",
        {
            "sample": sample,
            "project": project,
            "assigned": member is not None,
            "sampler": _names(db, {sample.sampler_user_id}).get(sample.sampler_user_id or 0, ""),
            **_CHOICES,
        },
    )


@router.post("/m/samples/{code}/seal/prepare")
def mobile_seal_prepare(
    db: SessionDep, settings: SettingsDep, principal: Witness, code: Code, form: PostedForm
) -> Response:
    statement = service.prepare_seal(
        db=db,
        settings=settings,
        principal=principal,
        code=code,
        key_id=str(form.get("key_id") or ""),
        photos={"seal": form.file("photo_seal"), "witness": form.file("photo_witness")},
        latitude=_float(form.get("latitude")),
        longitude=_float(form.get("longitude")),
        accuracy_m=_float(form.get("accuracy")),
        now=utcnow(),
    )
    return JSONResponse(
        {"statement": base64.b64encode(statement).decode(), "text": statement.decode()},
        headers={"Cache-Control": "no-store"},
    )


class SealBody(TextModel):
    """The phone's signature over the statement it was given (both base64)."""

    model_config = ConfigDict(extra="forbid")

    statement: str = Field(min_length=1, max_length=16_384)
    signature: str = Field(min_length=1, max_length=200)


@router.post("/m/samples/{code}/seal")
def mobile_seal(
    db: SessionDep, settings: SettingsDep, principal: Witness, code: Code, body: SealBody
) -> Response:
    # a plain (threaded) route: signing the witness record's PDF runs its own event loop
    row = service.seal_sample(
        db=db,
        settings=settings,
        principal=principal,
        code=code,
        statement_b64=body.statement,
        signature_b64=body.signature,
        now=utcnow(),
    )
    record = db.scalars(select(WitnessRecord).where(WitnessRecord.seal_id == row.id)).one()
    check = db.scalars(
        select(IdentityCheck).where(
            IdentityCheck.sample_id == row.sample_id, IdentityCheck.action == "sample:seal"
        )
    ).first()
    return JSONResponse(
        {
            "sample_code": codes.normalise(code),
            "sealed_at": row.sealed_at.isoformat(),
            "ledger_index": row.ledger_index,
            "witness_record": records.public_url(settings, record.token),
            "identity": identity_summary(check),
        }
    )


def identity_summary(check: IdentityCheck | None) -> dict[str, Any] | None:
    """What the phone shows of its user's identity check (no photo, no one else's data)."""
    if check is None:
        return None
    result = IdentityResult(check.result)
    return {
        "result": result.value,
        "label": result.label,
        "distance": check.distance,
        "threshold": check.threshold,
    }


# --- public -----------------------------------------------------------------------------------


@router.get("/s/{code}", response_class=HTMLResponse)
def scan(request: Request, db: SessionDep, principal: Public, code: Code) -> Response:
    """What a tag's QR opens: the right page for whoever scans it."""
    normal = codes.normalise(code)
    problem = codes.code_problem(normal)
    issued = (
        None if problem else db.scalars(select(SampleCode).where(SampleCode.code == normal)).first()
    )
    sample = (
        db.scalars(select(Sample).where(Sample.sample_code == normal)).first() if issued else None
    )
    role = principal.role
    if issued is not None and not principal.is_anonymous:
        if role is Role.SAMPLER and sample is None:
            return RedirectResponse(f"/m/projects/{issued.project_id}?code={normal}", 303)
        if role is Role.WITNESS and sample is not None and sample.status == SampleStatus.SAMPLED:
            return RedirectResponse(f"/m/samples/{normal}/seal", 303)
        if principal.can("sample:receive") and sample is not None:
            return RedirectResponse(f"/receipt?code={normal}", 303)
        if principal.can("sample:read") and sample is not None:
            return RedirectResponse(f"/samples/{normal}", 303)
    project = db.get(Project, issued.project_id) if issued else None
    return render(
        request,
        "sampling/scan.html",
        {
            "code": normal,
            "problem": problem,
            "issued": issued,
            "sample": sample,
            "project": project,
            **_CHOICES,
        },
        status_code=200 if issued else 404,
    )


@router.get("/w/{token}", response_class=HTMLResponse)
def public_record(
    request: Request,
    db: SessionDep,
    principal: Public,
    token: Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")],
) -> Response:
    record = db.scalars(select(WitnessRecord).where(WitnessRecord.token == token)).first()
    if record is None:
        raise NotFound("没有这份见证记录")
    row = db.get(SampleSeal, record.seal_id)
    assert row is not None
    problems = service.verify_seal(db, row)
    return render(
        request,
        "sampling/public_record.html",
        {
            "record": records.public_facts(record.record),
            "problems": problems,
            "row": row,
            "display": codes.display,
        },
    )


@router.get("/witness-keys/{key_id}")
def public_key(
    db: SessionDep,
    principal: Public,
    key_id: KeyId,
) -> Response:
    key = db.scalars(select(WitnessKey).where(WitnessKey.key_id == key_id)).first()
    if key is None:
        raise NotFound("没有这个封志公钥")
    return JSONResponse(
        {
            "key_id": key.key_id,
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(key.public_key).decode(),
            "registered_at": key.registered_at.isoformat(),
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        },
        headers={"Cache-Control": "public, max-age=300"},
    )
