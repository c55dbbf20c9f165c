"""A child platform's registry facts rebuilt on its parent (``core.facts``; docs/networking.md,
"A child's facts"): an institution the city registered on its pages (or with ``jcjg
institutions create``) is registered here under the city's code, so the province keeps every
city's institutions without typing them in again, and the lab's forwarded messages apply here;
its status and its name follow. The city's code is kept: the lab's messages name it, and a
platform's codes name its region (``JC<region>-<nnnn>``), so they are unique in the province;
a code already used here for another institution is refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.errors import Conflict, FieldError, ValidationFailed
from jcjg.core.facts import FactApplier, ForwardedFact
from jcjg.core.regioncodes import scope_prefix
from jcjg.exchange import cache
from jcjg.generic.service import unique_credit_code
from jcjg.regions.models import Region
from jcjg.registry.codes import is_valid_credit_code
from jcjg.tenancy import facts
from jcjg.tenancy.choices import InstitutionStatus
from jcjg.tenancy.models import Institution

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


def appliers() -> dict[str, FactApplier]:
    return {facts.REGISTER: register, facts.STATUS: status, facts.UPDATE: update}


def register(db: Session, fact: ForwardedFact) -> None:
    """The institution registered here under the child's code; again the same one (a
    province that had registered it by hand, a fact sent twice): its name brought up to date."""
    code = _code(fact)
    region = _text(fact.data, "region_code", 6)
    if region is None or db.get(Region, region) is None:
        raise ValidationFailed(errors=[FieldError("region_code", "行政区划代码不存在")])
    _within(fact, region, code)
    name = _name(fact.data)
    credit = _credit_code(fact.data)
    same = db.scalar(select(Institution).where(Institution.code == code))
    if same is not None:
        if same.region_code != region or (same.credit_code and same.credit_code != credit):
            raise Conflict(
                f"机构编号“{code}”在本平台已登记为另一家机构（{same.name}）",
                errors=[FieldError("code", "已被其他检测机构使用", "duplicate")],
            )
        _rename(db, same, name, credit)
        return
    unique_credit_code(db, credit, None)
    db.add(Institution(code=code, name=name, credit_code=credit, region_code=region))
    db.flush()
    cache.INSTITUTIONS.forget(lambda k, _: k == code)  # remembered unknown in this transaction


def status(db: Session, fact: ForwardedFact) -> None:
    inst = _institution(db, fact)
    try:
        inst.status = InstitutionStatus(str(fact.data.get("status", ""))).value
    except ValueError:
        raise ValidationFailed(errors=[FieldError("status", "不是允许的状态")]) from None
    db.flush()


def update(db: Session, fact: ForwardedFact) -> None:
    inst = _institution(db, fact)
    _rename(db, inst, _name(fact.data), _credit_code(fact.data))


def _rename(db: Session, inst: Institution, name: str, credit: str | None) -> None:
    unique_credit_code(db, credit, inst.id)
    if (inst.name, inst.credit_code) != (name, credit):
        inst.name, inst.credit_code = name, credit
        db.flush()


def _institution(db: Session, fact: ForwardedFact) -> Institution:
    return facts.childs_institution(db, fact, _code(fact), "机构")


def _within(fact: ForwardedFact, region: str, code: str) -> None:
    if not region.startswith(scope_prefix(fact.region_code)):
        raise ValidationFailed(
            f"机构“{code}”（行政区划 {region}）不在下级平台“{fact.platform}”的辖区内",
            errors=[FieldError("region_code", "不在该下级平台辖区内", "scope")],
        )


def _code(fact: ForwardedFact) -> str:
    code = _text(fact.data, "code", 32)
    if code is None or not CODE.fullmatch(code):
        raise ValidationFailed(errors=[FieldError("code", "机构编号应为字母、数字、点、横线")])
    return code


def _name(data: Mapping[str, Any]) -> str:
    name = _text(data, "name", 200)
    if name is None or not name.strip():
        raise ValidationFailed(errors=[FieldError("name", "单位名称不能为空")])
    return name.strip()


def _credit_code(data: Mapping[str, Any]) -> str | None:
    credit = _text(data, "credit_code", 18, required=False)
    if credit is not None and not is_valid_credit_code(credit):
        raise ValidationFailed(errors=[FieldError("credit_code", "统一社会信用代码无效")])
    return credit.upper() if credit else None


def _text(data: Mapping[str, Any], key: str, limit: int, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or len(value) > limit or any(ord(c) < 32 for c in value):
        raise ValidationFailed(errors=[FieldError(key, f"应为不超过 {limit} 个字符的文本")])
    return value or None
