"""Editions of the qualification catalogue: reading an edition's file and loading it.

The file is JSON (UTF-8)::

    {"edition": "2023", "title": "建设工程质量检测机构资质标准（建质规〔2023〕1号）",
     "published": "2023-03-31", "source": "...", "notes": ["..."],
     "specialties": [{"code": "01", "name": "建筑材料及构配件",
                      "requirements": {"min_inspectors": 20, ...},
                      "items": [{"code": "0101", "name": "水泥", "standards": ["GB 175-2023"],
                                 "parameters": [{"code": "010101", "name": "胶砂强度",
                                                 "required": true, "unit": "MPa"}]}]}]}

``edition`` and ``specialties`` are required; ``title`` defaults to the edition; ``published``
(a date) keeps editions in order. A test item's code starts with its specialty's, a
parameter's with its item's; codes are unique within their level.

The first edition loaded into a database takes the rows already there as they are (with the
provincial authority's edits) and adds what is missing. A later edition is compared with the
current rows: an entry it keeps unchanged, under an unchanged parent, keeps its row; one it
changes gets a new row and the old one is closed (valid up to this edition); one it drops is
closed; one it adds gets a new row. Closed rows stay, so capabilities and certificates recorded
under an earlier edition keep pointing at the rows they were recorded with.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core import editions
from jcjg.core.editions import EditionError, Header, Loaded
from jcjg.core.errors import field_errors_from_pydantic
from jcjg.core.text import TextModel

KIND = "catalogue"
Code = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]+$", max_length=16)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Minimum = Annotated[int, Field(ge=0, le=100_000)]
LEVELS = {"specialties": "专项", "items": "检测项目", "parameters": "参数"}


class _Strict(TextModel):
    model_config = ConfigDict(extra="forbid")


class Requirements(_Strict):
    min_inspectors: Minimum = 0
    min_intermediate_titles: Minimum = 0
    min_senior_titles: Minimum = 0
    min_registered_engineers: Minimum = 0
    min_equipment_sets: Minimum = 0
    min_testing_area_m2: Minimum = 0


class ParameterIn(_Strict):
    code: Code
    name: Name
    required: bool = True
    unit: Annotated[str, StringConstraints(max_length=32)] | None = None


class ItemIn(_Strict):
    code: Annotated[Code, StringConstraints(max_length=12)]
    name: Name
    standards: list[Annotated[str, StringConstraints(max_length=100)]] = Field(default_factory=list)
    parameters: list[ParameterIn] = Field(min_length=1)


class SpecialtyIn(_Strict):
    code: Annotated[Code, StringConstraints(max_length=8)]
    name: Annotated[Name, StringConstraints(max_length=64)]
    requirements: Requirements = Field(default_factory=Requirements)
    items: list[ItemIn] = Field(min_length=1)


class EditionIn(_Strict):
    edition: str
    title: str | None = None
    published: dt.date | None = None
    source: str | None = None
    notes: list[str] = Field(default_factory=list)
    specialties: list[SpecialtyIn] = Field(min_length=1)


@dataclass(frozen=True)
class EditionFile:
    header: Header
    specialties: list[SpecialtyIn]

    def content(self) -> list[dict[str, Any]]:
        """What the digest covers: the entries, in the file's order of specialties."""
        return [s.model_dump(mode="json") for s in self.specialties]


def _structure(data: EditionIn) -> list[str]:
    """Codes unique within their level and starting with their parent's."""
    problems: list[str] = []
    seen: dict[str, set[str]] = {level: set() for level in LEVELS}

    def check(level: str, code: str, parent: str | None) -> None:
        if code in seen[level]:
            problems.append(f"{LEVELS[level]}代码 {code} 重复")
        seen[level].add(code)
        if parent is not None and (not code.startswith(parent) or code == parent):
            problems.append(f"{LEVELS[level]}代码 {code} 应以上级代码 {parent} 开头")

    for s in data.specialties:
        check("specialties", s.code, None)
        for item in s.items:
            check("items", item.code, s.code)
            for p in item.parameters:
                check("parameters", p.code, item.code)
    return problems


def parse(text: str, *, source: str | None = None) -> EditionFile:
    """Read an edition file; every problem is reported at once (:class:`EditionError`)."""
    try:
        raw = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as error:
        raise EditionError([f"不是有效的 JSON：第 {error.lineno} 行第 {error.colno} 列"]) from None
    try:
        data = EditionIn.model_validate(raw)
    except ValidationError as error:
        found = field_errors_from_pydantic(error.errors())
        raise EditionError([f"{e.field}：{e.message}" for e in found]) from None
    header = Header(
        code=data.edition,
        title=data.title or f"资质目录（{data.edition}）",
        published_date=data.published,
        source=data.source or source,
    )
    problems = header.problems() + _structure(data)
    if problems:
        raise EditionError(problems)
    return EditionFile(header=header, specialties=data.specialties)


def read(path: Path) -> EditionFile:
    return editions.read(path, parse)


def shipped() -> list[EditionFile]:
    """The editions that come with the package (``jcjg/catalogue/data/*.json``), oldest first."""
    return editions.shipped("jcjg.catalogue", "*.json", parse)


