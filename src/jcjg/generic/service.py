"""Scoped reads and writes of generic entities. Keyword-only, never commits."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core import domains, text
from jcjg.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from jcjg.core.pagination import count_rows
from jcjg.core.regioncodes import scope_prefix
from jcjg.generic.spec import MULTI, REF, EntitySpec, FieldProblem, parse_id
from jcjg.regions import service as regions
from jcjg.tenancy import facts
from jcjg.tenancy.models import Institution

# What a REF or MULTI field's ids point to, and whether the target belongs to the institution:
# the catalogue's entries here, an institution's own rows from the domains that keep them (their
# ``generic.ref_targets`` hook returns more of these).
Targets = dict[str, tuple[type[Any], bool]]
_CATALOGUE: Targets = {
    "specialty": (Specialty, False),
    "test_item": (TestItem, False),
    "parameter": (Parameter, False),
}


def targets() -> Targets:
    """Every name a REF or MULTI field may point to, with its model and ownership."""
    found = dict(_CATALOGUE)
    for hook in domains.hooks("generic.ref_targets"):
        found.update(hook())
    return found


def parse(spec: EntitySpec, raw: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate ``raw`` against the spec; every failing field is reported at once."""
    known = {f.name for f in spec.fields} | {"institution_id", "institution_code"}
    errors = [FieldError(k, "不允许的字段", "extra_forbidden") for k in raw if k not in known]
    values: dict[str, Any] = {}
    for f in spec.fields:
        if partial and f.name not in raw:
            continue
        if f.name not in raw and f.default is not None:
            values[f.name] = f.default
            continue
        try:
            values[f.name] = f.parse(raw.get(f.name))
        except FieldProblem as problem:
            errors.append(FieldError(f.name, str(problem), "invalid"))
    if errors:
        raise ValidationFailed(errors=errors)
    return values


def base_query(spec: EntitySpec, principal: Principal, action: str = "read") -> Select[Any]:
    return restrict(select(spec.model), principal, action)


def rows_stmt(
    *,
    principal: Principal,
    spec: EntitySpec,
    q: str | None = None,
    institution_id: int | None = None,
    region_code: str | None = None,
) -> Select[Any]:
    """The rows of ``spec`` within scope: of an institution, in a region's subtree, holding
    ``q`` in a searchable field."""
    stmt = base_query(spec, principal)
    model = spec.model
    if institution_id is not None:
        column = model.id if spec.is_institution else model.institution_id
        stmt = stmt.where(column == institution_id)
    if region_code and hasattr(model, "region_code"):  # the region's subtree
        stmt = stmt.where(model.region_code.startswith(scope_prefix(region_code)))
    if q and spec.searchable:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(*(getattr(model, name).like(like) for name in spec.searchable)))
    return stmt


def list_rows(
    *,
    db: Session,
    principal: Principal,
    spec: EntitySpec,
    q: str | None = None,
    institution_id: int | None = None,
    offset: int = 0,
    limit: int = 20,
    region_code: str | None = None,
) -> tuple[Sequence[Any], int]:
    stmt = rows_stmt(
        principal=principal, spec=spec, q=q, institution_id=institution_id, region_code=region_code
    )
    model = spec.model
    total = count_rows(db, stmt)
    rows = db.scalars(
        stmt.order_by(getattr(model, spec.order_by)).offset(offset).limit(limit)
    ).all()
    return rows, total


def all_rows(*, db: Session, principal: Principal, spec: EntitySpec, **kw: Any) -> Sequence[Any]:
    rows, _ = list_rows(db=db, principal=principal, spec=spec, limit=100_000, **kw)
    return rows


def get_row(
    *, db: Session, principal: Principal, spec: EntitySpec, row_id: int, action: str = "read"
) -> Any:
    # a region sees the registry of an institution filed to work there, and keeps its own
    # institutions' (a filing's own row excepted: the filed region withdraws or shortens it)
    filed = action == "read" or spec.filed_writes
    return get_scoped(db, spec.model, row_id, principal, action, filed)


def can_update(*, db: Session, principal: Principal, spec: EntitySpec, obj: Any) -> bool:
    """Whether ``principal`` may edit ``obj`` (a filed region reads a lab's registry and does
    not keep it): what the detail page asks before it offers 编辑."""
    try:
        get_row(db=db, principal=principal, spec=spec, row_id=obj.id, action="update")
    except (NotFound, PermissionDenied):
        return False
    return True


