"""The levels' pages (docs/networking.md, "Oversight"): ``/network`` lists the children within
scope (status filter, sorting, paging, .xlsx) and shows the upstream when there is one; a
child's page; registering a child (its key shown once) and resuming a halted one. Chinese
labels only; every refusal says why in Chinese and writes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.exchange import keystore
from jcjg.exchange.models import Client, ClientKey
from jcjg.exchange.types import message_types
from jcjg.ledger import service as ledger
from jcjg.ledger.note import generate_signer
from jcjg.networking.choices import ChildStatus, Outcome
from jcjg.networking.forward import CURSOR_ID
from jcjg.networking.models import Child, ForwardCursor, Forwarded
from jcjg.networking.rules import SUBJECT
from jcjg.networking.service import register_child
from tests.factories import Factory, login, page_csrf
from tests.lists import column, sheet
from tests.networking.helpers import ChildLog

HALTED_REASON = "日志被改写：大小 120 的树不以先前核验的大小 100 的树为前缀"

# What a page must never show a user: rule ids, field keys, stored values of choices, problem
# type slugs, the API's "see errors".
IDENTIFIERS = re.compile(
    r"child_platform_silent|child_forward_lag|child_log_inconsistent|network-[a-z]"
    r"|region_code|base_url|log_key|public_key|log_origin|halted_reason"
    r"|\b(active|halted|stored|recorded|refused|duplicate|origin_rejected|lab_signature"
    r"|platform|errors|message|registry|None|True|False)\b"
)


def _as(http: TestClient, user: User) -> str:
    """Log ``http`` in as ``user`` (after logging anyone else out); return the CSRF token."""
    http.cookies.clear()
    login(http, user.username)
    return page_csrf(http)


def _main(html: str) -> str:
    """The visible text of a page's ``<main>``, tags dropped and white space squeezed."""
    found = re.search(r"<main\b.*?</main>", html, re.S)
    assert found, "no <main> in the page"
    inner = re.sub(r"<(script|style)\b.*?</\1>", " ", found[0], flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", inner)).strip()


def _chinese_only(html: str) -> str:
    text = _main(html)
    shown = IDENTIFIERS.findall(text)
    assert not shown, f"identifiers shown: {shown} in {text[:2000]}"
    return text


def _rows(html: str) -> list[str]:
    """The names in the children's table, in order."""
    table = re.search(r'data-testid="children-table".*?</table>', html, re.S)
    assert table
    return re.findall(r'href="/network/children/\d+">([^<]+)</a>', table[0])


def _child(
    db: Session, settings: Settings, name: str, region: str, host: str, **state: Any
) -> Child:
    """A child registered as the page would, then put in ``state``."""
    child = register_child(
        db,
        settings,
        name=name,
        region_code=region,
        base_url=f"https://{host}",
        log_key=generate_signer(f"{host}/ledger")[1],
    ).child
    for key, value in state.items():
        setattr(child, key, value)
    db.flush()
    return child


class Region:
    """Three children in Jiangxi, each in one state the province watches for."""

    def __init__(self, db: Session, settings: Settings) -> None:
        now = utcnow()
        self.lagging = _child(
            db, settings, "九江市检测监管平台", "360400", "jcjg.jj.example.cn",
            last_forward_at=now - dt.timedelta(seconds=30), next_index=5200, forwarded=5200,
            backlog=1840, oldest_waiting_at=now - dt.timedelta(hours=2), checked_size=5000,
            checked_at=now - dt.timedelta(minutes=1), cosigned_at=now - dt.timedelta(minutes=1),
        )  # fmt: skip
        self.halted = _child(
            db, settings, "上饶市检测监管平台", "361100", "jcjg.sr.example.cn",
            status=ChildStatus.HALTED.value, halted_reason=HALTED_REASON, refused=2,
            last_forward_at=now - dt.timedelta(days=1), next_index=120, forwarded=120,
            checked_size=100, checked_at=now - dt.timedelta(days=1),
        )  # fmt: skip
        self.silent = _child(
            db, settings, "南昌市检测监管平台", "360100", "jcjg.nc.example.cn",
            last_forward_at=now - dt.timedelta(days=21), checked_size=40,
            checked_at=now - dt.timedelta(hours=1),
        )  # fmt: skip
        db.add(
            Alert(
                rule_id="child_log_inconsistent", key=f"child:{self.halted.id}",
                severity="critical", subject_type=SUBJECT, subject_id=str(self.halted.id),
                subject_repr=self.halted.name, institution_id=None, region_code="361100",
                facts={"下级平台": self.halted.name}, first_seen_at=now, last_seen_at=now,
            )
        )  # fmt: skip
        db.commit()


@pytest.fixture
def region(db: Session, settings: Settings) -> Region:
    return Region(db, settings)


def _counts(db: Session) -> tuple[int, int, int]:
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Child)) or 0,
        db.scalar(select(func.count()).select_from(Client)) or 0,
        db.scalar(select(func.count()).select_from(ClientKey)) or 0,
    )


