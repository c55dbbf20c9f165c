"""Finding a lab's cameras over ONVIF, from a machine on the lab's network.

The platform cannot see a lab's network, so discovery runs where the lab's system runs (the
``jcjg-client cameras`` command): a WS-Discovery probe (multicast to 239.255.255.250:3702, or
sent to one address) finds ONVIF devices; each device's media service is asked for its profiles
(``GetProfiles``) and each profile's RTSP address (``GetStreamUri``), signed with a WS-Security
UsernameToken (password digest, ONVIF Core 5.12). What comes out are camera records for the
``video.camera`` message: the stream address without credentials (those are sent in their own
fields and sealed by the platform), resolution, the device's address.

Only the standard library and httpx: this runs where the lab client runs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree as ET

import httpx

MULTICAST = ("239.255.255.250", 3702)
_NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
}
_WSSE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest",
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0"
    "#Base64Binary",
)
_MAX_REPLY = 256 * 1024


class OnvifError(Exception):
    """A device did not answer as ONVIF says, or refused the credentials."""


@dataclass(frozen=True)
class Device:
    """An ONVIF device found by WS-Discovery: its endpoint reference and service addresses."""

    endpoint: str
    xaddrs: tuple[str, ...]
    scopes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The device's name from its ``onvif://www.onvif.org/name/...`` scope, if it has one."""
        for scope in self.scopes:
            if scope.startswith("onvif://www.onvif.org/name/"):
                return scope.rsplit("/", 1)[-1].replace("_", " ")
        return ""


@dataclass(frozen=True)
class StreamProfile:
    """One media profile of a device and the RTSP address of its stream."""

    token: str
    name: str
    width: int | None
    height: int | None
    uri: str

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else ""


# --- WS-Discovery --------------------------------------------------------------------------


