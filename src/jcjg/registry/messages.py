"""Registry-sync message types: labs keep their 4.1.1 data current from their own systems.

Each message carries a list of records for one institution; a record is matched to what the
platform holds by a natural key and created or updated (never deleted: a person who leaves gets
``employed_until``, equipment is ``retired``). Codes refer to the catalogue (specialties
``01``, test items ``0101``, parameters ``010101``). Writes trigger the registry's rules; their
findings come back as warnings in the receipt.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import ConfigDict, Field, field_validator
from sqlalchemy import inspect, select, tuple_
from sqlalchemy.orm import Session, lazyload, selectinload

from jcjg.alerts import engine as alerts_engine
from jcjg.audit.service import record_updates
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.catalogue.service import by_code
from jcjg.core import text
from jcjg.core.db import alive, memo, update_in_place, utcnow
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.core.memo import note_renamed
from jcjg.core.patterns import MOBILE
from jcjg.core.text import MultiLine, TextModel
from jcjg.exchange.models import Message
from jcjg.exchange.types import (
    SHA256_PATTERN,
    DecimalText,
    HandlerContext,
    IsoDate,
    MessageBase,
    message_type,
)
from jcjg.registry import sync
from jcjg.registry.codes import ID_NUMBER_PATTERN, ID_NUMBER_RULE, id_number_problem
from jcjg.registry.models import (
    Capability,
    Equipment,
    Lab,
    Person,
    Signatory,
    SigningCertificate,
)
from jcjg.tenancy.models import Institution

MAX_RECORDS = 500
Name = Annotated[str, Field(min_length=1, max_length=64)]
Text100 = Annotated[str, Field(min_length=1, max_length=100)]
Code = Annotated[str, Field(pattern=r"^[0-9]{2,16}$")]
T = TypeVar("T")
# labs a batch reads ahead at most (its institutions' all: commonly a few each); those beyond
# are read by the messages naming them, as without the read ahead
LABS_AHEAD = 2_000
# rows named in a batch's messages (instruments, people) it reads ahead at most, each kind
NAMED_AHEAD = 2_000
_EQUIPMENT_LOAD = selectinload(Equipment.test_items).lazyload(TestItem.parameters)
# the messages whose records name labs (:func:`_labs`)
_NAMING_LABS = frozenset(
    {"registry.equipment", "registry.staff", "registry.capabilities", "registry.signatories"}
)
# the messages whose records name rows of theirs by a key (:func:`_held`): by type, the list
# in the body, the model, the key, the key as its record's validator writes it (an ID number's
# check character in capitals) and how a row is loaded
_NAMED: dict[str, tuple[str, Any, str, Callable[[str], str], tuple[Any, ...]]] = {
    "registry.equipment": ("equipment", Equipment, "asset_number", str.strip, (_EQUIPMENT_LOAD,)),
    "registry.staff": ("people", Person, "id_number", lambda v: v.strip().upper(), ()),
}


def _read_ahead(
    db: Session, institutions: Sequence[Institution], messages: Sequence[Message]
) -> None:
    """What every lane's first message of a batch would read by itself, read once for all of
    the batch's ``institutions`` and kept in its memo (``MessageType.batch_reads``): their sync
    rows, which every registry message renews (``sync.read_batch``); the labs of those whose
    equipment, staff, capability or signatory messages name labs (:func:`_labs` finds them
    kept, as it keeps those it reads); and the instruments and people the ``messages`` name
    (:data:`_NAMED`: their keys as sent, found by :func:`_held`). What is read is a guess from
    the bodies as sent: a row added by a message of the batch, or named otherwise once a
    conversion rule has rewritten the body, is read when a handler asks for it, as before."""
    sync.read_batch(db, institutions)
    kept = memo(db)
    if kept is None:
        return
    naming = {m.institution_id for m in messages if m.message_type in _NAMING_LABS}
    if naming:  # the institutions whose messages name labs
        labs = (
            select(Lab)
            .where(Lab.institution_id.in_(sorted(i for i in naming if i is not None)))
            .options(lazyload(Lab.specialties))
            .limit(LABS_AHEAD)
        )
        for lab in db.scalars(labs):
            kept[(Lab, lab.institution_id), lab.name] = lab
    for kind, (listed, model, field, written, options) in _NAMED.items():
        keys = _named(messages, kind, listed, field, written)
        if not keys:
            continue
        column = getattr(model, field)
        stmt = select(model).where(tuple_(model.institution_id, column).in_(keys))
        for row in db.scalars(stmt.options(*options)):
            kept[(model, row.institution_id), getattr(row, field)] = row


def _named(
    messages: Sequence[Message],
    kind: str,
    listed: str,
    field: str,
    written: Callable[[str], str],
) -> list[tuple[int, str]]:
    """The (institution, key) pairs the ``messages`` of type ``kind`` name: the ``field`` of
    each record of the body's ``listed`` list, as sent and then ``written`` as the record's
    validator writes it (at most :data:`NAMED_AHEAD`). A key the text boundary refuses (its
    handler refuses it: a message accepted before the boundary was, replayed) is left out:
    PostgreSQL refuses a NUL in a query's text."""
    found: dict[tuple[int, str], None] = {}
    for row in messages:
        if row.message_type != kind or row.institution_id is None:
            continue
        try:
            records = orjson.loads(row.body).get(listed)
        except (orjson.JSONDecodeError, AttributeError):  # left to its handler to refuse
            continue
        for record in records if isinstance(records, list) else ():
            value = record.get(field) if isinstance(record, dict) else None
            if isinstance(value, str) and value.strip() and text.problem(value) is None:
                found[row.institution_id, written(value)] = None
        if len(found) >= NAMED_AHEAD:
            break
    return list(found)[:NAMED_AHEAD]


