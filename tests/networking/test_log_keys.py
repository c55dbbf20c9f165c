# ruff: noqa: PT018  (several things of one row at once)
"""A city that changes its log key (docs/networking.md, "A city rotates its log key"): the
nation pinned the city's key from the province's first proven relay and refuses a relay naming
another (422 ``network-log-key-changed``); its operator sees the pinned keys and the refused
relays on the province's page under /network and accepts the new key there (re-pin to the key a
refused relay named, or unpin), with a reason, audited. Another role, another region's account
or child, and bad input change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.ledger.note import Signer, generate_signer
from jcjg.networking.log_keys import Key
from jcjg.networking.models import Forwarded, LogKey
from jcjg.networking.service import register_child
from jcjg.penalties import service
from tests.factories import Factory
from tests.networking.helpers import ChildLog
from tests.networking.test_pages import _as, _chinese_only
from tests.networking.test_penalty_facts import decision
from tests.networking.test_relayed_facts import Province
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
        entry, content = decision(
            self.db, province.institution, number=f"浔建罚字〔2026〕第 {self.decisions} 号"
        )
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

    def audited(self) -> list[tuple[str, str | None, Any, Any]]:
        rows = self.db.execute(
            select(AuditLog.action, AuditLog.detail, AuditLog.before, AuditLog.after)
            .where(AuditLog.object_type == "network_log_key")
            .order_by(AuditLog.id)
        )
        return [tuple(r) for r in rows]


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
    assert "已记下该转报所附的日志公钥" in shown and "已记下" in shown
    again = _post(http, province.child_id, csrf, action="repin", refusal=rotated.refusal,
                  reason=REASON)  # fmt: skip
    assert again.status_code == 409 and "该日志记下的已是这一公钥" in _chinese_only(again.text)
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
    assert rotated.audited() == []


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