# --- the list ----------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_the_list_shows_the_children_in_chinese_filters_sorts_pages_and_exports(
    browser_client: TestClient, factory: Factory, region: Region
) -> None:
    http = browser_client
    _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    page = http.get("/network")
    assert page.status_code == 200, page.text[:500]
    text = _chinese_only(page.text)
    assert set(_rows(page.text)) == {
        "九江市检测监管平台",
        "上饶市检测监管平台",
        "南昌市检测监管平台",
    }
    assert "共 3 条" in text
    for shown in ("正常", "已暂停（日志不一致）", "120 分钟", "预警 1", "本平台没有配置上级平台"):
        assert shown in text, shown
    assert 'data-testid="register-child"' in page.text  # the provincial authority manages
    assert re.search(r'<table class="[^"]*\blist-cards\b', page.text)  # cards on a phone

    halted = http.get("/network", params={"status": "halted"})
    assert halted.status_code == 200
    assert _rows(halted.text) == ["上饶市检测监管平台"]
    assert "共 1 条" in _chinese_only(halted.text)
    assert re.search(r'<option value="halted" selected>', halted.text)
    active = http.get("/network", params={"status": "active"})  # newest first
    assert _rows(active.text) == ["南昌市检测监管平台", "九江市检测监管平台"]
    for bad in ("stopped", "HALTED", "halted'--"):
        refused = http.get("/network", params={"status": bad})
        assert refused.status_code == 400, (bad, refused.status_code)
        assert "状态：格式不正确" in _main(refused.text)
        assert "上饶市检测监管平台" not in refused.text
    unsortable = http.get("/network", params={"sort": "lag"})
    assert unsortable.status_code == 400
    assert "该列表不能按此列排序" in unsortable.text

    by_backlog = http.get("/network", params={"sort": "backlog", "order": "desc"})
    assert _rows(by_backlog.text)[0] == "九江市检测监管平台"
    by_name = _rows(http.get("/network", params={"sort": "name", "order": "asc"}).text)
    assert sorted(by_name) == sorted(_rows(page.text))
    assert (
        _rows(http.get("/network", params={"sort": "name", "order": "desc"}).text)
        == (by_name[::-1])
    )
    first = http.get("/network", params={"sort": "backlog", "order": "desc", "limit": 2})
    assert len(_rows(first.text)) == 2
    assert "下一页" in first.text
    second = http.get(
        "/network", params={"sort": "backlog", "order": "desc", "limit": 2, "offset": 2}
    )
    assert len(_rows(second.text)) == 1
    assert set(_rows(first.text) + _rows(second.text)) == set(_rows(page.text))

    rows = sheet(http.get("/network", params={"format": "xlsx"}))
    assert rows[0] == [
        "下级平台", "行政区划", "状态", "最后一次转发", "已转发条数", "拒收条数", "积压条数",
        "滞后（分钟）", "已核验日志大小", "最后联署",
    ]  # fmt: skip
    by_name_row = {r[0]: r for r in rows[1:]}
    assert set(by_name_row) == set(_rows(page.text))
    jj = by_name_row["九江市检测监管平台"]
    assert (jj[2], jj[4], jj[6], jj[7], jj[8]) == ("正常", "5200", "1840", "120", "5000")
    assert by_name_row["上饶市检测监管平台"][2] == "已暂停（日志不一致）"
    assert by_name_row["上饶市检测监管平台"][5] == "2"
    assert "九江" in jj[1]
    exported = sheet(http.get("/network", params={"format": "xlsx", "status": "halted"}))
    assert column(exported, "下级平台") == ["上饶市检测监管平台"]


