"""Reading the region tree, and checking the region a record is given (editions are loaded by
:mod:`jcjg.regions.editions`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.core import editions as core_editions
from jcjg.core.editions import ReferenceEdition
from jcjg.core.errors import FieldError, NotFound, ValidationFailed
from jcjg.core.memo import TimedMemo
from jcjg.core.regioncodes import is_valid_code, scope_prefix
from jcjg.regions.editions import KIND
from jcjg.regions.models import Region, RegionChange


def problem(
    *, db: Session, code: str, field: str = "region_code", kept: str | None = None
) -> FieldError | None:
    """Why a record may not be given region ``code`` (None when it may): a record takes a
    region of the current edition; or ``kept``, the code the record (or what it belongs to)
    already has, even when a later edition abolished it."""
    region = db.get(Region, code) if is_valid_code(code) else None
    if region is None:
        return FieldError(field, "行政区划代码不存在", "unknown")
    if region.valid_to_id is not None and code != kept:
        note = abolished_note(db=db, region=region)
        return FieldError(field, f"{note}；新登记请使用现行代码", "abolished")
    return None


def current(
    *, db: Session, code: str, field: str = "region_code", kept: str | None = None
) -> Region:
    """The region ``code`` a record may be given (see :func:`problem`), else
    :class:`ValidationFailed` saying why."""
    found = problem(db=db, code=code, field=field, kept=kept)
    if found is not None:
        raise ValidationFailed(errors=[found])
    return get(db=db, code=code)


def abolished_note(*, db: Session, region: Region) -> str:
    """``九江县（360421）已于 2017 版撤销，由柴桑区（360404）代替``."""
    edition = db.get(ReferenceEdition, region.valid_to_id) if region.valid_to_id else None
    text = f"{region.name}（{region.code}）已于 {edition.code if edition else '后续'} 版撤销"
    successors = [db.get(Region, c) for c in region.replaced_by]
    named = [f"{r.name}（{r.code}）" for r in successors if r is not None]
    return text + (f"，由{'、'.join(named)}代替" if named else "")


def get(*, db: Session, code: str) -> Region:
    region = db.get(Region, code) if is_valid_code(code) else None
    if region is None:
        raise NotFound(f"行政区划代码 {code} 不存在")
    return region


def children(*, db: Session, code: str | None, historical: bool = False) -> list[Region]:
    """Direct children of ``code`` (the provinces when ``code`` is None): the current ones, and
    with ``historical`` those abolished by a later edition too."""
    parent = Region.parent_code.is_(None) if code is None else Region.parent_code == code
    stmt = select(Region).where(parent).order_by(Region.code)
    if not historical:
        stmt = stmt.where(Region.valid_to_id.is_(None))
    return list(db.scalars(stmt))


def ancestors(*, db: Session, region: Region) -> list[Region]:
    """From the province down to ``region``'s parent."""
    chain: list[Region] = []
    node = region
    while node.parent_code is not None:
        parent = db.get(Region, node.parent_code)
        if parent is None:
            break
        chain.append(parent)
        node = parent
    return list(reversed(chain))


def count_in_subtree(*, db: Session, code: str) -> int:
    """Current regions in ``code``'s subtree, itself included."""
    prefix = scope_prefix(code)
    stmt = (
        select(func.count())
        .select_from(Region)
        .where(Region.code.startswith(prefix), Region.valid_to_id.is_(None))
    )
    return int(db.scalar(stmt) or 0)


# reference data that changes only when an edition is loaded (`jcjg db load-regions`, another
# process): a region's full name is read once a minute per process (pages show the reader's
# region on every visit)
FULL_NAMES = TimedMemo(60.0, max_entries=10_000)
# what display_names gives, as long (a list's rows and its filter's choices: every visit)
DISPLAY_NAMES = TimedMemo(60.0, max_entries=10_000)


def full_name(*, db: Session, code: str) -> str:
    """``江西省九江市濂溪区``."""

    def read() -> str:
        region = get(db=db, code=code)
        return "".join(r.name for r in [*ancestors(db=db, region=region), region])

    return FULL_NAMES.get(code, read)[0]


def display_name(*, db: Session, code: str | None) -> str:
    """What a page shows for a region code: its full name (``江西省九江市``, marked 已撤销 when a
    later edition abolished it), the code itself when no such region is known, ``""`` for none."""
    if not code:
        return ""
    region = db.get(Region, code) if is_valid_code(code) else None
    if region is None:
        return code
    name = full_name(db=db, code=code)
    return name if region.valid_to_id is None else f"{name}（已撤销）"


def display_names(*, db: Session, codes: Iterable[str | None]) -> dict[str, str]:
    """:func:`display_name` of each code (a list's rows, a filter's choices: each code once),
    the regions and those above them read in a query per level, not two queries per code."""
    wanted = {c for c in codes if c}
    kept: dict[str, str] = {c: DISPLAY_NAMES.peek(c) for c in wanted}
    if all(name is not None for name in kept.values()):
        return kept
    level = {c for c in wanted if is_valid_code(c)}
    held: list[Region] = []  # the session's identity map holds only what is referenced
    while level:  # the codes, their parents, theirs: into the session's identity map
        found = list(db.scalars(select(Region).where(Region.code.in_(sorted(level)))))
        held += found
        level = {r.parent_code for r in found if r.parent_code is not None} - {r.code for r in held}
    out = {c: display_name(db=db, code=c) for c in wanted}
    for code, name in out.items():
        DISPLAY_NAMES.put(code, name)
    return out


def history(*, db: Session, code: str) -> list[tuple[RegionChange, ReferenceEdition]]:
    """What later editions changed for ``code``, oldest first."""
    stmt = (
        select(RegionChange, ReferenceEdition)
        .join(ReferenceEdition, ReferenceEdition.id == RegionChange.edition_id)
        .where(RegionChange.code == code)
        .order_by(RegionChange.id)
    )
    return [(change, edition) for change, edition in db.execute(stmt)]


def editions(*, db: Session) -> list[ReferenceEdition]:
    """The GB/T 2260 editions loaded, the current (latest) last."""
    return core_editions.editions(db, KIND)
