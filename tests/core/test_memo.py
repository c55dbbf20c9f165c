"""core.memo.TimedMemo: figures kept for a while per key, computed once however many ask."""

from __future__ import annotations

import threading
import time

import pytest

from jcjg.core.memo import TimedMemo

pytestmark = pytest.mark.once  # no database: the same on both databases


def test_a_value_is_kept_for_its_seconds_then_computed_again(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    memo = TimedMemo(30)
    calls = []
    first, counted = memo.get("k", lambda: calls.append(1) or len(calls))
    assert first == 1
    clock[0] += 29
    assert memo.get("k", lambda: calls.append(1) or len(calls)) == (1, counted)
    assert memo.get("other", lambda: "x")[0] == "x"
    clock[0] += 2
    assert memo.get("k", lambda: calls.append(1) or len(calls))[0] == 2
    assert memo.peek("k") == 2
    clock[0] += 31
    assert memo.peek("k") is None


def test_zero_seconds_keeps_nothing():
    memo = TimedMemo(0)
    values = iter(range(10))
    assert [memo.get("k", lambda: next(values))[0] for _ in range(3)] == [0, 1, 2]
    memo.put("k", 99)
    assert memo.peek("k") is None


def test_concurrent_askers_share_one_computation():
    memo = TimedMemo(60)
    started = threading.Event()
    release = threading.Event()
    calls = []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(5)
        return 42

    results = []
    threads = [threading.Thread(target=lambda: results.append(memo.get("k", slow)[0]))
               for _ in range(8)]  # fmt: skip
    for thread in threads:
        thread.start()
    assert started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == [42] * 8
    assert calls == [1]


def test_a_lapsed_value_is_given_while_it_is_computed_again(monkeypatch):
    """Once lapsed, one asker computes the value again; the others get the lapsed one and its
    time meanwhile, not waiting; then all get the new one."""
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    memo = TimedMemo(30)
    _, counted = memo.get("k", lambda: "old")
    clock[0] += 31
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "new"

    results = []
    computer = threading.Thread(target=lambda: results.append(memo.get("k", slow)[0]))
    computer.start()
    assert started.wait(5)
    assert memo.get("k", lambda: "never") == ("old", counted)
    release.set()
    computer.join(5)
    assert results == ["new"]
    assert memo.get("k", lambda: "never")[0] == "new"


def test_the_oldest_keys_go_when_full():
    memo = TimedMemo(60, max_entries=8)
    for n in range(9):
        memo.put(n, n)
    assert memo.peek(0) is None
    assert memo.peek(8) == 8


def test_values_are_forgotten_by_what_they_are():
    memo = TimedMemo(60.0)
    for key in range(6):
        memo.put(key, {"user": key % 3})
    memo.forget_where(lambda value: value["user"] == 1)
    assert [k for k in range(6) if memo.peek(k) is not None] == [0, 2, 3, 5]
    memo.forget_where(lambda value: False)
    assert memo.peek(0) == {"user": 0}
