"""ONVIF discovery from the lab's network (``jcjg.client.onvif``, ``jcjg-client cameras``),
against a device on loopback that answers WS-Discovery probes over UDP and the device and media
services over SOAP 1.2, and checks the UsernameToken password digest as a camera does."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree as ET

import pytest

from jcjg.client import cli, onvif

USER, PASSWORD = "admin", "Cam-pass 9&<"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
}
ENVELOPE = (
    '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
    ' xmlns:trt="http://www.onvif.org/ver10/media/wsdl"'
    ' xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body>{}</s:Body></s:Envelope>'
)


def _authorised(root: ET.Element) -> bool:
    token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
    if token is None or token.findtext("wsse:Username", namespaces=NS) != USER:
        return False
    nonce = base64.b64decode(token.findtext("wsse:Nonce", default="", namespaces=NS))
    created = token.findtext("wsu:Created", default="", namespaces=NS)
    expected = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + PASSWORD.encode()).digest()  # noqa: S324
    ).decode()
    return token.findtext("wsse:Password", namespaces=NS) == expected


def _answer(body: str, port: int) -> str:
    if "GetCapabilities" in body:
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>"
            f"<tt:XAddr>http://127.0.0.1:{port}/onvif/media</tt:XAddr>"
            "</tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>"
        )
    if "GetDeviceInformation" in body:
        return (
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>Acme</tds:Manufacturer>"
            "<tds:Model>DOME-2MP</tds:Model><tds:SerialNumber>SN0042</tds:SerialNumber>"
            "</tds:GetDeviceInformationResponse>"
        )
    if "GetProfiles" in body:
        return (
            "<trt:GetProfilesResponse>"
            + "".join(
                f'<trt:Profiles token="{token}"><tt:Name>{name}</tt:Name>'
                "<tt:VideoEncoderConfiguration><tt:Resolution>"
                f"<tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height>"
                "</tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles>"
                for token, name, w, h in (
                    ("main", "主码流", 1920, 1080),
                    ("sub", "子码流", 640, 360),
                )
            )
            + "</trt:GetProfilesResponse>"
        )
    if "GetStreamUri" in body:
        token = "sub" if ">sub<" in body else "main"
        return (
            "<trt:GetStreamUriResponse><trt:MediaUri>"
            f"<tt:Uri>rtsp://viewer:leak@127.0.0.1:554/Streaming/{token}</tt:Uri>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        )
    return ""


class _Soap(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        root = ET.fromstring(data)  # noqa: S314 (our own test's requests)
        if not _authorised(root):
            self._send(
                400,
                "<s:Fault><s:Reason><s:Text>Sender not authorized</s:Text></s:Reason></s:Fault>",
            )
            return
        self._send(200, _answer(data.decode(), self.server.server_address[1]))

    def _send(self, status: int, body: str) -> None:
        payload = ENVELOPE.format(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        pass


@dataclass
class FakeCamera:
    http_port: int
    udp_port: int
    probes: list[bytes] = field(default_factory=list)


def _discovery_responder(sock: socket.socket, camera: FakeCamera, stop: threading.Event) -> None:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, sender = sock.recvfrom(65535)
        except TimeoutError:
            continue
        camera.probes.append(data)
        message_id = ET.fromstring(data).findtext("s:Header/a:MessageID", namespaces=NS)  # noqa: S314
        reply = (
            '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
            ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
            ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
            f"<a:RelatesTo>{message_id}</a:RelatesTo></s:Header><s:Body><d:ProbeMatches>"
            "<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:cam-0042</a:Address>"
            "</a:EndpointReference>"
            "<d:Scopes>onvif://www.onvif.org/name/力学室球机 onvif://www.onvif.org/type/video</d:Scopes>"
            f"<d:XAddrs>http://127.0.0.1:{camera.http_port}/onvif/device_service</d:XAddrs>"
            "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
        )
        sock.sendto(reply.encode(), sender)


@pytest.fixture
def camera() -> Iterator[FakeCamera]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Soap)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    fake = FakeCamera(server.server_address[1], udp.getsockname()[1])
    stop = threading.Event()
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=_discovery_responder, args=(udp, fake, stop), daemon=True),
    ]
    for thread in threads:
        thread.start()
    yield fake
    stop.set()
    server.shutdown()
    server.server_close()
    for thread in threads:
        thread.join(timeout=5)
    udp.close()


def test_discovery_finds_the_device_and_its_streams_without_credentials(
    camera: FakeCamera,
) -> None:
    devices = onvif.discover(timeout=1, targets=[("127.0.0.1", camera.udp_port)])
    assert [d.endpoint for d in devices] == ["urn:uuid:cam-0042"]
    assert devices[0].name == "力学室球机"
    assert b"NetworkVideoTransmitter" in camera.probes[0]
    records = onvif.camera_records(devices[0], USER, PASSWORD)
    assert records == [
        {
            "code": "SN0042-main",
            "name": "力学室球机 主码流",
            "stream_url": "rtsp://127.0.0.1:554/Streaming/main",
            "resolution": "1920x1080",
            "onvif_address": f"http://127.0.0.1:{camera.http_port}/onvif/device_service",
            "username": USER,
        },
        {
            "code": "SN0042-sub",
            "name": "力学室球机 子码流",
            "stream_url": "rtsp://127.0.0.1:554/Streaming/sub",
            "resolution": "640x360",
            "onvif_address": f"http://127.0.0.1:{camera.http_port}/onvif/device_service",
            "username": USER,
        },
    ]


def test_a_wrong_password_is_refused_by_the_device(camera: FakeCamera) -> None:
    device = onvif.Device("urn:x", (f"http://127.0.0.1:{camera.http_port}/onvif/device_service",))
    with pytest.raises(onvif.OnvifError, match="拒绝"):
        onvif.camera_records(device, USER, "wrong")


def test_the_command_prints_records_and_keeps_the_password_off_the_command_line(
    camera: FakeCamera, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JCJG_CAMERA_PASSWORD", PASSWORD)
    argv = ["cameras", "--probe", f"127.0.0.1:{camera.udp_port}", "--user", USER, "--wait", "1"]
    assert cli.main(argv) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert [r["code"] for r in json.loads(out)] == ["SN0042-main", "SN0042-sub"]
    assert PASSWORD not in out
    assert "leak" not in out

    monkeypatch.setenv("JCJG_CAMERA_PASSWORD", "wrong")
    assert cli.main(argv) == cli.EXIT_FAILED
    assert "拒绝" in capsys.readouterr().err


def test_replies_to_other_probes_and_garbage_are_ignored() -> None:
    assert onvif.parse_probe_matches(b"<not xml", "m1") == []
    other = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        b' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header>'
        b"<a:RelatesTo>urn:uuid:someone-else</a:RelatesTo></s:Header><s:Body/></s:Envelope>"
    )
    assert onvif.parse_probe_matches(other, "m1") == []


def test_credentials_never_stay_in_a_stream_address() -> None:
    assert onvif.without_credentials("rtsp://u:p@10.0.0.5:554/a?b=1") == "rtsp://10.0.0.5:554/a?b=1"
    assert onvif.without_credentials("rtsp://[fe80::1]/live") == "rtsp://[fe80::1]/live"


def test_the_username_token_digest_follows_the_profile() -> None:
    header = onvif.username_token("u", "p", nonce=b"\x00" * 16, created="2026-11-23T00:00:00Z")
    expected = base64.b64encode(
        hashlib.sha1(b"\x00" * 16 + b"2026-11-23T00:00:00Z" + b"p").digest()  # noqa: S324
    ).decode()
    assert f">{expected}<" in header
    assert onvif.username_token("a&<b", "p").count("a&amp;&lt;b") == 1
