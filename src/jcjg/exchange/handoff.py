"""Messages this process accepted, handed to its own apply workers already parsed.

A request parses and validates its message strictly (:func:`jcjg.exchange.service.validate`);
its apply, usually by an apply worker of the same process a fraction of a second later, parsed
and validated the stored body again (a test record with three curves: ~5 ms of CPU, a registry
message ~0.1 ms). Once the group committer has stored a message, it leaves the parsed body and
message here; the apply takes them (:func:`jcjg.exchange.apply.apply_one`, ``prepare``) instead
of parsing again, and parses as before when they are not here (applied by another process,
dropped for room, a type whose conversion rules rewrite it).

The same bytes of a type always parse to the same message, and a message that passed the
strict validation of its JSON validates to the same one from its parsed body
(``tests/exchange/test_handoff.py`` holds every type's example to it). Bounded: at most
:data:`KEPT` messages, :data:`WEIGHT` bytes (a parsed body takes about :data:`PARSED_FACTOR`
times its bytes) and :data:`SECONDS` each; when full, a newly stored message is not kept (those
kept are the older ones, applied first). Only while this process applies: nothing is kept
unless an apply worker of it looked for messages within :data:`SECONDS` (:meth:`Handoff.wanted`,
at each drain: a web process whose messages ``jcjg worker`` processes apply keeps none).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

KEPT = 400
WEIGHT = 48 * 1024 * 1024
SECONDS = 30.0
PARSED_FACTOR = 12  # a parsed body's memory for each byte of it (a curve record: ~12)


class Handoff:
    """Parsed messages by type and body, oldest first, within the bounds above."""

    def __init__(self, kept: int = KEPT, weight: int = WEIGHT, seconds: float = SECONDS) -> None:
        self.kept, self.limit, self.seconds = kept, weight, seconds
        self._items: OrderedDict[tuple[str, bytes], tuple[tuple[Any, Any], int, float]] = (
            OrderedDict()
        )
        self._weight = 0
        self._asked = -float("inf")  # when the apply last asked (monotonic)
        self._lock = threading.Lock()

    def keep(self, name: str, body: bytes, parsed: tuple[Any, Any]) -> bool:
        """Keep ``parsed`` (the body's data and message) for the apply; False when there is no
        room (it is then parsed again when applied)."""
        weight = PARSED_FACTOR * len(body)
        now = time.monotonic()
        if now - self._asked > self.seconds:  # nobody applies in this process
            return False
        with self._lock:
            self._expire(now)
            if (name, body) in self._items:
                return True
            if len(self._items) >= self.kept or self._weight + weight > self.limit:
                return False
            self._items[name, body] = (parsed, weight, now + self.seconds)
            self._weight += weight
            return True

    def wanted(self) -> None:
        """This process applies messages (an apply worker looks for them now)."""
        self._asked = time.monotonic()

    def take(self, name: str, body: bytes) -> tuple[Any, Any] | None:
        """The parsed data and message of ``body`` (forgotten once taken), or None."""
        self._asked = time.monotonic()
        if not self._items:
            return None
        with self._lock:
            found = self._items.pop((name, body), None)
            if found is None:
                return None
            self._weight -= found[1]
            return found[0]

    def _expire(self, now: float) -> None:
        while self._items:
            key, (_, weight, until) = next(iter(self._items.items()))
            if until > now:
                return
            del self._items[key]
            self._weight -= weight

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def weight(self) -> int:
        return self._weight


accepted = Handoff()