def describe(code: str, summary: dict[str, Any]) -> str:
    """``资质目录 2026 版：9 个专项、69 个检测项目、540 个参数（检测项目新增 1、取消 1）``."""
    totals = summary.get("totals", {})
    sizes = "、".join(f"{totals.get(k, 0)} 个{label}" for k, label in LEVELS.items())
    words = {"added": "新增", "replaced": "修订", "withdrawn": "取消"}
    done = "；".join(
        LEVELS[level] + "、".join(f"{words[k]} {c[k]}" for k in words if c.get(k))
        for level in LEVELS
        if any((c := summary.get(level, {})).get(k) for k in words)
    )
    return f"资质目录 {code} 版：{sizes}" + (f"（{done}）" if done else "")


def _specialty_values(s: SpecialtyIn, order: int) -> dict[str, Any]:
    return {"code": s.code, "name": s.name, "sort": order, **s.requirements.model_dump()}


def _item_values(item: ItemIn, specialty_id: int) -> dict[str, Any]:
    return {"specialty_id": specialty_id, "code": item.code, "name": item.name,
            "standards": list(item.standards)}  # fmt: skip


def _parameter_values(p: ParameterIn, test_item_id: int) -> dict[str, Any]:
    return {"test_item_id": test_item_id, "code": p.code, "name": p.name,
            "required": p.required, "unit": p.unit}  # fmt: skip


def _same(row: Any, values: dict[str, Any]) -> bool:
    return all(getattr(row, k) == v for k, v in values.items())


class _Level:
    """One level of the catalogue being loaded: its current rows by code, what to insert, what
    to close, and the id each code has once the edition is loaded."""

    def __init__(self, db: Session, model: Any, edition_id: int) -> None:
        self.db, self.model, self.edition_id = db, model, edition_id
        stmt = select(model).where(model.valid_to_id.is_(None))
        self.current: dict[str, Any] = {row.code: row for row in db.scalars(stmt)}
        self.ids: dict[str, int] = {}
        self.new: list[dict[str, Any]] = []
        self.closed: list[int] = []
        self.counts = {"added": 0, "replaced": 0, "withdrawn": 0, "kept": 0}

    def take(self, values: dict[str, Any], *, adopt: bool) -> None:
        """The edition's entry ``values``: kept when a current row says the same (or, when
        adopting, whatever it says), else a new row replacing the current one if any."""
        row = self.current.get(values["code"])
        if row is not None and (adopt or _same(row, values)):
            self.ids[row.code] = row.id
            self.counts["kept"] += 1
            return
        if row is not None:
            self.closed.append(row.id)
        self.counts["replaced" if row is not None else "added"] += 1
        self.new.append({**values, "valid_from_id": self.edition_id})

    def write(self, *, adopt: bool, wanted: set[str]) -> None:
        """Close what the edition replaced or dropped (``wanted`` are its codes; nothing is
        dropped when adopting), insert what it adds."""
        if not adopt:
            dropped = [row.id for code, row in self.current.items() if code not in wanted]
            self.counts["withdrawn"] = len(dropped)
            self.closed += dropped
        if self.closed:
            self.db.execute(
                update(self.model)
                .where(self.model.id.in_(self.closed))
                .values(valid_to_id=self.edition_id)
            )
        if self.new:
            stmt = insert(self.model).returning(
                self.model.code, self.model.id, sort_by_parameter_order=True
            )
            self.ids.update({code: ident for code, ident in self.db.execute(stmt, self.new)})
        if adopt:  # rows kept from before editions were recorded now belong to the first
            self.db.execute(
                update(self.model)
                .where(self.model.valid_from_id.is_(None))
                .values(valid_from_id=self.edition_id)
            )


def load(db: Session, file: EditionFile) -> Loaded:
    """Load ``file`` as a new edition (flushed, not committed; see the module's doc).

    Idempotent: an edition already loaded with the same content writes nothing. Raises
    :class:`EditionError` before writing anything when the edition cannot be loaded.
    """
    totals = {
        "specialties": len(file.specialties),
        "items": sum(len(s.items) for s in file.specialties),
        "parameters": sum(len(i.parameters) for s in file.specialties for i in s.items),
    }
    code, content_digest = file.header.code, editions.digest(file.content())
    if editions.check(db, KIND, file.header, content_digest):
        return Loaded(code, True, f"资质目录 {code} 版此前已加载，内容相同，未作改动")
    adopt = editions.latest(db, KIND) is None  # the first edition: keep what is there
    edition = editions.record(db, KIND, file.header, content_digest)
    specialties = _Level(db, Specialty, edition.id)
    for order, s in enumerate(file.specialties):
        specialties.take(_specialty_values(s, order), adopt=adopt)
    specialties.write(adopt=adopt, wanted={s.code for s in file.specialties})
    items = _Level(db, TestItem, edition.id)
    for s in file.specialties:
        for item in s.items:
            items.take(_item_values(item, specialties.ids[s.code]), adopt=adopt)
    items.write(adopt=adopt, wanted={i.code for s in file.specialties for i in s.items})
    parameters = _Level(db, Parameter, edition.id)
    for s in file.specialties:
        for item in s.items:
            for p in item.parameters:
                parameters.take(_parameter_values(p, items.ids[item.code]), adopt=adopt)
    parameters.write(
        adopt=adopt,
        wanted={p.code for s in file.specialties for i in s.items for p in i.parameters},
    )
    edition.summary = {
        "totals": totals,
        "specialties": specialties.counts,
        "items": items.counts,
        "parameters": parameters.counts,
    }
    db.flush()
    db.expire_all()  # rows changed by bulk statements, behind the session's objects
    return Loaded(code, False, describe(code, edition.summary))
