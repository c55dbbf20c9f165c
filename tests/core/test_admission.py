"""A process answers a few requests at once, the others in the order they came; a request
answered for longer than the lend gives its turn to the next (core.admission)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import types

import pytest

from jcjg.core.admission import Admission, lower_priority

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread: Linux")

HTML = {"accept": "text/html"}


async def _request(admission: Admission, name: str, log: list[str], hold: asyncio.Event) -> None:
    async with admission.turn():
        log.append(f"{name} in")
        await hold.wait()
        log.append(f"{name} out")


def test_two_at_once_the_others_in_the_order_they_came() -> None:
    async def run() -> list[str]:
        admission = Admission(2, lend_seconds=60)
        log: list[str] = []
        holds = {name: asyncio.Event() for name in "abcde"}
        tasks = []
        for name in "abcde":
            tasks.append(asyncio.create_task(_request(admission, name, log, holds[name])))
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        assert log == ["a in", "b in"]
        assert admission.waiting == 3
        for name in "bcade":  # b ends first: c (the first waiting) goes in, not e
            holds[name].set()
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        assert admission.waiting == 0
        return log

    log = asyncio.run(run())
    assert [entry for entry in log if entry.endswith(" in")] == ["a in", "b in", "c in", "d in",
                                                                 "e in"]  # fmt: skip
    assert log.index("c in") > log.index("b out")
    assert log.index("d in") > log.index("c out")


def test_a_request_held_longer_than_the_lend_gives_its_turn_and_goes_on() -> None:
    async def run() -> list[str]:
        admission = Admission(1, lend_seconds=0.3)
        log: list[str] = []
        slow, quick = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(_request(admission, "slow", log, slow))
        await asyncio.sleep(0)
        second = asyncio.create_task(_request(admission, "quick", log, quick))
        await asyncio.sleep(0.02)
        assert log == ["slow in"]  # within the lend: waits
        assert admission.held == 1
        await asyncio.sleep(0.6)
        assert log == ["slow in", "quick in"]  # the lend is over: beside the slow one
        quick.set()
        await second
        slow.set()
        await first
        # every turn given back once: one free turn, not two
        third, fourth = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(_request(admission, n, log, e))
                 for n, e in (("third", third), ("fourth", fourth))]  # fmt: skip
        await asyncio.sleep(0.01)
        assert log[-1] == "third in"
        assert admission.waiting == 1
        third.set()
        fourth.set()
        await asyncio.gather(*tasks)
        return log

    log = asyncio.run(run())
    assert log[-1] == "fourth out"


def test_a_request_cancelled_while_waiting_takes_no_turn() -> None:
    async def run() -> None:
        admission = Admission(1, lend_seconds=60)
        log: list[str] = []
        hold, gone, last = asyncio.Event(), asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(_request(admission, "first", log, hold))
        await asyncio.sleep(0)
        cancelled = asyncio.create_task(_request(admission, "gone", log, gone))
        await asyncio.sleep(0)
        third = asyncio.create_task(_request(admission, "third", log, last))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert admission.waiting == 1
        hold.set()
        await first
        await asyncio.sleep(0.01)
        assert log == ["first in", "first out", "third in"]
        last.set()
        await third
        # the turn is free again: one request goes straight in
        again = asyncio.Event()
        again.set()
        await _request(admission, "again", log, again)
        assert log[-2:] == ["again in", "again out"]

    asyncio.run(run())


def test_no_limit_when_the_slots_are_zero() -> None:
    async def run() -> list[str]:
        admission = Admission(0, lend_seconds=60)
        log: list[str] = []
        hold = asyncio.Event()
        tasks = [asyncio.create_task(_request(admission, str(n), log, hold)) for n in range(50)]
        await asyncio.sleep(0.01)
        entered = list(log)
        hold.set()
        await asyncio.gather(*tasks)
        return entered

    assert len(asyncio.run(run())) == 50


def test_each_event_loop_counts_its_own_turns() -> None:
    """An app run on two loops at once (tests, an embedder): a turn given back on one loop
    never has to wake a request waiting on the other, which would sleep for good."""
    import threading

    admission = Admission(1, lend_seconds=60)
    ended: list[str] = []

    def serve(name: str) -> None:
        async def run() -> None:
            hold = asyncio.Event()
            log: list[str] = []
            first = asyncio.create_task(_request(admission, f"{name}1", log, hold))
            second = asyncio.create_task(_request(admission, f"{name}2", log, hold))
            await asyncio.sleep(0.05)
            assert log == [f"{name}1 in"]  # one turn on this loop, whatever the other does
            hold.set()
            await asyncio.wait_for(asyncio.gather(first, second), 5)
            ended.append(name)

        asyncio.run(run())

    threads = [threading.Thread(target=serve, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(ended) == ["a", "b"]


def test_the_app_takes_its_turns_from_the_settings(settings, engine, session_factory) -> None:
    from jcjg.main import create_app

    app = create_app(
        settings.model_copy(update={"request_slots": 3, "request_slot_lend_seconds": 0.25}),
        engine=engine,
        session_factory=session_factory,
    )
    assert (app.state.admission.slots, app.state.admission.lend_seconds) == (3, 0.25)


def test_a_page_is_answered_within_a_turn(browser_client, monkeypatch) -> None:
    """A page's answer is made while its request holds a turn, and the turn is given back."""
    from jcjg.core import deps

    admission = browser_client.app.state.admission
    held: list[int] = []
    answer = deps._answer

    async def watched(request, handler):  # type: ignore[no-untyped-def]
        held.append(admission.held)
        return await answer(request, handler)

    monkeypatch.setattr(deps, "_answer", watched)
    assert browser_client.get("/login", headers=HTML).status_code == 200
    assert held == [1]
    assert admission.held == 0  # given back


