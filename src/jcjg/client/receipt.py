"""Receipts, and checking that a receipt notarises exactly the message that was sent.

The platform answers every accepted message with the ledger leaf it appended: the entry
``{message_type, message_id, key_id, institution_code, sha256}`` (``sha256`` of the message's
RFC 8785 canonical JSON), the entry type ``message:<type>``, the time it was notarised and the
leaf's hash ``SHA-256(0x00 || canonical_json({"entry_type", "notarised_at", "data": entry}))``
(RFC 6962 leaf hashing over the envelope of docs/ledger.md). The lab can recompute all of it
from what it sent, so it does not have to trust the receipt: if the hash holds, a later
inclusion proof for that leaf proves what the lab reported, and if it does not, the lab knows
at once, not when an inspector asks. This module needs nothing but the standard library and
the ledger's two pure modules.
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
from jcjg.ledger.merkle import leaf_hash
from jcjg.ledger.note import NoteError, Verifier, open_note

ENTRY_PREFIX = "message:"
RECEIPT_NOTE_HEADER = "jcjg-ledger-receipt/v1"


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


def envelope_leaf_hash(entry_type: str, notarised_at: str, entry: Mapping[str, Any]) -> str:
    """The hex leaf hash of ``entry`` notarised under ``entry_type`` at ``notarised_at``."""
    data = canonical_json({"entry_type": entry_type, "notarised_at": notarised_at, "data": entry})
    return leaf_hash(data).hex()


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


@dataclass(frozen=True)
class Receipt:
    """The platform's answer to a message (the fields of the receipt JSON, as sent)."""

    message_id: str
    message_type: str
    status: str
    """``accepted`` the first time, ``duplicate`` when the same message was sent again."""
    received_at: str
    index: int
    """The leaf's index in the ledger."""
    leaf_hash: str
    entry_type: str
    notarised_at: str
    entry: dict[str, Any]
    ledger_note: str
    """The log's signed promise to include the leaf (a C2SP signed note)."""
    results: Any = None
    warnings: list[Any] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The receipt JSON exactly as received (for storing it)."""

    @classmethod
    def from_json(cls, data: object) -> Receipt:
        """Read a receipt; a body that is not one raises ReceiptMismatch (a 200 that does not
        carry a receipt is not an acceptance the lab can rely on)."""
        if not isinstance(data, dict):
            raise ReceiptMismatch("the answer is not a JSON object", receipt=None)
        try:
            index = data.get("index")
            entry = data.get("entry")
            warnings = data.get("warnings", [])
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise ValueError("index is not a non-negative integer")
            if not isinstance(entry, dict):
                raise ValueError("entry is not an object")
            if not isinstance(warnings, list):
                raise ValueError("warnings is not a list")
            note = data.get("ledger_note") or ""
            if not isinstance(note, str):
                raise ValueError("ledger_note is not a string")
            return cls(
                message_id=_str(data, "message_id"),
                message_type=_str(data, "message_type"),
                status=_str(data, "status"),
                received_at=_str(data, "received_at"),
                index=index,
                leaf_hash=_str(data, "leaf_hash"),
                entry_type=_str(data, "entry_type"),
                notarised_at=_str(data, "notarised_at"),
                entry=entry,
                ledger_note=note,
                results=data.get("results"),
                warnings=warnings,
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
        With ``log_key`` (the ledger's verifier key) the note's signature is checked too.

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
        recomputed = envelope_leaf_hash(self.entry_type, self.notarised_at, expected)
        if recomputed != self.leaf_hash.lower():
            raise self._mismatch(f"leaf_hash is {self.leaf_hash}, the entry hashes to {recomputed}")
        self._check_note(recomputed, log_key)

    def _check_note(self, leaf_hex: str, log_key: str | None) -> None:
        """The log's signed note must state the same index, leaf and time, and, when the log's
        verifier key is known (``GET /ledger/key``), carry the log's valid signature: without
        it, anyone answering in the platform's place could make up a receipt that matches."""
        lines = self.ledger_note.split("\n") if self.ledger_note else [""]
        if lines[0] != RECEIPT_NOTE_HEADER:
            raise self._mismatch("the receipt carries no ledger note of a known format")
        if log_key is not None:
            try:
                open_note(self.ledger_note, [Verifier(log_key)])
            except NoteError as exc:
                raise self._mismatch(f"the ledger note is not signed by the log: {exc}") from exc
        try:
            index, leaf, moment = int(lines[2]), base64.b64decode(lines[3], validate=True), lines[4]
        except (IndexError, ValueError, binascii.Error) as exc:
            raise self._mismatch("the ledger note is malformed") from exc
        if index != self.index or leaf.hex() != leaf_hex or moment != self.notarised_at:
            raise self._mismatch("the ledger note states another index, leaf or time")

    def _mismatch(self, reason: str) -> ReceiptMismatch:
        return ReceiptMismatch(reason, receipt=self.raw or None, message_id=self.message_id)
