"""Loading and reading the region tree."""

from __future__ import annotations

from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.core.errors import NotFound
from jcjg.core.regioncodes import is_valid_code, level_of, parent_candidates, scope_prefix
from jcjg.regions.models import Region


def read_data_file() -> dict[str, str]:
    """The shipped GB/T 2260 table as ``{code: name}``; every code is validated."""
    text = resources.files("jcjg.regions").joinpath("data/gb2260.tsv").read_text("utf-8")
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("code\t"):
            continue
        code, name = line.split("\t", 1)
        if not is_valid_code(code):
            raise ValueError(f"invalid GB/T 2260 code in data file: {code!r}")
        rows[code] = name
    return rows


def load_regions(*, db: Session, province_codes: list[str] | None = None) -> int:
    """Insert the regions not yet present (all, or the named provinces); returns how many.

    Idempotent: running it again inserts nothing and changes nothing.
    """
    table = read_data_file()
    if province_codes:
        prefixes = tuple(scope_prefix(p) for p in province_codes)
        table = {c: n for c, n in table.items() if c.startswith(prefixes)}
    existing = set(db.scalars(select(Region.code)))
    added = 0
    for code in sorted(table):  # parents sort before children
        if code in existing:
            continue
        parent = next((p for p in parent_candidates(code) if p in table), None)
        db.add(Region(code=code, name=table[code], level=level_of(code).value, parent_code=parent))
        added += 1
        if added % 500 == 0:
            db.flush()
    db.flush()
    return added


def get(*, db: Session, code: str) -> Region:
    region = db.get(Region, code) if is_valid_code(code) else None
    if region is None:
        raise NotFound(f"行政区划代码 {code} 不存在")
    return region


def children(*, db: Session, code: str | None) -> list[Region]:
    """Direct children of ``code``; the provinces when ``code`` is None."""
    stmt = select(Region).where(Region.parent_code == code).order_by(Region.code)
    if code is None:
        stmt = select(Region).where(Region.parent_code.is_(None)).order_by(Region.code)
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
    prefix = scope_prefix(code)
    stmt = select(func.count()).select_from(Region).where(Region.code.startswith(prefix))
    return int(db.scalar(stmt) or 0)


def full_name(*, db: Session, code: str) -> str:
    """``江西省九江市濂溪区``."""
    region = get(db=db, code=code)
    return "".join(r.name for r in [*ancestors(db=db, region=region), region])


def display_name(*, db: Session, code: str | None) -> str:
    """What a page shows for a region code: its full name (``江西省九江市``), the code itself when
    no such region is known, ``""`` for none."""
    if not code:
        return ""
    if not is_valid_code(code) or db.get(Region, code) is None:
        return code
    return full_name(db=db, code=code)
