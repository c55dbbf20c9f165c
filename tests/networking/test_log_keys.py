# ruff: noqa: PT018  (several things of one row at once)
"""A city that changes its log key (docs/networking.md, "A city rotates its log key"): the
nation pinned the city's key from the province's first proven relay and refuses a relay naming
another (422 ``network-log-key-changed``); its operator sees the pinned keys and the refused
relays on the province's page under /network and accepts the new key there (re-pin to the key a
refused relay named, or unpin), with a reason, audited. The relays refused meanwhile are judged
again (on the re-pin, or by the operator's action): each fact rebuilt once, a proof that does
not verify under the new key refused with that reason. Another role, another region's account
or child, a halted province, and bad input change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core import labels
from jcjg.core.db import utcnow
from jcjg.ledger.note import Signer, generate_signer
from jcjg.networking import jobs
from jcjg.networking.log_keys import Key
from jcjg.networking.models import Child, Forwarded, LogKey
from jcjg.networking.service import register_child
from jcjg.penalties import service
from jcjg.penalties.models import Penalty
from tests.factories import Factory
from tests.networking.helpers import ChildLog
from tests.networking.test_pages import _as, _chinese_only
from tests.networking.test_penalty_facts import decision
from tests.networking.test_relayed_facts import CITY_NAME, Province, _relays
from tests.networking.test_relayed_facts import province as province

REASON = "已与江西省平台核实：九江市平台于 11 月 27 日更换了存证日志密钥"


class Rotated:
    """The nation pinned the city's key from a proven relay, then refused a relay naming the
    city's new key (the city's log now signed with it)."""

    def __init__(self, http: TestClient, db: Session, province: Province) -> None:
        self.http, self.db, self.province = http, db, province
        self.decisions = 0
        assert self.relay().json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}
        self.new = Signer(generate_signer(province.city.origin)[0])
        refused = self.relay(self.new).json()
        assert refused["outcomes"] == {"duplicate": 0, "refused": 1}, refused
        assert refused["refused"][0]["type"].endswith("/network-log-key-changed")
        self.refusal = db.scalar(select(Forwarded.id).where(Forwarded.outcome == "refused"))

    def relay(self, signer: Signer | None = None) -> Any:
        """A new decision of the city's relayed by the province: the city's log signed with
        ``signer`` (a new key), else with its first key."""
        self.decisions += 1
        province = self.province
        entry, content = decision(self.db, province.institution, number=_number(self.decisions))
        leaf = province.city_leaf(service.DECIDE_TYPE, entry)
        if signer is None:
            return province.post(self.http, [province.relay(leaf, content)])
        log = ChildLog(province.city.origin, signer)
        log.entries = list(province.city.entries)
        item = province.relay(
            leaf, content, proof=province.proof(leaf, log), relayed={"log_key": signer.vkey}
        )
        return province.post(self.http, [item])

    def pinned(self) -> list[str]:
        self.db.expire_all()
        return list(self.db.scalars(select(LogKey.log_key)))

    def audited(self, kind: str = "network_log_key") -> list[tuple[str, str | None, Any, Any]]:
        rows = self.db.execute(
            select(AuditLog.action, AuditLog.detail, AuditLog.before, AuditLog.after)
            .where(AuditLog.object_type == kind)
            .order_by(AuditLog.id)
        )
        return [tuple(r) for r in rows]

    def outcome(self, row_id: int) -> tuple[str, str | None]:
        """A forwarded leaf's outcome here, and its problem's type (its last word)."""
        self.db.expire_all()
        row = self.db.get(Forwarded, row_id)
        assert row is not None
        return row.outcome, (row.problem or {}).get("type", "").rsplit("/", 1)[-1] or None

    def penalties(self) -> list[int]:
        """The numbers (第 n 号) of the city's decisions rebuilt here, each as often as held."""
        self.db.expire_all()
        numbers = self.db.scalars(select(Penalty.number).where(Penalty.origin == CITY_NAME))
        return sorted(int(re.findall(r"第 (\d+) 号", n)[0]) for n in numbers)

    def new_key_relay(self, number: int, *, old_proof: bool = False) -> tuple[Any, Any, Any]:
        """A new decision of the city's (第 ``number`` 号), its leaf and content, and the
        province's relay of it naming the city's new key (its proof the new key's checkpoint,
        or the old key's)."""
        province = self.province
        entry, content = decision(self.db, province.institution, number=_number(number))
        leaf = province.city_leaf(service.DECIDE_TYPE, entry)
        return leaf, content, self.new_key_item(leaf, content, old_proof=old_proof)

    def new_key_item(self, leaf: Any, content: Any, *, old_proof: bool = False) -> Any:
        province = self.province
        log = ChildLog(province.city.origin, self.new)
        log.entries = list(province.city.entries)
        proof = province.proof(leaf) if old_proof else province.proof(leaf, log)
        return province.relay(leaf, content, proof=proof, relayed={"log_key": self.new.vkey})


