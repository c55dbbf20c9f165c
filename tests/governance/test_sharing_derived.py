# ruff: noqa: PT018  (a delivery shows several things at once)
"""Deliveries of derived data (issue 43 item 4, docs/sharing.md "Deliveries of derived data"):
a penalty decision that enters its publicity period, or is corrected while public, reaches
each subscriber of a set of published decisions as a signed webhook (a real HTTP server on
loopback), masked by that subscriber's policy, proven by its batch's leaf in the log, retried
after a failure; a decision not public is never delivered, a stopped subscription gets
nothing. On both databases."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from sqlalchemy import func, select, update

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.governance import jobs, sharing, sharing_derived
from jcjg.governance.models import Consumer, Delivery, SharedRecord, Subscription
from jcjg.penalties.models import Penalty
from jcjg.registry.models import Person
from tests.governance.test_sharing import HTML, Endpoint, _post
from tests.governance.test_sharing_access import _docs
from tests.governance.test_sharing_penalties import _compile_and_publish
from tests.governance.test_sharing_proof import _integrate
from tests.penalties.helpers import make_penalty

BODY_KEYS = {
    "delivery_id", "event", "data_set", "message_type", "record_id", "institution_code",
    "region_code", "day", "data",
}  # fmt: skip


def _subscriber(
    client, db, csrf: str, data_set_id: int, name: str, url: str, **policy: str
) -> Consumer:
    made = _post(
        client, "/governance/sharing/consumers", csrf, name=name, kind="bank", endpoint=url
    )
    assert made.status_code == 303, made.text[:300]
    consumer = db.scalar(select(Consumer).where(Consumer.name == name))
    form = {}
    for n, (path, method) in enumerate(policy.items()):
        form |= {f"path_{n}": path.replace("__", "[]."), f"method_{n}": method}
    made = _post(
        client,
        f"/governance/sharing/consumers/{consumer.id}/subscriptions",
        csrf,
        data_set_id=str(data_set_id),
        **form,
    )
    assert made.status_code == 303, made.text[:300]
    return consumer


def _decide(client, factory, inst, number: str, **extra: Any) -> dict:
    """A decision recorded through the API by the city, as an officer does."""
    today = beijing_date(utcnow())
    body = {
        "number": number, "institution_id": inst.id, "basis_code": "jz57",
        "basis_article": "第三十条", "facts": "出具虚假检测报告。", "kind": "fine",
        "amount": "30000.00", "decided_on": today.isoformat(), "public_from": today.isoformat(),
        "public_until": (today + dt.timedelta(days=90)).isoformat(),
    } | extra  # fmt: skip
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    answer = client.post(
        "/api/v1/penalties", json=body, headers={"Authorization": f"Bearer {factory.token(city)}"}
    )
    assert answer.status_code == 201, answer.text[:300]
    return answer.json()


def _correct(client, factory, penalty_id: int, **changes: Any) -> None:
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    answer = client.patch(
        f"/api/v1/penalties/{penalty_id}",
        json={"reason": "笔误", **changes},
        headers={"Authorization": f"Bearer {factory.token(city)}"},
    )
    assert answer.status_code == 200, answer.text[:300]


def _pass(db, settings, now: dt.datetime | None = None) -> tuple[int, tuple[int, int]]:
    """One run of ``governance.deliver``: the derived records queued, then the posts."""
    queued = sharing_derived.enqueue_changes(db, settings, now)
    return queued, sharing.deliver_due(db, settings, now)


def _bodies(endpoint: Endpoint, since: int = 0) -> list[dict]:
    return [json.loads(body) for _p, _h, body in endpoint.received[since:]]


def _bank(client, db, factory, url: str) -> tuple[Consumer, Any, Person]:
    """The set of published decisions, a bank subscribed to it (identity numbers masked, names
    generalised, amounts dropped), an institution and one of its people."""
    client.app.state.settings.sharing_private_endpoints = True  # the consumer is on loopback
    data_set, csrf = _compile_and_publish(client, db, factory)
    consumer = _subscriber(
        client, db, csrf, data_set.id, "某银行信用审查系统", url,
        persons__id_number="mask", persons__name="generalise", amount="drop",
    )  # fmt: skip
    inst = factory.institution(region_code="360403")
    person = Person(institution_id=inst.id, region_code=inst.region_code, name="李四",
                    id_number="360403199001011234", key_role="technical_director")  # fmt: skip
    db.add(person)
    db.commit()
    return consumer, inst, person


def _proven(client, db, headers: dict[str, str], body: bytes) -> dict:
    """The batch entry proving a delivery, by the docs' consumer."""
    _integrate(db)
    verify = _docs("verify_masked_delivery")["verify_masked_delivery"]
    return verify(client.get("/ledger/key").text, client.get, headers, body)


