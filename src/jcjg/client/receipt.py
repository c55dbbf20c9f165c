"""Receipts (v2) and statuses, and checking that they notarise exactly the message sent.

The platform answers every accepted message with receipt v2: the ledger entry
``{message_type, message_id, key_id, institution_code, sha256}`` (``sha256`` of the message's
RFC 8785 canonical JSON), the entry type ``message:<type>``, the time it was notarised, the
leaf's hash ``SHA-256(0x00 || canonical_json({"entry_type", "notarised_at", "data": entry}))``
(RFC 6962 leaf hashing over the envelope of docs/ledger.md) and the log's signed *promise* to
include that leaf within ``max_delay_seconds`` (like an RFC 6962 signed certificate
timestamp). The lab recomputes all of it from what it sent, so it does not have to trust the
receipt: :meth:`Receipt.verify` checks it at once. Later the message's status
(:class:`Status`) carries the leaf's index, an inclusion proof and a signed checkpoint, and
:meth:`Status.verify_inclusion` checks that the promise was kept. This module needs nothing
but the standard library and the ledger's pure modules.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jcjg.client.errors import ReceiptMismatch
from jcjg.ledger.canonical import CanonicalJSONError, canonical_json
from jcjg.ledger.merkle import Hasher, leaf_hash, verify_inclusion
from jcjg.ledger.note import NoteError, Verifier, open_note, parse_checkpoint
from jcjg.ledger.sm import new_sm3

ENTRY_PREFIX = "message:"
PROMISE_HEADER = "jcjg-ledger-promise/v1"
RECEIPT_VERSION = 2
FINAL = frozenset({"applied", "rejected"})


def message_sha256(payload: Mapping[str, Any]) -> str:
    """The hex SHA-256 of the payload's canonical JSON, as the platform computes it."""
    return hashlib.sha256(canonical_json(dict(payload))).hexdigest()


def normal_message_id(value: object) -> str:
    """The message id as the platform records it: the UUID in lower-case hyphenated form
    (the platform parses the id as a UUID, so ``"ABC..."`` comes back as ``"abc..."``)."""
    return str(uuid.UUID(str(value)))


def expected_entry(message_type: str, payload: Mapping[str, Any], key_id: str) -> dict[str, str]:
    """The ledger entry the platform must notarise for ``payload`` sent as ``message_type``
    under ``key_id``. Raises ValueError when the payload has no valid id or institution."""
    institution = payload.get("institution_code")
    if not isinstance(institution, str):
        raise ValueError("the payload has no institution_code")
    return {
        "message_type": message_type,
        "message_id": normal_message_id(payload.get("message_id")),
        "key_id": key_id,
        # The platform strips surrounding blanks before looking the institution up.
        "institution_code": institution.strip(),
        "sha256": message_sha256(payload),
    }


def envelope_leaf_hash(
    entry_type: str,
    notarised_at: str,
    entry: Mapping[str, Any],
    *,
    hasher: Hasher = hashlib.sha256,
) -> str:
    """The hex leaf hash of ``entry`` notarised under ``entry_type`` at ``notarised_at``
    (``hasher``: SHA-256, or SM3 for a log of the national profile)."""
    data = canonical_json({"entry_type": entry_type, "notarised_at": notarised_at, "data": entry})
    return leaf_hash(data, hasher=hasher).hex()


def log_hashers(log_key: str | None) -> tuple[Hasher, ...]:
    """The tree hash of the log whose verifier key is ``log_key``: SM3 for an SM2 key
    (``JCJG_CRYPTO=sm``), SHA-256 otherwise; without the key, either (both bind the content:
    the leaf hash given must be one of them)."""
    if log_key is None:
        return (hashlib.sha256, new_sm3)
    return (new_sm3,) if Verifier(log_key).is_sm2 else (hashlib.sha256,)


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} is not a non-negative integer")
    return value