_registry_message = functools.partial(message_type, batch_reads=_read_ahead)


class _Record(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StaffRecord(_Record):
    id_number: str = Field(
        description=f"居民身份证号（18 位，平台只显示脱敏后的号码）；{ID_NUMBER_RULE}",
        json_schema_extra={"pattern": ID_NUMBER_PATTERN},
    )
    name: Name
    gender: Literal["male", "female"] | None = None
    birth_date: IsoDate | None = None
    education: str | None = Field(default=None, max_length=32)
    major: str | None = Field(default=None, max_length=64)
    position: str | None = Field(default=None, max_length=64, description="职务")
    title: Literal["none", "junior", "intermediate", "senior", "professor"] = "none"
    title_major: str | None = Field(default=None, max_length=64)
    years_in_testing: int = Field(default=0, ge=0, le=70)
    mobile: str | None = Field(default=None, pattern=f"^{MOBILE}$")
    key_role: Literal["legal_representative", "technical_director", "quality_manager"] | None = None
    is_inspector: bool = True
    inspector_certificate_no: str | None = Field(default=None, max_length=64)
    registered_certificate_no: str | None = Field(default=None, max_length=64)
    lab_name: str | None = Field(default=None, max_length=100, description="所在场所名称")
    specialties: list[Code] = Field(default_factory=list, max_length=20)
    employed_from: IsoDate | None = None
    employed_until: IsoDate | None = Field(default=None, description="离职日期（离职时填写）")

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        problem = id_number_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip().upper()


class StaffMessage(MessageBase):
    people: list[StaffRecord] = Field(min_length=1, max_length=MAX_RECORDS)


class EquipmentRecord(_Record):
    asset_number: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="设备编号（机构内唯一，用于匹配）"
    )
    name: Text100
    model: str | None = Field(default=None, max_length=64)
    specification: str | None = Field(default=None, max_length=100)
    measuring_range: str | None = Field(default=None, max_length=100)
    accuracy: str | None = Field(default=None, max_length=64)
    calibration_body: str | None = Field(default=None, max_length=100)
    calibration_valid_until: IsoDate | None = None
    calibration_certificate_sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="检定/校准证书文件的 SHA-256（文件须先上传）",
    )
    status: Literal["in_use", "out_of_service", "retired"] = "in_use"
    lab_name: str | None = Field(default=None, max_length=100)
    test_items: list[Code] = Field(default_factory=list, max_length=50)


class EquipmentMessage(MessageBase):
    equipment: list[EquipmentRecord] = Field(min_length=1, max_length=MAX_RECORDS)