def institution_for(
    *, db: Session, principal: Principal, institution_id: Any, institution_code: Any = None
) -> Institution:
    """An institution the principal may maintain, named by its id or by its code (机构编号, as
    in imports and the exchange), or a field error on ``institution_id``."""
    if institution_id in (None, "") and isinstance(institution_code, str) and institution_code:
        if text.problem(institution_code) is not None:  # never a query with NUL in it
            raise ValidationFailed(
                errors=[FieldError("institution_code", "没有这个机构编号", text.CODE)]
            )
        inst = db.scalars(
            restrict(
                select(Institution).where(Institution.code == institution_code.strip()),
                principal,
                "update",
                filed=False,
            )
        ).first()
        if inst is None:
            raise ValidationFailed(
                errors=[
                    FieldError(
                        "institution_code", "没有这个机构编号，或该机构不在您的管辖范围内", "scope"
                    )
                ]
            )
        return inst
    try:
        ident = parse_id(institution_id)
    except (TypeError, ValueError):
        raise ValidationFailed(
            errors=[FieldError("institution_id", "请选择所属检测机构", "missing")]
        ) from None
    stmt = restrict(
        select(Institution).where(Institution.id == ident), principal, "update", filed=False
    )
    inst = db.scalars(stmt).first()
    if inst is None:
        raise ValidationFailed(
            errors=[FieldError("institution_id", "检测机构不存在或不在您的管辖范围内", "scope")]
        )
    return inst


def held_ids(obj: Any, name: str) -> set[int]:
    """The ids a record's REF or MULTI field ``name`` points at now (none for a new record)."""
    if obj is None:
        return set()
    value = getattr(obj, name)
    if isinstance(value, list):
        return {o.id for o in value}
    return {value} if value is not None else set()


def _resolve(
    db: Session,
    spec: EntitySpec,
    values: dict[str, Any],
    institution_id: int | None,
    obj: Any = None,
) -> dict[str, Any]:
    """Check REF/MULTI ids exist (and belong to the institution); load MULTI objects.
    Catalogue entries are those of the current edition, or ones the record already has."""
    errors: list[FieldError] = []
    out = dict(values)
    for f in spec.fields:
        if f.name not in values or f.kind not in (REF, MULTI) or f.ref is None:
            continue
        target, owned = targets()[f.ref]
        ids = values[f.name] if f.kind == MULTI else [values[f.name]]
        ids = [i for i in ids if i is not None]
        if not ids:
            continue
        stmt = select(target).where(target.id.in_(ids))
        if owned:
            stmt = stmt.where(target.institution_id == institution_id)
        found = {o.id: o for o in db.scalars(stmt)}
        missing = [i for i in ids if i not in found]
        if missing:
            where = "本机构中" if owned else "目录中"
            errors.append(
                FieldError(f.name, f"{where}没有编号为 {'、'.join(map(str, missing))} 的记录")
            )
            continue
        held = held_ids(obj, f.name)
        withdrawn = [
            f"{found[i].code} {found[i].name}"
            for i in ids
            if not owned and found[i].valid_to_id is not None and i not in held
        ]
        if withdrawn:
            errors.append(
                FieldError(f.name, f"已被现行资质目录取代，不能新选：{'、'.join(withdrawn)}")
            )
            continue
        if f.kind == MULTI:
            out[f.name] = [found[i] for i in ids]
    if errors:
        raise ValidationFailed(errors=errors)
    return out


def _apply(obj: Any, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        setattr(obj, name, value)


def _check_unique(db: Session, spec: EntitySpec, values: Mapping[str, Any], own_id: Any) -> None:
    errors = []
    for f in spec.fields:
        value = values.get(f.name)
        if not f.unique or value in (None, ""):
            continue
        column = getattr(spec.model, f.name)
        other = db.scalar(select(spec.model.id).where(column == value))
        if other is not None and other != own_id:
            errors.append(FieldError(f.name, f"{f.label}已被使用", "duplicate"))
    if errors:
        raise Conflict(errors=errors)


def _flush(db: Session) -> None:
    """Write, turning a constraint the checks above did not foresee into a clear 409."""
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict("与已有记录重复，或仍被其他记录引用") from None


def next_institution_code(db: Session, region_code: str) -> str:
    """The platform's code for a new institution, unique in its region: ``JC<region>-<nnnn>``."""
    prefix = f"JC{region_code}-"
    last = db.scalar(select(func.max(Institution.code)).where(Institution.code.startswith(prefix)))
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:04d}"


def create_row(
    *, db: Session, principal: Principal, spec: EntitySpec, raw: Mapping[str, Any]
) -> Any:
    principal.require("institution:create" if spec.is_institution else "institution:update")
    values = parse(spec, raw, partial=False)
    if spec.is_institution:
        region = values.get("region_code")
        if region is None:
            raise ValidationFailed(errors=[FieldError("region_code", "行政区划代码不存在")])
        regions.current(db=db, code=region)  # a new institution: a region of the current edition
        if not principal.covers_region(region):
            raise ValidationFailed(
                errors=[FieldError("region_code", "只能在本辖区内登记检测机构", "scope")]
            )
        unique_credit_code(db, values.get("credit_code"), None)
        obj = spec.model(code=next_institution_code(db, region), status="active")
        _apply(obj, values)
    else:
        inst = institution_for(
            db=db,
            principal=principal,
            institution_id=raw.get("institution_id"),
            institution_code=raw.get("institution_code"),
        )
        values = _resolve(db, spec, values, inst.id)
        _check_unique(db, spec, values, None)
        obj = spec.model(institution_id=inst.id, region_code=inst.region_code)
        _apply(obj, values)
        _check_row(spec, obj)
    db.add(obj)
    _flush(db)
    if spec.is_institution:
        facts.notarise_registered(db, obj)  # a parent platform registers it from this
    return obj


