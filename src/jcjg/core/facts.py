"""A child platform's facts rebuilt on its parent (docs/networking.md, "A child's facts").

A child's log holds its lab messages and its own facts (an institution registered on its pages,
its status changed ...). The parent applies the messages itself; a fact whose entry type a domain
declares under the :data:`FORWARDED_FACTS` hook (``{entry_type: applier}``) is rebuilt into that
domain's rows on the parent by its applier, in the forward's transaction. An applier raises an
:class:`~jcjg.core.errors.AppError` to refuse the fact (the leaf is then refused with that
problem, and nothing of it is written)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

# A domain's hook: () -> {entry_type: applier}
FORWARDED_FACTS = "network.forwarded_facts"


@dataclass(frozen=True)
class ForwardedFact:
    """One fact of a child platform, as its parent received it."""

    platform: str  # the child's name on this platform
    region_code: str  # the child's region: what it may speak for
    index: int  # the leaf's index in the child's log
    data: Mapping[str, Any]  # the entry's data, as the child notarised it
    notarised_at: dt.datetime


FactApplier = Callable[[Session, ForwardedFact], None]