class LabRecord(_Record):
    name: Text100 = Field(description="场所名称（机构内唯一，用于匹配）")
    address: Annotated[str, Field(min_length=1, max_length=200)]
    area_m2: Annotated[Decimal, Field(gt=0, le=1_000_000, decimal_places=2), DecimalText]
    specialties: list[Code] = Field(default_factory=list, max_length=20)


class LabMessage(MessageBase):
    labs: list[LabRecord] = Field(min_length=1, max_length=100)


class CapabilityMessage(MessageBase):
    lab_name: Text100
    parameters: list[Code] = Field(
        max_length=2000, description="该场所可检测的全部参数代码（整体替换）"
    )


class SignatoryRecord(_Record):
    id_number: str = Field(
        description=f"签字人的身份证号（须先在人员信息中报送）；{ID_NUMBER_RULE}",
        json_schema_extra={"pattern": ID_NUMBER_PATTERN},
    )
    position: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=16)
    lab_name: str | None = Field(default=None, max_length=100)
    specialties: list[Code] = Field(min_length=1, max_length=20)
    active: bool = Field(default=True, description="false：撤销该签字人")
    certificates: list[MultiLine] = Field(
        default_factory=list,
        max_length=5,
        description="签署报告所用的电子签名证书（PEM，X.509）；已登记的保留，报告签章以此核对",
    )

    @field_validator("certificates")
    @classmethod
    def _certificates(cls, value: list[str]) -> list[str]:
        for pem in value:
            if len(pem) > 20_000:
                raise ValueError("证书过大")
            try:
                x509.load_pem_x509_certificate(pem.encode())
            except ValueError as exc:
                raise ValueError("不是有效的 PEM 格式 X.509 证书") from exc
        return value

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        problem = id_number_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip().upper()


class SignatoryMessage(MessageBase):
    signatories: list[SignatoryRecord] = Field(min_length=1, max_length=MAX_RECORDS)


# --- lookups ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Codes:
    """Catalogue codes of a message, each with its row: the current one, or for a code the
    current edition withdrew, its last row."""

    found: dict[str, Any]
    field: str

    def rows(self, codes: Iterable[str], held: Iterable[Any]) -> list[Any]:
        """What a record links for ``codes``, given the rows it ``held`` so far: the row it
        already holds under a code, from whichever edition (a record made under an earlier
        edition keeps it), else the current one; a withdrawn code is accepted only as held."""
        mine = {row.code: row for row in held}
        out, withdrawn = [], []
        for code in sorted(set(codes)):
            row = mine.get(code) or self.found[code]
            if row.valid_to_id is not None and code not in mine:
                withdrawn.append(code)
            out.append(row)
        if withdrawn:
            raise ValidationFailed(
                errors=[
                    FieldError(
                        self.field,
                        f"现行资质目录已取消这些代码，不能新增：{'、'.join(withdrawn[:20])}",
                        "withdrawn",
                    )
                ]
            )
        return out


def _by_code(db: Session, model: Any, codes: Iterable[str], field: str) -> _Codes:
    wanted = set(codes)
    found = by_code(db=db, model=model, codes=wanted)
    unknown = sorted(wanted - set(found))
    if unknown:
        raise ValidationFailed(
            errors=[FieldError(field, f"资质目录中没有这些代码：{'、'.join(unknown[:20])}")]
        )
    return _Codes(found, field)


def _labs(ctx: HandlerContext, names: Iterable[str | None], field: str) -> dict[str, Lab]:
    wanted = sorted({n for n in names if n})
    if not wanted:
        return {}
    # a batch of one institution's messages names the same labs again and again: those found
    # are kept for the batch (the same session: a lab a message of the batch changed is the
    # object kept); those not found are looked for each time (a later message may add them)
    kept = memo(ctx.db)
    key = (Lab, ctx.institution.id)
    found = (
        {n: kept[key, n] for n in wanted if (key, n) in kept and alive(kept[key, n])}
        if kept is not None
        else {}
    )
    missing = [n for n in wanted if n not in found]
    if missing:
        for lab in ctx.db.scalars(
            select(Lab)
            .where(Lab.institution_id == ctx.institution.id, Lab.name.in_(missing))
            .options(lazyload(Lab.specialties))
        ):
            found[lab.name] = lab
            if kept is not None:
                kept[key, lab.name] = lab
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise ValidationFailed(
            errors=[FieldError(field, f"本机构没有这些场所（请先报送场所）：{'、'.join(unknown)}")]
        )
    return found


