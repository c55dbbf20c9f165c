"""A data set of several message types (issue 43 item 2: the catalogue of the platform's data
sets, docs/sharing.md): compiled from the page with its types, each applied message of any of
them delivered, queried and packaged, masked by the policy's entries for its type
(``type:path``) and its plain paths; a message of another type is not; the personal fields of
every type must be masked. On both databases."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jcjg.governance import sharing
from jcjg.governance.models import Consumer, DataSet, DataSetType, Delivery, Subscription
from tests.exchange.conftest import apply_waiting, make_lims
from tests.factories import login, page_csrf
from tests.governance.test_quality import LABS, _equipment
from tests.governance.test_sharing import HTML, STAFF, _post, _province
from tests.governance.test_sharing_access import BASE, PLATFORM, _docs, _key, _problem

STAFF_TYPE, EQUIPMENT_TYPE = "registry.staff", "registry.equipment"


def _compile_and_publish(client, db, factory) -> tuple[DataSet, str]:
    author, reviewer = _province(client, factory)
    login(client, author.username)
    csrf = page_csrf(client, "/governance/sharing")
    form = {"code": "lab_resources", "name": "检测机构人员与设备", "grade": "public"}
    # another type than the platform's: refused, field named, nothing kept
    refused = client.post(
        "/governance/sharing/data-sets",
        data={"csrf_token": csrf, **form, "message_type": STAFF_TYPE, "more_types": "no.such"},
        headers={"accept": "application/json"},
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["more_types"]
    assert db.scalar(select(DataSet).where(DataSet.code == "lab_resources")) is None
    made = client.post(
        "/governance/sharing/data-sets",
        data={
            "csrf_token": csrf,
            **form,
            "message_type": STAFF_TYPE,
            "more_types": [EQUIPMENT_TYPE, STAFF_TYPE],  # the main type again: kept once
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text[:300]
    data_set = db.scalar(select(DataSet).where(DataSet.code == "lab_resources"))
    assert data_set.message_types == [STAFF_TYPE, EQUIPMENT_TYPE]
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, "/governance/sharing")
    assert (
        _post(client, f"/governance/sharing/data-sets/{data_set.id}/publish", csrf).status_code
        == 303
    )
    page = client.get(f"/governance/sharing/data-sets/{data_set.id}", headers=HTML)
    assert re.search(r'data-set-sources">人员信息同步、[^<]*设备', page.text), page.text[:2000]
    return data_set, csrf


def _read_back(client, db, consumer_id: int, deliveries: dict[str, Any]) -> None:
    """The consumer's query (both types, each item its delivery but the id; one type chosen;
    a type the set does not hold refused), its catalogue and its package."""
    key_id, private = _key(client, db.get(Consumer, consumer_id))
    records = _docs("records")["records"]
    items = records(client, PLATFORM, key_id, private, "lab_resources")
    assert [i["message_type"] for i in items] == [STAFF_TYPE, EQUIPMENT_TYPE]
    for item in items:
        assert {**item, "delivery_id": deliveries[item["message_type"]]["delivery_id"]} == (
            deliveries[item["message_type"]]
        )
    only = records(client, PLATFORM, key_id, private, "lab_resources", message_type=EQUIPMENT_TYPE)
    assert [i["message_type"] for i in only] == [EQUIPMENT_TYPE]
    accesses = client.get("/governance/sharing/accesses?kind=query", headers=HTML).text
    assert "消息类型 仪器设备" in accesses, accesses[-3000:]
    signed_get = _docs("signed_get")["signed_get"]
    url = f"{PLATFORM}{BASE}/lab_resources/records?message_type=report"
    body = _problem(client.get(url, headers=signed_get(key_id, private, url)), 422,
                    "/problems/validation")  # fmt: skip
    assert [e["field"].removeprefix("query.") for e in body["errors"]] == ["message_type"]
    url = f"{PLATFORM}{BASE}"
    catalogue = client.get(url, headers=signed_get(key_id, private, url)).json()
    assert catalogue["items"][0]["message_types"] == [STAFF_TYPE, EQUIPMENT_TYPE]

    # the package holds both, and its manifest names the set's types
    received = dt.datetime.fromisoformat(items[0]["received_at"])
    today = received.astimezone(ZoneInfo("Asia/Shanghai")).date()  # a Beijing day
    url = f"{PLATFORM}{BASE}/lab_resources/package?received_from=2026-01-01&received_to={today}"
    answer = client.get(url, headers=signed_get(key_id, private, url))
    assert answer.status_code == 200, answer.text[:300]
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    lines = [json.loads(x) for x in archive.read("records.jsonl").decode().splitlines()]
    assert [x["message_type"] for x in lines] == [STAFF_TYPE, EQUIPMENT_TYPE]
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["data_set"]["message_types"] == [STAFF_TYPE, EQUIPMENT_TYPE]


def test_a_set_of_several_types_is_delivered_queried_and_packaged_masked_by_type(
    client, db, settings, factory
):
    client.app.state.settings.sharing_private_endpoints = True
    data_set, csrf = _compile_and_publish(client, db, factory)
    made = _post(
        client,
        "/governance/sharing/consumers",
        csrf,
        name="某银行资信系统",
        kind="bank",
        endpoint="http://127.0.0.1:9/unused",
    )
    assert made.status_code == 303
    consumer_id = int(made.headers["location"].split("/")[-1].split("?")[0])
    subscribe = f"/governance/sharing/consumers/{consumer_id}/subscriptions"
    # the subscription form offers each type's fields by type and name
    page = client.get(f"/governance/sharing/consumers/{consumer_id}", headers=HTML)
    assert f'value="{STAFF_TYPE}:people[].id_number"' in page.text
    assert "人员信息同步 · " in page.text
    # refused: a personal field of one type left unmasked, a type the set does not hold, a
    # field of none of its types; each named
    bad = client.post(
        subscribe,
        data={
            "csrf_token": csrf,
            "data_set_id": str(data_set.id),
            "path_0": f"{STAFF_TYPE}:people[].id_number",
            "method_0": "mask",
            "path_1": "report:report_number",
            "method_1": "drop",
            "path_2": "no_such[].field",
            "method_2": "drop",
        },
        headers={"accept": "application/json"},
    )
    assert bad.status_code == 422
    assert {(e["field"], e["code"]) for e in bad.json()["errors"]} == {
        (f"masking.{STAFF_TYPE}:people[].mobile", "personal"),
        ("masking.report:report_number", "message_type"),
        ("masking.no_such[].field", "path"),
    }
    made = _post(
        client,
        subscribe,
        csrf,
        data_set_id=str(data_set.id),
        path_0=f"{STAFF_TYPE}:people[].id_number",
        method_0="mask",
        path_1=f"{STAFF_TYPE}:people[].mobile",
        method_1="drop",
        path_2="people[].birth_date",  # a plain path: a field of each type that has it
        method_2="generalise",
    )
    assert made.status_code == 303, made.text[:500]
    assert db.scalar(select(Subscription.masking)) == {  # the plain path kept for its type
        f"{STAFF_TYPE}:people[].id_number": "mask",
        f"{STAFF_TYPE}:people[].mobile": "drop",
        f"{STAFF_TYPE}:people[].birth_date": "generalise",
    }
    page = client.get(f"/governance/sharing/consumers/{consumer_id}", headers=HTML)
    assert "people[]" not in re.sub(r'(title|value)="[^"]*"', "", page.text)  # names, not paths

    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    assert lims.post(client, "registry.labs", lims.message(**LABS)).status_code == 200
    assert lims.post(client, STAFF_TYPE, lims.message(**STAFF)).status_code == 200
    equipment = [_equipment("SB-1", valid_until="2027-01-01")]
    answer = lims.post_raw(client, EQUIPMENT_TYPE, lims.message(equipment=equipment))
    assert answer.status_code == 202, answer.text
    apply_waiting(client)

    # one delivery per message of the set's types; the labs message (another type) none
    deliveries = {
        d.payload["message_type"]: d.payload
        for d in db.scalars(select(Delivery).order_by(Delivery.id))
    }
    assert set(deliveries) == {STAFF_TYPE, EQUIPMENT_TYPE}
    person = deliveries[STAFF_TYPE]["data"]["people"][0]
    assert person["id_number"] == "360403********1232"
    assert "mobile" not in person
    assert person["birth_date"] == "1990-01"
    assert person["name"] == "王检测"
    assert "ledger" not in deliveries[STAFF_TYPE]  # masked: no leaf hash
    # the policy masks nothing of an equipment message: it goes as sent, with its leaf
    assert deliveries[EQUIPMENT_TYPE]["data"]["equipment"][0]["asset_number"] == "SB-1"
    assert deliveries[EQUIPMENT_TYPE]["ledger"]["entry_type"] == f"message:{EQUIPMENT_TYPE}"

    _read_back(client, db, consumer_id, deliveries)


def test_an_application_masks_every_personal_field_of_each_type(db, factory):
    data_set = DataSet(
        code="people_and_machines",
        name="人员与设备",
        message_type=STAFF_TYPE,
        grade="public",
        types=[
            DataSetType(message_type=t, position=i)
            for i, t in enumerate((STAFF_TYPE, EQUIPMENT_TYPE))
        ],
    )
    db.add(data_set)
    db.flush()
    assert sharing.personal_policy(db, data_set) == {
        f"{STAFF_TYPE}:people[].id_number": "mask",
        f"{STAFF_TYPE}:people[].mobile": "mask",
    }
    # a set of one type keeps plain paths (its rows made for it)
    single = DataSet(code="staff_only", name="人员", message_type=STAFF_TYPE, grade="public")
    db.add(single)
    db.flush()
    assert [t.message_type for t in single.types] == [STAFF_TYPE]
    assert sharing.personal_policy(db, single) == {
        "people[].id_number": "mask",
        "people[].mobile": "mask",
    }
    errors: list[Any] = []
    assert sharing.policy(db, data_set, {"people[].mobile": "drop"}, errors) == {
        f"{STAFF_TYPE}:people[].mobile": "drop"
    }
    assert [e.field for e in errors] == [f"masking.{STAFF_TYPE}:people[].id_number"]
    assert sharing.policy_for(
        {f"{STAFF_TYPE}:people[].mobile": "drop", "a": "mask"}, EQUIPMENT_TYPE
    ) == {"a": "mask"}
