"""A child platform made by hand for the parent's tests: its log (leaves built as the ledger
builds them), its labs' signed messages, and the forwards it would send."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.client.signing import load_key, signed_headers
from jcjg.core.db import utcnow
from jcjg.exchange.service import ENTRY_PREFIX, ledger_entry, parse_json
from jcjg.exchange.signatures import SigningKey, SM2SigningKey
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.keys import hasher_for
from jcjg.ledger.note import Signer, generate_signer
from jcjg.networking.wire import FORWARDS_PATH, b64

CITY = "http://city.test"
ORIGIN = "city.test/ledger"


@dataclass
class ChildLog:
    """A child's log: leaves appended in order, with their entries' canonical bytes."""

    origin: str = ORIGIN
    signer: Signer = field(default_factory=lambda: Signer(generate_signer(ORIGIN)[0]))
    entries: list[bytes] = field(default_factory=list)

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    @property
    def hasher(self) -> merkle.Hasher:
        """SM3 for a child of the national profile (an SM2 log key), else SHA-256."""
        return hasher_for(self.signer.verifier())

    @classmethod
    def national(cls) -> ChildLog:
        """A child running ``JCJG_CRYPTO=sm``: its log an SM3 tree signed with SM2."""
        origin = ORIGIN + "/sm"
        return cls(origin, Signer(generate_signer(origin, "sm2")[0]))

    def append(
        self, entry_type: str, data: Any, moment: dt.datetime | None = None
    ) -> dict[str, Any]:
        entry = ledger.envelope(entry_type, data, moment or utcnow())
        self.entries.append(entry)
        return {
            "index": len(self.entries) - 1,
            "leaf_hash": merkle.leaf_hash(entry, hasher=self.hasher).hex(),
            "entry": b64(entry),
            "message": None,
        }

    def root(self, size: int | None = None) -> bytes:
        size = len(self.entries) if size is None else size
        leaves = [merkle.leaf_hash(e, hasher=self.hasher) for e in self.entries[:size]]
        return merkle.root_hash(leaves, hasher=self.hasher)

    def leaves(self) -> list[bytes]:
        return [merkle.leaf_hash(e, hasher=self.hasher) for e in self.entries]

    def inclusion(self, index: int, size: int | None = None) -> list[str]:
        size = len(self.entries) if size is None else size
        return [
            h.hex() for h in merkle.inclusion_proof(self.leaves(), index, size, hasher=self.hasher)
        ]

    def transport(self) -> httpx.MockTransport:
        """This log's public endpoints as the child serves them: its checkpoint (with the
        cosignatures posted to it), its inclusion and consistency proofs."""
        cosigned: dict[int, str] = {}

        def answer(request: httpx.Request) -> httpx.Response:
            path, query = request.url.path, request.url.params
            size = len(self.entries)
            if path == "/ledger/checkpoint":
                return httpx.Response(200, text=cosigned.get(size) or self.checkpoint(size))
            if path.startswith("/ledger/checkpoint/") and path.endswith("/cosignatures"):
                at = int(path.split("/")[3])
                cosigned[at] = (cosigned.get(at) or self.checkpoint(at)) + request.content.decode()
                return httpx.Response(200, text=cosigned[at])
            if path == "/ledger/proof/inclusion":
                hashes = self.inclusion(int(query["index"]), int(query["size"]))
                return httpx.Response(200, json={"hashes": hashes})
            if path == "/ledger/proof/consistency":
                proof = merkle.consistency_proof(
                    self.leaves(), int(query["first"]), int(query["second"]), hasher=self.hasher
                )
                return httpx.Response(200, json={"hashes": [h.hex() for h in proof]})
            return httpx.Response(404)

        return httpx.MockTransport(answer)

    def checkpoint(self, size: int | None = None) -> str:
        from jcjg.ledger.note import format_checkpoint, sign_note

        size = len(self.entries) if size is None else size
        return sign_note(
            format_checkpoint(self.origin, size, self.root(size)), self.signer
        ).decode()


@dataclass
class CityLab:
    """A lab of the child platform, signing with Ed25519 (SM2 with ``alg="sm2-sm3"``, or HMAC)
    what it sends the child."""

    institution_code: str
    key_id: str = field(default_factory=lambda: f"c9-{uuid.uuid4().hex[:12]}")
    alg: str = "ed25519"
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    sm2: SM2SigningKey = field(default_factory=SM2SigningKey.generate)

    def _key(self) -> tuple[SigningKey, str | None]:
        """The signing key and the base64 of the public key that travels with the message."""
        if self.alg == "sm2-sm3":
            return self.sm2, b64(self.sm2.public_bytes)
        if self.alg == "ed25519":
            return load_key("ed25519", self.private), b64(
                self.private.public_key().public_bytes_raw()
            )
        return load_key(self.alg, b"s" * 32), None

    def signed(
        self, log: ChildLog, message_type: str, fields: dict[str, Any], *, status: str = "applied",
        results: dict[str, str] | None = None, created: int | None = None,
        message_id: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The leaf of a message the lab sent the child, as the child forwards it."""
        payload = {
            "message_id": message_id or str(uuid.uuid4()),
            "institution_code": self.institution_code,
        }
        body = json.dumps(payload | fields, ensure_ascii=False).encode()
        url = f"{CITY}/exchange/v1/messages/{message_type}"
        key, public = self._key()
        headers = signed_headers("POST", url, key_id=self.key_id, key=key, body=body,
                                 content_type="application/json", created=created)  # fmt: skip
        _data, canonical = parse_json(body)
        sha256 = hashlib.sha256(canonical).hexdigest()
        entry = ledger_entry(
            message_type, payload["message_id"], self.key_id, self.institution_code, sha256
        )
        item = log.append(ENTRY_PREFIX + message_type, entry)
        covered = [
            [k.lower(), v]
            for k, v in headers.items()
            if k.lower() in ("content-digest", "content-type")
        ]
        item["message"] = {
            "body": b64(body),
            "request": {"method": "POST", "url": url, "headers": covered},
            "signature_input": headers["Signature-Input"],
            "signature": headers["Signature"],
            "key": {
                "key_id": self.key_id,
                "alg": self.alg,
                "public_key": public,
                "institution_code": self.institution_code,
            },
            "status": status,
            "results": results,
        }
        return item


def forward(log: ChildLog, items: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps(
        {"forward_version": 1, "origin": log.origin, "first": items[0]["index"], "items": items}
        | extra,
        ensure_ascii=False,
    ).encode()


def post_forward(http: Any, key_id: str, key: Any, body: bytes) -> Any:
    headers = signed_headers("POST", "http://testserver" + FORWARDS_PATH, key_id=key_id, key=key,
                             body=body, content_type="application/json")  # fmt: skip
    return http.post(FORWARDS_PATH, content=body, headers=headers)
