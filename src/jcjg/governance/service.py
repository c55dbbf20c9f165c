"""The data standard's life: the shipped baseline loaded, a revision drafted from the version it
revises, its elements edited within the code's envelope, submitted, reviewed by another person
and published with the time it takes effect (notarised). Keyword-only, never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.db import utcnow
from jcjg.core.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed
from jcjg.governance import checks, forms, standard
from jcjg.governance.choices import DataType, StandardStatus
from jcjg.governance.models import CodeList, DataElement, DataModel, DataStandard
from jcjg.ledger import service as ledger

OPEN = (StandardStatus.DRAFT.value, StandardStatus.SUBMITTED.value, StandardStatus.RETURNED.value)
EDITABLE = (StandardStatus.DRAFT.value, StandardStatus.RETURNED.value)
SINCE_EVER = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
ENTRY_TYPE = "data_standard:publish"
TEXT_LIMITS = {"name": 80, "definition": 2000, "unit": 32, "clause": 200}


def _forget_on_commit(db: Session) -> None:
    event.listen(db, "after_commit", lambda _session: checks.MEMORY.forget(), once=True)


# --- content -----------------------------------------------------------------------------


def write_content(db: Session, version: DataStandard, content: Mapping[str, Any]) -> None:
    """Write a content's rows under ``version``: set-based, and not one audit row each (the
    version's own row is the change; its elements' later edits are audited one by one)."""
    db.execute(
        insert(DataElement),
        [
            {
                "standard_id": version.id,
                "element_id": e["id"],
                "name": e["name"],
                "definition": e.get("definition", ""),
                "type": e["type"],
                "unit": e.get("unit", ""),
                "clause": e.get("clause", ""),
                "code_list": e.get("code_list"),
                "domain": dict(e.get("domain", {})),
                "envelope": dict(e.get("envelope", {})),
                "changed": bool(e.get("changed", False)),
            }
            for e in content["elements"]
        ],
    )
    db.execute(
        insert(CodeList),
        [
            {
                "standard_id": version.id,
                "list_id": c["id"],
                "name": c["name"],
                "codes": list(c["codes"]),
            }
            for c in content["code_lists"]
        ],
    )
    db.execute(
        insert(DataModel),
        [
            {
                "standard_id": version.id,
                "model_id": m["id"],
                "title": m["title"],
                "fields": m["fields"],
            }
            for m in content["models"]
        ],
    )


def content_of(db: Session, version: DataStandard) -> dict[str, Any]:
    """A version's content, as :mod:`jcjg.governance.standard` describes it."""
    elements = db.scalars(
        select(DataElement)
        .where(DataElement.standard_id == version.id)
        .order_by(DataElement.element_id)
    )
    lists = db.scalars(
        select(CodeList).where(CodeList.standard_id == version.id).order_by(CodeList.list_id)
    )
    models = db.scalars(
        select(DataModel).where(DataModel.standard_id == version.id).order_by(DataModel.model_id)
    )
    return {
        "elements": [
            {
                "id": e.element_id,
                "name": e.name,
                "definition": e.definition,
                "type": e.type,
                "unit": e.unit,
                "clause": e.clause,
                "code_list": e.code_list,
                "domain": dict(e.domain),
                "envelope": dict(e.envelope),
            }
            for e in elements
        ],
        "code_lists": [{"id": c.list_id, "name": c.name, "codes": list(c.codes)} for c in lists],
        "models": [{"id": m.model_id, "title": m.title, "fields": list(m.fields)} for m in models],
    }


def _next_version(db: Session) -> int:
    return int(db.scalar(select(func.coalesce(func.max(DataStandard.version), 0))) or 0) + 1


