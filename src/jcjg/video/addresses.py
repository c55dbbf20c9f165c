"""Where a camera's stream may point. The recorder connects wherever a lab's stream address
says; without a check a lab could have it knock on the platform's own services, the loopback
interface or the networks behind the platform (and read from its answers what listens there).

An address is refused when it is (or, for a host name, when any address it resolves to is):
the loopback (127.0.0.0/8, ::1), "this network" and the unspecified address, link-local
(169.254.0.0/16, fe80::/10), multicast, reserved (240.0.0.0/4 and the broadcast address,
192.0.0.0/24, 198.18.0.0/15, the unassigned IPv6 space, Teredo), a private range (10/8,
172.16/12, 192.168/16, the carrier-grade NAT 100.64/10, fc00::/7, fec0::/10, 64:ff9b:1::/48),
or one of the platform's own addresses or names. ``JCJG_VIDEO_ALLOWED_NETWORKS`` (CIDRs) lists
networks that are allowed all the same (a deployment whose cameras sit on 192.168.x); the
platform's own addresses other than the loopback stay refused even inside them. An IPv6
address carrying an IPv4 one (mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``) is judged by
the IPv4 address, a 6to4 one by both.

At submission (:func:`refusal`) a name that does not resolve (or not within
:data:`RESOLVE_SECONDS`) is accepted: the recorder judges it when it connects. The recorder
(:func:`connect_target`) resolves the name again right before it starts ffmpeg, checks every
address, and hands ffmpeg the URL with the checked address in place of the name, so that a
name answering differently the second time (DNS rebinding) reaches nothing unchecked.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from jcjg.config import Settings

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RESOLVE_SECONDS = 2.0  # a name's resolution is given up after this long
REMEMBER_SECONDS = 60.0  # a name resolved for a submission is used again for this long
OWN_SECONDS = 300.0  # the platform's own addresses are looked up again after this long


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


PRIVATE = "private"
OWN = "own"
# What each kind of refused address is called; the first range that holds an address names it.
WORDS = {
    "loopback": "本机回环地址",
    "unspecified": "未指定地址",
    "link_local": "链路本地地址",
    "multicast": "组播地址",
    "reserved": "保留地址",
    PRIVATE: "内网地址",
    OWN: "平台自身的地址",
}
_PRIVATE_RANGES = _nets(
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
    "fc00::/7", "fec0::/10", "64:ff9b:1::/48",
)  # fmt: skip
_RANGES: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("link_local", _nets("169.254.0.0/16", "fe80::/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("reserved", _nets("240.0.0.0/4", "192.0.0.0/24", "198.18.0.0/15", "100::/64", "2001::/23")),
    (PRIVATE, _PRIVATE_RANGES),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCALHOST = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


# --- addresses ---------------------------------------------------------------------------------


def literal(host: str) -> IP | None:
    """``host`` as an address when it is one: IPv6, dotted IPv4, and the other forms the
    system's resolver reads as IPv4 without asking anyone (``127.1``, ``2130706433``,
    ``0x7f.0.0.1``), as ffmpeg would."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, UnicodeError, ValueError):
        return None


def _carried(ip: IP) -> IP:
    """The IPv4 address an IPv4-mapped or NAT64 address stands for; otherwise ``ip``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def kind_of(ip: IP) -> str | None:
    """Which kind of refused address ``ip`` is (a key of :data:`WORDS`), None for an address
    on the internet. A 6to4 address is judged by the IPv4 address it tunnels to as well."""
    ip = _carried(ip)
    for kind, networks in _RANGES:
        if any(ip in network for network in networks):
            return kind
    if ip.is_reserved:  # the IPv6 space not assigned to anyone
        return "reserved"
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        return kind_of(ip.sixtofour)
    return None


def verdict(ip: IP, *, allowed: Sequence[Network], own: Iterable[IP] = ()) -> str | None:
    """None when the recorder may connect to ``ip``, else the kind of address it is: one of
    the platform's own (never allowed), or a refused kind outside the allowed networks."""
    carried = _carried(ip)
    if carried in set(own):
        return OWN
    if any(carried in network or ip in network for network in allowed):
        return None
    return kind_of(ip)


# --- names -------------------------------------------------------------------------------------