def _held(
    ctx: HandlerContext, model: Any, field: str, values: Iterable[str], *options: Any
) -> dict[str, Any]:
    """The institution's rows of ``model`` whose ``field`` is one of ``values``. A batch of one
    institution's messages names the same rows again and again (a LIMS renewing its
    instruments' calibrations): those found are kept for the batch (the session's identity map
    would drop them between messages, and the next message would read them again), those not
    found are looked for each time (a later message may add them)."""
    wanted = list(dict.fromkeys(values))
    kept = memo(ctx.db)
    key = (model, ctx.institution.id)
    found: dict[str, Any] = {}
    if kept is not None:
        for value in wanted:
            row = kept.get((key, value))
            if row is not None and alive(row):
                found[value] = row
    missing = [value for value in wanted if value not in found]
    if missing:
        column = getattr(model, field)
        stmt = select(model).where(model.institution_id == ctx.institution.id, column.in_(missing))
        for row in ctx.db.scalars(stmt.options(*options)):
            found[getattr(row, field)] = row
            if kept is not None:
                kept[key, getattr(row, field)] = row
    return found


def _unique(records: Sequence[T], key: str, field: str) -> None:
    seen: set[Any] = set()
    for i, record in enumerate(records):
        value = getattr(record, key)
        if value in seen:
            raise ValidationFailed(errors=[FieldError(f"{field}.{i}.{key}", "同一消息中重复")])
        seen.add(value)


def _own(ctx: HandlerContext) -> dict[str, Any]:
    return {"institution_id": ctx.institution.id, "region_code": ctx.institution.region_code}