def load_shipped(db: Session) -> str:
    """Load the baseline shipped with the code: as version 1, published and in force since
    ever, into a database that holds no version; when the code's baseline has changed since
    (a newer release), as a draft for the province to review. One line saying what was done."""
    content = standard.shipped()
    sha = standard.content_sha256(content)
    known = db.scalar(
        select(DataStandard.version).where(
            DataStandard.shipped.is_(True), DataStandard.content_sha256 == sha
        )
    )
    if known is not None:
        return f"数据标准：随附基线已在第 {known} 版"
    first = db.scalar(select(func.count()).select_from(DataStandard)) == 0
    now = utcnow()
    number = _next_version(db)
    db.execute(  # reference data, not a platform fact: no audit row, nothing notarised
        insert(DataStandard).values(
            version=number,
            title="数据标准基线（随平台代码发布）",
            status=StandardStatus.PUBLISHED.value if first else StandardStatus.DRAFT.value,
            note="由平台各消息类型的定义生成",
            review_note="",
            shipped=True,
            effective_at=SINCE_EVER if first else None,
            published_at=now if first else None,
            content_sha256=sha,  # a shipped draft's: what was shipped (set again on publication)
            created_at=now,
            updated_at=now,
        )
    )
    version = get(db, number)
    write_content(db, version, content)
    _forget_on_commit(db)
    if first:
        return f"数据标准：随附基线载入为第 {version.version} 版并生效"
    return f"数据标准：随附基线有更新，已生成第 {version.version} 版草稿待审核"


# --- reading -------------------------------------------------------------------------------


def get(db: Session, version: int) -> DataStandard:
    row = db.scalar(select(DataStandard).where(DataStandard.version == version))
    return forms.found(row, f"数据标准第 {version} 版")


def in_force(db: Session, at: dt.datetime | None = None) -> DataStandard | None:
    """The published version in force at ``at`` (now by default)."""
    return db.scalar(
        select(DataStandard)
        .where(
            DataStandard.status == StandardStatus.PUBLISHED.value,
            DataStandard.effective_at <= (at or utcnow()),
        )
        .order_by(DataStandard.effective_at.desc(), DataStandard.version.desc())
        .limit(1)
    )


def upcoming(db: Session, now: dt.datetime | None = None) -> list[DataStandard]:
    """Published versions that take effect later: what labs must prepare for."""
    return list(
        db.scalars(
            select(DataStandard)
            .where(
                DataStandard.status == StandardStatus.PUBLISHED.value,
                DataStandard.effective_at > (now or utcnow()),
            )
            .order_by(DataStandard.effective_at)
        )
    )


def element(db: Session, version: DataStandard, element_id: str) -> DataElement:
    found = db.scalar(
        select(DataElement).where(
            DataElement.standard_id == version.id, DataElement.element_id == element_id
        )
    )
    if found is None:
        raise NotFound(f"第 {version.version} 版没有数据元“{element_id[:80]}”")
    return found


def base_element(db: Session, version: DataStandard, element_id: str) -> DataElement | None:
    """The element as the version this one revises holds it."""
    if version.base_version is None:
        return None
    base = db.scalar(select(DataStandard).where(DataStandard.version == version.base_version))
    if base is None:
        return None
    return db.scalar(
        select(DataElement).where(
            DataElement.standard_id == base.id, DataElement.element_id == element_id
        )
    )


def models_using(db: Session, version: DataStandard, element_id: str) -> list[tuple[str, str, str]]:
    """``(model id, title, path)`` of each field made of the element."""
    out: list[tuple[str, str, str]] = []
    for model in db.scalars(
        select(DataModel).where(DataModel.standard_id == version.id).order_by(DataModel.model_id)
    ):
        out.extend(
            (model.model_id, model.title, f["path"])
            for f in model.fields
            if f["element"] == element_id
        )
    return out


# --- the life of a revision -------------------------------------------------------------


def new_draft(db: Session, principal: Principal, *, title: str, note: str) -> DataStandard:
    """A draft revising the latest published version (one revision open at a time)."""
    open_one = db.scalar(select(DataStandard.version).where(DataStandard.status.in_(OPEN)))
    if open_one is not None:
        raise Conflict(f"第 {open_one} 版修订尚未完成：请先完成或在其上继续修改")
    base = db.scalar(
        select(DataStandard)
        .where(DataStandard.status == StandardStatus.PUBLISHED.value)
        .order_by(DataStandard.version.desc())
        .limit(1)
    )
    if base is None:
        raise Conflict("尚无已发布的数据标准：请先运行 jcjg db upgrade 载入随附基线")
    forms.texts({"title": title, "note": note}, {"title": 200, "note": 2000}, required=("title",))
    draft = DataStandard(
        version=_next_version(db),
        title=title.strip(),
        note=note.strip(),
        status=StandardStatus.DRAFT.value,
        base_version=base.version,
        created_by_id=principal.user_id,
    )
    db.add(draft)
    db.flush()
    write_content(db, draft, content_of(db, base))
    return draft


