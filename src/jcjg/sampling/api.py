"""The sampling chain as JSON API calls (issue 40 item 5): what the phone pages do, for the
site apps and LIMS of vendors, with a platform account's access token (the sampler's or the
witness's own; ``/account/tokens``).

- ``GET /api/v1/sampling/projects``: the projects the account is assigned to, with its roles;
- ``POST/GET /api/v1/projects/{id}/pours``: the site's concrete pours (003 I(2)) and the
  specimen groups each needs;
- ``POST /api/v1/projects/{id}/samples`` (multipart: the fields and three photos): a tagged
  sample registered on site; ``GET /api/v1/samples/{code}``: its state, seal and receipts;
- ``POST/GET /api/v1/witness-keys``: the witness's Ed25519 seal keys (the app keeps the private
  key), ``POST /api/v1/witness-keys/{key_id}/revoke`` (the witness's own) and
  ``POST /api/v1/witnesses/{user_id}/keys/{key_id}/revoke`` (an officer of the scope);
  ``POST /api/v1/samples/{code}/seal/statement`` (multipart: two photos and the position)
  answers the statement to sign, ``POST /api/v1/samples/{code}/seal`` takes the signature.

The phone pages call the same service functions with the same checks; the receipt at the lab
is the ``sample_event`` exchange message (docs/exchange-api/messages.md).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import (
    CONFLICT,
    NOT_FOUND,
    FieldError,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.forms import Id, PostedForm
from jcjg.core.openapi import answers
from jcjg.core.text import TextModel
from jcjg.exchange.types import IsoAwareDateTime
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import Project, ProjectMember
from jcjg.sampling import pours, records, service
from jcjg.sampling.choices import SampleStatus
from jcjg.sampling.models import (
    ConcretePour,
    IdentityCheck,
    Sample,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from jcjg.sampling.pages import identity_summary

router = APIRouter(prefix="/api/v1", tags=["取样与见证"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("sample:read"))]
ProjectReader = Annotated[Principal, Depends(requires("project:read"))]
Sampler = Annotated[Principal, Depends(requires("sample:register"))]
Witness = Annotated[Principal, Depends(requires("sample:seal"))]
Code = Annotated[
    str, Path(min_length=1, max_length=64, description="样品唯一性编码（16 位，可含空格分组）")
]
CONFLICTS = answers({409: (CONFLICT,)})
_BINARY = {"type": "string", "format": "binary"}


def _parsed(model: type[Any], raw: dict[str, Any]) -> Any:
    """``raw`` (a multipart form's text fields) as ``model``, or a 422 naming the fields."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


def _renamed(error: ValidationFailed, names: dict[str, str]) -> ValidationFailed:
    """The service's errors under the API's field names (the phone form's ``part`` is the
    API's ``structure_part``)."""
    errors = [FieldError(names.get(e.field, e.field), e.message, e.code) for e in error.errors]
    return ValidationFailed(error.detail, errors=errors)


def _multipart(model: type[BaseModel], photos: dict[str, str]) -> dict[str, Any]:
    """The OpenAPI request body of a multipart form: ``model``'s fields as text parts and the
    photos as files (all required)."""
    schema = model.model_json_schema()
    properties = dict(schema.get("properties", {}))
    for name, description in photos.items():
        properties[name] = {**_BINARY, "description": description}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [*schema.get("required", []), *photos],
                        "properties": properties,
                    }
                }
            },
        }
    }


# --- the account's projects ---------------------------------------------------------------------


class AssignedProject(BaseModel):
    id: int
    code: str
    name: str
    region_code: str
    roles: list[str] = Field(
        description="本账号在该项目的当前指派：sampler 取样人员、witness 见证人员"
    )
    curing_room: str = Field(description="标准养护室（空：未登记）")
    cube_molds: int = Field(description="现场立方体试模数量（0：未申报）")


