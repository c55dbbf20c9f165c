"""RFC 9530 ``Content-Digest``: the digest of a message's content, as a structured field.

The field is an RFC 8941 Dictionary whose keys are algorithm names and whose values are Byte
Sequences, e.g. ``sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:``. We produce and check
``sha-256`` and ``sha-512``, the two algorithms RFC 9530 registers as active; the deprecated ones
(``md5``, ``sha``, ``crc32c``, ``adler``, ...) and unknown ones are parsed but never trusted.

`verify_content_digest` holds when at least one supported algorithm is present and every
supported one present matches the body; it returns False rather than raising on any input, so
a server can treat "malformed" and "wrong" alike. Byte sequences must be canonical base64 (see
`jcjg.exchange.signatures`): RFC 9530's ``RK/0q…Dg==``, printed with one ``=`` too many in some
places, is rejected.

The digest covers the content as sent (after any Content-Encoding), so sign the header and
digest the exact bytes on the wire.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from jcjg.exchange.signatures import (
    Item,
    StructuredFieldError,
    parse_dictionary,
    serialize_bare_item,
)

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "DigestError",
    "content_digest",
    "parse_content_digest",
    "verify_content_digest",
]

_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda body: hashlib.sha256(body).digest(),
    "sha-512": lambda body: hashlib.sha512(body).digest(),
}
SUPPORTED_ALGORITHMS = tuple(_HASHES)
"""The algorithms we compute and verify, in order of preference."""


class DigestError(ValueError):
    """A Content-Digest value is malformed, or an algorithm is not supported for producing one."""


def content_digest(body: bytes, alg: str = "sha-256") -> str:
    """The ``Content-Digest`` field value for `body`: ``<alg>=:<base64 digest>:``."""
    digest = _HASHES.get(alg)
    if digest is None:
        raise DigestError(
            f"unsupported digest algorithm {alg!r}; use one of {SUPPORTED_ALGORITHMS}"
        )
    return f"{alg}={serialize_bare_item(digest(body))}"


def parse_content_digest(value: str | bytes) -> dict[str, bytes]:
    """Parse a ``Content-Digest`` value into {algorithm: digest bytes}; raise DigestError.

    Every member must be a Byte Sequence; parameters on a member are allowed by RFC 8941 and
    ignored, since RFC 9530 defines none. A repeated algorithm keeps its last value (RFC 8941
    dictionary semantics). Empty text is an empty dictionary.
    """
    try:
        members = parse_dictionary(value)
    except StructuredFieldError as exc:
        raise DigestError(f"malformed Content-Digest: {exc}") from exc
    out: dict[str, bytes] = {}
    for alg, member in members.items():
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise DigestError(f"malformed Content-Digest: {alg!r} is not a byte sequence")
        out[alg] = member.value
    return out


def verify_content_digest(value: str | bytes | None, body: bytes) -> bool:
    """True iff `value` names a supported algorithm and every supported one matches `body`.

    Unsupported algorithms are ignored; a missing or malformed value gives False, never an
    exception.
    """
    if value is None:
        return False
    try:
        digests = parse_content_digest(value)
    except DigestError:
        return False
    checked = False
    for alg, expected in digests.items():
        digest = _HASHES.get(alg)
        if digest is None:
            continue
        if not hmac.compare_digest(digest(body), expected):
            return False
        checked = True
    return checked
