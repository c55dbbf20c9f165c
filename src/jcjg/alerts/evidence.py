"""The evidence behind an alert: links from the alert's page into the chain its subject belongs
to (the raw record with its force curve, the samples with their photos and seals, the reports,
the contract, the registry's entries), each with the log entry that notarised it where there is
one. The pages behind the links apply their own scope: a link only says where to look.

The chain is walked, not known here: each domain answers the hook ``alerts.evidence`` with a
:class:`Source` that draws the links of the kinds of subject it keeps (``describe``) and names
what a subject leads to (``related``: a test record's samples, a sample's records ...). From the
subject the walk goes up to :data:`MAX_DEPTH` steps; a kind is listed at the first step it is met
and not again (a sample's records lead to their reports, not back to other samples), then the
project and the institution close the list.

A link names the permission its page needs: a reader without it sees the subject's name, not a
link (a lab's staff read the alert on their record, not the project's page, which is the
authority's and the project's parties').
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.core import domains

EVIDENCE = "alerts.evidence"  # hook() -> Source
MAX_LINKS = 40
MAX_DEPTH = 2


@dataclass(frozen=True)
class Link:
    what: str  # 原始记录, 样品, 检测报告 ...
    text: str
    url: str
    ledger_index: int | None = None  # the log entry that notarised it
    kind: str = ""
    key: str = ""
    permission: str = ""  # the one the page behind ``url`` needs ("": none)


def reading(model: Any) -> str:
    """The permission that opens the pages of ``model``'s rows."""
    return f"{model.__permission_entity__}:read"


Describe = Callable[[Session, str, Sequence[str]], list[Link]]
Related = Callable[[Session, str, Sequence[str]], list[tuple[str, str]]]


def _nothing_related(db: Session, kind: str, keys: Sequence[str]) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class Source:
    """What one domain knows of the chain: the links of its kinds (``describe`` answers [] for a
    kind it does not keep) and, for any kind, the (kind, key) subjects it leads to."""

    describe: Describe
    related: Related = field(default=_nothing_related)


def page_source(
    kind: str, what: str, url: str, model: Any, text: str, ledger: str | None = None
) -> Source:
    """A source for a kind whose subjects each have a page by id: ``url`` with ``{}`` for the
    id, the link's text from column ``text`` and its log entry from column ``ledger``."""

    def describe(db: Session, asked: str, keys: Sequence[str]) -> list[Link]:
        ids = [int(k) for k in keys if k.isdecimal()]
        if asked != kind or not ids:
            return []
        columns = [model.id, getattr(model, text)]
        if ledger:
            columns.append(getattr(model, ledger))
        rows = {row[0]: row for row in db.execute(select(*columns).where(model.id.in_(ids)))}
        return [
            Link(
                what,
                str(row[1]),
                url.format(i),
                row[2] if ledger else None,
                kind,
                str(i),
                reading(model),
            )
            for i in ids
            if (row := rows.get(i)) is not None
        ]

    return Source(describe)


def _sources() -> list[Source]:
    return [hook() for hook in domains.hooks(EVIDENCE)]


def describe(db: Session, kind: str, keys: Sequence[str]) -> list[Link]:
    """The links of subjects of ``kind``, drawn by the domain that keeps them."""
    if not keys:
        return []
    return [link for source in _sources() for link in source.describe(db, kind, keys)]


def names(db: Session, kind: str, ids: Sequence[int]) -> dict[int, str]:
    """The texts the evidence links give subjects of ``kind`` (a project's name, say)."""
    return {int(link.key): link.text for link in describe(db, kind, [str(i) for i in ids])}


def links(db: Session, alert: Alert, can: Callable[[str], bool] | None = None) -> list[Link]:
    """The subject first, then what it leads to along the chain, then the project and the
    institution; each once. With ``can`` (a principal's), a link whose permission it lacks
    keeps its text and loses its ``url``."""
    sources = _sources()
    kind, key = alert.subject_type, alert.subject_id or ""
    out = [link for s in sources for link in s.describe(db, kind, [key])] if key else []
    listed = {kind}
    frontier: dict[str, list[str]] = {kind: [key]} if key else {}
    for _ in range(MAX_DEPTH):
        found: dict[str, list[str]] = {}
        for asked, keys in frontier.items():
            for source in sources:
                for next_kind, next_key in source.related(db, asked, keys):
                    if next_kind not in listed and next_key not in found.get(next_kind, []):
                        found.setdefault(next_kind, []).append(next_key)
        for next_kind, keys in found.items():
            out += [link for s in sources for link in s.describe(db, next_kind, keys)]
        listed |= set(found)
        frontier = found
    if alert.project_id is not None:
        out += describe(db, "project", [str(alert.project_id)])
    if alert.institution_id is not None and kind != "institution":
        out += describe(db, "institution", [str(alert.institution_id)])
    unique: dict[str, Link] = {}
    for link in out:
        unique.setdefault(link.url, link)
    kept = list(unique.values())[:MAX_LINKS]
    if can is None:
        return kept
    return [k if not k.permission or can(k.permission) else replace(k, url="") for k in kept]
