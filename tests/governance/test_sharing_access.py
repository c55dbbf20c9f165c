"""Sharing's query services and bulk packages (issue 43 item 4): a consumer signs its requests
with its own key, reads the data sets it is granted masked exactly as its deliveries are,
page by page; conditional sets only after approval, restricted ones never; every refusal a
Chinese problem; every access kept; a package signed, notarised and verified by the docs'
own code; sensitive and safe words in free text. On both databases."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
import httpx2  # the test client's (starlette's TestClient is an httpx2.Client)
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.governance import sharing
from jcjg.governance.models import Access, Consumer, DataSet, Delivery, Subscription
from jcjg.ledger import service as ledger
from tests.exchange.conftest import apply_waiting, make_lims
from tests.factories import login, page_csrf
from tests.governance.test_sharing import HTML, STAFF, _post, _set_up
from tests.servers import listening_socket, serving

PLATFORM = "http://testserver"
BASE = "/exchange/v1/sharing/data-sets"


def _docs(name: str) -> dict[str, Any]:
    """The docs/sharing.md code block defining ``name``, run as written."""
    text = (Path(__file__).parents[2] / "docs" / "sharing.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    code = next(b for b in blocks if f"def {name}(" in b)
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/sharing.md", "exec"), scope)  # noqa: S102 - the docs' own example
    return scope


def _key(client, consumer: Consumer) -> tuple[str, Ed25519PrivateKey]:
    """A key pair made as a consumer makes it, its public half registered on the page."""
    private = Ed25519PrivateKey.generate()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    made = _post(client, f"/governance/sharing/consumers/{consumer.id}/key", csrf, public_key=pem)
    assert made.status_code == 303, made.text[:300]
    page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML)
    key_id = re.search(r"<code>(share-[0-9a-f]{24})</code>", page.text).group(1)
    return key_id, private


def _staff(client, db, settings, factory, count: int) -> None:
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    # the apply step's hooks hash with the app's secret, not the environment's: no
    # settings_in_use here (exchange/apply.py runs them with the app's settings)
    for _ in range(count):
        assert lims.post(client, "registry.staff", lims.message(**STAFF)).status_code == 200
    apply_waiting(client)


def _problem(answer, status: int, kind: str) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["type"] == kind, body
    assert re.search(r"[\u4e00-\u9fff]", body["title"]), body
    return body


def test_the_worked_consumer_queries_page_by_page_masked_as_its_deliveries(
    client, db, settings, factory
):
    consumer, _ = _set_up(client, db, factory, "http://127.0.0.1:9/unused")
    key_id, private = _key(client, consumer)
    _staff(client, db, settings, factory, 3)
    # the docs' consumer, run as written over real HTTP: two pages of two, then one
    records = _docs("records")["records"]
    with serving(client.app, listening_socket()) as platform, httpx.Client() as http:
        items = records(http, platform, key_id, private, "staff", region_code="360400", limit=2)
    assert len(items) == 3
    person = items[0]["data"]["people"][0]
    assert person["id_number"] == "360403********1232"
    assert "mobile" not in person
    assert person["birth_date"] == "1990-01"
    assert "ledger" not in items[0]
    # one code path: each item is exactly the delivery made of the same message, but its id
    deliveries = {d.payload["message_id"]: d.payload for d in db.scalars(select(Delivery))}
    for item in items:
        delivered = dict(deliveries[item["message_id"]])
        del delivered["delivery_id"]
        assert item == delivered
    # each page kept: who, which set, the filters, how many rows
    kept = db.scalars(select(Access).order_by(Access.id)).all()
    assert [(a.kind, a.rows, a.key_id) for a in kept] == [
        ("query", 2, key_id),
        ("query", 1, key_id),
    ]
    assert kept[0].filters == {"region_code": "3604", "limit": 2}
    assert kept[1].filters["after"] > 0
    # another region's filter selects nothing; the catalogue says what is open
    assert records(client, PLATFORM, key_id, private, "staff", region_code="3601") == []
    signed_get = _docs("signed_get")["signed_get"]
    url = f"{PLATFORM}{BASE}"
    catalogue = client.get(url, headers=signed_get(key_id, private, url)).json()
    assert [(i["code"], i["access"]) for i in catalogue["items"]] == [("staff", "granted")]
    page = client.get("/governance/sharing/accesses?kind=query", headers=HTML)
    assert page.status_code == 200
    assert "行政区划 3604" in page.text
    assert client.get("/governance/sharing/accesses?format=xlsx").status_code == 200


def _bad_filters_are_refused(get, records: str) -> None:
    """NUL and control characters, huge, negative, non-ASCII and malformed cursors: each field
    named in Chinese, refused before anything is read (no access kept)."""
    for query, field in (
        ("?institution_code=JC%00001", "institution_code"),
        ("?institution_code=JC%0A001", "institution_code"),
        ("?region_code=3604%0000", "region_code"),
        ("?region_code=360400%0A", "region_code"),
        ("?after=99999999999999999999", "after"),
        ("?after=2147483648", "after"),
        ("?after=-1", "after"),
        ("?after=%C2%B2", "after"),
        ("?after=abc", "after"),
        ("?limit=%00", "limit"),
    ):
        body = _problem(get(records + query), 422, "/problems/validation")
        assert [e["field"].removeprefix("query.") for e in body["errors"]] == [field], query
        assert all(e["message"] and not e["message"].isascii() for e in body["errors"]), body


def test_refusals_are_chinese_problems_and_leave_nothing(client, db, settings, factory):
    consumer, reviewer = _set_up(client, db, factory, "", grade="conditional")
    key_id, private = _key(client, consumer)
    signed_get = _docs("signed_get")["signed_get"]

    def get(path: str, key: str = key_id, signer: Ed25519PrivateKey = private):
        url = PLATFORM + path
        return client.get(url, headers=signed_get(key, signer, url))

    records = f"{BASE}/staff/records"
    _problem(client.get(PLATFORM + records), 401, "/problems/exchange-signature-missing")
    stranger = Ed25519PrivateKey.generate()
    _problem(get(records, signer=stranger), 401, "/problems/exchange-signature-invalid")
    _problem(get(records, key="share-" + "0" * 24), 401, "/problems/exchange-key-unknown")
    headers = signed_get(key_id, private, PLATFORM + records + "?limit=5")
    _problem(
        client.get(PLATFORM + records, headers=headers), 401, "/problems/exchange-signature-invalid"
    )
    # a conditional set: 403 until another officer approves
    body = _problem(get(records), 403, "/problems/sharing-pending")
    assert "审核" in body["detail"]
    subscription = db.scalar(select(Subscription))
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    client.cookies.clear()
    third = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(client, third.username)
    csrf = page_csrf(client, "/governance/sharing")
    decided = _post(
        client,
        f"/governance/sharing/subscriptions/{subscription.id}/decision",
        csrf,
        decision="approve",
        note="按规定审核同意",
    )
    assert decided.status_code == 303
    assert get(records).status_code == 200
    # bad filters, a huge page, an unknown set, each in Chinese with the fields named
    body = _problem(
        get(records + "?limit=1000&received_from=2026-13-01&colour=red"),
        422,
        "/problems/validation",
    )
    assert {e["field"] for e in body["errors"]} == {"limit", "received_from", "colour"}
    _problem(get(f"{BASE}/no_such_set/records"), 404, "/problems/not-found")
    _bad_filters_are_refused(get, records)
    # the same signed request again: a replay
    url = PLATFORM + records + "?limit=3"
    headers = signed_get(key_id, private, url)
    assert client.get(url, headers=headers).status_code == 200
    _problem(client.get(url, headers=headers), 401, "/problems/exchange-nonce-replayed")
    # another consumer's grant opens nothing for a consumer without its own
    other = _post(
        client, "/governance/sharing/consumers", csrf, name="某区住建局", kind="department"
    )
    assert other.status_code == 303
    second = db.scalar(select(Consumer).where(Consumer.name == "某区住建局"))
    second_key, second_private = _key(client, second)
    _problem(get(records, second_key, second_private), 403, "/problems/sharing-not-granted")
    # the same public key is one consumer's only
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    twice = _post(client, f"/governance/sharing/consumers/{second.id}/key", csrf, public_key=pem)
    assert twice.status_code == 422
    assert (
        _post(
            client, f"/governance/sharing/consumers/{second.id}/key", csrf, public_key="abc"
        ).status_code
        == 422
    )
    # a restricted set is never served
    restricted = _post(
        client,
        "/governance/sharing/data-sets",
        csrf,
        code="secret_staff",
        name="人员全量",
        message_type="registry.staff",
        grade="restricted",
    )
    assert restricted.status_code == 303
    made = db.scalar(select(DataSet).where(DataSet.code == "secret_staff"))
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, "/governance/sharing")
    assert (
        _post(client, f"/governance/sharing/data-sets/{made.id}/publish", csrf).status_code == 303
    )
    _problem(get(f"{BASE}/secret_staff/records"), 403, "/problems/sharing-restricted")
    # only the two answered requests are kept
    assert db.scalar(select(func.count()).select_from(Access)) == 2


def test_a_package_is_signed_notarised_and_verified_by_the_docs_code(client, db, settings, factory):
    consumer, _ = _set_up(client, db, factory, "")
    key_id, private = _key(client, consumer)
    _staff(client, db, settings, factory, 2)
    signed_get = _docs("signed_get")["signed_get"]
    verify_package = _docs("verify_package")["verify_package"]
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    since = today - dt.timedelta(days=1)
    url = f"{PLATFORM}{BASE}/staff/package?received_from={since}&received_to={today}"
    answer = client.get(url, headers=signed_get(key_id, private, url))
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/zip"
    assert (
        f"staff-{today - dt.timedelta(days=1):%Y%m%d}-{today:%Y%m%d}.zip"
        in answer.headers["content-disposition"]
    )
    index = int(answer.headers["x-ledger-index"])
    key = client.get("/governance/sharing/key").json()
    while ledger.integrate(db):  # as the log's job does
        pass
    db.commit()
    entry = client.get(f"/ledger/entries/{index}").json()
    assert entry["entry_type"] == "share_package:issue"
    lines = verify_package(key, answer.content, entry)
    assert len(lines) == 2
    assert lines[0]["data"]["people"][0]["id_number"] == "360403********1232"
    # a package altered on the way, or another package's log entry, fails
    import io
    import zipfile

    altered = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(answer.content)) as source,
        zipfile.ZipFile(altered, "w") as out,
    ):
        for name in source.namelist():
            data = source.read(name)
            out.writestr(
                name, data.replace(b"senior", b"junior") if name == "records.jsonl" else data
            )
    with pytest.raises(ValueError, match="not the file described"):
        verify_package(key, altered.getvalue(), entry)
    forged = {"entry": {"data": {"manifest_sha256": "0" * 64}}}
    with pytest.raises(ValueError, match="another manifest"):
        verify_package(key, answer.content, forged)
    kept = db.scalar(select(Access).where(Access.kind == "package"))
    assert (kept.rows, kept.ledger_index) == (2, index)
    assert kept.manifest_sha256 == answer.headers["x-manifest-sha256"]
    # a package needs its period, at most a year
    bare = f"{PLATFORM}{BASE}/staff/package"
    _problem(
        client.get(bare, headers=signed_get(key_id, private, bare)), 422, "/problems/validation"
    )
    long = f"{bare}?received_from=2025-01-01&received_to=2026-06-30"
    body = _problem(
        client.get(long, headers=signed_get(key_id, private, long)), 422, "/problems/validation"
    )
    assert "366" in body["errors"][0]["message"]


def test_sensitive_words_are_replaced_in_free_text_but_within_safe_words(client, db, factory):
    words = {"sensitive": ["安全", "王检测"], "safe": ["安全帽"]}
    data = {"note": "安全帽佩戴不规范，存在安全隐患", "people": [{"remark": "王检测签字"}], "n": 3}
    masked = sharing.mask(data, {}, b"k", words)
    assert masked == {
        "note": "安全帽佩戴不规范，存在**隐患",
        "people": [{"remark": "***签字"}],
        "n": 3,
    }
    assert data["note"].startswith("安全帽")  # the original is left alone
    errors: list = []
    assert sharing.word_list("安全\n安全，隐患、安全", "sensitive_words", errors) == [
        "安全",
        "隐患",
    ]
    sharing.word_list("长" * 21, "sensitive_words", errors)
    assert errors[0].message.startswith("每个词不得超过")


def _approve_hashing_identity_numbers(client, db, consumer, subscription, asked_for) -> None:
    """The reviewer approves with the identity numbers hashed instead of masked, after a try
    that left a personal field out (refused, still pending)."""
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    asked = sorted(asked_for.items())
    rows = {f"{k}_{i}": v for i, (path, method) in enumerate(asked)
            for k, v in (("path", path), ("method", method))}  # fmt: skip
    # the reviewer hashes the identity numbers instead: a personal field left out is refused
    hashed = rows | {f"method_{[p for p, _ in asked].index('people[].id_number')}": "hash"}
    first = next(k for k, v in rows.items() if k.startswith("path_") and v != "")
    refused = _post(client, f"/governance/sharing/subscriptions/{subscription.id}/decision",
                    csrf, decision="approve", note="", **(hashed | {first: ""}))  # fmt: skip
    assert refused.status_code == 422
    db.refresh(subscription)
    assert subscription.status == "pending"
    decided = _post(
        client,
        f"/governance/sharing/subscriptions/{subscription.id}/decision",
        csrf,
        decision="approve",
        note="同意",
        **hashed,
    )
    assert decided.status_code == 303
    db.refresh(subscription)
    assert subscription.masking["people[].id_number"] == "hash"
    assert subscription.masking == dict(asked) | {"people[].id_number": "hash"}


def test_a_consumer_applies_online_and_an_officer_approves(client, db, settings, factory):
    _consumer, _reviewer = _set_up(client, db, factory, "", grade="conditional")
    csrf = page_csrf(client, "/governance/sharing/consumers")
    made = _post(
        client, "/governance/sharing/consumers", csrf, name="某区住建局", kind="department"
    )
    assert made.status_code == 303
    consumer = db.scalar(select(Consumer).where(Consumer.name == "某区住建局"))
    key_id, private = _key(client, consumer)
    docs = _docs("apply_for")
    apply_for, signed_get = docs["apply_for"], docs["signed_get"]
    with pytest.raises(httpx2.HTTPStatusError) as refused:
        apply_for(client, PLATFORM, key_id, private, "staff", "  ")
    _problem(refused.value.response, 422, "/problems/validation")
    for purpose in ("用途\x00", "用途\x1b[31m", "用" * 501, 12, ["用途"], None):
        with pytest.raises(httpx2.HTTPStatusError) as refused:
            apply_for(client, PLATFORM, key_id, private, "staff", purpose)
        body = _problem(refused.value.response, 422, "/problems/validation")
        assert [e["field"] for e in body["errors"]] == ["purpose"], purpose
    assert db.scalar(select(Subscription).where(Subscription.consumer_id == consumer.id)) is None
    answer = apply_for(client, PLATFORM, key_id, private, "staff", "核验检测人员资格，用于保函审核")
    assert answer["status"] == "pending"
    assert answer["masking"]["people[].id_number"] == "mask"  # every personal field masked
    with pytest.raises(httpx2.HTTPStatusError) as again:
        apply_for(client, PLATFORM, key_id, private, "staff", "再次申请")
    _problem(again.value.response, 409, "/problems/conflict")
    url = f"{PLATFORM}{BASE}/staff/records"
    _problem(
        client.get(url, headers=signed_get(key_id, private, url)), 403, "/problems/sharing-pending"
    )
    # the officer reads the purpose on the consumer's page and approves (the consumer asked)
    page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML)
    assert "核验检测人员资格，用于保函审核" in page.text
    assert 'data-testid="decision-masking"' in page.text  # the policy, to change on approval
    subscription = db.scalar(select(Subscription).where(Subscription.consumer_id == consumer.id))
    _approve_hashing_identity_numbers(client, db, consumer, subscription, answer["masking"])
    assert client.get(url, headers=signed_get(key_id, private, url)).status_code == 200
    # stopped by an officer (a reason is required): nothing more is served; asked for again,
    # it waits for an officer, and is served once approved
    stop = f"/governance/sharing/subscriptions/{subscription.id}/stop"
    assert _post(client, stop, csrf, note=" ").status_code == 422
    db.refresh(subscription)
    assert subscription.status == "active"
    assert _post(client, stop, csrf, note="核验已完成").status_code == 303
    assert _post(client, stop, csrf, note="再停一次").status_code == 409
    _problem(
        client.get(url, headers=signed_get(key_id, private, url)), 403, "/problems/sharing-pending"
    )
    again = apply_for(client, PLATFORM, key_id, private, "staff", "年度复核")
    assert again["status"] == "pending"
    db.refresh(subscription)
    assert (subscription.status, subscription.decided_by_id) == ("pending", None)
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    decision = f"/governance/sharing/subscriptions/{subscription.id}/decision"
    assert _post(client, decision, csrf, decision="approve", note="").status_code == 303
    assert client.get(url, headers=signed_get(key_id, private, url)).status_code == 200
    kinds = db.scalars(
        select(Access.kind).where(Access.consumer_id == consumer.id).order_by(Access.id)
    ).all()
    assert kinds == ["apply", "query", "apply", "query"]


def test_words_are_kept_with_the_subscription_and_bad_ones_refused(client, db, factory):
    author = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    data_set = DataSet(code="staff", name="检测人员", message_type="registry.staff", grade="public")
    data_set.status = "published"
    consumer = Consumer(name="某银行", kind="bank", endpoint="")
    db.add_all([data_set, consumer])
    db.commit()
    login(client, author.username)
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    form = {
        "data_set_id": str(data_set.id),
        "path_0": "people[].id_number",
        "method_0": "mask",
        "path_1": "people[].mobile",
        "method_1": "drop",
    }
    path = f"/governance/sharing/consumers/{consumer.id}/subscriptions"
    too_long = _post(client, path, csrf, **form, sensitive_words="长" * 21)
    assert too_long.status_code == 422
    assert db.scalar(select(Subscription)) is None
    made = _post(
        client, path, csrf, **form, sensitive_words="安全\n隐患、安全", safe_words="安全帽"
    )
    assert made.status_code == 303, made.text[:300]
    db.expire_all()
    assert db.scalar(select(Subscription)).words == {
        "sensitive": ["安全", "隐患"],
        "safe": ["安全帽"],
    }
    page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML)
    assert "敏感词：安全、隐患" in page.text


def test_a_suspended_consumer_is_refused_and_not_sent_until_reinstated(
    client, db, settings, factory
):
    consumer, reviewer = _set_up(client, db, factory, "http://127.0.0.1:9/unused")
    key_id, private = _key(client, consumer)
    signed_get = _docs("signed_get")["signed_get"]
    records = PLATFORM + f"{BASE}/staff/records"

    def get():
        return client.get(records, headers=signed_get(key_id, private, records))

    _staff(client, db, settings, factory, 1)  # one delivery waiting
    client.cookies.clear()
    login(client, reviewer.username)
    assert db.scalar(select(func.count()).select_from(Delivery)) == 1
    page = f"/governance/sharing/consumers/{consumer.id}"
    shown = client.get(page, headers=HTML)
    assert "正常" in shown.text
    assert 'data-testid="consumer-suspend"' in shown.text
    csrf = page_csrf(client, page)
    status = f"{page}/status"
    assert _post(client, status, csrf, status="stopped").status_code == 422
    assert _post(client, status, csrf, status="a\x00b").status_code == 422
    suspended = _post(client, status, csrf, status="suspended")
    assert suspended.status_code == 303
    db.expire_all()
    assert db.get(Consumer, consumer.id).status == "suspended"
    shown = client.get(page, headers=HTML)
    assert "已暂停" in shown.text
    assert 'data-testid="consumer-reinstate"' in shown.text
    assert "suspended" not in re.sub(r"<[^>]+>", "", shown.text)
    client.cookies.clear()  # the signed queries carry no session
    _problem(get(), 403, "/problems/sharing-consumer-suspended")
    assert db.scalar(select(func.count()).select_from(Access)) == 0
    _staff(client, db, settings, factory, 1)  # nothing made for a suspended consumer
    assert db.scalar(select(func.count()).select_from(Delivery)) == 1
    assert sharing.deliver_due(db, settings) == (0, 0)  # held, not sent
    assert db.scalar(select(Delivery.attempts)) == 0
    # a lab user may not suspend or reinstate; an unknown consumer is 404
    lab = factory.user(Role.INSTITUTION_ADMIN, institution=factory.institution())
    login(client, lab.username)
    csrf = page_csrf(client, "/")
    assert _post(client, status, csrf, status="active").status_code == 403
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, page)
    missing = "/governance/sharing/consumers/987654321/status"
    assert _post(client, missing, csrf, status="active").status_code == 404
    assert _post(client, f"{page}/status", csrf, status="active").status_code == 303
    db.expire_all()
    assert db.get(Consumer, consumer.id).status == "active"
    client.cookies.clear()
    assert get().status_code == 200
    assert sharing.deliver_due(db, settings) == (0, 1)  # sent again (the address is closed)
