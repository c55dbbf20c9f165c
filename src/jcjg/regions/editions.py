"""Editions of the GB/T 2260 region codes: reading an edition's file and loading it.

The file (UTF-8, tab-separated) starts with ``# key: value`` lines naming the edition, then a
header row, then one row per code::

    # edition: 2024
    # title: 2024 年中华人民共和国县以上行政区划代码
    # published: 2025-03-01
    # source: 民政部
    code	name	replaces
    110000	北京市
    360404	柴桑区	360421

``edition`` is required; ``title`` defaults to ``GB/T 2260 行政区划代码（<edition>）``;
``published`` (a date) keeps editions in order; ``replaces`` (optional column) lists the codes,
separated by commas, that the row's code took the place of: codes of the previous edition that
this one no longer has. Other ``#`` lines are comments.

Loading compares the edition with the regions held: a code new to it is added, a known code
with another name renamed (the old name kept in :class:`RegionChange`), a current code missing
from it abolished (its row stays, valid up to this edition, with the codes that replaced it),
an abolished code that comes back restored. Nothing else is touched, so history stays as it was.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jcjg.core import editions
from jcjg.core.editions import EditionError, Header, Loaded
from jcjg.core.regioncodes import RegionLevel, is_valid_code, level_of, parent_candidates
from jcjg.regions.choices import RegionChangeKind
from jcjg.regions.models import Region, RegionChange

KIND = "regions"


@dataclass(frozen=True)
class Entry:
    code: str
    name: str
    replaces: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class EditionFile:
    header: Header
    entries: dict[str, Entry]

    def content(self) -> list[list[Any]]:
        """What the digest covers: the codes, names and replacements, in code order."""
        return [
            [e.code, e.name, sorted(e.replaces)]
            for e in sorted(self.entries.values(), key=lambda e: e.code)
        ]


def _metadata(lines: list[tuple[int, str]]) -> tuple[dict[str, str], list[str]]:
    meta: dict[str, str] = {}
    problems = []
    for number, line in lines:
        key, sep, value = line.lstrip("#").partition(":")
        key = key.strip().lower()
        if not sep or key not in {"edition", "title", "published", "source"}:
            continue  # a comment
        if key in meta:
            problems.append(f"第 {number} 行：{key} 重复")
        meta[key] = value.strip()
    return meta, problems


def _row(number: int, line: str) -> tuple[Entry | None, list[str]]:
    cells = [c.strip() for c in line.split("\t")]
    if len(cells) not in (2, 3):
        return None, [f"第 {number} 行：应为“代码<Tab>名称[<Tab>替代的代码]”，实有 {len(cells)} 列"]
    code, name = cells[0], cells[1]
    problems = []
    if not is_valid_code(code):
        problems.append(f"第 {number} 行：“{code}”不是 6 位 GB/T 2260 行政区划代码")
    if not name or len(name) > 64:
        problems.append(f"第 {number} 行：名称应为 1–64 个字符")
    replaces = tuple(c.strip() for c in cells[2].split(",") if c.strip()) if len(cells) == 3 else ()
    for old in replaces:
        if not is_valid_code(old):
            problems.append(f"第 {number} 行：被替代的代码“{old}”不是 6 位行政区划代码")
    return Entry(code, name, replaces, number), problems


def _rows(text: str) -> tuple[list[tuple[int, str]], dict[str, Entry], list[str]]:
    """The file's ``#`` lines (with their numbers), its codes, and the problems of its rows."""
    comments: list[tuple[int, str]] = []
    entries: dict[str, Entry] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.rstrip("\r")
        if line.startswith("#"):
            comments.append((number, line))
            continue
        if not line.strip() or line.split("\t", 1)[0].strip().lower() == "code":
            continue  # a blank line, the header row
        entry, found = _row(number, line)
        problems += found
        if entry is None or found:
            continue
        if entry.code in entries:
            earlier = entries[entry.code].line
            problems.append(f"第 {number} 行：代码 {entry.code} 与第 {earlier} 行重复")
            continue
        entries[entry.code] = entry
    return comments, entries, problems


def _tree_problems(entries: dict[str, Entry]) -> list[str]:
    """Every county and city with its parent in the edition; no replaced code still in it."""
    problems = [] if entries else ["文件中没有行政区划"]
    for entry in entries.values():
        if level_of(entry.code) is not RegionLevel.PROVINCE and not any(
            p in entries for p in parent_candidates(entry.code)
        ):
            problems.append(f"第 {entry.line} 行：{entry.code} 的上级区划不在本版中")
        problems += [
            f"第 {entry.line} 行：被替代的代码 {old} 仍在本版中"
            for old in entry.replaces
            if old in entries
        ]
    return problems


def _header(meta: dict[str, str], source: str | None) -> tuple[Header, list[str]]:
    code = meta.get("edition", "")
    if not code:
        return Header(code="", title=""), ["缺少版本：文件开头应有“# edition: 版本代码”一行"]
    published, problems = None, []
    if meta.get("published"):
        try:
            published = editions.parse_date(meta["published"], "发布日期")
        except EditionError as error:
            problems += error.problems
    header = Header(
        code=code,
        title=meta.get("title") or f"GB/T 2260 行政区划代码（{code}）",
        published_date=published,
        source=meta.get("source") or source,
    )
    return header, problems + header.problems()