def resolve_host(host: str) -> list[str]:
    """The addresses ``host`` resolves to, as the system's resolver gives them (the tests put
    their own resolver here). Raises OSError when it does not resolve."""
    found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def lookup(host: str, timeout: float = RESOLVE_SECONDS) -> list[IP] | None:
    """The addresses of ``host`` (``localhost`` and ``*.localhost`` are the loopback without
    asking, RFC 6761), or None when it does not resolve within ``timeout`` seconds (the
    system's resolver has no time limit of its own: it runs in a thread given up on)."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return list(_LOCALHOST)
    answer: list[list[str] | None] = []

    def ask() -> None:
        try:
            answer.append(resolve_host(host))
        except (OSError, UnicodeError, ValueError):
            answer.append(None)

    thread = threading.Thread(target=ask, name="jcjg-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    found = answer[0] if answer else None
    if not found:
        return None
    addresses = [literal(a) for a in found]
    return [a for a in addresses if a is not None] or None


_remembered: dict[str, tuple[float, list[IP] | None]] = {}
_remembered_lock = threading.Lock()


def remembered_lookup(host: str) -> list[IP] | None:
    """:func:`lookup`, its answer kept :data:`REMEMBER_SECONDS`: a submission's check uses
    what was resolved ahead of it (``video.camera``'s ``prepare``, outside the transaction
    that holds SQLite's write lock). The recorder never uses it: it asks every time."""
    key = host.rstrip(".").lower()
    now = time.monotonic()
    with _remembered_lock:
        kept = _remembered.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
    found = lookup(host)
    with _remembered_lock:
        if len(_remembered) > 1000:
            _remembered.clear()
        _remembered[key] = (now + REMEMBER_SECONDS, found)
    return found


def forget() -> None:
    """Forget the names resolved and the platform's own addresses (the tests)."""
    with _remembered_lock:
        _remembered.clear()
    with _own_lock:
        _own_cache.clear()


# --- the platform's own addresses and names ----------------------------------------------------


@dataclass(frozen=True)
class Own:
    """The platform's own names (the configured public host, the machine's name) and its own
    addresses other than the loopback (what those names resolve to, and the addresses this
    machine sends from)."""

    names: frozenset[str]
    addresses: frozenset[IP]


_own_cache: dict[tuple[str, str], tuple[float, Own]] = {}
_own_lock = threading.Lock()


def _sending_addresses() -> set[IP]:
    """The addresses this machine sends from towards the internet (a UDP socket's connect
    picks the route and the source address, and sends nothing)."""
    out: set[IP] = set()
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                found = literal(str(probe.getsockname()[0]).split("%")[0])
        except OSError:
            continue
        if found is not None:
            out.add(found)
    return out


def _names(settings: Settings) -> set[str]:
    names = {socket.gethostname(), urlsplit(settings.base_url).hostname or "", settings.host}
    return {n.rstrip(".").lower() for n in names if n and literal(n) is None}


def own(settings: Settings) -> Own:
    """The platform's own names and addresses, looked up at most every :data:`OWN_SECONDS`."""
    key = (settings.base_url, settings.host)
    now = time.monotonic()
    with _own_lock:
        cached = _own_cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    names = _names(settings)
    addresses = _sending_addresses()
    for name in names:
        addresses.update(lookup(name) or ())
    for text in (urlsplit(settings.base_url).hostname or "", settings.host):
        if (ip := literal(text)) is not None:
            addresses.add(ip)
    found = Own(
        frozenset(names),
        frozenset(a for a in addresses if not (a.is_loopback or a.is_unspecified)),
    )
    with _own_lock:
        _own_cache[key] = (now + OWN_SECONDS, found)
    return found


# --- at submission -----------------------------------------------------------------------------


def _words(kind: str, *, named: bool) -> str:
    where = "视频流地址的主机名解析到" if named else "视频流地址指向"
    if kind == PRIVATE:
        return (
            f"{where}{WORDS[PRIVATE]}，本平台未允许录制该网段的摄像机："
            "请填写平台可以访问的地址，或请平台管理员把摄像机所在网段加入允许录制的网络"
        )
    return f"{where}{WORDS[kind]}，平台不连接这类地址"


def refusal(settings: Settings, url: str) -> str | None:
    """Why the stream address ``url`` is refused (Chinese, for the form or the problem's
    field), or None when it is accepted. A name is resolved now; one that does not resolve is
    accepted (the recorder resolves it again whenever it connects)."""
    host = urlsplit(url).hostname
    if not host:
        return None  # the syntax check (schemas.check_stream_url) refuses it
    ip = literal(host)
    mine = own(settings)
    if ip is None and host.rstrip(".").lower() in mine.names:
        return _words(OWN, named=False)
    found = [ip] if ip is not None else remembered_lookup(host)
    for address in found or ():
        kind = verdict(address, allowed=settings.video_networks, own=mine.addresses)
        if kind is not None:
            return _words(kind, named=ip is None)
    return None


# --- when the recorder connects ----------------------------------------------------------------


class Refused(Exception):
    """The recorder does not connect this time: ``shown`` is what the camera's page says,
    ``detail`` goes to the server's log only."""

    def __init__(self, shown: str, detail: str) -> None:
        super().__init__(detail)
        self.shown = shown
        self.detail = detail


UNRESOLVED = "无法解析视频流地址中的主机名"
MALFORMED = "视频流地址格式不正确"


@dataclass(frozen=True)
class Target:
    """What ffmpeg gets: the stream address with the checked address in place of the name
    (user name and password kept), and that address with its port (``key``)."""

    url: str
    address: IP
    key: str


def _netloc(userinfo: str, ip: IP, port: int | None) -> str:
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return (f"{userinfo}@" if userinfo else "") + host + (f":{port}" if port else "")


def connect_target(settings: Settings, address: str) -> Target:
    """Resolve the host of ``address`` (a stream address, credentials in it or not) now, check
    every address it resolves to, and give the address to connect to; raises :class:`Refused`.
    The first address the resolver gives is the one (all of them passed)."""
    parts = urlsplit(address)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise Refused(MALFORMED, "stream address has an invalid port") from exc
    if not host:
        raise Refused(MALFORMED, "stream address has no host")
    ip = literal(host)
    mine = own(settings)
    if ip is None and host.rstrip(".").lower() in mine.names:
        raise Refused(_words(OWN, named=False), f"{host} names this platform")
    found = [ip] if ip is not None else lookup(host)
    if not found:
        raise Refused(UNRESOLVED, f"{host} did not resolve")
    for candidate in found:
        kind = verdict(candidate, allowed=settings.video_networks, own=mine.addresses)
        if kind is not None:
            raise Refused(
                _words(kind, named=ip is None), f"{host} resolves to {candidate} ({kind})"
            )
    chosen = found[0]
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    url = urlunsplit(
        (parts.scheme, _netloc(userinfo, chosen, port), parts.path, parts.query, parts.fragment)
    )
    return Target(url=url, address=chosen, key=_netloc("", chosen, port))