def _bounds(
    raw: Mapping[str, Any],
    keys: tuple[str, str],
    limits: tuple[float | None, float | None],
    integer: bool,
    out: dict[str, Any],
    errors: list[FieldError],
    envelope: Mapping[str, Any],
) -> None:
    """A pair of bounds (``minimum``/``maximum`` or ``min_length``/``max_length``) within
    ``limits``; a blank bound keeps the envelope's."""
    floor, ceiling = limits
    shown = f"{'-∞' if floor is None else floor}–{'+∞' if ceiling is None else ceiling}"
    values = [forms.number(raw.get(key), key, errors, integer=integer) for key in keys]
    for key, value in zip(keys, values, strict=True):
        if value is None:
            if key in envelope:
                out[key] = envelope[key]
            continue
        if (floor is not None and value < floor) or (ceiling is not None and value > ceiling):
            errors.append(FieldError(key, f"须在代码可取的范围 {shown} 之内", "out_of_envelope"))
        out[key] = value
    low, high = values
    if low is not None and high is not None and low > high:
        errors.append(FieldError(keys[1], "上限不得小于下限", "range"))


def _codes(
    raw: Mapping[str, Any], envelope: Mapping[str, Any], errors: list[FieldError]
) -> list[Any]:
    codes = [str(c) for c in raw.get("enum") or []]
    unknown = [c for c in codes if c not in {str(e) for e in envelope["enum"]}]
    if unknown:
        errors.append(
            FieldError("enum", "代码不在该数据元可取的代码中：" + "、".join(unknown[:5]), "enum")
        )
    elif not codes:
        errors.append(FieldError("enum", "至少保留一个代码", "missing"))
    return [c for c in envelope["enum"] if str(c) in codes]


