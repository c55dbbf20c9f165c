"""What a child platform sends its parent: a *forward*, the next leaves of its log in order.

``POST /exchange/v1/forwards`` (signed by the child's platform key, RFC 9421, like any exchange
request) carries a JSON object::

    {"forward_version": 1, "origin": "<the child's log origin>", "first": 120,
     "items": [{"index": 120, "leaf_hash": "<hex>", "entry": "<base64 of the leaf's bytes>",
                "message": null | {...}, "content": {...}}, ...],
     "backlog": 0, "oldest_waiting_at": null}

Each item is one leaf: ``entry`` the canonical bytes the child's log hashed (so the parent
recomputes the leaf hash itself), and for a lab's message (entry type ``message:<type>``) the
message as the lab sent it: the raw body, the signature with the other signed request
components, the lab's key, and the child's outcome (``applied`` with the supervision code it
issued, or ``rejected``); for a fact whose entry holds digests only (a penalty's facts),
``content``: what the digests cover. docs/networking.md describes every field.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FORWARDS_PATH = "/exchange/v1/forwards"
VERSION = 1

_HEX64 = r"^[0-9a-f]{64}$"
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no NUL or control characters
MAX_ITEMS = 2000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LabKey(_Strict):
    key_id: str = Field(min_length=1, max_length=64)
    alg: Literal["ed25519", "sm2-sm3", "hmac-sha256"]
    # base64 of the raw public key (Ed25519: 32 bytes; SM2: the 65-byte point 04 || x || y);
    # an HMAC secret never travels
    public_key: str | None = Field(default=None, max_length=100)
    institution_code: str | None = Field(default=None, max_length=32)


class SignedRequest(_Strict):
    method: str = Field(min_length=1, max_length=16)
    url: str = Field(min_length=1, max_length=2048)
    headers: list[
        Annotated[list[Annotated[str, Field(max_length=4096)]], Field(min_length=2, max_length=2)]
    ] = Field(max_length=32)


class ForwardedMessage(_Strict):
    body: str = Field(min_length=1)  # base64 of the body byte for byte
    request: SignedRequest | None = None  # None for messages accepted before it was kept
    signature_input: str = Field(min_length=1, max_length=4096)
    signature: str = Field(min_length=1, max_length=4096)
    key: LabKey
    status: Literal["applied", "rejected"]
    results: dict[str, str] | None = None  # what the child issued: supervision_code, token


class RelayProof(_Strict):
    """What a relay of a child's fact carries (docs/networking.md, "Relayed facts"): the
    child's checkpoint, signed by the child's log and cosigned by the relaying platform, and
    the inclusion proof of the child's leaf in it."""

    checkpoint: str = Field(min_length=1, max_length=20_000)
    hashes: list[str] = Field(max_length=64)

    @field_validator("hashes")
    @classmethod
    def _hex(cls, value: list[str]) -> list[str]:
        if not all(re.fullmatch(_HEX64, h) for h in value):
            raise ValueError("hashes must be 64 lower-case hex digits each")
        return value


class Item(_Strict):
    index: int = Field(ge=0, le=2**63 - 1)
    leaf_hash: str = Field(pattern=_HEX64)
    entry: str = Field(min_length=1)
    message: ForwardedMessage | None = None
    # a fact's content the entry holds only as digests (core.facts.FACT_CONTENTS): present
    # only for such a fact, checked by the parent against the entry
    content: dict[str, Any] | None = None
    # a leaf relaying a child's fact: that fact's leaf proven in the child's log
    proof: RelayProof | None = None
    # a fact of the child's own notarised while a relay of one of its children's facts was
    # still to come after it in its log (waiting for that child's checkpoint): the parent
    # holds it, instead of refusing it, while what it names is not here yet
    after_relays: bool = False

    @field_validator("entry")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            unb64(value)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("entry must be base64") from exc
        return value


RELAYED = "relayed_from"
"""The key under which a parent's leaf relaying a child's fact names the fact's first origin."""


class Relayed(_Strict):
    """Where a relayed fact was first notarised: the log (its origin and verifier key) and the
    platform's name and region as its parent registered it, the leaf's index and hash there, and
    the leaf's entry itself, so that anyone above recomputes the leaf from it."""

    platform: str = Field(min_length=1, max_length=200, pattern=_PRINTABLE)  # the log's origin
    name: str = Field(min_length=1, max_length=100, pattern=_PRINTABLE)
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    log_key: str = Field(min_length=1, max_length=300)
    index: int = Field(ge=0, le=2**63 - 1)
    leaf_hash: str = Field(pattern=_HEX64)
    entry: str = Field(min_length=1, max_length=1_000_000)  # base64 of the first leaf's bytes


def first_notarised(
    *, origin: str, name: str, region_code: str, log_key: str, index: int, leaf_hash: bytes,
    entry: bytes,
) -> dict[str, Any]:  # fmt: skip
    """What a relay of a child's own fact names (:class:`Relayed`): the child as this platform
    registered it, and its leaf."""
    return {
        "platform": origin, "name": name, "region_code": region_code, "log_key": log_key,
        "index": index, "leaf_hash": leaf_hash.hex(), "entry": b64(entry),
    }  # fmt: skip


def evidence_files(content: Any) -> list[str]:
    """The SHA-256 of the files a fact's content names (``evidence: [{"sha256": …}]``); what
    is not such a list is left to the applier to refuse."""
    listed = content.get("evidence") if isinstance(content, dict) else None
    if not isinstance(listed, list):
        return []
    return [f["sha256"] for f in listed if isinstance(f, dict) and isinstance(f.get("sha256"), str)]


class Forward(_Strict):
    forward_version: Literal[1]
    origin: str = Field(min_length=1, max_length=200)
    first: int = Field(ge=0, le=2**63 - 1)
    items: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)
    backlog: int = Field(default=0, ge=0, le=2**63 - 1)
    oldest_waiting_at: str | None = Field(default=None, max_length=40)


def parse_time(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def kept_results(results: dict[str, Any] | None) -> dict[str, str] | None:
    """What of a child's answer to a message the parent needs: the code and token it issued
    (a report's), nothing heavier (no QR images)."""
    if not results:
        return None
    kept = {k: results[k] for k in ("supervision_code", "token") if isinstance(results.get(k), str)}
    return kept or None