def _number(n: int) -> str:
    return f"浔建罚字〔2026〕第 {n} 号"


@pytest.fixture
def rotated(browser_client: TestClient, db: Session, province: Province) -> Rotated:
    return Rotated(browser_client, db, province)


def _post(http: TestClient, child_id: int, csrf: str, **form: Any) -> Any:
    return http.post(f"/network/children/{child_id}/log-keys", data={"csrf_token": csrf, **form})


def test_a_manager_accepts_the_citys_new_key_and_the_old_one_is_refused_after(
    browser_client: TestClient, db: Session, factory: Factory, rotated: Rotated
) -> None:
    http, province, city = browser_client, rotated.province, rotated.province.city
    old, new = Key.of(city.vkey), Key.of(rotated.new.vkey)
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    page = http.get(f"/network/children/{province.child_id}")
    text = _chinese_only(page.text)
    for shown in ("经其转报的日志公钥", city.origin, old.key_id, old.fingerprint,
                  "因日志公钥不同被拒收的转报", "九江市检测监管平台（360400）", new.key_id,
                  new.fingerprint, "记下此公钥"):  # fmt: skip
        assert shown in text, shown
    done = _post(http, province.child_id, csrf, action="repin", refusal=rotated.refusal,
                 reason=REASON)  # fmt: skip
    assert done.status_code == 303, done.text[:500]
    assert done.headers["location"].endswith("?done=repinned")
    assert rotated.pinned() == [rotated.new.vkey]
    assert rotated.audited() == [
        ("update", REASON, {"origin": city.origin, "log_key": city.vkey},
         {"origin": city.origin, "log_key": rotated.new.vkey}),
    ]  # fmt: skip
    shown = _chinese_only(http.get(done.headers["location"]).text)
    assert "已记下该转报所附的日志公钥" in shown and "重新判定" in shown
    # the refused relay was judged again under the new key: the city's decision is here now
    assert rotated.outcome(rotated.refusal) == ("rebuilt", None)
    assert rotated.penalties() == [1, 2]
    again = _post(http, province.child_id, csrf, action="repin", refusal=rotated.refusal,
                  reason=REASON)  # fmt: skip
    assert again.status_code == 404 and "没有这条因日志公钥不同被拒收的转报" in again.text
    # a relay with the new key passes, its proof checked against it; one with the old is refused
    assert rotated.relay(rotated.new).json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}
    stale = rotated.relay().json()
    assert stale["outcomes"] == {"duplicate": 0, "refused": 1}, stale
    assert stale["refused"][0]["type"].endswith("/network-log-key-changed")
    # unpinned: the next relay whose proof verifies pins its key (here the first one again)
    (pin,) = db.scalars(select(LogKey.id))
    gone = _post(http, province.child_id, csrf, action="unpin", pin=pin, reason="改回原密钥")
    assert gone.status_code == 303 and gone.headers["location"].endswith("?done=unpinned")
    assert rotated.pinned() == []
    assert rotated.audited()[-1] == (
        "delete",
        "改回原密钥",
        {"origin": city.origin, "log_key": rotated.new.vkey},
        None,
    )
    assert rotated.relay().json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}
    assert rotated.pinned() == [city.vkey]


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"action": "repin", "reason": ""}, 422, "请写明理由"),
        ({"action": "repin", "reason": "   "}, 422, "请写明理由"),
        ({"action": "repin", "reason": "x" * 501}, 422, "理由不能超过 500 个字"),
        ({"action": "repin", "reason": "已核实\x00"}, 422, "含有不允许的控制字符（U+0000）"),
        ({"action": "repin", "reason": "已核实\x07"}, 422, "含有不允许的控制字符（U+0007）"),
        ({"action": "repin", "refusal": "9" * 40}, 422, "请从页面的列表中选择"),
        ({"action": "repin", "refusal": "-1"}, 422, "请从页面的列表中选择"),
        ({"action": "repin", "refusal": "１２"}, 422, "请从页面的列表中选择"),
        ({"action": "repin", "refusal": "9" * 18}, 422, "请从页面的列表中选择"),
        ({"action": "repin", "refusal": str(2**31)}, 422, "请从页面的列表中选择"),
        ({"action": "repin", "refusal": str(2**31 - 1)}, 404, "没有这条因日志公钥不同被拒收的转报"),
        ({"action": "unpin", "pin": str(2**31 - 1)}, 404, "没有这一记下的公钥"),
        ({"action": "unpin", "pin": ""}, 422, "请从页面的列表中选择"),
        ({"action": "drop"}, 422, "请选择记下转报所附的公钥，或取消记下的公钥"),
        ({"action": "rejudge", "pin": ""}, 422, "请从页面的列表中选择"),
        ({"action": "rejudge", "pin": str(2**31 - 1)}, 404, "没有这一记下的公钥"),
    ],
)
def test_bad_input_says_why_in_chinese_and_changes_nothing(
    browser_client: TestClient, factory: Factory, rotated: Rotated, form: dict[str, str],
    status: int, says: str,
) -> None:  # fmt: skip
    http = browser_client
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    sent = {"refusal": str(rotated.refusal), "reason": REASON} | form
    answer = _post(http, rotated.province.child_id, csrf, **sent)
    assert answer.status_code == status, answer.text[:500]
    assert says in answer.text
    assert re.search(r"[\u4e00-\u9fff]", answer.text)
    assert rotated.pinned() == [rotated.province.city.vkey]
    assert rotated.audited() == [] and rotated.audited("network_forwarded") == []
    assert rotated.outcome(rotated.refusal) == ("refused", "network-log-key-changed")


