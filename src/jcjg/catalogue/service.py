"""Loading and maintaining the qualification catalogue."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core.errors import FieldError, NotFound, ValidationFailed

REQUIREMENT_FIELDS = {
    "min_inspectors": "检测人员（人）",
    "min_intermediate_titles": "中级及以上职称（人）",
    "min_senior_titles": "高级职称（人）",
    "min_registered_engineers": "注册人员（人）",
    "min_equipment_sets": "仪器设备（台套）",
    "min_testing_area_m2": "检测场所面积（m²）",
}


def seed_data() -> dict[str, Any]:
    text = (
        resources.files("jcjg.catalogue")
        .joinpath("data/qualification_2023.json")
        .read_text("utf-8")
    )
    data: dict[str, Any] = json.loads(text)
    return data


def load_seed(*, db: Session) -> int:
    """Insert the specialties, items and parameters not yet present; returns how many rows.
    Idempotent; never overwrites what the provincial authority has edited."""
    data = seed_data()
    specialties = {s.code: s for s in db.scalars(select(Specialty))}
    items = {i.code: i for i in db.scalars(select(TestItem))}
    params = set(db.scalars(select(Parameter.code)))
    added = 0
    for order, s in enumerate(data["specialties"]):
        specialty = specialties.get(s["code"])
        if specialty is None:
            specialty = Specialty(code=s["code"], name=s["name"], sort=order, **s["requirements"])
            db.add(specialty)
            db.flush()
            added += 1
        for it in s["items"]:
            item = items.get(it["code"])
            if item is None:
                item = TestItem(
                    specialty_id=specialty.id,
                    code=it["code"],
                    name=it["name"],
                    standards=list(it.get("standards", [])),
                )
                db.add(item)
                db.flush()
                added += 1
            for p in it["parameters"]:
                if p["code"] in params:
                    continue
                db.add(
                    Parameter(
                        test_item_id=item.id,
                        code=p["code"],
                        name=p["name"],
                        required=bool(p["required"]),
                        unit=p.get("unit"),
                    )
                )
                added += 1
    db.flush()
    return added


def specialties(*, db: Session) -> list[Specialty]:
    stmt = (
        select(Specialty)
        .order_by(Specialty.sort, Specialty.code)
        .options(selectinload(Specialty.items).selectinload(TestItem.parameters))
    )
    return list(db.scalars(stmt))


def get_specialty(*, db: Session, specialty_id: int) -> Specialty:
    row = db.get(Specialty, specialty_id)
    if row is None:
        raise NotFound("检测专项不存在")
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
    item = db.get(TestItem, test_item_id)
    if item is None:
        raise NotFound("检测项目不存在")
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed(errors=[FieldError("name", "参数名称为 1–100 个字符", "invalid")])
    if any(p.name == name for p in item.parameters):
        raise ValidationFailed(errors=[FieldError("name", "该检测项目已有同名参数", "duplicate")])
    codes = [p.code for p in item.parameters]
    suffix = max(
        (int(c[len(item.code) :]) for c in codes if c[len(item.code) :].isdigit()), default=0
    )
    parameter = Parameter(
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
    parameter = db.get(Parameter, parameter_id)
    if parameter is None:
        raise NotFound("参数不存在")
    parameter.required = required
    db.flush()
    return parameter
