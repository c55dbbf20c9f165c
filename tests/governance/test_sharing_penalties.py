"""Data the platform derives shared as a data set (issue 43 items 2 and 4): the published
penalty decisions (行政处罚决定), compiled and published like the other sets, read through the
signed query service with filters and paging, masked by each consumer's policy; a decision
outside its publicity period is never served. On both databases."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

from sqlalchemy import select

from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.governance.models import Access, Consumer, DataSet, Subscription
from jcjg.registry.models import Person
from tests.factories import login, page_csrf
from tests.governance.test_sharing import HTML, _post, _province
from tests.governance.test_sharing_access import BASE, PLATFORM, _docs, _key, _problem
from tests.penalties.helpers import make_penalty

RECORDS = f"{BASE}/penalties/records"


def _compile_and_publish(client, db, factory) -> tuple[DataSet, str]:
    """The set compiled by one officer, published by another (logged in after, with a csrf)."""
    author, reviewer = _province(client, factory)
    login(client, author.username)
    csrf = page_csrf(client, "/governance/sharing")
    assert "行政处罚决定（平台数据）" in client.get("/governance/sharing").text
    fields = {"code": "penalties", "name": "行政处罚决定", "category": "信用", "grade": "public"}
    # a derived source stands alone: never mixed with lab messages
    mixed = _post(
        client,
        "/governance/sharing/data-sets",
        csrf,
        message_type="penalty.decision",
        more_types="report",
        **fields,
    )
    assert mixed.status_code == 422
    assert "单独成为数据集" in mixed.text
    made = _post(
        client, "/governance/sharing/data-sets", csrf, message_type="penalty.decision", **fields
    )
    assert made.status_code == 303, made.text[:300]
    data_set = db.scalar(select(DataSet).where(DataSet.code == "penalties"))
    assert data_set.message_types == ["penalty.decision"]
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, "/governance/sharing")
    published = _post(client, f"/governance/sharing/data-sets/{data_set.id}/publish", csrf)
    assert published.status_code == 303
    page = client.get(f"/governance/sharing/data-sets/{data_set.id}")
    assert page.status_code == 200
    assert "行政处罚决定" in page.text
    assert "penalty.decision" not in page.text  # its label, never its key
    return data_set, csrf


def _consumer(client, db, csrf: str, name: str) -> Consumer:
    made = _post(client, "/governance/sharing/consumers", csrf, name=name, kind="bank")
    assert made.status_code == 303, made.text[:300]
    return db.scalar(select(Consumer).where(Consumer.name == name))


def _decisions(db, factory):
    """Three decisions within their publicity period (two in 九江, one in 南昌), one not
    published yet and one no longer public."""
    near = factory.institution(region_code="360403")
    far = factory.institution(region_code="360102")
    person = Person(institution_id=near.id, region_code=near.region_code, name="李四",
                    id_number="360403199001011234", key_role="technical_director")  # fmt: skip
    db.add(person)
    db.flush()
    first = make_penalty(factory, near, person_ids=[person.id], person_names=["李四"])
    second = make_penalty(factory, far)
    third = make_penalty(factory, near)
    # not published yet (its publicity starts next week) and no longer public: never served
    today = beijing_date(utcnow())
    make_penalty(
        factory,
        near,
        public_from=today + dt.timedelta(days=7),
        public_until=today + dt.timedelta(days=180),
    )
    make_penalty(factory, near, public=False)
    db.commit()
    return near, far, first, second, third


def _package_and_catalogue(client, key_id, private, day: str, items: list) -> None:
    # a package of the period holds exactly the query's items
    signed_get = _docs("signed_get")["signed_get"]
    url = f"{PLATFORM}{BASE}/penalties/package?received_from={day}&received_to={day}"
    answer = client.get(url, headers=signed_get(key_id, private, url))
    assert answer.status_code == 200, answer.text[:300]
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    lines = archive.read("records.jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == items
    assert json.loads(archive.read("manifest.json"))["rows"] == 3
    # the catalogue lists it with its source
    url = f"{PLATFORM}{BASE}"
    catalogue = client.get(url, headers=signed_get(key_id, private, url)).json()
    assert [(i["code"], i["message_types"], i["access"]) for i in catalogue["items"]] == [
        ("penalties", ["penalty.decision"], "granted")
    ]


def test_a_consumer_reads_the_published_decisions_masked_by_its_policy(client, db, factory):
    data_set, csrf = _compile_and_publish(client, db, factory)
    consumer = _consumer(client, db, csrf, "某银行信用审查系统")
    subscribe = f"/governance/sharing/consumers/{consumer.id}/subscriptions"
    # the identity numbers of the people a decision names never leave unmasked
    refused = _post(client, subscribe, csrf, data_set_id=str(data_set.id))
    assert refused.status_code == 422
    assert "个人信息字段须选择脱敏方法" in refused.text
    assert db.scalar(select(Subscription)) is None
    made = _post(
        client,
        subscribe,
        csrf,
        data_set_id=str(data_set.id),
        path_0="persons[].id_number",
        method_0="mask",
        path_1="persons[].name",
        method_1="generalise",
        path_2="amount",
        method_2="drop",
    )
    assert made.status_code == 303, made.text[:300]
    # the consumer's page names the policy's fields in words, never their paths
    page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML)
    assert "被处罚人员身份证号" in page.text
    assert "罚款金额（元）" in page.text
    key_id, private = _key(client, consumer)

    near, far, first, second, third = _decisions(db, factory)

    records = _docs("records")["records"]
    items = records(client, PLATFORM, key_id, private, "penalties", limit=2)
    assert [i["record_id"] for i in items] == [first.number, second.number, third.number]
    item = items[0]
    assert item["message_type"] == "penalty.decision"
    assert item["institution_code"] == near.code
    assert item["region_code"] == "360403"
    assert "message_id" not in item
    assert "ledger" not in item
    data = item["data"]
    assert data["persons"] == [{"name": "李…", "id_number": "360403********1234"}]
    assert "amount" not in data
    assert data["number"] == first.number
    assert data["facts"] == "出具虚假检测报告。"
    assert data["kind"] == "fine"
    # paged: two pages of two and one, each kept
    kept = db.scalars(select(Access).order_by(Access.id)).all()
    assert [(a.kind, a.rows) for a in kept] == [("query", 2), ("query", 1)]
    # filters: the city's region, an institution, the decisions' days
    in_city = records(client, PLATFORM, key_id, private, "penalties", region_code="360400")
    assert [i["record_id"] for i in in_city] == [first.number, third.number]
    by_far = records(client, PLATFORM, key_id, private, "penalties", institution_code=far.code)
    assert [i["record_id"] for i in by_far] == [second.number]
    day = first.decided_on.isoformat()
    later = (first.decided_on + dt.timedelta(days=1)).isoformat()
    assert records(client, PLATFORM, key_id, private, "penalties", received_from=later) == []
    assert len(records(client, PLATFORM, key_id, private, "penalties", received_to=day)) == 3
    _package_and_catalogue(client, key_id, private, day, items)


def test_refusals_without_access_and_bad_filters(client, db, factory):
    _data_set, csrf = _compile_and_publish(client, db, factory)
    make_penalty(factory)
    db.commit()
    stranger = _consumer(client, db, csrf, "某区住建局")
    key_id, private = _key(client, stranger)
    signed_get = _docs("signed_get")["signed_get"]

    def get(path: str):
        url = PLATFORM + path
        return client.get(url, headers=signed_get(key_id, private, url))

    # no subscription of its own: refused, in Chinese, nothing kept
    body = _problem(get(RECORDS), 403, "/problems/sharing-not-granted")
    assert "申请" in body["detail"]
    assert db.scalar(select(Access)) is None
    # granted now (by its own application: every personal field masked), it reads
    apply_for = _docs("apply_for")["apply_for"]
    granted = apply_for(client, PLATFORM, key_id, private, "penalties", "核查检测机构信用")
    assert granted == {
        "data_set": "penalties",
        "status": "active",
        "masking": {"persons[].id_number": "mask"},
    }
    page = get(RECORDS)
    assert page.status_code == 200
    assert page.json()["count"] == 1
    assert page.json()["items"][0]["data"]["persons"] == [{"name": "张三", "id_number": None}]
    # bad filters: each named, in Chinese, nothing read
    before = len(db.scalars(select(Access)).all())
    body = _problem(
        get(RECORDS + "?message_type=report&received_from=2026-13-01&limit=0&colour=red"),
        422,
        "/problems/validation",
    )
    assert {e["field"] for e in body["errors"]} == {
        "message_type",
        "received_from",
        "limit",
        "colour",
    }
    assert all(not e["message"].isascii() for e in body["errors"])
    body = _problem(
        get(RECORDS + "?received_from=2026-11-02&received_to=2026-11-01"),
        422,
        "/problems/validation",
    )
    assert [e["field"] for e in body["errors"]] == ["received_to"]
    assert len(db.scalars(select(Access)).all()) == before
