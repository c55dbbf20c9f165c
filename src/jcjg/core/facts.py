"""A child platform's facts rebuilt on its parent (docs/networking.md, "A child's facts").

A child's log holds its lab messages and its own facts (an institution registered on its pages,
its status changed ...). The parent applies the messages itself; a fact whose entry type a domain
declares under the :data:`FORWARDED_FACTS` hook (``{entry_type: applier}``) is rebuilt into that
domain's rows on the parent by its applier, in the forward's transaction. An applier raises an
:class:`~jcjg.core.errors.AppError` to refuse the fact (the leaf is then refused with that
problem, and nothing of it is written), or a :class:`NotYet` when what it needs is still to come
(the fact is then held and tried again); one that answers ``False`` had nothing to rebuild
(the fact is then recorded, as one no domain declares).

Some entries hold only digests of what they notarise (a penalty's facts and the names of the
people it names: the log is public and forever, those are public only for a while). A domain
that wants such a fact rebuilt declares under :data:`FACT_CONTENTS` (``{entry_type: content}``)
how the child reads the content back for an entry; the forward carries it beside the leaf (as a
lab's message travels beside its leaf), and the applier checks it against the entry's digests
before it keeps it. A content names the files it refers to under ``evidence`` (a list of
objects with ``sha256``): the parent refuses the forward (422, ``missing``) until this child
has uploaded them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from jcjg.core import domains
from jcjg.core.errors import FieldError, NotFound, ValidationFailed, field_errors_from_pydantic

M = TypeVar("M", bound=BaseModel)

# A domain's hook: () -> {entry_type: applier}
FORWARDED_FACTS = "network.forwarded_facts"
# A domain's hook: () -> {entry_type: content}; the child's side of a fact with digests
FACT_CONTENTS = "network.fact_contents"


@dataclass(frozen=True)
class ForwardedFact:
    """One fact of a child platform, as its parent received it."""

    platform: str  # the child's name on this platform
    region_code: str  # the child's region: what it may speak for
    index: int  # the leaf's index in the child's log
    data: Mapping[str, Any]  # the entry's data, as the child notarised it
    notarised_at: dt.datetime
    # what the entry holds only as digests, as the child read it back (FACT_CONTENTS); None
    # when the child sent none (it no longer matched the entry: corrected since)
    content: Mapping[str, Any] | None = None


class NotYet(NotFound):
    """What the fact needs has not arrived here yet: a row the parent makes itself when it
    applies a lab's message the child forwarded before the fact (its register entry of a
    nonconforming result), which the parent applies behind the forward. The parent holds the
    fact and applies it, in the order the child sent its facts, once that row is here; a fact
    still waiting after :data:`HOLD` is refused with this problem."""


HOLD = dt.timedelta(hours=24)


FactApplier = Callable[[Session, ForwardedFact], bool | None]
"""The parent's side: rebuild the fact into the domain's rows, or raise an AppError to refuse
it. ``False``: nothing to rebuild, the fact is only recorded (a lab's receipt check the parent
makes itself from the lab's forwarded message)."""


@dataclass(frozen=True)
class Exported:
    """What the child sends beside a fact's leaf: its ``content``, and the SHA-256 of the files
    it names (evidence in the blob store), uploaded before the forward as a message's are."""

    content: dict[str, Any]
    files: tuple[str, ...] = ()


FactContent = Callable[[Session, int, Mapping[str, Any]], Exported | None]
"""The child's side: given the leaf's index in its log and the entry's ``data``, the content
behind the entry (what it holds only as digests or ids of the child's own rows), or None when
what the child holds now no longer matches the entry (a later entry carries it)."""


def parsed_content(model: type[M], raw: Mapping[str, Any]) -> M:
    """A fact's ``content`` as ``model`` (a pydantic model), or a 422 naming each failing field
    under ``content``."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        errors = field_errors_from_pydantic(exc.errors())
        raise ValidationFailed(
            errors=[FieldError(f"content.{e.field}", e.message, e.code) for e in errors]
        ) from exc


def appliers() -> dict[str, FactApplier]:
    """Every installed domain's appliers of a child's facts, by entry type (the parent)."""
    return _declared(FORWARDED_FACTS)


def contents() -> dict[str, FactContent]:
    """Every installed domain's readers of a fact's content, by entry type (the child)."""
    return _declared(FACT_CONTENTS)


def _declared(hook: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for declared in domains.hooks(hook):
        found.update(declared())
    return found
