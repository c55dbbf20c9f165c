"""A camera's password, sealed with the platform's secret key like exchange secrets, and the
stream address with the credentials put in (for the recorder's ffmpeg only: never logged,
never stored)."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from jcjg.config import Settings
from jcjg.exchange import keystore
from jcjg.video.models import Camera

_CREDENTIALS = re.compile(r"(rtsps?|https?)://[^/@\s]*@", re.IGNORECASE)


def _key_id(camera: Camera) -> str:
    if camera.id is None:
        raise ValueError("seal a camera's password once it has an id (flush first)")
    return f"camera:{camera.id}"


def seal_password(settings: Settings, camera: Camera, password: str) -> None:
    """Seal ``password`` onto ``camera`` (an empty one clears it)."""
    camera.password_sealed = (
        keystore.seal(settings.secret_key, password.encode("utf-8"), _key_id(camera))
        if password
        else None
    )


def unseal_password(settings: Settings, camera: Camera) -> str:
    """The camera's password ("" when none); raises if the secret key changed."""
    if not camera.password_sealed:
        return ""
    return keystore.unseal(settings.secret_key, camera.password_sealed, _key_id(camera)).decode(
        "utf-8"
    )


def stream_address(settings: Settings, camera: Camera) -> str:
    """``camera.stream_url`` with the user name and password (percent-encoded) put in."""
    parts = urlsplit(camera.stream_url)
    if not camera.username:
        return camera.stream_url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = quote(camera.username, safe="")
    password = unseal_password(settings, camera)
    userinfo = f"{user}:{quote(password, safe='')}" if password else user
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, ""))


def redact(text: str) -> str:
    """``text`` with any credentials in URLs removed (ffmpeg's messages name the URL)."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}://", text)