def test_another_role_or_region_or_child_changes_nothing(
    browser_client: TestClient, db: Session, settings: Any, factory: Factory, rotated: Rotated
) -> None:
    http, province = browser_client, rotated.province
    form = {"action": "repin", "refusal": rotated.refusal, "reason": REASON}
    # an auditor reads the keys, without the forms, and may not change them
    csrf = _as(http, factory.user(Role.AUDITOR, region_code="360000"))
    page = http.get(f"/network/children/{province.child_id}")
    assert "经其转报的日志公钥" in _chinese_only(page.text) and "/log-keys" not in page.text
    assert _post(http, province.child_id, csrf, **form).status_code == 403
    # another province's authority does not see Jiangxi's child
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"))
    assert _post(http, province.child_id, csrf, **form).status_code == 404
    # nor may it pass Jiangxi's refused relay, or its pin, through its own child
    guangdong = register_child(
        db, settings, name="广东省检测监管平台", region_code="440000",
        base_url="http://guangdong.test", log_key=generate_signer("guangdong.test/ledger")[1],
    ).child  # fmt: skip
    db.commit()
    (pin,) = db.scalars(select(LogKey.id))
    assert _post(http, guangdong.id, csrf, **form).status_code == 404
    gone = _post(http, guangdong.id, csrf, action="unpin", pin=pin, reason=REASON)
    assert gone.status_code == 404 and "没有这一记下的公钥" in gone.text
    assert rotated.pinned() == [province.city.vkey]
    assert rotated.audited() == []
    assert db.scalar(select(func.count()).select_from(LogKey)) == 1
    # nor judge the refused relays again: an auditor, another province's authority
    rejudge = {"action": "rejudge", "pin": pin, "reason": REASON}
    assert _post(http, province.child_id, csrf, **rejudge).status_code == 404
    assert _post(http, guangdong.id, csrf, **rejudge).status_code == 404
    csrf = _as(http, factory.user(Role.AUDITOR, region_code="360000"))
    assert _post(http, province.child_id, csrf, **rejudge).status_code == 403
    assert rotated.outcome(rotated.refusal) == ("refused", "network-log-key-changed")
    assert rotated.audited("network_forwarded") == [] and rotated.penalties() == [1]


