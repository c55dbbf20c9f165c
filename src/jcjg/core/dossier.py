"""The parts of an institution's dossier (机构档案) other domains add (``registry.dossier``
draws the page): one declarative form, so that a domain answers with data, not a template.
Knows no domain: the hook's name and the form are here so that any domain can answer it
without importing the registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

# (db, principal, institution) -> Iterable[Section]
DOSSIER = "registry.dossier"


@dataclass(frozen=True)
class Figure:
    """A headline number or word: ``tone`` "bad" draws it as a warning."""

    label: str
    value: str | int
    href: str | None = None
    tone: str = ""


@dataclass(frozen=True)
class Row:
    cells: Sequence[str]
    href: str | None = None


@dataclass(frozen=True)
class Section:
    """One part of the dossier, as a domain answers it."""

    title: str
    order: int
    figures: Sequence[Figure] = ()
    headers: Sequence[str] = ()
    rows: Sequence[Row] = ()
    more: tuple[str, str] | None = None  # (label, href) of the whole list
    empty: str = "没有记录。"
    note: str = ""
    anchor: str = field(default="")