def test_a_published_decision_reaches_the_subscriber_masked_signed_and_proven(
    client, db, settings, factory, monkeypatch
):
    endpoint = Endpoint(fail=0)
    try:
        consumer, inst, person = _bank(client, db, factory, endpoint.url)
        today = beijing_date(utcnow())
        # public today; public next week only; no longer public (recorded directly: a decision
        # of last year)
        public = _decide(client, factory, inst, "浔建罚字〔2026〕第 101 号", person_ids=[person.id])
        later = _decide(
            client, factory, inst, "浔建罚字〔2026〕第 102 号",
            public_from=(today + dt.timedelta(days=7)).isoformat(),
        )  # fmt: skip
        make_penalty(factory, inst, public=False, number="浔建罚字〔2025〕第 009 号")
        db.commit()

        # the job governance.deliver queues it and posts it
        monkeypatch.setattr(jobs, "get_settings", lambda: settings)
        jobs.deliver(db, logging.getLogger("test"))
        assert _pass(db, settings) == (0, (0, 0))  # nothing new: nothing queued twice
        [(_path, headers, body)] = endpoint.received
        key = client.get("/governance/sharing/key").json()
        doc = _docs("verify_delivery")["verify_delivery"](key, endpoint.url, headers, body)
        assert set(doc) == BODY_KEYS
        assert (doc["event"], doc["record_id"]) == ("published", public["number"])
        assert doc["message_type"] == "penalty.decision"
        assert (doc["institution_code"], doc["region_code"]) == (inst.code, "360403")
        assert doc["day"] == today.isoformat()
        assert doc["data"]["persons"] == [{"name": "李…", "id_number": "360403********1234"}]
        assert "amount" not in doc["data"]
        assert "360403199001011234" not in body.decode()
        delivery = db.scalar(select(Delivery))
        assert delivery.message_row_id is None and delivery.record_key == public["id"]
        entry = _proven(client, db, headers, body)
        assert entry["entry_type"] == "share_delivery:batch"
        assert entry["data"]["consumer_id"] == consumer.id

        # next week the second decision's publicity begins: published then, never before
        next_week = utcnow() + dt.timedelta(days=7)
        assert _pass(db, settings, next_week) == (1, (1, 0))
        [entered] = _bodies(endpoint, 1)
        assert (entered["event"], entered["record_id"]) == ("published", later["number"])
        _proven(client, db, *endpoint.received[1][1:])
        # the decision of last year was never delivered
        assert {b["record_id"] for b in _bodies(endpoint)} == {public["number"], later["number"]}
    finally:
        endpoint.close()


