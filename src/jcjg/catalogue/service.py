"""Reading and maintaining the qualification catalogue, edition by edition (editions are
loaded by :mod:`jcjg.catalogue.editions`). The provincial authority edits the current rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, lazyload, selectinload

from jcjg.catalogue.editions import KIND
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core import editions as core_editions
from jcjg.core.db import memo
from jcjg.core.editions import ReferenceEdition
from jcjg.core.errors import FieldError, NotFound, ValidationFailed

Row = TypeVar("Row", Specialty, TestItem, Parameter)

REQUIREMENT_FIELDS = {
    "min_inspectors": "检测人员（人）",
    "min_intermediate_titles": "中级及以上职称（人）",
    "min_senior_titles": "高级职称（人）",
    "min_registered_engineers": "注册人员（人）",
    "min_equipment_sets": "仪器设备（台套）",
    "min_testing_area_m2": "检测场所面积（m²）",
}


def valid_in(model: Any, edition: ReferenceEdition | None = None) -> ColumnElement[bool]:
    """Rows of ``model`` (Specialty, TestItem or Parameter) valid in ``edition``: the current
    ones when None. Editions are numbered in the order they were loaded."""
    if edition is None:
        return model.valid_to_id.is_(None)  # type: ignore[no-any-return]
    return and_(
        or_(model.valid_from_id.is_(None), model.valid_from_id <= edition.id),
        or_(model.valid_to_id.is_(None), model.valid_to_id > edition.id),
    )


def editions(*, db: Session) -> list[ReferenceEdition]:
    """The catalogue's editions, the current (latest) last."""
    return core_editions.editions(db, KIND)


def edition(*, db: Session, code: str | None) -> ReferenceEdition | None:
    """The edition named ``code`` (None for the current catalogue); NotFound when unknown."""
    if not code:
        return None
    found = core_editions.find(db, KIND, code)
    if found is None:
        raise NotFound(f"资质目录没有 {code} 版")
    return found


def by_code(*, db: Session, model: type[Row], codes: Iterable[str]) -> dict[str, Row]:
    """The row each code names: the current one; for a code a later edition changed or dropped,
    the last row it had (records keep the codes they were made with). Unknown codes left out."""
    wanted = sorted(set(codes))
    found: dict[str, Row] = {}
    if not wanted:
        return found
    kept = memo(db)
    if kept is not None:  # a batch applying messages: codes looked up before are known
        known = {c: kept[model, c] for c in wanted if (model, c) in kept}
        if len(known) == len(wanted):
            return {c: row for c, row in known.items() if row is not None}
    stmt = select(model).where(model.code.in_(wanted)).order_by(model.id).options(lazyload("*"))
    for row in db.scalars(stmt):
        newest = found.get(row.code)
        if newest is None or newest.valid_to_id is not None:  # the newest row, current if any
            found[row.code] = row
    if kept is not None:
        kept.update({(model, c): found.get(c) for c in wanted})
    return found


def item_specialties(*, db: Session, item_codes: Iterable[str]) -> dict[str, Specialty]:
    """The specialty of each test item code (see :func:`by_code`)."""
    items = by_code(db=db, model=TestItem, codes=item_codes)
    rows = db.scalars(
        select(Specialty).where(Specialty.id.in_({i.specialty_id for i in items.values()}))
    )
    specialties = {s.id: s for s in rows}
    return {code: specialties[item.specialty_id] for code, item in items.items()}


def specialties(*, db: Session, edition: ReferenceEdition | None = None) -> list[Specialty]:
    """The catalogue as in ``edition`` (the current one when None): its specialties with their
    items and parameters of that edition loaded."""
    items = Specialty.items.and_(valid_in(TestItem, edition))
    parameters = TestItem.parameters.and_(valid_in(Parameter, edition))
    stmt = (
        select(Specialty)
        .where(valid_in(Specialty, edition))
        .order_by(Specialty.sort, Specialty.code)
        .options(selectinload(items).selectinload(parameters))
        .execution_options(populate_existing=True)
    )
    return list(db.scalars(stmt))


def _current(row: Specialty | TestItem | Parameter | None, what: str) -> Any:
    """``row`` when it is of the current edition; a later edition's rows only are edited."""
    if row is None:
        raise NotFound(f"{what}不存在")
    if row.valid_to_id is not None:
        raise ValidationFailed(
            f"该{what}属于已被取代的目录版本，不能修改",
            errors=[FieldError("id", "历史版本", "historical")],
        )
    return row


def get_specialty(*, db: Session, specialty_id: int) -> Specialty:
    """A specialty of the current edition (the only ones edited)."""
    row: Specialty = _current(db.get(Specialty, specialty_id), "检测专项")
    return row


def update_requirements(*, db: Session, specialty_id: int, raw: dict[str, Any]) -> Specialty:
    """Set a specialty's minimums; every value a whole number from 0 to 100,000."""
    specialty = get_specialty(db=db, specialty_id=specialty_id)
    errors: list[FieldError] = []
    values: dict[str, int] = {}
    for key, value in raw.items():
        if key not in REQUIREMENT_FIELDS:
            errors.append(FieldError(key, "不允许的字段", "extra_forbidden"))
            continue
        try:
            number = int(str(value).strip())
        except ValueError:
            errors.append(FieldError(key, "应为整数", "int_parsing"))
            continue
        if not 0 <= number <= 100_000:
            errors.append(FieldError(key, "应在 0–100000 之间", "range"))
            continue
        values[key] = number
    if errors:
        raise ValidationFailed(errors=errors)
    for key, number in values.items():
        setattr(specialty, key, number)
    db.flush()
    return specialty


def add_parameter(
    *, db: Session, test_item_id: int, name: str, required: bool, unit: str | None
) -> Parameter:
    item: TestItem = _current(db.get(TestItem, test_item_id), "检测项目")
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed(errors=[FieldError("name", "参数名称为 1–100 个字符", "invalid")])
    if any(p.name == name and p.valid_to_id is None for p in item.parameters):
        raise ValidationFailed(errors=[FieldError("name", "该检测项目已有同名参数", "duplicate")])
    # every code the item's parameters ever had: a withdrawn parameter's code is not reused
    codes = list(db.scalars(select(Parameter.code).where(Parameter.code.startswith(item.code))))
    suffix = max(
        (int(c[len(item.code) :]) for c in codes if c[len(item.code) :].isdecimal()), default=0
    )
    latest = core_editions.latest(db, KIND)
    parameter = Parameter(
        valid_from_id=latest.id if latest else None,
        test_item_id=item.id,
        code=f"{item.code}{suffix + 1:02d}",
        name=name,
        required=required,
        unit=(unit or "").strip() or None,
    )
    db.add(parameter)
    db.flush()
    return parameter


def set_required(*, db: Session, parameter_id: int, required: bool) -> Parameter:
    parameter: Parameter = _current(db.get(Parameter, parameter_id), "参数")
    parameter.required = required
    db.flush()
    return parameter
