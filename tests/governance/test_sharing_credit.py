# ruff: noqa: PT018  (a delivery shows several things at once)
"""The published credit results as a derived data set (issue 43 item 4, docs/sharing.md "Data
the platform derives"): each institution's current, published score and grade of a period
(信用评价结果), read through the signed query service with filters and delivered as a signed,
proven webhook; a draft, a key person's score or a replaced result is never served. On both
databases."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.credit import service
from jcjg.credit.models import CreditScore
from jcjg.governance.models import Access, DataSet
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution
from tests.factories import login, page_csrf
from tests.governance.test_sharing import HTML, Endpoint, _post, _province
from tests.governance.test_sharing_access import PLATFORM, _docs, _key
from tests.governance.test_sharing_derived import BODY_KEYS, _pass, _proven, _subscriber

PERIOD = "2026Q3"


def _set(client, db, factory) -> tuple[DataSet, str]:
    """The set compiled by one officer and published by another."""
    author, reviewer = _province(client, factory)
    login(client, author.username)
    csrf = page_csrf(client, "/governance/sharing")
    assert "信用评价结果（平台数据）" in client.get("/governance/sharing").text
    made = _post(
        client, "/governance/sharing/data-sets", csrf, code="credit", name="检测机构信用等级",
        category="信用", grade="public", message_type="credit.grade",
    )  # fmt: skip
    assert made.status_code == 303, made.text[:300]
    data_set = db.scalar(select(DataSet).where(DataSet.code == "credit"))
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, "/governance/sharing")
    published = _post(client, f"/governance/sharing/data-sets/{data_set.id}/publish", csrf)
    assert published.status_code == 303, published.text[:300]
    page = client.get(f"/governance/sharing/data-sets/{data_set.id}", headers=HTML)
    assert "信用评价结果" in page.text and "credit.grade" not in page.text
    return data_set, csrf


def _results(db, factory) -> tuple[list[CreditScore], CreditScore]:
    """Published results of two institutions in 九江 and one in 南昌, a draft of a fourth, and
    a key person's published score: only the three institutions' are shared."""
    near = factory.institution(region_code="360403")
    other = factory.institution(region_code="360404")
    far = factory.institution(region_code="360102")
    draft = factory.institution(region_code="360403")
    person = Person(institution_id=near.id, region_code=near.region_code, name="李四",
                    id_number="360403199001011234", key_role="technical_director")  # fmt: skip
    db.add(person)
    db.flush()
    shared = [
        service.compute_institution(db, inst, PERIOD, reason="测试") for inst in (near, other, far)
    ]
    kept = service.compute_institution(db, draft, PERIOD, reason="测试")
    personal = db.scalars(select(CreditScore).where(CreditScore.person_id == person.id)).all()
    assert personal  # the key person's own score, computed with the institution's
    now = utcnow()
    for row in (*shared, *personal):
        row.status, row.published_at = "published", now
    db.commit()
    return shared, kept


def _subscribed(client, db, factory, url: str):
    """The set published, a bank subscribed to it with its query key, the results made."""
    client.app.state.settings.sharing_private_endpoints = True  # the consumer is on loopback
    data_set, csrf = _set(client, db, factory)
    # no personal field in this set: a subscription without masking is allowed
    consumer = _subscriber(client, db, csrf, data_set.id, "某银行授信审查系统", url)
    key_id, private = _key(client, consumer)
    shared, draft = _results(db, factory)
    return consumer, (key_id, private), shared, draft


def test_a_consumer_queries_the_published_results(client, db, factory):
    endpoint = Endpoint(fail=0)
    try:
        _consumer, (key_id, private), shared, draft = _subscribed(client, db, factory, endpoint.url)
        records = _docs("records")["records"]
        items = records(client, PLATFORM, key_id, private, "credit", limit=2)
        # three institutions' results, in the order they were computed: neither the draft nor
        # the key person's published score
        assert [i["record_id"] for i in items] == [f"{PERIOD}/{_code(db, s)}" for s in shared]
        item = items[0]
        assert item["message_type"] == "credit.grade"
        assert "message_id" not in item and "ledger" not in item
        assert item["region_code"] == "360403"
        assert item["day"] == beijing_date(utcnow()).isoformat()
        data = item["data"]
        assert set(data) == {"institution_name", "credit_code", "period", "score", "grade",
                             "deducted", "model_version", "published_on"}  # fmt: skip
        assert data["period"] == PERIOD
        assert data["score"] == f"{shared[0].score:.2f}"
        assert data["grade"] == shared[0].grade
        assert _code(db, draft) not in {i["institution_code"] for i in items}
        # filters: the city, an institution, the day of publication
        city = records(client, PLATFORM, key_id, private, "credit", region_code="360400")
        assert [i["institution_code"] for i in city] == [_code(db, s) for s in shared[:2]]
        one = records(
            client, PLATFORM, key_id, private, "credit", institution_code=_code(db, shared[2])
        )
        assert [i["region_code"] for i in one] == ["360102"]
        tomorrow = (beijing_date(utcnow()) + dt.timedelta(days=1)).isoformat()
        assert records(client, PLATFORM, key_id, private, "credit", received_from=tomorrow) == []
        assert [a.rows for a in db.scalars(select(Access).order_by(Access.id))][:2] == [2, 1]
    finally:
        endpoint.close()


def test_the_published_results_are_delivered_and_a_recomputed_one_again(
    client, db, settings, factory
):
    endpoint = Endpoint(fail=0)
    try:
        consumer, (key_id, private), shared, _draft = _subscribed(client, db, factory, endpoint.url)
        # the three results once each, signed and proven; a second pass sends nothing
        assert _pass(db, settings) == (3, (3, 0))
        assert _pass(db, settings) == (0, (0, 0))
        key = client.get("/governance/sharing/key").json()
        verify = _docs("verify_delivery")["verify_delivery"]
        docs = [verify(key, endpoint.url, h, b) for _p, h, b in endpoint.received]
        assert all(set(d) == BODY_KEYS for d in docs)
        codes = sorted(f"{PERIOD}/{_code(db, s)}" for s in shared)
        assert sorted(d["record_id"] for d in docs) == codes
        assert {(d["event"], d["message_type"]) for d in docs} == {("published", "credit.grade")}
        entry = _proven(client, db, *endpoint.received[0][1:])
        assert entry["data"]["consumer_id"] == consumer.id

        # a result recomputed (a corrected appeal) replaces the earlier one: delivered again
        # under the same record_id, and the replaced row is no longer served
        first = shared[0]
        redone = service.compute_institution(
            db, db.get(Institution, first.institution_id), PERIOD, reason="申诉更正"
        )
        db.commit()
        assert redone.id != first.id and redone.status == "published"
        assert _pass(db, settings) == (1, (1, 0))
        again = json.loads(endpoint.received[-1][2])
        record_id = f"{PERIOD}/{_code(db, first)}"
        assert (again["event"], again["record_id"]) == ("published", record_id)
        records = _docs("records")["records"]
        served = records(client, PLATFORM, key_id, private, "credit")
        assert sorted(i["record_id"] for i in served) == codes
    finally:
        endpoint.close()


def _code(db, score: CreditScore) -> str:
    return db.get(Institution, score.institution_id).code
