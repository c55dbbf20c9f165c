"""Identity checks (000 4.3.4 item 2; 001 7.1.2 "人脸识别认证"): the live photo taken with an
action is compared with the person's registered photo through an adapter.

No face-verification method good enough for identity decisions runs offline from PyPI or
Debian's packages without downloading model files at run time (see docs/sampling.md), so the
default adapter does not compare: it records ``not_checked`` with the live photo kept as
evidence, never ``passed``. A deployment plugs in its own matcher (a licensed SDK or a
government identity service) by implementing :class:`FaceMatcher` and naming it in
``JCJG_IDENTITY_MATCHER`` (``module:attribute``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from jcjg.sampling.choices import IdentityResult


@dataclass(frozen=True)
class MatchResult:
    result: IdentityResult
    method: str
    score: float | None = None


class FaceMatcher(Protocol):
    def compare(self, live: bytes, reference: bytes | None) -> MatchResult: ...


class NotChecked:
    """The honest default: keeps the evidence, makes no claim."""

    method = "none"

    def compare(self, live: bytes, reference: bytes | None) -> MatchResult:
        return MatchResult(IdentityResult.NOT_CHECKED, self.method)


def load_matcher(spec: str | None) -> FaceMatcher:
    """The configured matcher (``module:attribute`` naming a class or an instance)."""
    if not spec:
        return NotChecked()
    module_name, _, attr = spec.partition(":")
    target = getattr(importlib.import_module(module_name), attr)
    matcher: FaceMatcher = target() if isinstance(target, type) else target
    return matcher
