"""The parts of an institution's dossier (机构档案) other domains add (``registry.dossier``
draws the page): one declarative form, so that a domain answers with data, not a template.
Knows no domain: the hook's name and the form are here so that any domain can answer it
without importing the registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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


# (db, principal) -> Iterable[Facet]: the other domains' filters and columns of the list
FACETS = "registry.institution_facets"


@dataclass(frozen=True)
class Facet:
    """A filter and a column another domain adds to the institution list (/institutions):
    ``?<key>=<value>`` keeps the institutions for which ``where(value)`` holds (a condition
    on ``institution.id``; the value is one of ``choices``), and ``cells(db, ids)``, when
    given, is the column's text for each institution of a page or an export batch (missing:
    "—"; ``None``: a filter without a column of its own). Both already limited to what the
    reader may see of that domain."""

    key: str
    label: str
    choices: Sequence[tuple[str, str]]  # (value, label)
    where: Callable[[str], Any]
    cells: Callable[[Session, Sequence[int]], Mapping[int, str]] | None = None
    order: int = 100