def domain_from(
    element: DataElement, raw: Mapping[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """The value domain a form or request asks for, checked against the element's envelope:
    codes from its code list, a range, lengths and decimal places no wider than the code
    takes. ``raw``: ``enum`` (a list of codes), ``minimum``, ``maximum``, ``min_length``,
    ``max_length``, ``decimal_places`` (text; blank: the envelope's)."""
    envelope = element.envelope
    errors: list[FieldError] = []
    domain = {k: v for k, v in envelope.items() if k not in checks.NARROWABLE}
    if "enum" in envelope:
        domain["enum"] = _codes(raw, envelope, errors)
    if element.type in (DataType.INTEGER, DataType.NUMBER, DataType.DECIMAL):
        limits = (
            envelope.get("minimum", envelope.get("exclusive_minimum")),
            envelope.get("maximum", envelope.get("exclusive_maximum")),
        )
        integer = element.type == DataType.INTEGER
        _bounds(raw, ("minimum", "maximum"), limits, integer, domain, errors, envelope)
    if element.type == DataType.DECIMAL:
        widest = envelope.get("decimal_places")
        _bounds(
            raw, ("decimal_places", "decimal_places"), (0, widest), True, domain, errors, envelope
        )
    if element.type == DataType.STRING and "enum" not in envelope:
        limits = (envelope.get("min_length", 0), envelope.get("max_length", 20000))
        _bounds(raw, ("min_length", "max_length"), limits, True, domain, errors, envelope)
    return domain, errors


def edit_element(
    db: Session,
    principal: Principal,
    *,
    version: DataStandard,
    element_id: str,
    values: Mapping[str, Any],
) -> DataElement:
    """Change an element of a draft: its words (name, definition, unit, clause) and its value
    domain within the envelope. A 422 names each refused part; nothing is written then."""
    if version.status not in EDITABLE:
        raise Conflict(f"第 {version.version} 版{StandardStatus(version.status).label}，不能修改")
    row = element(db, version, element_id)
    forms.texts(values, TEXT_LIMITS, required=("name",))
    domain, errors = domain_from(row, values)
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)
    row.name = str(values["name"]).strip()
    for key in ("definition", "unit", "clause"):
        setattr(row, key, str(values.get(key) or "").strip())
    row.domain = domain
    base = base_element(db, version, element_id)
    row.changed = base is None or any(
        getattr(row, k) != getattr(base, k)
        for k in ("name", "definition", "unit", "clause", "domain")
    )
    db.flush()
    return row


def submit(db: Session, principal: Principal, *, version: DataStandard) -> None:
    if version.status not in EDITABLE:
        raise Conflict(
            f"第 {version.version} 版{StandardStatus(version.status).label}，不能提交审核"
        )
    version.status = StandardStatus.SUBMITTED.value
    version.submitted_by_id = principal.user_id
    version.submitted_at = utcnow()
    db.flush()


def review(
    db: Session,
    principal: Principal,
    *,
    version: DataStandard,
    approve: bool,
    effective_at: dt.datetime | None,
    note: str,
    skew_seconds: int = 300,
) -> None:
    """Publish a submitted revision from ``effective_at`` on (notarised), or return it with
    the reviewer's note. The reviewer is neither its author nor who submitted it."""
    if version.status != StandardStatus.SUBMITTED.value:
        raise Conflict(
            f"第 {version.version} 版{StandardStatus(version.status).label}，不在待审核状态"
        )
    if principal.user_id in (version.created_by_id, version.submitted_by_id):
        raise PermissionDenied("数据标准的修订须由起草和提交以外的人审核")
    forms.texts({"note": note}, {"note": 2000}, required=() if approve else ("note",))
    now = utcnow()
    version.reviewed_by_id, version.reviewed_at = principal.user_id, now
    version.review_note = note.strip()
    if not approve:
        version.status = StandardStatus.RETURNED.value
        db.flush()
        return
    if effective_at is None:
        raise ValidationFailed(errors=[FieldError("effective_at", "请填写生效时间", "missing")])
    if effective_at.tzinfo is None:
        raise ValidationFailed(
            errors=[FieldError("effective_at", "生效时间须带时区", "timezone_aware")]
        )
    latest = db.scalar(
        select(func.max(DataStandard.effective_at)).where(
            DataStandard.status == StandardStatus.PUBLISHED.value
        )
    )
    # never retroactive, and late enough that no process still judges by the version before
    # it (each reads the list again within checks.TTL_SECONDS) and no lab's clock ahead by the
    # allowed skew signs past it before it is published
    earliest = now + dt.timedelta(seconds=skew_seconds + checks.TTL_SECONDS + 5)
    if effective_at < earliest or (latest is not None and effective_at <= latest):
        raise ValidationFailed(
            errors=[
                FieldError(
                    "effective_at",
                    f"生效时间须在 {int((earliest - now).total_seconds() // 60) + 1} 分钟之后，"
                    "且晚于已发布版本的生效时间（不追溯）",
                    "too_early",
                )
            ]
        )
    content = content_of(db, version)
    sha = standard.content_sha256(content)
    version.status = StandardStatus.PUBLISHED.value
    version.effective_at = effective_at
    version.published_at = now
    version.content_sha256 = sha
    receipt = ledger.notarise(
        db,
        ENTRY_TYPE,
        {"version": version.version, "sha256": sha, "effective_at": ledger.timestamp(effective_at)},
    )
    version.ledger_index = receipt.index
    db.flush()
    _forget_on_commit(db)


def discard(db: Session, principal: Principal, *, version: DataStandard) -> None:
    """Drop a draft or returned revision that will not be published."""
    if version.status not in EDITABLE:
        raise Conflict(f"第 {version.version} 版{StandardStatus(version.status).label}，不能删除")
    db.execute(delete(DataElement).where(DataElement.standard_id == version.id))
    db.execute(delete(CodeList).where(CodeList.standard_id == version.id))
    db.execute(delete(DataModel).where(DataModel.standard_id == version.id))
    db.delete(version)
    db.flush()