def test_a_repin_judges_the_refused_relays_again_in_order_each_fact_once(
    browser_client: TestClient, db: Session, factory: Factory, rotated: Rotated
) -> None:
    """The relays refused for naming the city's new key are judged again, in the province's
    log order, as fresh relays: each fact rebuilt once (the same city leaf relayed twice: the
    second a duplicate), a proof that does not verify under the new key refused with that
    reason; a relay refused before proofs were kept cannot be, and says so."""
    http, province = browser_client, rotated.province
    leaf, content, fresh = rotated.new_key_relay(11)
    _, _, forged = rotated.new_key_relay(12, old_proof=True)  # the old key's checkpoint
    twice = rotated.new_key_item(leaf, content)  # the same city leaf relayed again
    _, _, legacy = rotated.new_key_relay(13)
    answer = province.post(http, [fresh, forged, twice, legacy]).json()
    assert answer["outcomes"] == {"duplicate": 0, "refused": 4}, answer
    by_index = {i: r for i, r in db.execute(select(Forwarded.origin_index, Forwarded.id))}
    rows = [by_index[i["index"]] for i in (fresh, forged, twice, legacy)]
    # refused before proofs were kept (an older version): nothing to judge it again with
    db.execute(update(Forwarded).where(Forwarded.id == rows[3]).values(relay_proof=None))
    db.commit()
    assert db.scalar(select(Child.refused).where(Child.id == province.child_id)) == 5
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    done = _post(http, province.child_id, csrf, action="repin", refusal=rotated.refusal,
                 reason=REASON)  # fmt: skip
    assert done.status_code == 303, done.text[:500]
    changed = "network-log-key-changed"
    assert [rotated.outcome(r) for r in [rotated.refusal, *rows]] == [
        ("rebuilt", None), ("rebuilt", None), ("refused", "network-entry-mismatch"),
        ("duplicate", None), ("refused", changed),
    ]  # fmt: skip
    assert rotated.penalties() == [1, 2, 11]  # once each; 12's proof is not the new key's
    relayed = [r["data"]["relayed_from"]["index"] for r in _relays(db, service.DECIDE_TYPE)]
    assert len(relayed) == len(set(relayed)) == 3  # the nation's log relays each once
    assert db.scalar(select(Child.refused).where(Child.id == province.child_id)) == 2
    assert db.scalar(select(Forwarded.content).where(Forwarded.id == rows[2])) is None
    audited = rotated.audited("network_forwarded")
    assert [(a, d, b["problem"].rsplit("/")[-1], f["outcome"]) for a, d, b, f in audited] == [
        ("update", REASON, changed, "rebuilt"), ("update", REASON, changed, "rebuilt"),
        ("update", REASON, changed, "refused"), ("update", REASON, changed, "duplicate"),
    ]  # fmt: skip
    assert labels.label("entity", "network_forwarded") == "下级平台转发的条目"  # the audit's word
    page = _chinese_only(http.get(done.headers["location"]).text)
    for said in ("改记公钥后重新判定的转报：已在本平台登记（平台事实） 2 条，"
                 "重复（已由其他途径收到） 1 条，拒收 1 条",
                 "所附检查点不是来源日志签发的",
                 "另有 1 条附此公钥被拒收的转报在拒收时未保存其来源证明"):  # fmt: skip
        assert said in page, said
    # the one that could not be judged again still offers its key, which is the pinned one
    again = _post(http, province.child_id, csrf, action="repin", refusal=rows[3], reason=REASON)
    assert again.status_code == 409 and "该日志记下的已是这一公钥" in _chinese_only(again.text)
    # the same city leaf relayed once more after: a duplicate, nothing doubled
    assert province.post(http, [rotated.new_key_item(leaf, content)]).json()["outcomes"] == {
        "duplicate": 1
    }
    assert rotated.penalties() == [1, 2, 11]