def test_another_regions_authority_neither_lists_nor_opens_the_child(
    browser_client: TestClient, factory: Factory, region: Region
) -> None:
    http = browser_client
    _as(http, factory.user(Role.CITY_AUTHORITY, region_code="360100"))
    page = http.get("/network")
    assert page.status_code == 200
    assert _rows(page.text) == ["南昌市检测监管平台"]  # its own city's only
    assert 'data-testid="register-child"' not in page.text  # reads, does not manage
    assert column(sheet(http.get("/network?format=xlsx")), "下级平台") == ["南昌市检测监管平台"]
    assert http.get(f"/network/children/{region.lagging.id}").status_code == 404
    assert http.get(f"/network/children/{region.halted.id}").status_code == 404
    assert http.get(f"/network/children/{region.silent.id}").status_code == 200
    assert http.get("/network/children/999999").status_code == 404
    # the city of the child sees it
    _as(http, factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    assert _rows(http.get("/network").text) == ["九江市检测监管平台"]
    assert http.get(f"/network/children/{region.lagging.id}").status_code == 200


# --- registering ------------------------------------------------------------------------------


def _register(http: TestClient, csrf: str, **fields: str):
    data = {
        "csrf_token": csrf,
        "name": "南昌市建设工程检测监管平台",
        "region_code": "360100",
        "base_url": "https://jcjg.nc.example.cn/",
        "log_key": ChildLog().vkey,
        "public_key": "",
        **fields,
    }
    return http.post("/network/children/register", data=data)


@pytest.mark.sqlite
def test_registering_a_child_shows_its_key_once(
    browser_client: TestClient, db: Session, factory: Factory, settings: Settings
) -> None:
    http = browser_client
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    form = http.get("/network/children/register")
    assert form.status_code == 200
    _chinese_only(form.text)
    log = ChildLog()
    made = _register(http, csrf, log_key=log.vkey)
    assert made.status_code == 200, made.text[:1000]
    assert made.headers["cache-control"] == "no-store"
    text = _chinese_only(made.text)
    assert "只显示这一次" in text
    child = db.scalars(select(Child)).one()
    assert (child.name, child.region_code, child.base_url, child.log_origin) == (
        "南昌市建设工程检测监管平台",
        "360100",
        "https://jcjg.nc.example.cn",
        log.origin,
    )
    key = db.scalars(select(ClientKey).where(ClientKey.client_id == child.client_id)).one()
    assert key.alg == "hmac-sha256"
    assert key.key_id in text
    secret = re.search(r'data-testid="secret">([^<]+)<', made.text)[1]
    assert keystore.unseal(settings.secret_key, key.key_material, key.key_id) == (
        base64.b64decode(secret)
    )
    later = http.get(f"/network/children/{child.id}")
    assert later.status_code == 200
    assert secret not in later.text  # never again
    assert 'data-testid="secret"' not in later.text

    # with an Ed25519 public key: no secret to show, only the key id
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signed = _register(
        http, csrf, name="赣州市检测监管平台", region_code="360700",
        base_url="https://jcjg.gz.example.cn",
        log_key=generate_signer("jcjg.gz.example.cn/ledger")[1], public_key=pem.decode(),
    )  # fmt: skip
    assert signed.status_code == 200, signed.text[:1000]
    assert signed.headers["cache-control"] == "no-store"
    assert 'data-testid="secret"' not in signed.text
    second = db.scalars(select(Child).where(Child.region_code == "360700")).one()
    ed = db.scalars(select(ClientKey).where(ClientKey.client_id == second.client_id)).one()
    assert ed.alg == "ed25519"
    assert ed.key_id in _chinese_only(signed.text)
    assert "Ed25519 私钥" in signed.text


def _bad(id: str, field: str | None, message: str, **fields: str) -> Any:
    return pytest.param(fields, field, message, id=id)


@pytest.mark.parametrize(
    ("fields", "marked", "message"),
    [
        _bad("region-5-digits", "region_code", "请填写 6 位行政区划代码", region_code="36010"),
        _bad("region-unknown", "region_code", "行政区划代码不存在", region_code="369999"),
        _bad("region-outside", "region_code", "只能登记本账号辖区内", region_code="440100"),
        _bad("url-no-scheme", "base_url", "平台地址应为 http(s)://", base_url="jcjg.example.cn"),
        _bad("url-ftp", "base_url", "平台地址应为 http(s)://", base_url="ftp://jcjg.example.cn"),
        _bad("url-query", "base_url", "不带查询参数", base_url="https://jcjg.example.cn/?a=1"),
        _bad("url-too-long", "base_url", "平台访问地址不能超过 200 个字符",
             base_url="https://" + "a" * 200 + ".cn"),
        _bad("log-key-words", "log_key", "日志公钥格式不正确", log_key="不是公钥"),
        _bad("log-key-short", "log_key", "日志公钥格式不正确",
             log_key="city.test/ledger+0badc0de+AAAA"),
        _bad("log-key-too-long", "log_key", "存证日志公钥不能超过 300 个字符", log_key="a" * 301),
        _bad("log-origin-too-long", "log_key", "不能超过 200 个字符",
             log_key=generate_signer("h" * 210 + "/ledger")[1]),
        _bad("public-key-too-long", "public_key", "转发签名公钥过长",
             public_key="A" * (16 * 1024 + 1)),
        _bad("public-key-bad", "public_key", "公钥格式不正确", public_key="not-a-key"),
        _bad("name-blank", "name", "平台名称须为 1 至 100 个字符", name=" "),
        _bad("name-too-long", "name", "平台名称须为 1 至 100 个字符", name="南" * 101),
        _bad("name-nul", None, "“名称”含有不允许的字符", name="南昌\x00平台"),
        _bad("url-bell", None, "含有不允许的字符", base_url="https://jcjg.example.cn\x07"),
        _bad("log-key-escape", None, "含有不允许的字符", log_key=ChildLog().vkey + "\x1b"),
    ],
)  # fmt: skip
def test_a_bad_registration_says_why_and_writes_nothing(
    browser_client: TestClient,
    db: Session,
    factory: Factory,
    fields: dict[str, str],
    marked: str | None,
    message: str,
) -> None:
    http = browser_client
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    before = _counts(db)
    answer = _register(http, csrf, **fields)
    assert answer.status_code == 422, answer.text[:1000]
    text = _chinese_only(answer.text)
    assert message in text
    if marked is not None:  # said beside the field, the form kept
        assert "有 1 处需要修改" in text
        found = re.search(rf'<small id="e-{marked}" class="error">([^<]+)</small>', answer.text)
        assert found, answer.text
        assert message in found[1]
        assert 'data-testid="register-form"' in answer.text
        assert f'value="{fields.get("region_code", "360100")}"' in answer.text
    assert _counts(db) == before


def test_every_bad_field_is_marked_at_once(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    http = browser_client
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    before = _counts(db)
    answer = _register(
        http, csrf, region_code="440100", base_url="ftp://x", log_key="x", public_key="y"
    )
    assert answer.status_code == 422
    assert "有 4 处需要修改" in _chinese_only(answer.text)
    for field in ("region_code", "base_url", "log_key", "public_key"):
        assert f'<small id="e-{field}" class="error">' in answer.text, field
    assert _counts(db) == before


def test_a_log_registered_twice_is_a_conflict_and_a_city_may_not_register(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    http = browser_client
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    assert _register(http, csrf).status_code == 200
    before = _counts(db)
    again = _register(http, csrf, name="另一个平台", region_code="360400")  # same origin
    assert again.status_code == 409
    text = _chinese_only(again.text)
    assert "日志“city.test/ledger”已登记为下级平台" in text
    assert 'value="另一个平台"' in again.text  # the form keeps what was typed
    assert _counts(db) == before

    city = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    csrf = _as(http, city)
    assert http.get("/network/children/register").status_code == 403
    refused = _register(http, csrf, log_key=generate_signer("jcjg.nc2.example.cn/ledger")[1])
    assert refused.status_code == 403
    assert "无权操作" in refused.text
    assert _counts(db) == before


# --- a child's page ---------------------------------------------------------------------------


def test_the_childs_page_shows_its_facts_outcomes_and_refused_leaves(
    browser_client: TestClient, db: Session, factory: Factory, region: Region
) -> None:
    http = browser_client
    child = region.halted
    now = utcnow()
    problems = [
        {
            "type": "/problems/network-lab-signature-invalid",
            "title": "检测机构签名无效",
            "status": 422,
            "detail": "检测机构签名核验未通过：signature 'sig1' does not verify with key 'c9-x'",
        },
        {
            "type": "/problems/validation",
            "title": "数据校验未通过",
            "status": 422,
            "detail": "提交的数据有字段不符合要求，见 errors 中逐项说明。",
            "errors": [{"field": "body.labs", "message": "至少填写一个试验室", "code": "x"}],
        },
    ]
    for index, (entry_type, outcome, problem) in enumerate(
        [
            ("institution:register", Outcome.RECORDED, None),
            ("message:registry.labs", Outcome.STORED, None),
            ("message:registry.labs", Outcome.REFUSED, problems[0]),
            ("message:registry.labs", Outcome.REFUSED, problems[1]),
            ("penalty:decide", Outcome.REBUILT, None),  # its relay waits for its checkpoint
        ]
    ):
        db.add(
            Forwarded(
                child_id=child.id, region_code=child.region_code, origin_index=index,
                leaf_hash=bytes([index]) * 32, entry_type=entry_type, entry=b"{}",
                notarised_at=now, outcome=outcome.value, problem=problem,
            )
        )  # fmt: skip
    db.commit()
    _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    page = http.get(f"/network/children/{child.id}")
    assert page.status_code == 200, page.text[:500]
    text = _chinese_only(page.text)
    for shown in (
        "上饶市检测监管平台",
        "上饶市（361100）",
        "https://jcjg.sr.example.cn",
        "jcjg.sr.example.cn/ledger",
        "第 120 条之前",
        "大小 100",
        HALTED_REASON,
        "下级平台存证日志前后不一致",  # the open alert, by its title
        "已记录（平台事实） 1",
        "已接收，本平台处理 1",
        "拒收 2",
        "检测机构签名无效",
        "至少填写一个试验室",
        "待其检查点的转报 1 条 其事实已在本平台登记，待其存证日志发布覆盖这些事实的检查点后",
    ):
        assert shown in text, shown
    title = message_types()["registry.labs"].title
    assert title in text
    assert "signature" not in text  # the library's English cut off
    assert "见 errors" not in text  # the fields' messages instead
    assert f'action="/network/children/{child.id}/resume"' in page.text
    assert page.text.count('aria-label="breadcrumb"') == 1  # the layout's, not a second one
    assert "超过 10 分钟未核验" not in text  # a halted child is not checked: nothing is late

    silent = _chinese_only(http.get(f"/network/children/{region.silent.id}").text)
    assert "大小 40" in silent
    assert "超过 10 分钟未核验" in silent  # an active child's check is late

    lagging = http.get(f"/network/children/{region.lagging.id}")
    text = _chinese_only(lagging.text)
    assert "1840 条，最早一条已等待 120 分钟" in text
    assert "resume" not in lagging.text
    assert "最近拒收的条目" not in text


@pytest.mark.sqlite
def test_a_halted_child_is_resumed_by_a_manager_only(
    browser_client: TestClient, db: Session, factory: Factory, region: Region
) -> None:
    http = browser_client
    child = region.halted
    csrf = _as(http, factory.user(Role.AUDITOR, region_code="360000"))
    seen = http.get(f"/network/children/{child.id}")
    assert seen.status_code == 200
    assert HALTED_REASON in _chinese_only(seen.text)
    assert "/resume" not in seen.text  # an auditor reads, no form
    assert 'data-testid="register-child"' not in http.get("/network").text
    refused = http.post(f"/network/children/{child.id}/resume", data={"csrf_token": csrf})
    assert refused.status_code == 403
    db.expire_all()
    assert db.get(Child, child.id).status == "halted"

    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    page = http.get(f"/network/children/{child.id}")
    assert "核查完毕，恢复接收" in _chinese_only(page.text)
    no_token = http.post(f"/network/children/{child.id}/resume", data={"forget_log": "1"})
    assert no_token.status_code == 403
    resumed = http.post(
        f"/network/children/{child.id}/resume", data={"csrf_token": csrf, "forget_log": "1"}
    )
    assert resumed.status_code == 303
    assert resumed.headers["location"] == f"/network/children/{child.id}?done=resumed"
    db.expire_all()
    row = db.get(Child, child.id)
    assert (row.status, row.halted_reason, row.checked_size, row.checked_root) == (
        "active",
        None,
        0,
        None,
    )
    shown = _chinese_only(http.get(resumed.headers["location"]).text)
    assert "已恢复接收该平台的转发" in shown
    assert "核查完毕，恢复接收" not in shown
    assert "尚未核验" in shown  # its checkpoint forgotten

    again = http.post(f"/network/children/{child.id}/resume", data={"csrf_token": csrf})
    assert again.status_code == 409, again.text[:500]
    assert "该下级平台未暂停" in again.text
    _chinese_only(again.text)
    # outside its region, a manager gets 404, not the child
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"))
    assert (
        http.post(
            f"/network/children/{region.lagging.id}/resume", data={"csrf_token": csrf}
        ).status_code
        == 404
    )


# --- the upstream -----------------------------------------------------------------------------


def test_the_upstream_shows_how_far_forwarding_is(
    browser_client: TestClient, db: Session, factory: Factory, settings: Settings
) -> None:
    http = browser_client
    _as(http, factory.user(Role.PLATFORM_ADMIN))
    assert "本平台没有配置上级平台" in _main(http.get("/network").text)
    settings.upstream_forwarder = False
    settings.upstream_url = "https://jcjg.jx.example.cn"
    settings.upstream_key_id = "c7-3f09a1b2c4d5"
    settings.upstream_key = SecretStr("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=")
    size = ledger.append_many(db, "sample:seal", [{"n": n} for n in range(5)]).stop
    now = utcnow()
    db.add(
        ForwardCursor(
            id=CURSOR_ID, upstream=settings.upstream_url, position=size - 2, forwarded=size - 2,
            refused=1, last_forward_at=now - dt.timedelta(minutes=3), failures=2,
            next_attempt_at=now + dt.timedelta(seconds=40), last_error="上级平台暂时无法访问",
        )
    )  # fmt: skip
    # a city's fact rebuilt here whose relay waits for the city's checkpoint
    city = _child(db, settings, "九江市检测监管平台", "360400", "jcjg.jj.example.cn")
    db.add(
        Forwarded(
            child_id=city.id, region_code=city.region_code, origin_index=0,
            leaf_hash=b"\x01" * 32, entry_type="penalty:decide", entry=b"{}", notarised_at=now,
            outcome=Outcome.REBUILT.value,
        )
    )  # fmt: skip
    db.commit()
    page = http.get("/network")
    assert page.status_code == 200, page.text[:500]
    text = _chinese_only(page.text)
    assert "待下级检查点的转报 九江市检测监管平台 1 条" in text
    assert f'href="/network/children/{city.id}">九江市检测监管平台</a> 1 条' in page.text
    assert "https://jcjg.jx.example.cn" in text
    assert f"至第 {size - 2} 条" in text
    assert re.search(r'data-testid="upstream-backlog">\s*2 条', page.text)
    assert "上级拒收 1 条" in text
    assert "转发失败 上级平台暂时无法访问" in text
    assert "本平台没有配置上级平台" not in text
    assert "c2VjcmV0" not in page.text  # the key never shown
