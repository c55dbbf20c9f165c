"""A camera's password, sealed with the platform's secret key like the exchange's secrets
(``jcjg.exchange.keystore``: AES-GCM, the key id bound as associated data, so a sealed password
moved to another camera does not open), and the stream address a recorder connects to."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from jcjg.config import Settings
from jcjg.exchange.keystore import seal, unseal
from jcjg.video.models import Camera

_CREDENTIALS = re.compile(r"(rtsps?|https?)://[^/@\s]*@", re.IGNORECASE)


def key_id(camera: Camera) -> str:
    """What a camera's sealed password is bound to: its institution and its code."""
    return f"camera:{camera.institution_id}:{camera.code}"


def seal_password(settings: Settings, camera: Camera, password: str) -> None:
    """Seal ``password`` into ``camera.password_sealed`` (an empty one clears it)."""
    if not password:
        camera.password_sealed = None
        return
    camera.password_sealed = seal(
        settings.secret_key, password.encode("utf-8"), key_id(camera), sm4=settings.crypto == "sm"
    )


def unseal_password(settings: Settings, camera: Camera) -> str:
    """The camera's password in clear ("" when it has none)."""
    if not camera.password_sealed:
        return ""
    return unseal(settings.secret_key, camera.password_sealed, key_id(camera)).decode("utf-8")


def stream_address(settings: Settings, camera: Camera) -> str:
    """The stream URL with the user name and password in it (percent-encoded), as the recorder
    passes it to ffmpeg. Never shown on a page nor logged."""
    if not camera.username:
        return camera.stream_url
    parts = urlsplit(camera.stream_url)
    user = quote(camera.username, safe="")
    password = unseal_password(settings, camera)
    userinfo = f"{user}:{quote(password, safe='')}" if password else user
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))


def redact(text: str) -> str:
    """``text`` with any credentials in URLs removed (ffmpeg's messages name the URL)."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}://", text)
