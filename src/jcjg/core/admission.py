"""A process answers its requests a few at a time, in the order they came (admission).

Python runs one thread at a time (the GIL). A process answering sixteen pages at once shares
its processor among them: each page takes sixteen times its own work to come back, and a page
that costs twice as much takes twice as long again, so the slowest answers are far slower than
the median (issue 44: at 32 connections on two processes, a median of ~100 ms and a p99 of
~370 ms). Answered a few at a time, one computing while another waits for the database, a
request waits its turn once and then takes about its own work: the same throughput, every
answer about as late as the median (a p99 of ~240 ms). docs/development/performance.md,
*Twenty-third pass*, has the measurements.

A request being answered for longer than ``lend_seconds`` (an export, a slow analysis) gives
its turn to the next one and goes on beside it, so that a few slow requests never hold the
others back for longer than that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


class _Turns:
    """The turns of one event loop: how many are free, who waits for one."""

    def __init__(self, slots: int) -> None:
        self.free = slots
        self.waiting: deque[asyncio.Future[None]] = deque()

    def give(self) -> None:
        """A turn ended: the first one waiting has it, or it is free."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


class Admission:
    """At most ``slots`` requests answered at once (0: no limit); the others wait in order.

    The turns are counted per event loop (a served process has one; tests and embedders may
    run an app on several at once, and a future of one loop cannot be woken from another)."""

    def __init__(self, slots: int, lend_seconds: float) -> None:
        self.slots = slots
        self.lend_seconds = lend_seconds
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = (
            weakref.WeakKeyDictionary()
        )

    def _turns(self) -> _Turns:
        loop = asyncio.get_running_loop()
        turns = self._loops.get(loop)
        if turns is None:
            turns = self._loops[loop] = _Turns(self.slots)
        return turns

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn now (on every loop)."""
        # copies (atomic under the GIL): a scrape reads them in a thread while the loop
        # changes them
        return sum(
            1
            for turns in list(self._loops.values())
            for turn in list(turns.waiting)
            if not turn.done()
        )

    @property
    def held(self) -> int:
        """Turns held now (on every loop; a request past its lend holds none)."""
        return sum(self.slots - turns.free for turns in list(self._loops.values()))

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn, hold it while the block runs or for ``lend_seconds``."""
        if self.slots <= 0:
            yield
            return
        turns = self._turns()
        if turns.free > 0 and not turns.waiting:
            turns.free -= 1
        else:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            turns.waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    turns.give()  # handed a turn just as it was cancelled: pass it on
                else:
                    turn.cancel()  # skipped by give()
                raise
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                turns.give()

        lent = asyncio.get_running_loop().call_later(self.lend_seconds, give_back)
        try:
            yield
        finally:
            lent.cancel()
            give_back()


def lower_priority(nice: int) -> int | None:
    """Lower the calling thread's scheduling priority by ``nice`` (0-19), from where it is: a
    background thread (the exchange's apply workers) then takes the processor when the
    process's threads answering requests do not need it, not in turn with them. Linux only,
    where each thread has a nice value of its own; elsewhere ``setpriority`` would lower the
    whole process, answers and all, so nothing is done. Returns the thread's nice value, or
    None if nothing was done (lowering one's own priority needs no privilege; a system that
    refuses it is logged and left alone). Threads it starts afterwards inherit the lowered
    value (the apply path's lookup of a camera address's name: starved past its timeout, the
    name counts as unresolved, and the recorder checks it again when it connects).

    A thread lowered so runs hardly at all while the answering threads keep the process busy:
    Python's lock goes to the thread the kernel runs first (docs/development/performance.md,
    *Twenty-fifth pass*: apply workers at 10 raised the exchange's throughput at 16
    connections by up to a third, and let the apply lag grow two to four times longer at a
    steady rate)."""
    if nice <= 0 or sys.platform != "linux":
        return None
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + nice))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError as exc:
        log.warning(
            "could not lower the priority of thread %s: %s", threading.current_thread().name, exc
        )
        return None