@dataclass(frozen=True)
class Receipt:
    """The platform's answer to a message (receipt v2, the fields as sent)."""

    message_id: str
    message_type: str
    status: str
    """``accepted`` the first time, ``duplicate`` when the same message was sent again."""
    received_at: str
    entry_type: str
    entry: dict[str, Any]
    notarised_at: str
    leaf_hash: str
    max_delay_seconds: int
    promise: str
    """The log's signed promise to include the leaf (a C2SP signed note)."""
    status_url: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The receipt JSON exactly as received (for storing it)."""
    outcome: Status | None = field(default=None, compare=False)
    """With ``send(..., wait=...)``: the message's status when the wait ended."""

    @property
    def results(self) -> Any:
        """What applying the message did (once ``outcome`` says it was applied)."""
        return self.outcome.results if self.outcome is not None else None

    @property
    def warnings(self) -> list[Any]:
        return self.outcome.warnings if self.outcome is not None else []

    @classmethod
    def from_json(cls, data: object) -> Receipt:
        """Read a receipt; a body that is not one raises ReceiptMismatch (an answer that does
        not carry a receipt is not an acceptance the lab can rely on)."""
        if not isinstance(data, dict):
            raise ReceiptMismatch("the answer is not a JSON object", receipt=None)
        try:
            if data.get("receipt_version") != RECEIPT_VERSION:
                raise ValueError(f"receipt_version is not {RECEIPT_VERSION}")
            entry = data.get("entry")
            if not isinstance(entry, dict):
                raise ValueError("entry is not an object")
            return cls(
                message_id=_str(data, "message_id"),
                message_type=_str(data, "message_type"),
                status=_str(data, "status"),
                received_at=_str(data, "received_at"),
                entry_type=_str(data, "entry_type"),
                entry=entry,
                notarised_at=_str(data, "notarised_at"),
                leaf_hash=_str(data, "leaf_hash"),
                max_delay_seconds=_int(data, "max_delay_seconds"),
                promise=_str(data, "promise"),
                status_url=_str(data, "status_url"),
                raw=data,
            )
        except ValueError as exc:
            raise ReceiptMismatch(f"not a receipt: {exc}", receipt=data) from exc

    def verify(
        self,
        payload: Mapping[str, Any],
        *,
        key_id: str | None = None,
        message_type: str | None = None,
        log_key: str | None = None,
    ) -> None:
        """Check that this receipt notarises ``payload``; raise ReceiptMismatch if not.
        With ``log_key`` (the ledger's verifier key) the promise's signature is checked too.

        The entry must equal the one recomputed from the payload (its canonical SHA-256, id
        and institution), and the leaf hash must be the hash of that entry's envelope. Pass
        ``key_id`` and ``message_type`` (``send`` does) to check those too; without them the
        receipt's own values are taken, which still proves the content but not who sent it
        or as what.
        """
        kind = message_type if message_type is not None else self.message_type
        signer = key_id if key_id is not None else str(self.entry.get("key_id"))
        if self.status == "duplicate" and key_id is not None:
            # A message first accepted under a key since rotated away: the stored receipt names
            # the key that signed it then. The content must still match.
            signer = str(self.entry.get("key_id"))
        try:
            expected = expected_entry(kind, payload, signer)
        except (ValueError, CanonicalJSONError) as exc:
            raise self._mismatch(f"the payload cannot be checked: {exc}") from exc
        if self.entry != expected:
            differing = sorted(
                k for k in set(expected) | set(self.entry) if self.entry.get(k) != expected.get(k)
            )
            raise self._mismatch(f"the notarised entry differs in {', '.join(differing)}")
        if self.message_id != expected["message_id"] or self.message_type != kind:
            raise self._mismatch("the receipt names another message")
        if self.entry_type != ENTRY_PREFIX + kind:
            raise self._mismatch(f"entry_type is {self.entry_type!r}, not {ENTRY_PREFIX + kind!r}")
        if self.status not in ("accepted", "duplicate"):
            raise self._mismatch(f"unknown status {self.status!r}")
        candidates = [
            envelope_leaf_hash(self.entry_type, self.notarised_at, expected, hasher=h)
            for h in log_hashers(log_key)
        ]
        recomputed = (
            self.leaf_hash.lower() if self.leaf_hash.lower() in candidates else candidates[0]
        )
        if recomputed != self.leaf_hash.lower():
            raise self._mismatch(f"leaf_hash is {self.leaf_hash}, the entry hashes to {recomputed}")
        self._check_promise(recomputed, log_key)

    def _check_promise(self, leaf_hex: str, log_key: str | None) -> None:
        """The log's signed promise must state the same leaf, time and delay, and, when the
        log's verifier key is known (``GET /ledger/key``), carry the log's valid signature:
        without it, anyone answering in the platform's place could make up a receipt."""
        lines = self.promise.split("\n")
        if lines[0] != PROMISE_HEADER:
            raise self._mismatch("the receipt carries no ledger promise of a known format")
        if log_key is not None:
            try:
                open_note(self.promise, [Verifier(log_key)])
            except NoteError as exc:
                raise self._mismatch(f"the promise is not signed by the log: {exc}") from exc
        try:
            leaf, moment, delay = base64.b64decode(lines[2], validate=True), lines[3], int(lines[4])
        except (IndexError, ValueError, binascii.Error) as exc:
            raise self._mismatch("the ledger promise is malformed") from exc
        if leaf.hex() != leaf_hex or moment != self.notarised_at:
            raise self._mismatch("the ledger promise states another leaf or time")
        if delay != self.max_delay_seconds:
            raise self._mismatch("the ledger promise states another maximum delay")

    def _mismatch(self, reason: str) -> ReceiptMismatch:
        return ReceiptMismatch(reason, receipt=self.raw or None, message_id=self.message_id)


