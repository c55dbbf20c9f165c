"""Where a camera's stream may point: loopback, link-local, unspecified, multicast, reserved,
private (unless allowed) and the platform's own addresses and names refused, for IPv4, IPv6
and names, on the API, the page form and the ``video.camera`` message; the allow list; the
stream address the recorder hands ffmpeg (the checked address in place of the name)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from sqlalchemy import select

from jcjg.config import Settings
from jcjg.video import addresses
from jcjg.video.addresses import Refused, connect_target, kind_of, refusal, verdict
from jcjg.video.models import Camera
from tests.exchange.conftest import make_lims
from tests.factories import login, page_csrf
from tests.video.conftest import Site

STRICT = Settings(env="test", secret_key="x" * 32, base_url="https://jcjg.example.gov.cn")


def names(table: dict[str, list[str]]) -> Callable[[str], list[str]]:
    """A resolver answering from ``table`` (a name missing from it does not resolve)."""

    def resolve(host: str) -> list[str]:
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], None]:
    def use(table: dict[str, list[str]]) -> None:
        monkeypatch.setattr(addresses, "resolve_host", names(table))
        addresses.forget()

    return use


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 address
        ("2002:7f00:1::1", "loopback"),  # 6to4 tunnelling to 127.0.0.1
        ("0.0.0.0", "unspecified"),  # noqa: S104 - Linux connects it to the machine itself
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link_local"),  # the clouds' metadata service
        ("fe80::1", "link_local"),
        ("fe80::1%eth0", "link_local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("4000::1", "reserved"),  # IPv6 not assigned to anyone
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.64", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("fd12:3456::1", "private"),
        ("64:ff9b::a01:203", "private"),  # NAT64 of 10.1.2.3
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("203.0.113.5", None),  # documentation: leads nowhere
        ("2400:3200::1", None),
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
    ],
)
def test_kinds_of_addresses(address: str, kind: str | None) -> None:
    assert kind_of(ipaddress.ip_address(address)) == kind


def test_the_allow_list_wins_but_not_over_the_platforms_own_addresses() -> None:
    allowed = (ipaddress.ip_network("192.168.10.0/24"), ipaddress.ip_network("::1/128"))
    camera, other = ipaddress.ip_address("192.168.10.21"), ipaddress.ip_address("192.168.11.21")
    assert verdict(camera, allowed=()) == "private"
    assert verdict(camera, allowed=allowed) is None
    assert verdict(other, allowed=allowed) == "private"
    assert verdict(ipaddress.ip_address("::1"), allowed=allowed) is None
    assert verdict(ipaddress.ip_address("::ffff:192.168.10.21"), allowed=allowed) is None
    own = [ipaddress.ip_address("192.168.10.5")]
    assert verdict(ipaddress.ip_address("192.168.10.5"), allowed=allowed, own=own) == "own"
    public = ipaddress.ip_address("203.0.113.80")
    assert verdict(public, allowed=(), own=[public]) == "own"


def test_the_setting_is_read_and_a_bad_one_refused_at_start() -> None:
    settings = Settings(video_allowed_networks=" 192.168.10.0/24, 10.20.0.0/16,127.0.0.1 ")
    assert [str(n) for n in settings.video_networks] == [
        "192.168.10.0/24",
        "10.20.0.0/16",
        "127.0.0.1/32",
    ]
    assert Settings().video_networks == ()  # production: nothing allowed beyond the internet
    with pytest.raises(ValueError, match="JCJG_VIDEO_ALLOWED_NETWORKS"):
        Settings(video_allowed_networks="192.168.10.0/33")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("rtsp://127.0.0.1:554/live", "本机回环地址"),
        ("rtsp://127.1/live", "本机回环地址"),  # the resolver reads these as 127.0.0.1 too
        ("rtsp://2130706433/live", "本机回环地址"),
        ("rtsp://0x7f.0.0.1/live", "本机回环地址"),
        ("rtsp://[::1]:8554/live", "本机回环地址"),
        ("rtsp://localhost/live", "本机回环地址"),
        ("rtsp://cam.localhost/live", "本机回环地址"),
        ("rtsps://169.254.169.254/latest", "链路本地地址"),
        ("rtsp://[fe80::1%25eth0]/live", "链路本地地址"),
        ("rtsp://0.0.0.0:5432/", "未指定地址"),
        ("rtsp://192.168.1.64/Streaming/Channels/101", "内网地址"),
        ("rtsp://[fd00::64]/live", "内网地址"),
        ("rtsp://jcjg.example.gov.cn:554/live", "平台自身的地址"),  # the public host name
        ("rtsp://JCJG.example.gov.cn./live", "平台自身的地址"),
    ],
)
def test_refused_addresses_say_why(url: str, words: str) -> None:
    why = refusal(STRICT, url)
    assert why is not None
    assert words in why
    assert "JCJG_" not in why  # no identifier for a lab to read


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://203.0.113.5:554/Streaming/Channels/101",
        "rtsps://[2400:3200::1]:322/live",
        "rtsp://cam.nowhere.example/live",  # does not resolve now: the recorder judges it
    ],
)
def test_addresses_on_the_internet_pass(url: str) -> None:
    assert refusal(STRICT, url) is None


def test_names_are_resolved_and_every_address_checked(resolver) -> None:
    resolver(
        {
            "cam.lab.example": ["203.0.113.9"],
            "nvr.lab.example": ["10.9.8.7"],
            "two.lab.example": ["203.0.113.9", "127.0.0.1"],
            "v6.lab.example": ["2400:3200::9", "fe80::9"],
        }
    )
    assert refusal(STRICT, "rtsp://cam.lab.example/live") is None
    private = refusal(STRICT, "rtsp://nvr.lab.example/live")
    assert private is not None
    assert "主机名解析到内网地址" in private
    assert "10.9.8.7" not in private  # what an outside name resolves to is not told
    assert "本机回环地址" in (refusal(STRICT, "rtsp://two.lab.example/live") or "")
    assert "链路本地地址" in (refusal(STRICT, "rtsp://v6.lab.example/live") or "")
    allowed = STRICT.model_copy(update={"video_allowed_networks": "10.9.0.0/16"})
    assert refusal(allowed, "rtsp://nvr.lab.example/live") is None


def test_the_platforms_own_addresses_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    mine = ipaddress.ip_address("198.51.100.77")
    monkeypatch.setattr(addresses, "_sending_addresses", lambda: {mine})
    addresses.forget()
    allowing = STRICT.model_copy(update={"video_allowed_networks": "198.51.100.0/24"})
    why = refusal(allowing, "rtsp://198.51.100.77:5432/")
    assert why is not None
    assert "平台自身的地址" in why
    assert refusal(allowing, "rtsp://198.51.100.78:554/") is None


# --- the API, the page form and the message ------------------------------------------------


def _body(**extra: object) -> dict[str, object]:
    return {
        "code": "CAM-NET", "name": "抗渗室", "place_kind": "impermeability",
        "stream_url": "rtsp://203.0.113.20/ch1",
    } | extra  # fmt: skip


def _api(client, factory, site: Site):
    headers = {"Authorization": f"Bearer {factory.token(site.admin)}"}

    def post(**extra: object):
        return client.post("/api/v1/cameras", json=_body(**extra), headers=headers)

    return post, headers


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://127.0.0.2:554/ch1",  # loopback beyond the tests' one allowed address
        "rtsp://[::1]:554/ch1",
        "rtsp://10.0.0.5:554/ch1",
        "rtsp://169.254.169.254/ch1",
        "rtsp://[fe80::5]/ch1",
        "rtsp://[::ffff:10.0.0.5]/ch1",
        "rtsp://testserver:8000/ch1",  # the platform's own host name (the tests' base URL)
    ],
)
def test_the_api_refuses_with_a_problem_naming_the_field(client, factory, site, url) -> None:
    post, _headers = _api(client, factory, site)
    answer = post(stream_url=url)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"] == "/problems/validation"
    [error] = problem["errors"]
    assert error["field"] == "stream_url"
    assert error["code"] == "address_refused"
    assert error["message"].startswith("视频流地址")


def test_the_api_takes_an_address_the_recorder_may_reach(client, db, factory, site) -> None:
    post, _headers = _api(client, factory, site)
    assert post(code="CAM-V4").status_code == 201
    assert post(code="CAM-V6", stream_url="rtsps://[2400:3200::1]:322/ch1").status_code == 201
    # the tests' settings allow the loopback's 127.0.0.1 (their RTSP cameras serve there)
    assert post(code="CAM-LO", stream_url="rtsp://127.0.0.1:8554/ch1").status_code == 201
    codes = set(db.scalars(select(Camera.code).where(Camera.code.like("CAM-%"))))
    assert {"CAM-V4", "CAM-V6", "CAM-LO"} <= codes


def test_the_allow_list_lets_a_lab_network_in(client, factory, site, monkeypatch) -> None:
    post, _headers = _api(client, factory, site)
    assert post(stream_url="rtsp://192.168.10.21/ch1").status_code == 422
    monkeypatch.setattr(client.app.state.settings, "video_allowed_networks", "192.168.10.0/24")
    assert post(stream_url="rtsp://192.168.10.21/ch1").status_code == 201
    assert post(code="CAM-11", stream_url="rtsp://192.168.11.21/ch1").status_code == 422


def test_names_on_the_api(client, factory, site, resolver) -> None:
    resolver({"nvr.lab.example": ["10.9.8.7"], "cam.lab.example": ["203.0.113.9"]})
    post, _headers = _api(client, factory, site)
    refused = post(stream_url="rtsp://nvr.lab.example/ch1")
    assert refused.status_code == 422
    assert "主机名解析到内网地址" in refused.json()["errors"][0]["message"]
    assert post(stream_url="rtsp://cam.lab.example/ch1").status_code == 201
    # a name that does not resolve now is taken: the recorder resolves it when it connects
    assert post(code="CAM-DNS", stream_url="rtsp://later.lab.example/ch1").status_code == 201


def test_a_kept_address_is_left_to_the_recorder(client, db, factory, site) -> None:
    """A camera registered before these checks keeps working through changes of other fields
    (its recorder refuses to connect); a new address is checked."""
    camera = Camera(
        institution_id=site.institution.id, region_code=site.institution.region_code,
        code="CAM-OLD", name="旧摄像机", place_kind="receiving",
        stream_url="rtsp://10.0.0.9/ch1",
    )  # fmt: skip
    db.add(camera)
    db.commit()
    _post, headers = _api(client, factory, site)
    path = f"/api/v1/cameras/{camera.id}"
    assert client.patch(path, json={"name": "收样室"}, headers=headers).status_code == 200
    moved = client.patch(path, json={"stream_url": "rtsp://10.0.0.10/ch1"}, headers=headers)
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "stream_url"


def test_the_form_says_it_beside_the_field(browser_client, db, site) -> None:
    login(browser_client, site.admin.username)
    token = page_csrf(browser_client, "/video/cameras/new")
    form = {
        "csrf_token": token, "code": "CAM-FORM", "name": "收样室", "place_kind": "receiving",
        "form": "bullet", "stream_url": "rtsp://169.254.169.254/live",
    }  # fmt: skip
    page = browser_client.post("/video/cameras", data=form)
    assert page.status_code == 422
    assert "视频流地址指向链路本地地址" in page.text
    assert db.scalars(select(Camera).where(Camera.code == "CAM-FORM")).first() is None
    answer = browser_client.post(
        "/video/cameras", data=form | {"stream_url": "rtsp://203.0.113.7/"}
    )
    assert answer.status_code == 303


def test_the_message_is_refused_naming_the_camera(client, db, settings, factory, site) -> None:
    lims = make_lims(db, settings, factory, institution=site.institution)
    record = {
        "code": "CAM-MSG", "name": "2 号压力机", "place_kind": "mechanical",
        "stream_url": "rtsp://203.0.113.30/ch1",
    }  # fmt: skip
    for url in ("rtsp://[::1]/ch1", "rtsp://192.168.0.30/ch1", "rtsp://224.1.1.1/ch1"):
        second = record | {"code": "X", "stream_url": url}
        answer = lims.post(client, "video.camera", lims.message(cameras=[record, second]))
        assert answer.status_code == 422, answer.body
        [error] = answer.body["errors"]
        assert error["field"] == "cameras.1.stream_url"
        assert error["code"] == "address_refused"
        assert db.scalars(select(Camera).where(Camera.code == "CAM-MSG")).first() is None
    taken = lims.post(client, "video.camera", lims.message(cameras=[record]))
    assert taken.status_code == 200, taken.body
    assert taken.body["results"]["created"] == 1


# --- what the recorder hands ffmpeg --------------------------------------------------------


def test_the_checked_address_replaces_the_name(resolver, settings: Settings) -> None:
    resolver({"cam.lab.example": ["127.0.0.1"], "v6.lab.example": ["2400:3200::9"]})
    target = connect_target(settings, "rtsp://viewer:p%40ss@cam.lab.example:8554/cam0?channel=1")
    assert target.url == "rtsp://viewer:p%40ss@127.0.0.1:8554/cam0?channel=1"
    assert target.key == "127.0.0.1:8554"
    v6 = connect_target(settings, "rtsps://v6.lab.example/live")
    assert v6.url == "rtsps://[2400:3200::9]/live"
    assert connect_target(settings, "rtsp://127.1:554/x").url == "rtsp://127.0.0.1:554/x"


def test_the_recorder_checks_again_when_it_connects(resolver, settings: Settings) -> None:
    """DNS rebinding: a name that passed at submission resolves elsewhere when the recorder
    connects: refused this time, saying why, never connected."""
    resolver({"cam.lab.example": ["203.0.113.9"]})
    assert refusal(settings, "rtsp://cam.lab.example/live") is None
    for answer, words in (
        (["10.0.0.1"], "内网地址"),
        (["203.0.113.9", "127.0.0.2"], "本机回环地址"),
        (["169.254.169.254"], "链路本地地址"),
    ):
        resolver({"cam.lab.example": answer})
        with pytest.raises(Refused) as refused:
            connect_target(settings, "rtsp://u:pw@cam.lab.example/live")
        assert words in refused.value.shown
        assert "pw" not in refused.value.detail
    resolver({})
    with pytest.raises(Refused) as unresolved:
        connect_target(settings, "rtsp://cam.lab.example/live")
    assert unresolved.value.shown == "无法解析视频流地址中的主机名"