def test_a_correction_while_public_is_delivered_as_such(client, db, settings, factory, monkeypatch):
    endpoint = Endpoint(fail=0)
    try:
        consumer, inst, _person = _bank(client, db, factory, endpoint.url)
        public = _decide(client, factory, inst, "浔建罚字〔2026〕第 111 号")
        assert _pass(db, settings) == (1, (1, 0))
        _correct(client, factory, public["id"], facts="出具虚假检测报告两份。")
        assert _pass(db, settings) == (1, (1, 0))
        first, corrected = _bodies(endpoint)
        assert (corrected["event"], corrected["record_id"]) == ("corrected", public["number"])
        assert corrected["data"]["facts"] == "出具虚假检测报告两份。"
        assert first["data"]["facts"] == "出具虚假检测报告。"
        assert corrected["delivery_id"] != first["delivery_id"]
        assert _proven(client, db, *endpoint.received[1][1:])["data"]["deliveries"] == 1

        # another pass (the job's claim prevents it) brought the record up to date meanwhile:
        # this one queues nothing for it
        _correct(client, factory, public["id"], facts="出具虚假检测报告三份。")
        rows = sharing_derived._rows

        def raced(db_, source, keys, today):
            found = rows(db_, source, keys, today)
            for row in found:
                db_.execute(
                    update(SharedRecord)
                    .where(SharedRecord.record_key == row.key)
                    .values(
                        version=source.versions(db_, today)[row.key],
                        digest=sharing_derived.digest(row),
                    )
                )
            return found

        monkeypatch.setattr(sharing_derived, "_rows", raced)
        assert sharing_derived.enqueue_changes(db, settings) == 0
        monkeypatch.setattr(sharing_derived, "_rows", rows)

        # a change the set does not show (who recorded it) is no correction
        db.execute(update(Penalty).where(Penalty.id == public["id"]).values(created_by=None))
        db.commit()
        assert _pass(db, settings) == (0, (0, 0))

        # the consumer's page says what each delivery held, in words
        page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML).text
        assert f"行政处罚决定 · 公示 · {public['number']}" in page
        assert f"行政处罚决定 · 更正 · {public['number']}" in page
        assert "penalty.decision" not in page and "corrected" not in page
        exported = client.get(f"/governance/sharing/consumers/{consumer.id}?format=xlsx")
        assert exported.status_code == 200
    finally:
        endpoint.close()


def test_a_registry_correction_of_what_a_decision_shows_is_delivered(client, db, settings, factory):
    """A public decision's shared record also reads its institution's name and its people's
    identity numbers from the registry: correcting them there is a correction of the record,
    delivered as such; a registry change the record does not show queues nothing."""
    from jcjg.tenancy.models import Institution

    endpoint = Endpoint(fail=0)
    try:
        _consumer, inst, person = _bank(client, db, factory, endpoint.url)
        public = _decide(client, factory, inst, "浔建罚字〔2026〕第 121 号", person_ids=[person.id])
        assert _pass(db, settings) == (1, (1, 0))
        db.execute(
            update(Person).where(Person.id == person.id).values(id_number="360403199002025678")
        )
        db.commit()
        assert _pass(db, settings) == (1, (1, 0))
        corrected = _bodies(endpoint, 1)[0]
        assert (corrected["event"], corrected["record_id"]) == ("corrected", public["number"])
        assert corrected["data"]["persons"][0]["id_number"] == "360403********5678"  # masked
        db.execute(
            update(Institution).where(Institution.id == inst.id).values(phone="0792-8888888")
        )
        db.commit()
        assert _pass(db, settings) == (0, (0, 0))  # not shown: no correction
        db.execute(
            update(Institution).where(Institution.id == inst.id).values(name="九江某检测公司")
        )
        db.commit()
        assert _pass(db, settings) == (1, (1, 0))
        renamed = _bodies(endpoint, 2)[0]
        assert renamed["event"] == "corrected"
        assert renamed["data"]["institution_name"] == "九江某检测公司"
    finally:
        endpoint.close()