def test_an_operator_judges_again_the_relays_refused_before_a_key_pinned_on_first_sight(
    browser_client: TestClient, db: Session, factory: Factory, rotated: Rotated
) -> None:
    """Unpinned, the city's log is pinned again by the next relay whose proof verifies (its new
    key): the relays refused meanwhile for naming it are offered to be judged again."""
    http, province = browser_client, rotated.province
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    (pin,) = db.scalars(select(LogKey.id))
    assert (
        _post(http, province.child_id, csrf, action="unpin", pin=pin, reason=REASON).status_code
        == 303
    )
    assert rotated.outcome(rotated.refusal) == ("refused", "network-log-key-changed")
    assert rotated.relay(rotated.new).json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}
    assert rotated.pinned() == [rotated.new.vkey]
    (pin,) = db.scalars(select(LogKey.id))
    page = _chinese_only(http.get(f"/network/children/{province.child_id}").text)
    assert "重新判定 1 条附此公钥被拒收的转报" in page
    bare = _post(http, province.child_id, csrf, action="rejudge", pin=pin, reason=" ")
    assert bare.status_code == 422 and "请写明理由" in bare.text
    assert rotated.outcome(rotated.refusal) == ("refused", "network-log-key-changed")
    done = _post(http, province.child_id, csrf, action="rejudge", pin=pin, reason=REASON)
    assert done.status_code == 303 and done.headers["location"].endswith("?done=rejudged")
    assert rotated.outcome(rotated.refusal) == ("rebuilt", None)
    assert rotated.penalties() == [1, 2, 3]
    page = _chinese_only(http.get(done.headers["location"]).text)
    assert "已按记下的公钥重新判定" in page and "重新判定 1 条" not in page
    # nothing left to judge: said, and nothing written
    again = _post(http, province.child_id, csrf, action="rejudge", pin=pin, reason=REASON)
    assert again.status_code == 409, again.text[:300]
    assert "没有因日志公钥不同被拒收、可按此公钥重新判定的转报" in _chinese_only(again.text)
    assert len(rotated.audited("network_forwarded")) == 1


def test_a_repin_while_the_province_is_halted_judges_nothing_until_it_is_resumed(
    browser_client: TestClient, db: Session, factory: Factory, rotated: Rotated
) -> None:
    http, province = browser_client, rotated.province
    db.execute(
        update(Child)
        .where(Child.id == province.child_id)
        .values(status="halted", halted_reason="其日志被发现前后不一致")
    )
    db.commit()
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    done = _post(http, province.child_id, csrf, action="repin", refusal=rotated.refusal,
                 reason=REASON)  # fmt: skip
    assert done.status_code == 303 and rotated.pinned() == [rotated.new.vkey]
    assert rotated.outcome(rotated.refusal) == ("refused", "network-log-key-changed")
    (pin,) = db.scalars(select(LogKey.id))
    held = _post(http, province.child_id, csrf, action="rejudge", pin=pin, reason=REASON)
    assert held.status_code == 409 and "恢复接收后再重新判定" in _chinese_only(held.text)
    assert rotated.penalties() == [1] and rotated.audited("network_forwarded") == []
    resumed = http.post(f"/network/children/{province.child_id}/resume", data={"csrf_token": csrf})
    assert resumed.status_code == 303
    page = _chinese_only(http.get(f"/network/children/{province.child_id}").text)
    assert "重新判定 1 条附此公钥被拒收的转报" in page
    done = _post(http, province.child_id, csrf, action="rejudge", pin=pin, reason=REASON)
    assert done.status_code == 303 and rotated.outcome(rotated.refusal) == ("rebuilt", None)
    assert rotated.penalties() == [1, 2]


def test_a_relay_whose_content_went_before_the_repin_is_judged_without_it(
    browser_client: TestClient, db: Session, factory: Factory, rotated: Rotated
) -> None:
    """A refused relay keeps its content as any refused fact does: the days it is kept, not
    more; judged again after, it is judged as a relay without content (a decision: recorded
    with empty facts, as docs/networking.md says of a decision that came without them)."""
    http, province = browser_client, rotated.province
    kept = db.scalar(select(Forwarded.content).where(Forwarded.id == rotated.refusal))
    assert kept is not None and kept["facts"] == "出具虚假检测报告。"
    assert jobs.purge(db, days=0, upstream=False, now=utcnow()) == 2  # with the rebuilt one's
    db.commit()
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    done = _post(http, province.child_id, csrf, action="repin", refusal=rotated.refusal,
                 reason=REASON)  # fmt: skip
    assert done.status_code == 303
    assert rotated.outcome(rotated.refusal) == ("rebuilt", None)
    facts = db.scalar(select(Penalty.facts).where(Penalty.number == _number(2)))
    assert facts == "" and rotated.penalties() == [1, 2]