@dataclass(frozen=True)
class Inclusion:
    """Where a message's leaf stands in the log: its index, the proof, the signed checkpoint."""

    index: int
    size: int
    hashes: list[str]
    checkpoint: str


@dataclass(frozen=True)
class Status:
    """A message's status (``GET /exchange/v1/messages/{type}/{id}``): ``accepted`` (stored,
    waiting to be applied), ``applied`` (with ``results`` and ``warnings``) or ``rejected``
    (with ``problem``, RFC 9457); ``ledger`` once the leaf is integrated."""

    message_id: str
    message_type: str
    status: str
    received_at: str
    applied_at: str | None
    receipt: Receipt
    results: Any = None
    warnings: list[Any] = field(default_factory=list)
    problem: dict[str, Any] | None = None
    ledger: Inclusion | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @classmethod
    def from_json(cls, data: object) -> Status:
        if not isinstance(data, dict):
            raise ReceiptMismatch("the status is not a JSON object", receipt=None)
        try:
            status = _str(data, "status")
            if status not in ("accepted", *FINAL):
                raise ValueError(f"unknown status {status!r}")
            warnings = data.get("warnings") or []
            problem = data.get("problem")
            if not isinstance(warnings, list) or not isinstance(problem, dict | None):
                raise ValueError("warnings or problem malformed")
            applied_at = data.get("applied_at")
            return cls(
                message_id=_str(data, "message_id"),
                message_type=_str(data, "message_type"),
                status=status,
                received_at=_str(data, "received_at"),
                applied_at=applied_at if isinstance(applied_at, str) else None,
                receipt=Receipt.from_json(data.get("receipt")),
                results=data.get("results"),
                warnings=warnings,
                problem=problem,
                ledger=_inclusion(data.get("ledger")),
                raw=data,
            )
        except ValueError as exc:
            raise ReceiptMismatch(f"not a status: {exc}", receipt=data) from exc

    def verify_inclusion(self, log_key: str | None = None) -> bool:
        """Check that the receipt's leaf is in the log: the proof leads from the leaf to the
        root of the checkpoint, whose signature is the log's when ``log_key`` is given. False
        while the leaf is not integrated yet; ReceiptMismatch when the proof fails."""
        found = self.ledger
        if found is None:
            return False
        verifiers = [Verifier(log_key)] if log_key is not None else []
        try:
            note = open_note(found.checkpoint, verifiers) if verifiers else None
            text = note.text if note is not None else found.checkpoint.split("\n\n")[0] + "\n"
            checkpoint = parse_checkpoint(text)
        except (NoteError, ValueError) as exc:
            raise self.receipt._mismatch(f"the checkpoint does not verify: {exc}") from exc
        if checkpoint.size != found.size:
            raise self.receipt._mismatch("the proof is for another tree size")
        ok = any(
            verify_inclusion(
                bytes.fromhex(self.receipt.leaf_hash),
                found.index,
                found.size,
                [bytes.fromhex(h) for h in found.hashes],
                checkpoint.root,
                hasher=hasher,
            )
            for hasher in log_hashers(log_key)
        )
        if not ok:
            raise self.receipt._mismatch("the inclusion proof does not lead to the checkpoint")
        return True


def _inclusion(data: object) -> Inclusion | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("ledger is not an object")
    hashes = data.get("hashes")
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise ValueError("ledger.hashes is not a list of hex strings")
    return Inclusion(
        index=_int(data, "index"),
        size=_int(data, "size"),
        hashes=hashes,
        checkpoint=_str(data, "checkpoint"),
    )
