"""A message accepted by this process is applied from the parse its request made
(``exchange.handoff``): not parsed again, the same message as parsing it again would give, and
within its bounds."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jcjg.exchange import apply, handoff
from jcjg.exchange.handoff import Handoff
from jcjg.exchange.models import Message
from jcjg.exchange.types import message_types
from tests.exchange.test_apply import LAB, Region


@pytest.fixture
def region(tmp_path: Path) -> Any:
    made = Region(tmp_path)
    handoff.accepted.clear()
    yield made
    handoff.accepted.clear()
    made.close()


def test_every_types_example_validates_alike_from_its_json_and_from_its_parsed_body() -> None:
    """The handoff gives the apply the message its request validated strictly from the JSON;
    the apply would otherwise validate the parsed body (Python mode): for every message type's
    example the two are the same message."""
    kinds = message_types()
    assert len(kinds) >= 20
    for name, kind in kinds.items():
        body = json.dumps(kind.example, ensure_ascii=False).encode()
        strict = kind.schema.model_validate_json(body, strict=True)
        assert kind.schema.model_validate(orjson.loads(body)) == strict, name


def test_a_message_accepted_here_is_applied_without_parsing_it_again(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored by this process's group committer, a message is applied from its request's
    parse; one the handoff does not hold (stored by another process) is parsed as before; both
    are applied alike."""
    from jcjg.main import create_app

    (lims,) = region.lims()
    app = create_app(region.settings, engine=region.engine, session_factory=region.sessions)
    assert apply.drain(region.sessions, region.settings) == 0  # this process applies
    bodies = [lims.message(labs=[{**LAB, "name": name}]) for name in ("甲室", "乙室")]
    with TestClient(app) as http:
        for body in bodies:
            assert lims.post_raw(http, "registry.labs", body).status_code == 202
    assert len(handoff.accepted) == 2
    with region.sessions() as db:
        second = db.scalars(select(Message.body).order_by(Message.id)).all()[1]
    handoff.accepted.take("registry.labs", second)  # as if another process had stored it
    parsed: list[bytes] = []
    loads = apply._loads

    def counted(body: bytes) -> Any:
        parsed.append(body)
        return loads(body)

    monkeypatch.setattr(apply, "_loads", counted)
    assert apply.drain(region.sessions, region.settings) == 2
    assert parsed == [second]  # the first was not parsed again
    assert len(handoff.accepted) == 0
    with region.sessions() as db:
        rows = db.execute(select(Message.status, Message.results).order_by(Message.id)).all()
    assert [status for status, _ in rows] == ["applied", "applied"]
    assert rows[0].results.keys() == rows[1].results.keys()


def test_a_refused_or_copied_message_is_not_handed_off(region: Region) -> None:
    """Only a message the committer stored is left for the apply: not a copy answered
    ``duplicate``, not a refused one."""
    from jcjg.main import create_app

    (lims,) = region.lims()
    app = create_app(region.settings, engine=region.engine, session_factory=region.sessions)
    apply.drain(region.sessions, region.settings)  # this process applies
    body = lims.message(labs=[{**LAB, "name": "甲室"}])
    with TestClient(app) as http:
        assert lims.post_raw(http, "registry.labs", body).status_code == 202
        handoff.accepted.clear()
        again = lims.post_raw(http, "registry.labs", body)  # signed anew: a copy
        assert again.json()["status"] == "duplicate"
        bad = lims.post_raw(http, "registry.labs", {**body, "labs": [{"name": 1}]})
        assert bad.status_code == 422
    assert len(handoff.accepted) == 0


def test_the_handoff_keeps_the_oldest_within_its_bounds_and_forgets_the_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(handoff.time, "monotonic", lambda: clock[0])
    kept = Handoff(kept=2, weight=handoff.PARSED_FACTOR * 100, seconds=30)
    assert not kept.keep("t", b"a" * 10, ({"a": 1}, "A"))  # nobody applies in this process
    kept.wanted()
    assert kept.keep("t", b"a" * 10, ({"a": 1}, "A"))
    assert kept.keep("t", b"b" * 10, ({"b": 1}, "B"))
    assert not kept.keep("t", b"c" * 10, ({"c": 1}, "C"))  # full by count: the newest waits
    assert kept.take("t", b"b" * 10) == ({"b": 1}, "B")
    assert kept.take("t", b"b" * 10) is None  # taken once
    assert kept.take("u", b"a" * 10) is None  # another type's
    assert not kept.keep("t", b"d" * 95, ({}, "D"))  # full by weight (10 + 95 bytes > 100)
    assert kept.keep("t", b"d" * 90, ({}, "D"))
    assert kept.weight == handoff.PARSED_FACTOR * 100
    clock[0] += 31  # what was kept has lapsed; the apply asks again
    kept.wanted()
    assert kept.keep("t", b"e" * 10, ({}, "E"))  # keeping forgets what has lapsed
    assert len(kept) == 1
    assert kept.take("t", b"a" * 10) is None
    clock[0] += 31  # nobody asked since: as a web process whose messages others apply
    assert not kept.keep("t", b"f" * 10, ({}, "F"))


def test_a_web_process_whose_messages_others_apply_keeps_none(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an apply worker looking for messages in the process (JCJG_EXCHANGE_APPLY_WORKERS
    =0, ``jcjg worker`` applying), what its group committer stores is kept for nobody; once one
    looks, it is kept."""
    from jcjg.exchange import commit
    from jcjg.main import create_app

    (lims,) = region.lims()
    own = Handoff()  # the committer's alone (other tests' apply workers may run in the process)
    monkeypatch.setattr(commit, "handoff", SimpleNamespace(accepted=own))
    app = create_app(region.settings, engine=region.engine, session_factory=region.sessions)
    with TestClient(app) as http:
        body = lims.message(labs=[{**LAB, "name": "甲室"}])
        assert lims.post_raw(http, "registry.labs", body).status_code == 202
        assert len(own) == 0
        own.wanted()  # an apply worker looks for messages
        body = lims.message(labs=[{**LAB, "name": "乙室"}])
        assert lims.post_raw(http, "registry.labs", body).status_code == 202
        assert len(own) == 1