def _guard(
    spec: EntitySpec, principal: Principal, obj: Any, values: Mapping[str, Any] | None
) -> None:
    """The spec's say on who may make this change (``values``; None: delete), a 403."""
    reason = spec.guard(principal, obj, values) if spec.guard else None
    if reason:
        raise PermissionDenied(reason)


def _check_row(spec: EntitySpec, obj: Any) -> None:
    """The spec's checks across fields, on the row as it would be written."""
    problems = spec.check(obj) if spec.check else []
    if problems:
        raise ValidationFailed(errors=problems)


def unique_credit_code(db: Session, code: str | None, own_id: int | None) -> None:
    if not code:
        return
    other = db.scalar(select(Institution.id).where(Institution.credit_code == code))
    if other is not None and other != own_id:
        raise Conflict(
            "统一社会信用代码已被其他检测机构使用",
            errors=[FieldError("credit_code", "已被其他检测机构使用", "duplicate")],
        )


def update_row(
    *, db: Session, principal: Principal, spec: EntitySpec, row_id: int, raw: Mapping[str, Any]
) -> Any:
    obj = get_row(db=db, principal=principal, spec=spec, row_id=row_id, action="update")
    moved = "institution_id" in raw and str(raw["institution_id"]) != str(obj.institution_id)
    if moved and not spec.is_institution:
        raise ValidationFailed(
            errors=[FieldError("institution_id", "不能把记录移到其他检测机构", "invalid")]
        )
    values = parse(spec, {k: v for k, v in raw.items() if k != "institution_id"}, partial=True)
    _guard(spec, principal, obj, values)
    before = (obj.name, obj.credit_code) if spec.is_institution else None
    if spec.is_institution:
        if "region_code" in values and values["region_code"] != obj.region_code:
            raise ValidationFailed(
                errors=[FieldError("region_code", "检测机构的行政区划不能修改", "invalid")]
            )
        unique_credit_code(db, values.get("credit_code"), obj.id)
    else:
        values = _resolve(db, spec, values, obj.institution_id, obj)
        _check_unique(db, spec, values, obj.id)
    _apply(obj, values)
    _check_row(spec, obj)
    _flush(db)
    if before is not None and (obj.name, obj.credit_code) != before:
        facts.notarise_updated(db, obj)  # a parent platform renames its copy
    return obj


def delete_row(*, db: Session, principal: Principal, spec: EntitySpec, row_id: int) -> None:
    if spec.is_institution:
        raise ValidationFailed("检测机构不能删除；如需停业请暂停或撤销")
    obj = get_row(db=db, principal=principal, spec=spec, row_id=row_id, action="update")
    _guard(spec, principal, obj, None)
    db.delete(obj)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError:
        raise Conflict(
            f"该{spec.label}仍被其他记录引用（如人员、设备、能力、培训），不能删除"
        ) from None


def set_status(
    *, db: Session, principal: Principal, spec: EntitySpec, row_id: int, status: str
) -> Any:
    from jcjg.tenancy.choices import InstitutionStatus

    obj = get_row(db=db, principal=principal, spec=spec, row_id=row_id, action="status")
    try:
        new = InstitutionStatus(status).value
    except ValueError:
        raise ValidationFailed(errors=[FieldError("status", "不是允许的状态")]) from None
    if new != obj.status:
        obj.status = new
        db.flush()
        facts.notarise_status(db, obj)  # a parent platform suspends its copy too
    return obj


def institutions_in_scope(
    *, db: Session, principal: Principal, action: str = "read"
) -> Sequence[Institution]:
    if not principal.can(f"institution:{action}"):
        return []
    stmt = restrict(select(Institution), principal, action, filed=action == "read")
    stmt = stmt.order_by(Institution.code)
    return db.scalars(stmt).all()


def maintainable_institution_id(
    *, db: Session, principal: Principal, institution_id: Any
) -> int | None:
    """``institution_id`` when the principal may maintain that institution, else None."""
    if institution_id in (None, ""):
        return None
    try:
        return institution_for(db=db, principal=principal, institution_id=institution_id).id
    except ValidationFailed:
        return None


def ref_options(
    *, db: Session, ref: str, institution_id: int | None, held: Collection[int] = ()
) -> list[tuple[int, str]]:
    """Choices for a REF/MULTI field: an institution's labs or people, or the entries of the
    current catalogue with those of an earlier edition the record already has (``held``)."""
    target, owned = targets()[ref]
    stmt = select(target)
    if owned:
        if institution_id is None:
            return []
        stmt = stmt.where(target.institution_id == institution_id)
    else:
        stmt = stmt.where(or_(target.valid_to_id.is_(None), target.id.in_(held)))
    rows = db.scalars(stmt.order_by(target.id)).all()
    out = []
    for row in rows:
        code = getattr(row, "code", None)
        shown = f"{code} {row.name}" if code else row.name
        if getattr(row, "valid_to_id", None) is not None:
            shown += "（旧版目录）"
        out.append((row.id, shown))
    return out