def test_the_waiting_are_counted_from_another_thread_while_the_loop_changes_them() -> None:
    """A scrape (a thread of the pool) counts the waiting while the loop adds and ends them:
    for a second, requests come to wait and are cancelled (a client gone) as fast as the loop
    can, and the counting never meets a queue changing under it."""
    admission = Admission(1, lend_seconds=60)
    errors: list[BaseException] = []
    done = threading.Event()

    def count() -> None:
        while not done.is_set():
            try:
                admission.waiting  # noqa: B018 (read for what it may raise)
            except RuntimeError as error:
                errors.append(error)
                return

    async def run() -> None:
        hold = asyncio.Event()
        first = asyncio.create_task(_request(admission, "first", [], hold))
        await asyncio.sleep(0)
        counter = threading.Thread(target=count)
        counter.start()
        try:
            end = time.monotonic() + 1.0
            while time.monotonic() < end and not errors:
                waiting = [
                    asyncio.create_task(_request(admission, "w", [], hold)) for _ in range(50)
                ]
                await asyncio.sleep(0)
                for task in waiting:
                    task.cancel()
                await asyncio.gather(*waiting, return_exceptions=True)
                hold.set()
                await first
                hold.clear()
                first = asyncio.create_task(_request(admission, "first", [], hold))
                await asyncio.sleep(0)
        finally:
            done.set()
            counter.join(5)
            hold.set()
            await first

    asyncio.run(run())
    assert errors == []


def _nice_of(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def _in_a_thread(nice: int, start: int = 0) -> tuple[int | None, int]:
    """What ``lower_priority(nice)`` returns in a thread of its own, first lowered ``start``
    below its caller (the lowering is relative to where the thread is), and that thread's
    nice value afterwards."""
    out: list[tuple[int | None, int]] = []

    def body() -> None:
        tid = threading.get_native_id()
        if start:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, _nice_of(tid) + start))
        out.append((lower_priority(nice), _nice_of(tid)))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    return out[0]


def _os_but(**changed: object) -> types.SimpleNamespace:
    """``core.admission``'s ``os`` with ``changed`` in place of its functions: for that module
    alone, not for every thread of the run."""
    names = ("PRIO_PROCESS", "getpriority", "setpriority")
    return types.SimpleNamespace(**{name: getattr(os, name) for name in names} | changed)


@linux_only
def test_a_background_thread_lowers_its_own_priority_and_no_one_elses() -> None:
    base = _nice_of(threading.get_native_id())
    assert _in_a_thread(3) == (min(19, base + 3), min(19, base + 3))
    # from where the thread is: a thread already 2 lower ends 5 lower
    assert _in_a_thread(3, start=2) == (min(19, base + 5), min(19, base + 5))
    assert _in_a_thread(30) == (19, 19)  # never past the lowest
    assert _in_a_thread(0) == (None, base)  # 0: left as it is
    assert _nice_of(threading.get_native_id()) == base  # the caller's thread untouched


def test_no_priority_is_lowered_where_a_thread_has_none_of_its_own(monkeypatch) -> None:
    """Elsewhere than on Linux setpriority would lower the whole process: nothing is done."""
    from jcjg.core import admission

    called: list[tuple[object, ...]] = []
    monkeypatch.setattr(admission, "sys", types.SimpleNamespace(platform="darwin"))
    monkeypatch.setattr(admission, "os", _os_but(setpriority=lambda *a: called.append(a)))
    assert _in_a_thread(10)[0] is None
    assert called == []


@linux_only
def test_a_refused_priority_is_logged_and_the_thread_goes_on(monkeypatch, caplog) -> None:
    from jcjg.core import admission

    def refused(*_: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(admission, "os", _os_but(setpriority=refused))
    assert _in_a_thread(10)[0] is None
    assert "could not lower the priority" in caplog.text