def probe_message(message_id: str) -> bytes:
    """A WS-Discovery Probe for ONVIF network video transmitters."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{_NS["s"]}" xmlns:a="{_NS["a"]}" xmlns:d="{_NS["d"]}"'
        f' xmlns:dn="{_NS["dn"]}">'
        "<s:Header>"
        f"<a:Action>{_NS['d']}/Probe</a:Action>"
        f"<a:MessageID>urn:uuid:{message_id}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "</s:Header>"
        "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def parse_probe_matches(data: bytes, message_id: str) -> list[Device]:
    """The devices of a ProbeMatches reply to our probe (replies to other probes ignored)."""
    try:
        root = ET.fromstring(data)  # noqa: S314 (expat refuses entity expansion attacks)
    except ET.ParseError:
        return []
    relates = root.findtext("s:Header/a:RelatesTo", default="", namespaces=_NS).strip()
    if relates and relates != f"urn:uuid:{message_id}":
        return []
    found = []
    for match in root.iterfind("s:Body/d:ProbeMatches/d:ProbeMatch", _NS):
        endpoint = match.findtext("a:EndpointReference/a:Address", default="", namespaces=_NS)
        xaddrs = tuple(match.findtext("d:XAddrs", default="", namespaces=_NS).split())
        scopes = tuple(match.findtext("d:Scopes", default="", namespaces=_NS).split())
        if xaddrs:
            found.append(Device(endpoint.strip(), xaddrs, scopes))
    return found


def discover(
    *, timeout: float = 3.0, targets: Iterable[tuple[str, int]] = (MULTICAST,)
) -> list[Device]:
    """Send one probe to each target (the multicast group by default, or given addresses) and
    collect the devices that answer within ``timeout`` seconds, each once."""
    message_id = str(uuid.uuid4())
    payload = probe_message(message_id)
    found: dict[str, Device] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        sock.bind(("", 0))
        for target in targets:
            sock.sendto(payload, target)
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=timeout)
        while (left := (deadline - dt.datetime.now(dt.UTC)).total_seconds()) > 0:
            sock.settimeout(left)
            try:
                data, _address = sock.recvfrom(65535)
            except TimeoutError:
                break
            for device in parse_probe_matches(data, message_id):
                found.setdefault(device.endpoint or device.xaddrs[0], device)
    return list(found.values())


# --- SOAP with a UsernameToken ---------------------------------------------------------------


def username_token(
    username: str, password: str, *, nonce: bytes | None = None, created: str | None = None
) -> str:
    """A WS-Security UsernameToken header with the password digest
    Base64(SHA-1(nonce + created + password))."""
    nonce = nonce if nonce is not None else os.urandom(16)
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(
        # SHA-1 is what the UsernameToken profile 1.0 prescribes (ONVIF Core 5.12)
        hashlib.sha1(nonce + created.encode() + password.encode()).digest()  # noqa: S324
    ).decode()
    wsse, wsu, digest_type, encoding = _WSSE
    return (
        f'<wsse:Security xmlns:wsse="{wsse}" xmlns:wsu="{wsu}" s:mustUnderstand="1">'
        "<wsse:UsernameToken>"
        f"<wsse:Username>{_escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{digest_type}">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{encoding}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class OnvifDevice:
    """Talk SOAP 1.2 to one device's services."""

    def __init__(
        self,
        xaddr: str,
        username: str = "",
        password: str = "",
        *,
        client: httpx.Client | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.xaddr = xaddr
        self.username = username
        self.password = password
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OnvifDevice:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def call(self, address: str, body: str) -> ET.Element:
        """POST one SOAP request; the reply's Body element, or :class:`OnvifError`."""
        header = username_token(self.username, self.password) if self.username else ""
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{_NS["s"]}" xmlns:tds="{_NS["tds"]}"'
            f' xmlns:trt="{_NS["trt"]}" xmlns:tt="{_NS["tt"]}">'
            f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )
        try:
            reply = self._client.post(
                address,
                content=envelope.encode(),
                headers={"Content-Type": "application/soap+xml; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise OnvifError(f"设备 {address} 无法连接：{exc}") from exc
        if len(reply.content) > _MAX_REPLY:
            raise OnvifError(f"设备 {address} 的应答过大")
        try:
            root = ET.fromstring(reply.content)  # noqa: S314
        except ET.ParseError as exc:
            raise OnvifError(f"设备 {address} 的应答不是 SOAP：HTTP {reply.status_code}") from exc
        fault = root.find("s:Body/s:Fault", _NS)
        if fault is not None or reply.status_code >= 400:
            reason = (
                "".join(fault.itertext()).strip() if fault is not None else str(reply.status_code)
            )
            raise OnvifError(f"设备 {address} 拒绝了请求：{reason}")
        body_element = root.find("s:Body", _NS)
        if body_element is None:
            raise OnvifError(f"设备 {address} 的应答缺少 Body")
        return body_element

    def media_address(self) -> str:
        """The media service's address (GetCapabilities), or the device address itself."""
        body = self.call(
            self.xaddr,
            "<tds:GetCapabilities><tds:Category>Media</tds:Category></tds:GetCapabilities>",
        )
        address = body.findtext(".//tt:Media/tt:XAddr", default="", namespaces=_NS).strip()
        return address or self.xaddr

    def profiles(self) -> list[StreamProfile]:
        """Every media profile with its RTSP stream address (RTP over RTSP, unicast)."""
        media = self.media_address()
        body = self.call(media, "<trt:GetProfiles/>")
        found = []
        for profile in body.iterfind(".//trt:Profiles", _NS):
            token = profile.get("token", "")
            if not token:
                continue
            width = profile.findtext(
                ".//tt:VideoEncoderConfiguration/tt:Resolution/tt:Width", namespaces=_NS
            )
            height = profile.findtext(
                ".//tt:VideoEncoderConfiguration/tt:Resolution/tt:Height", namespaces=_NS
            )
            uri = self.stream_uri(media, token)
            found.append(
                StreamProfile(
                    token=token,
                    name=profile.findtext("tt:Name", default=token, namespaces=_NS).strip(),
                    width=_int(width),
                    height=_int(height),
                    uri=uri,
                )
            )
        return found

    def stream_uri(self, media: str, token: str) -> str:
        body = self.call(
            media,
            "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
            "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
            f"<trt:ProfileToken>{_escape(token)}</trt:ProfileToken></trt:GetStreamUri>",
        )
        uri = body.findtext(".//trt:MediaUri/tt:Uri", default="", namespaces=_NS).strip()
        if not uri.lower().startswith(("rtsp://", "rtsps://")):
            raise OnvifError(f"设备 {media} 没有给出配置 {token} 的 RTSP 地址")
        return without_credentials(uri)

    def device_information(self) -> dict[str, str]:
        """Manufacturer, model, serial number (GetDeviceInformation)."""
        body = self.call(self.xaddr, "<tds:GetDeviceInformation/>")
        info = body.find("tds:GetDeviceInformationResponse", _NS)
        if info is None:
            return {}
        return {re.sub(r"^\{.*\}", "", child.tag): (child.text or "").strip() for child in info}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def without_credentials(uri: str) -> str:
    """The address with any ``user:password@`` removed (credentials travel apart, sealed)."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def camera_records(
    device: Device, username: str = "", password: str = "", *, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Camera records for the ``video.camera`` message, one per profile of the device: a code
    from the serial number (or endpoint) and the profile, the name, stream address, resolution
    and ONVIF address. The password is not included: add it when sending, it is sealed."""
    xaddr = device.xaddrs[0]
    with OnvifDevice(xaddr, username, password, timeout=timeout) as onvif:
        info = onvif.device_information()
        serial = info.get("SerialNumber") or device.endpoint.rsplit(":", 1)[-1][:24] or "onvif"
        label = device.name or " ".join(
            part for part in (info.get("Manufacturer"), info.get("Model")) if part
        )
        records = []
        for profile in onvif.profiles():
            record: dict[str, Any] = {
                "code": f"{serial}-{profile.token}"[:64],
                "name": f"{label or serial} {profile.name}".strip()[:100],
                "stream_url": profile.uri,
                "resolution": profile.resolution,
                "onvif_address": xaddr,
            }
            if username:
                record["username"] = username
            records.append(record)
    return records