def test_each_subscriber_gets_its_own_masking_retries_and_stops(client, db, settings, factory):
    client.app.state.settings.sharing_private_endpoints = True
    data_set, csrf = _compile_and_publish(client, db, factory)
    failing, other = Endpoint(fail=1), Endpoint(fail=0)
    try:
        bank = _subscriber(
            client,
            db,
            csrf,
            data_set.id,
            "某银行信用审查系统",
            failing.url,
            persons__id_number="mask",
        )
        _subscriber(
            client, db, csrf, data_set.id, "某区住建局", other.url,
            persons__id_number="hash", persons__name="drop",
        )  # fmt: skip
        inst = factory.institution(region_code="360403")
        person = Person(institution_id=inst.id, region_code=inst.region_code, name="李四",
                        id_number="360403199001011234", key_role="technical_director")  # fmt: skip
        db.add(person)
        db.commit()
        first = _decide(client, factory, inst, "浔建罚字〔2026〕第 201 号", person_ids=[person.id])

        # the bank's endpoint fails once: tried again after 10 s; the bureau gets it at once
        assert _pass(db, settings) == (2, (1, 1))
        db.expire_all()
        waiting = db.scalar(select(Delivery).where(Delivery.status == "pending"))
        assert (waiting.attempts, "500" in waiting.last_error) == (1, True)
        assert _pass(db, settings) == (0, (0, 0))  # not due yet
        soon = utcnow() + dt.timedelta(seconds=11)
        assert _pass(db, settings, soon) == (0, (1, 0))
        sent = [json.loads(b) for _p, _h, b in failing.received]
        assert len(sent) == 2 and sent[0] == sent[1]  # the same body at every attempt
        [theirs] = _bodies(other)
        # each consumer's policy is its own
        assert sent[0]["data"]["persons"] == [{"name": "李四", "id_number": "360403********1234"}]
        [hashed] = theirs["data"]["persons"]
        assert set(hashed) == {"id_number"} and re.fullmatch(r"[0-9a-f]{64}", hashed["id_number"])
        assert theirs["delivery_id"] != sent[0]["delivery_id"]

        # the bank's subscription stopped: its correction is queued for the bureau only
        db.execute(update(Subscription).where(Subscription.consumer_id == bank.id).values(
            status="stopped"))  # fmt: skip
        db.commit()
        _correct(client, factory, first["id"], amount="50000.00")
        assert _pass(db, settings, soon) == (1, (1, 0))
        assert len(failing.received) == 2
        [corrected] = _bodies(other, 1)
        assert (corrected["event"], corrected["data"]["amount"]) == ("corrected", "50000.00")

        # corrected out of its publicity: forgotten, never delivered; back in: published again
        today = beijing_date(utcnow())
        ended = (today - dt.timedelta(days=1)).isoformat()
        _correct(
            client, factory, first["id"], decided_on=(today - dt.timedelta(days=5)).isoformat(),
            public_from=(today - dt.timedelta(days=5)).isoformat(), public_until=ended,
        )  # fmt: skip
        assert _pass(db, settings, soon) == (0, (0, 0))
        assert db.scalar(select(func.count()).select_from(SharedRecord)) == 0
        back = (today + dt.timedelta(days=30)).isoformat()
        _correct(client, factory, first["id"], public_until=back)
        assert _pass(db, settings, soon) == (1, (1, 0))
        assert _bodies(other, 2)[0]["event"] == "published"
    finally:
        failing.close()
        other.close()


def test_nothing_is_queued_without_a_published_set_or_a_subscriber(client, db, settings, factory):
    make_penalty(factory)
    db.commit()
    # no data set holds the decisions: nothing is watched
    assert sharing_derived.enqueue_changes(db, settings) == 0
    assert db.scalar(select(func.count()).select_from(SharedRecord)) == 0
    _compile_and_publish(client, db, factory)
    # watched now, but nobody subscribed: taken note of, nothing queued
    assert sharing_derived.enqueue_changes(db, settings) == 0
    assert db.scalar(select(func.count()).select_from(SharedRecord)) == 1
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_a_source_that_fails_holds_up_no_delivery(
    client, db, settings, factory, monkeypatch, caplog
):
    """A derived source whose records cannot be read this pass is logged and rolled back; the
    deliveries already due are still posted by the same run of the job, and the next pass
    queues what it would have."""
    endpoint = Endpoint(fail=0)
    try:
        _consumer, inst, _person = _bank(client, db, factory, endpoint.url)
        first = _decide(client, factory, inst, "浔建罚字〔2026〕第 201 号")
        assert sharing_derived.enqueue_changes(db, settings) == 1  # queued, not yet posted
        second = _decide(client, factory, inst, "浔建罚字〔2026〕第 202 号")

        def broken(*_args: Any) -> Any:
            raise RuntimeError("the source's table cannot be read")

        monkeypatch.setattr(jobs, "get_settings", lambda: settings)
        with monkeypatch.context() as patched, caplog.at_level(logging.ERROR):
            patched.setattr(sharing_derived, "_changes", broken)
            jobs.deliver(db, logging.getLogger("test"))
        assert "could not be queued" in caplog.text
        assert [b["record_id"] for b in _bodies(endpoint)] == [first["number"]]
        assert db.scalar(select(func.count()).select_from(SharedRecord)) == 1  # nothing half
        jobs.deliver(db, logging.getLogger("test"))  # the source readable again
        assert [b["record_id"] for b in _bodies(endpoint, 1)] == [second["number"]]
    finally:
        endpoint.close()