def parse(text: str, *, source: str | None = None) -> EditionFile:
    """Read an edition file; every problem is reported at once (:class:`EditionError`)."""
    comments, entries, problems = _rows(text)
    meta, found = _metadata(comments)
    header, about = _header(meta, source)
    problems += found + about + _tree_problems(entries)
    if problems:
        raise EditionError(problems)
    return EditionFile(header=header, entries=entries)


def read(path: Path) -> EditionFile:
    return editions.read(path, parse)


def shipped() -> list[EditionFile]:
    """The editions that come with the package (``jcjg/regions/data/gb2260*.tsv``), oldest first."""
    return editions.shipped("jcjg.regions", "gb2260*.tsv", parse)


def describe(code: str, summary: dict[str, Any]) -> str:
    """``行政区划 2024 版：3208 个代码（新增 1，更名 1，撤销 2）`` from an edition's summary."""
    done = "，".join(
        f"{k.label} {summary[k.value]}" for k in RegionChangeKind if summary.get(k.value)
    )
    return f"行政区划 {code} 版：{summary.get('total', 0)} 个代码" + (f"（{done}）" if done else "")


def _successors(file: EditionFile, held: dict[str, Region]) -> dict[str, list[str]]:
    """The codes each abolished code was replaced by; refuses a replacement of a code that
    was not current before this edition."""
    out: dict[str, list[str]] = defaultdict(list)
    problems = []
    for entry in sorted(file.entries.values(), key=lambda e: e.code):
        for old in entry.replaces:
            row = held.get(old)
            if row is None:
                problems.append(f"第 {entry.line} 行：被替代的代码 {old} 不在已加载的行政区划中")
            elif row.valid_to_id is not None:
                problems.append(f"第 {entry.line} 行：被替代的代码 {old} 在此前的版本中已撤销")
            else:
                out[old].append(entry.code)
    if problems:
        raise EditionError(problems)
    return out


def load(db: Session, file: EditionFile) -> Loaded:
    """Load ``file`` as a new edition (flushed, not committed; see the module's doc): the
    regions it adds, renames, abolishes and restores, each change recorded.

    Idempotent: an edition already loaded with the same content writes nothing. Raises
    :class:`EditionError` before writing anything when the edition cannot be loaded.
    """
    edition_code, content_digest = file.header.code, editions.digest(file.content())
    if editions.check(db, KIND, file.header, content_digest):
        return Loaded(
            edition_code, True, f"行政区划 {edition_code} 版此前已加载，内容相同，未作改动"
        )
    held = {r.code: r for r in db.scalars(select(Region))}
    successors = _successors(file, held)
    first = editions.latest(db, KIND) is None
    edition = editions.record(db, KIND, file.header, content_digest)
    counts = dict.fromkeys(RegionChangeKind, 0)
    changes: list[RegionChange] = []

    def note(kind: RegionChangeKind, code: str, **values: Any) -> None:
        counts[kind] += 1
        changes.append(RegionChange(edition_id=edition.id, code=code, change=kind.value, **values))

    new_rows: list[dict[str, Any]] = []
    for code in sorted(file.entries):  # parents sort before their children
        entry, row = file.entries[code], held.get(code)
        if row is None:
            parent = next((p for p in parent_candidates(code) if p in file.entries), None)
            new_rows.append(
                {"code": code, "name": entry.name, "level": level_of(code).value,
                 "parent_code": parent, "valid_from_id": edition.id, "replaced_by": []}
            )  # fmt: skip
            if not first:
                note(RegionChangeKind.ADDED, code, name_after=entry.name)
            continue
        if row.valid_from_id is None:  # held before editions were recorded: adopted as it is
            row.valid_from_id, row.name = edition.id, entry.name
        if row.valid_to_id is not None:
            row.valid_to_id, row.replaced_by = None, []
            note(RegionChangeKind.RESTORED, code, name_before=row.name, name_after=entry.name)
        elif row.name != entry.name:
            note(RegionChangeKind.RENAMED, code, name_before=row.name, name_after=entry.name)
        row.name = entry.name
    for code, row in sorted(held.items()):
        if code not in file.entries and row.valid_to_id is None:
            row.valid_to_id, row.replaced_by = edition.id, successors.get(code, [])
            if row.valid_from_id is None:
                row.valid_from_id = edition.id
            note(RegionChangeKind.ABOLISHED, code, name_before=row.name,
                 replaced_by=row.replaced_by)  # fmt: skip
    if new_rows:
        db.execute(insert(Region), new_rows)
    db.add_all(changes)
    edition.summary = {"total": len(file.entries), **{k.value: n for k, n in counts.items()}}
    db.flush()
    return Loaded(edition_code, False, describe(edition_code, edition.summary))