@router.get(
    "/sampling/projects",
    summary="本账号被指派的工程项目（取样、见证）",
    response_model=list[AssignedProject],
)
def assigned_projects(db: SessionDep, principal: ProjectReader) -> list[AssignedProject]:
    today = utcnow().date()
    rows = db.scalars(restrict(select(Project), principal, "read").order_by(Project.name)).all()
    roles: dict[int, list[str]] = {}
    memberships = select(ProjectMember).where(
        ProjectMember.user_id == (principal.user_id or 0),
        ProjectMember.role.in_([MemberRole.SAMPLER.value, MemberRole.WITNESS.value]),
    )
    for member in db.scalars(memberships.order_by(ProjectMember.role)):  # sampler, witness
        if member.active_on(today) and member.role not in roles.get(member.project_id, []):
            roles.setdefault(member.project_id, []).append(member.role)
    return [
        AssignedProject(
            id=project.id,
            code=project.code,
            name=project.name,
            region_code=project.region_code,
            roles=roles.get(project.id, []),
            curing_room=project.curing_room or "",
            cube_molds=project.cube_molds or 0,
        )
        for project in rows
    ]


# --- pours ----------------------------------------------------------------------------------------


class PourIn(TextModel):
    """A concrete pour the site's sampler records (it is pouring or about to)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    structure_part: str = Field(min_length=1, max_length=200, description="浇筑部位")
    grade: str = Field(
        pattern=r"^[Cc](1[05]|[2-9][05]|100)$", description="强度等级 C10 至 C100（步长 5）"
    )
    impermeability: str = Field(
        default="", pattern=r"^([Pp](4|6|8|10|12))?$", description="抗渗等级 P4-P12，空为无"
    )
    volume_m3: float = Field(ge=0.1, le=pours.MAX_VOLUME_M3, description="浇筑方量（立方米）")
    started_at: IsoAwareDateTime = Field(description="浇筑开始时间（带时区）")
    ended_at: IsoAwareDateTime = Field(
        description="浇筑结束时间（带时区）：不早于开始、一次不超过 7 天、不晚于 12 小时之后、"
        "30 天前结束的不再登记"
    )
    bottom_forms: bool = Field(
        default=False, description="底模是否按同条件养护试件强度拆除（板、梁）"
    )


class NeedRead(BaseModel):
    curing: str = Field(
        description="养护方式：standard、same_condition、form_removal、impermeability"
    )
    label: str
    needed: int = Field(description="应留置的组数")
    found: int = Field(description="已见证封样的组数")
    short: int = Field(description="还缺的组数")
    basis: str = Field(description="依据")


class PourRead(BaseModel):
    id: int
    project_id: int
    structure_part: str
    grade: str
    impermeability: str
    volume_m3: float
    started_at: dt.datetime
    ended_at: dt.datetime
    bottom_forms: bool
    needs: list[NeedRead] = Field(description="各养护方式应留置与已留置的试件组数")


def _pour_read(pour: ConcretePour, samples: list[Sample], hours: float) -> PourRead:
    """``pour`` with the groups it needs (``hours``: the region's working shift)."""
    return PourRead(
        id=pour.id,
        project_id=pour.project_id,
        structure_part=pour.structure_part,
        grade=pour.grade,
        impermeability=pour.impermeability,
        volume_m3=pour.volume_m3,
        started_at=pour.started_at,
        ended_at=pour.ended_at,
        bottom_forms=pour.bottom_forms,
        needs=[NeedRead(**row) for row in pours.shortfall(pour, samples, hours)],
    )


@router.post(
    "/projects/{project_id}/pours",
    summary="登记混凝土浇筑（取样人员）",
    status_code=201,
    response_model=PourRead,
)
def record_pour(project_id: Id, data: PourIn, db: SessionDep, principal: Sampler) -> PourRead:
    project = get_scoped(db, Project, project_id, principal, "read")
    try:
        pour = pours.record_pour(
            db=db,
            principal=principal,
            project_id=project.id,
            form=pours.PourForm(
                structure_part=data.structure_part,
                grade=data.grade,
                impermeability=data.impermeability,
                volume_m3=data.volume_m3,
                started_at=data.started_at,
                ended_at=data.ended_at,
                bottom_forms=data.bottom_forms,
            ),
            now=utcnow(),
        )
    except ValidationFailed as error:
        raise _renamed(error, {"part": "structure_part"}) from error
    return _pour_read(pour, [], pours.shift_hours(db, pour.region_code))


@router.get(
    "/projects/{project_id}/pours",
    summary="工程项目最近的混凝土浇筑及试件留置情况",
    response_model=list[PourRead],
)
def list_pours(project_id: Id, db: SessionDep, principal: ProjectReader) -> list[PourRead]:
    project = get_scoped(db, Project, project_id, principal, "read")
    rows = pours.recent_pours(db, project.id, limit=50)
    samples = pours.pour_samples(db, [p.id for p in rows])
    hours = pours.shift_hours(db, project.region_code)  # one region: read once
    return [_pour_read(p, samples.get(p.id, []), hours) for p in rows]


# --- samples --------------------------------------------------------------------------------------


class SampleIn(TextModel):
    """The text parts of a sample's registration (the photos are the form's files)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sample_code: str = Field(
        min_length=1, max_length=64, description="样品唯一性编码（平台为本项目发放、尚未使用的）"
    )
    material: str = Field(min_length=1, max_length=64, description="样品名称，如 混凝土、钢筋")
    specification: str = Field(default="", max_length=100, description="规格型号，如 C30")
    batch_number: str = Field(default="", max_length=64, description="批号")
    quantity: str = Field(default="", max_length=64, description="代表数量")
    structure_part: str = Field(default="", max_length=200, description="使用部位")
    specimen_count: int = Field(default=1, ge=1, le=100, description="试件数量")
    specimen_size: str = Field(default="", max_length=64, description="试件尺寸")
    prepared_at: IsoAwareDateTime = Field(
        description="制样（成型）时间（带时区）：不晚于现在，不早于 7 天前；"
        "取样登记晚于制样超过规定时间触发预警"
    )
    latitude: float | None = Field(default=None, ge=-90, le=90, description="取样位置纬度")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="取样位置经度")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, description="定位精度（米）")
    curing: Literal["", "standard", "same_condition", "form_removal", "impermeability"] = Field(
        default="",
        description="养护方式（混凝土、砂浆试件；取自浇筑的必填）：standard 标准养护、"
        "same_condition 同条件养护、form_removal 拆模（同条件）、impermeability 抗渗",
    )
    pour_id: Id | None = Field(
        default=None, description="取自哪次浇筑（本项目的浇筑，制样时间在其起止时间前后一小时内）"
    )


_SAMPLE_PHOTOS = {
    "photo_sample": "样品照片（JPEG/PNG）",
    "photo_tag": "样品标识（标签）照片",
    "photo_sampler": "取样人员现场照片（与登记照片比对身份）",
}


class SealRead(BaseModel):
    sealed_at: dt.datetime
    key_id: str
    ledger_index: int | None = Field(description="存证日志中的序号")
    witness_record: str = Field(description="见证记录的公开核验地址")


class ReceiptRead(BaseModel):
    checked_at: dt.datetime
    accepted: bool
    reasons: list[str] = Field(description="拒收原因（接收时为空）")


class IdentityRead(BaseModel):
    result: str = Field(description="身份核验结果：match、mismatch、no_reference、no_face ...")
    label: str
    distance: float | None
    threshold: float | None


class SampleRead(BaseModel):
    sample_code: str
    project_id: int
    material: str
    specification: str
    batch_number: str
    quantity: str
    structure_part: str
    specimen_count: int
    specimen_size: str
    prepared_at: dt.datetime
    sampled_at: dt.datetime = Field(description="平台记录的登记时间")
    status: str = Field(description="样品状态：sampled、sealed、delivered、received、refused ...")
    status_label: str
    curing: str
    pour_id: int | None
    distance_m: float | None = Field(description="登记位置在工程项目范围之外的距离（米）")
    photos: dict[str, str] = Field(description="照片的 SHA-256：sample、tag、sampler")
    sample_phash: str = Field(description="样品照片的感知哈希（dHash，16 位十六进制）")
    registration_identity: IdentityRead | None = Field(description="登记时取样人员的身份核验")
    seal: SealRead | None
    receipts: list[ReceiptRead] = Field(description="检测机构的收样验封记录")
    origin: str | None = Field(
        default=None, description="下级平台报送的样品：该平台的名称（只能在该平台办理）"
    )


def _identity(db: Any, sample: Sample, action: str) -> IdentityRead | None:
    check = db.scalars(
        select(IdentityCheck).where(
            IdentityCheck.sample_id == sample.id, IdentityCheck.action == action
        )
    ).first()
    summary = identity_summary(check)
    return IdentityRead(**summary) if summary is not None else None


def _sample_read(db: Any, settings: Settings, sample: Sample) -> SampleRead:
    found = db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)).first()
    seal = None
    if found is not None:
        record = db.scalars(select(WitnessRecord).where(WitnessRecord.seal_id == found.id)).first()
        key = db.get(WitnessKey, found.witness_key_id)
        seal = SealRead(
            sealed_at=found.sealed_at,
            key_id=key.key_id if key is not None else "",
            ledger_index=found.ledger_index,
            witness_record=records.public_url(settings, record.token) if record else "",
        )
    receipts = db.scalars(
        select(SampleReceipt).where(SampleReceipt.sample_id == sample.id).order_by(SampleReceipt.id)
    ).all()
    return SampleRead(
        sample_code=sample.sample_code,
        project_id=sample.project_id,
        material=sample.material,
        specification=sample.specification,
        batch_number=sample.batch_number,
        quantity=sample.quantity,
        structure_part=sample.structure_part,
        specimen_count=sample.specimen_count,
        specimen_size=sample.specimen_size,
        prepared_at=sample.prepared_at,
        sampled_at=sample.sampled_at,
        status=sample.status,
        status_label=SampleStatus(sample.status).label,
        curing=sample.curing,
        pour_id=sample.pour_id,
        distance_m=sample.distance_m,
        photos={
            "sample": sample.photo_sample_sha256,
            "tag": sample.photo_tag_sha256,
            "sampler": sample.photo_person_sha256,
        },
        sample_phash=sample.sample_phash,
        registration_identity=_identity(db, sample, "sample:register"),
        seal=seal,
        receipts=[
            ReceiptRead(
                checked_at=r.checked_at,
                accepted=r.accepted,
                reasons=[str(reason.get("message", "")) for reason in r.reasons or []],
            )
            for r in receipts
        ],
        origin=sample.origin,
    )


@router.post(
    "/projects/{project_id}/samples",
    summary="现场取样登记（取样人员；multipart：字段与三张照片）",
    status_code=201,
    response_model=SampleRead,
    openapi_extra=_multipart(SampleIn, _SAMPLE_PHOTOS),
    responses=CONFLICTS,
)
def register_sample(
    project_id: Id, db: SessionDep, settings: SettingsDep, principal: Sampler, form: PostedForm
) -> SampleRead:
    project = get_scoped(db, Project, project_id, principal, "read")
    data: SampleIn = _parsed(SampleIn, form.values())
    sample = service.register_sample(
        db=db,
        settings=settings,
        principal=principal,
        project_id=project.id,
        form=service.SampleForm(
            **data.model_dump(exclude={"prepared_at"}),
            prepared_at=data.prepared_at,
            photos={role: form.file(f"photo_{role}") for role in ("sample", "tag", "sampler")},
        ),
        now=utcnow(),
    )
    return _sample_read(db, settings, sample)


@router.get("/samples/{code}", summary="样品（状态、封志、收样验封）", response_model=SampleRead)
def get_sample(code: Code, db: SessionDep, settings: SettingsDep, principal: Reader) -> SampleRead:
    sample = service.sample_by_code(db, principal, service.parse_code(code))
    return _sample_read(db, settings, sample)


# --- witness keys and the seal --------------------------------------------------------------------


class KeyIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    public_key: str = Field(
        min_length=40, max_length=64, description="Ed25519 公钥（32 字节原始格式，base64）"
    )
    device: str = Field(
        default="", max_length=200, description="设备说明，如 华为 Mate 60 见证 App"
    )


class KeyRead(BaseModel):
    key_id: str = Field(description="公钥的 SHA-256（十六进制）；公开于 /witness-keys/{key_id}")
    device: str
    registered_at: dt.datetime


@router.post(
    "/witness-keys", summary="登记见证封志公钥（见证人员）", status_code=201, response_model=KeyRead
)
def register_key(data: KeyIn, db: SessionDep, principal: Witness) -> KeyRead:
    key = service.register_key(
        db=db, principal=principal, public_key_b64=data.public_key, device=data.device
    )
    return KeyRead(key_id=key.key_id, device=key.device, registered_at=key.registered_at)


@router.get("/witness-keys", summary="本人有效的见证封志公钥", response_model=list[KeyRead])
def list_keys(db: SessionDep, principal: Witness) -> list[KeyRead]:
    return [
        KeyRead(key_id=k.key_id, device=k.device, registered_at=k.registered_at)
        for k in service.active_keys(db, principal.user_id or 0)
    ]


KeyRevoker = Annotated[Principal, Depends(requires("sample:revoke_key"))]
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="公钥的 SHA-256（十六进制）")]


class KeyRevoked(BaseModel):
    key_id: str
    revoked_at: dt.datetime


_REVOKE_ANSWERS = answers({404: (NOT_FOUND,), 409: (CONFLICT,)})


@router.post(
    "/witness-keys/{key_id}/revoke",
    summary="吊销本人的见证封志公钥（手机遗失或更换）",
    response_model=KeyRevoked,
    responses=_REVOKE_ANSWERS,
)
def revoke_own_key(db: SessionDep, principal: Witness, key_id: KeyId) -> KeyRevoked:
    """The witness revokes one of their own keys: seals made with it from now on are refused
    and judged invalid, older ones stay valid (docs/sampling.md)."""
    key = service.revoke_key(db=db, principal=principal, key_id=key_id, now=utcnow())
    assert key.revoked_at is not None
    return KeyRevoked(key_id=key.key_id, revoked_at=key.revoked_at)


@router.post(
    "/witnesses/{user_id}/keys/{key_id}/revoke",
    summary="吊销辖区内见证人员的见证封志公钥（监管人员）",
    response_model=KeyRevoked,
    responses=_REVOKE_ANSWERS,
)
def revoke_witness_key(
    db: SessionDep, principal: KeyRevoker, user_id: Id, key_id: KeyId
) -> KeyRevoked:
    """An officer of the scope revokes a witness's key (the witness reported the phone lost)."""
    key = service.revoke_key(
        db=db, principal=principal, key_id=key_id, now=utcnow(), user_id=user_id
    )
    assert key.revoked_at is not None
    return KeyRevoked(key_id=key.key_id, revoked_at=key.revoked_at)


class StatementIn(TextModel):
    """The text parts of a seal's preparation (the photos are the form's files)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    key_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="签名所用公钥的 key_id")
    latitude: float | None = Field(default=None, ge=-90, le=90, description="封样位置纬度")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="封样位置经度")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, description="定位精度（米）")


_SEAL_PHOTOS = {
    "photo_seal": "封样后的样品照片",
    "photo_witness": "见证人员现场照片（与登记照片比对身份）",
}


class StatementRead(BaseModel):
    statement: str = Field(
        description="待签名的封志声明（RFC 8785 规范化 JSON 的 base64）；用 Ed25519 私钥对其"
        "原始字节签名，在有效期（默认 600 秒）内提交"
    )
    text: str = Field(description="同一声明的文本，供显示")


@router.post(
    "/samples/{code}/seal/statement",
    summary="准备封志声明（见证人员；multipart：公钥编号、两张照片、位置）",
    response_model=StatementRead,
    openapi_extra=_multipart(StatementIn, _SEAL_PHOTOS),
    responses=CONFLICTS,
)
def seal_statement(
    code: Code, db: SessionDep, settings: SettingsDep, principal: Witness, form: PostedForm
) -> StatementRead:
    data: StatementIn = _parsed(StatementIn, form.values())
    statement = service.prepare_seal(
        db=db,
        settings=settings,
        principal=principal,
        code=code,
        key_id=data.key_id,
        photos={"seal": form.file("photo_seal"), "witness": form.file("photo_witness")},
        latitude=data.latitude,
        longitude=data.longitude,
        accuracy_m=data.accuracy_m,
        now=utcnow(),
    )
    return StatementRead(statement=base64.b64encode(statement).decode(), text=statement.decode())


class SealIn(TextModel):
    model_config = ConfigDict(extra="forbid")

    statement: str = Field(
        min_length=1, max_length=16_384, description="准备时得到的声明（base64，原样交回）"
    )
    signature: str = Field(
        min_length=1, max_length=200, description="Ed25519 对声明原始字节的签名（64 字节，base64）"
    )


@router.post(
    "/samples/{code}/seal",
    summary="提交封志签名（见证人员）：核验后保存封志、存证并生成见证记录",
    response_model=SampleRead,
    responses=CONFLICTS,
)
def seal_sample(
    code: Code, data: SealIn, db: SessionDep, settings: SettingsDep, principal: Witness
) -> SampleRead:
    row = service.seal_sample(
        db=db,
        settings=settings,
        principal=principal,
        code=code,
        statement_b64=data.statement,
        signature_b64=data.signature,
        now=utcnow(),
    )
    sample = db.get(Sample, row.sample_id)
    assert sample is not None
    return _sample_read(db, settings, sample)