def _set(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def _upsert(
    ctx: HandlerContext,
    counts: dict[str, int],
    row: Any,
    model: type[Any],
    values: dict[str, Any],
    links: str,
    wanted: Sequence[Any],
    in_place: list[tuple[Any, dict[str, Any]]] | None = None,
) -> None:
    """Create ``row`` (when None) or update it with ``values``, set its many-to-many
    ``links`` to ``wanted``, and count it as created, updated or unchanged. Given
    ``in_place``, a row the database holds whose links stay is not set but listed there with
    its changed values, for :func:`_write_in_place` (most of a sync renews a column or two of
    rows it sent before)."""
    created = row is None
    links_change = created or {x.id for x in getattr(row, links)} != {x.id for x in wanted}
    if in_place is not None and not links_change and _unmodified(row):
        changed = {key: value for key, value in values.items() if getattr(row, key) != value}
        if changed:
            in_place.append((row, changed))
        counts["updated" if changed else "unchanged"] += 1
        return
    if row is None:
        row = model(**_own(ctx), **values)
        ctx.db.add(row)
        changed_any = True
    else:
        changed_any = _set(row, values)
    if links_change:
        setattr(row, links, list(wanted))
        changed_any = True
    counts["created" if created else ("updated" if changed_any else "unchanged")] += 1


def _unmodified(row: Any) -> bool:
    """Whether ``row`` is the database's as loaded: persistent, nothing set on it unflushed."""
    state = inspect(row)
    return bool(state.persistent and not state.modified)


def _write_in_place(ctx: HandlerContext, in_place: list[tuple[Any, dict[str, Any]]]) -> None:
    """The rows' new values, written with the other messages' of the batch's savepoint as one
    UPDATE per set of columns (``core.db.update_in_place``, later), without the unit of work
    and its flush: what the flush's listeners would have done is done here (the change rows,
    the rules the rows trigger, the names kept)."""
    if not in_place:
        return
    now = utcnow()
    old = [(row, {key: getattr(row, key) for key in values}) for row, values in in_place]
    changes = [(row, {**values, "updated_at": now}) for row, values in in_place]
    update_in_place(ctx.db, changes, later=True)
    rows = [row for row, _ in in_place]
    record_updates(ctx.db, old)
    alerts_engine.note_written(ctx.db, rows)
    note_renamed(ctx.db, rows)


# --- handlers ---------------------------------------------------------------------------------

_STAFF_EXAMPLE = {
    "message_id": "3f1c7a52-8d1e-4c1b-9a57-2d5f0e6b9c10",
    "institution_code": "JG450100001",
    "people": [
        {
            "id_number": "450103199001011238",
            "name": "李明",
            "gender": "male",
            "title": "intermediate",
            "years_in_testing": 8,
            "mobile": "13800000000",
            "is_inspector": True,
            "inspector_certificate_no": "GXJC-2020-0012",
            "lab_name": "力学室",
            "specialties": ["01"],
            "employed_from": "2018-03-01",
        }
    ],
}


@_registry_message(
    "registry.staff", title="人员信息同步", schema=StaffMessage, example=_STAFF_EXAMPLE
)
def handle_staff(ctx: HandlerContext, message: StaffMessage) -> dict[str, Any]:
    """机构人员（技术负责人、质量负责人、检测人员等）的基本信息、职称、证书、专项与在职情况
    （000 4.1.1 第 2 项）。按身份证号匹配：已有则更新，没有则新增；离职填写 employed_until。"""
    sync.touched(ctx.db, ctx.institution.id, ctx.received_at)
    _unique(message.people, "id_number", "people")
    specialties = _by_code(
        ctx.db, Specialty, (c for p in message.people for c in p.specialties), "people.specialties"
    )
    labs = _labs(ctx, (p.lab_name for p in message.people), "people.lab_name")
    existing = _held(ctx, Person, "id_number", (p.id_number for p in message.people))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    in_place: list[tuple[Any, dict[str, Any]]] = []
    for record in message.people:
        values = record.model_dump(exclude={"specialties", "lab_name"})
        values["lab_id"] = labs[record.lab_name].id if record.lab_name else None
        row = existing.get(record.id_number)
        wanted = specialties.rows(record.specialties, row.specialties if row else ())
        _upsert(ctx, counts, row, Person, values, "specialties", wanted, in_place)
    _write_in_place(ctx, in_place)
    return counts


_EQUIPMENT_EXAMPLE = {
    "message_id": "b0b7f9d4-51c4-4d8e-9c36-0a4c2e9a7f21",
    "institution_code": "JG450100001",
    "equipment": [
        {
            "asset_number": "LX-001",
            "name": "微机控制电液伺服万能试验机",
            "model": "WAW-1000B",
            "measuring_range": "0-1000 kN",
            "accuracy": "1 级",
            "calibration_body": "广西壮族自治区计量检测研究院",
            "calibration_valid_until": "2027-06-30",
            "status": "in_use",
            "lab_name": "力学室",
            "test_items": ["0102"],
        }
    ],
}


def _equipment_files(message: EquipmentMessage) -> list[str]:
    return [
        e.calibration_certificate_sha256
        for e in message.equipment
        if e.calibration_certificate_sha256
    ]


@_registry_message(
    "registry.equipment",
    title="仪器设备及检定校准同步",
    schema=EquipmentMessage,
    example=_EQUIPMENT_EXAMPLE,
    files=_equipment_files,
)
def handle_equipment(ctx: HandlerContext, message: EquipmentMessage) -> dict[str, Any]:
    """仪器设备的名称、型号、量程、准确度、检定/校准单位与有效期（可附证书文件）、状态、
    适用检测项目（000 4.1.1 第 4 项）。按设备编号匹配。"""
    sync.touched(ctx.db, ctx.institution.id, ctx.received_at)
    _unique(message.equipment, "asset_number", "equipment")
    items = _by_code(
        ctx.db,
        TestItem,
        (c for e in message.equipment for c in e.test_items),
        "equipment.test_items",
    )
    labs = _labs(ctx, (e.lab_name for e in message.equipment), "equipment.lab_name")
    existing = _held(
        ctx,
        Equipment,
        "asset_number",
        (e.asset_number for e in message.equipment),
        _EQUIPMENT_LOAD,
    )
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    in_place: list[tuple[Any, dict[str, Any]]] = []
    for record in message.equipment:
        values = record.model_dump(exclude={"test_items", "lab_name"})
        values["lab_id"] = labs[record.lab_name].id if record.lab_name else None
        row = existing.get(record.asset_number)
        wanted = items.rows(record.test_items, row.test_items if row else ())
        _upsert(ctx, counts, row, Equipment, values, "test_items", wanted, in_place)
    _write_in_place(ctx, in_place)
    return counts


_LAB_EXAMPLE = {
    "message_id": "7d0e4b8a-1c55-4f0e-8a7e-5b1f2c3d4e5f",
    "institution_code": "JG450100001",
    "labs": [
        {
            "name": "力学室",
            "address": "南宁市青秀区民族大道 100 号",
            "area_m2": "320.00",
            "specialties": ["01", "02"],
        }
    ],
}


@_registry_message("registry.labs", title="检测场所同步", schema=LabMessage, example=_LAB_EXAMPLE)
def handle_labs(ctx: HandlerContext, message: LabMessage) -> dict[str, Any]:
    """检测场所（试验室）的名称、地址、面积与所涉专项（000 4.1.1 第 3 项）。按名称匹配。"""
    sync.touched(ctx.db, ctx.institution.id, ctx.received_at)
    _unique(message.labs, "name", "labs")
    specialties = _by_code(
        ctx.db, Specialty, (c for lab in message.labs for c in lab.specialties), "labs.specialties"
    )
    existing = {
        lab.name: lab
        for lab in ctx.db.scalars(
            select(Lab).where(
                Lab.institution_id == ctx.institution.id,
                Lab.name.in_([lab.name for lab in message.labs]),
            )
        )
    }
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    in_place: list[tuple[Any, dict[str, Any]]] = []
    for record in message.labs:
        values = record.model_dump(exclude={"specialties"})
        lab = existing.get(record.name)
        wanted = specialties.rows(record.specialties, lab.specialties if lab else ())
        _upsert(ctx, counts, lab, Lab, values, "specialties", wanted, in_place)
    _write_in_place(ctx, in_place)
    return counts


_CAPABILITY_EXAMPLE = {
    "message_id": "c2a9e0f1-6b3d-4e7a-9f1c-8d2e3f4a5b6c",
    "institution_code": "JG450100001",
    "lab_name": "力学室",
    "parameters": ["010101", "010201", "010202"],
}


@_registry_message(
    "registry.capabilities",
    title="检测能力同步",
    schema=CapabilityMessage,
    example=_CAPABILITY_EXAMPLE,
)
def handle_capabilities(ctx: HandlerContext, message: CapabilityMessage) -> dict[str, Any]:
    """一个场所可检测的全部参数（000 4.1.1 第 6 项）。整体替换：消息中没有的参数即删除。"""
    sync.touched(ctx.db, ctx.institution.id, ctx.received_at)
    lab = _labs(ctx, [message.lab_name], "lab_name")[message.lab_name]
    params = _by_code(ctx.db, Parameter, message.parameters, "parameters")
    current = {
        c.parameter_id: c
        for c in ctx.db.scalars(select(Capability).where(Capability.lab_id == lab.id))
    }
    wanted = {
        p.id for p in params.rows(message.parameters, (c.parameter for c in current.values()))
    }
    added = removed = 0
    for parameter_id in sorted(wanted - set(current)):
        ctx.db.add(Capability(**_own(ctx), lab_id=lab.id, parameter_id=parameter_id))
        added += 1
    for parameter_id in sorted(set(current) - wanted):
        ctx.db.delete(current[parameter_id])
        removed += 1
    return {"created": added, "deleted": removed, "unchanged": len(wanted) - added}


_SIGNATORY_EXAMPLE = {
    "message_id": "e4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8",
    "institution_code": "JG450100001",
    "signatories": [
        {
            "id_number": "450103199001011238",
            "position": "技术负责人",
            "title": "高级工程师",
            "lab_name": "力学室",
            "specialties": ["01"],
        }
    ],
}


@_registry_message(
    "registry.signatories",
    title="授权签字人同步",
    schema=SignatoryMessage,
    example=_SIGNATORY_EXAMPLE,
)
def handle_signatories(ctx: HandlerContext, message: SignatoryMessage) -> dict[str, Any]:
    """报告批准人（授权签字人）及其签字范围（000 4.1.1 第 7 项）。按人员身份证号匹配，人员须
    先经 registry.staff 报送；active 为 false 即撤销。"""
    sync.touched(ctx.db, ctx.institution.id, ctx.received_at)
    _unique(message.signatories, "id_number", "signatories")
    specialties = _by_code(
        ctx.db,
        Specialty,
        (c for s in message.signatories for c in s.specialties),
        "signatories.specialties",
    )
    labs = _labs(ctx, (s.lab_name for s in message.signatories), "signatories.lab_name")
    people = {
        p.id_number: p
        for p in ctx.db.scalars(
            select(Person).where(
                Person.institution_id == ctx.institution.id,
                Person.id_number.in_([s.id_number for s in message.signatories]),
            )
        )
    }
    unknown = [i for i, s in enumerate(message.signatories) if s.id_number not in people]
    if unknown:
        raise ValidationFailed(
            errors=[
                FieldError(f"signatories.{i}.id_number", "本机构没有此人员，请先报送人员信息")
                for i in unknown
            ]
        )
    existing = {
        s.person_id: s
        for s in ctx.db.scalars(
            select(Signatory).where(
                Signatory.institution_id == ctx.institution.id,
                Signatory.person_id.in_([p.id for p in people.values()]),
            )
        )
    }
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    for record in message.signatories:
        person = people[record.id_number]
        signatory = existing.get(person.id)
        if not record.active:
            if signatory is not None:
                ctx.db.delete(signatory)
                counts["deleted"] += 1
            else:
                counts["unchanged"] += 1
            continue
        values = {
            "position": record.position,
            "title": record.title,
            "lab_id": labs[record.lab_name].id if record.lab_name else None,
        }
        wanted = specialties.rows(record.specialties, signatory.specialties if signatory else ())
        values["person_id"] = person.id
        _upsert(ctx, counts, signatory, Signatory, values, "specialties", wanted)
        counts["certificates"] = counts.get("certificates", 0) + _certificates(
            ctx, person, record.certificates
        )
    return counts


def _certificates(ctx: HandlerContext, person: Person, pems: list[str]) -> int:
    """Register the person's signing certificates not yet known; never remove one (reports
    signed with it must still verify). Returns how many were added."""
    added = 0
    for pem in pems:
        certificate = x509.load_pem_x509_certificate(pem.encode())
        der = certificate.public_bytes(serialization.Encoding.DER)
        digest = hashlib.sha256(der).hexdigest()
        known = ctx.db.scalars(
            select(SigningCertificate).where(
                SigningCertificate.institution_id == ctx.institution.id,
                SigningCertificate.sha256 == digest,
            )
        ).first()
        if known is not None:
            if known.person_id != person.id:
                raise ValidationFailed(
                    errors=[
                        FieldError("signatories.certificates", "该证书已登记在本机构另一人名下")
                    ]
                )
            continue
        ctx.db.add(
            SigningCertificate(
                **_own(ctx),
                person_id=person.id,
                sha256=digest,
                subject=certificate.subject.rfc4514_string()[:300],
                serial_number=format(certificate.serial_number, "x")[:64],
                not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc,
                der=der,
            )
        )
        added += 1
    return added


class SyncMessage(MessageBase):
    complete: bool = Field(
        description="true：本次登记信息（人员、设备、场所、能力、签字人）已全部报送，平台随即整体核查；"
        "false：开始一次同步（此后至报送完成前不作整体核查）"
    )


_SYNC_EXAMPLE = {
    "message_id": "5a1f0c3e-7b2d-4c8e-9f6a-1b2c3d4e5f60",
    "institution_code": "JG450100001",
    "complete": True,
}


@_registry_message(
    "registry.sync", title="登记信息同步开始或完成", schema=SyncMessage, example=_SYNC_EXAMPLE
)
def handle_sync(ctx: HandlerContext, message: SyncMessage) -> dict[str, Any]:
    """登记信息同步的开始（complete 为 false）或完成（complete 为 true）。整体核查人员、设备、
    场所是否达到资质标准等规则，在机构报送完成后（或连续一段时间（默认 10 分钟）没有新的登记
    信息后）才核查，不在报送中途得出结论。"""
    sync.announced(ctx.db, ctx.institution.id, ctx.received_at, complete=message.complete)
    return {"complete": message.complete}
