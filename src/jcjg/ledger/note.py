"""C2SP signed notes (Ed25519) and transparency-log checkpoints.

Wire-compatible with Go's golang.org/x/mod/sumdb/note and with c2sp.org/signed-note and
c2sp.org/tlog-checkpoint, so that standard witnesses and verifiers accept our checkpoints.

A signed note is UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(4-byte key id || signature)>`` (an em dash U+2014 and a space). The whole
note must not contain ASCII control characters other than newline. The text may contain blank
lines: it ends at the last blank line of the note. Signatures cover the text including its final
newline.

Keys: Ed25519 (signature type 0x01) and, for ``JCJG_CRYPTO=sm``, SM2 with SM3 (signature type
0xff followed by the identifier ``jcjg-sm2-sm3``, `TYPE_SM2`; 65-byte public point, 32-byte
private scalar, 64-byte r || s signatures). With ``type`` that prefix:

- key id = first 4 bytes, big-endian, of SHA-256(name || "\\n" || type || public key);
- verifier key ``<name>+<8 hex key id>+<base64(type || public key)>``;
- signer key ``PRIVATE+KEY+<name>+<8 hex key id>+<base64(type || private key)>``;
- a key name is non-empty and has no Unicode white space and no ``+``. We also refuse ASCII
  control characters in names, which could never appear in a valid note anyway.

`open_note` follows Go's ``note.Open``: it splits at the last blank line, rejects malformed
signature lines and more than 100 of them, keeps signatures from unknown keys as unverified,
fails on any bad signature from a known key, and fails if no known key signed. Unlike Go, a
verifier listed twice with the same public key is not ambiguous; two different public keys
with the same name and key id are.

A checkpoint's text is ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` followed by optional
non-empty extension lines. A log should sign with a key named like its origin; cosigners
(witnesses) add their own signature lines with `signature_line` and `add_signatures`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jcjg.ledger.sm import SM2SigningKey, SM2VerifyingKey, SMUnavailable

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "TYPE_COSIGNATURE_V1",
    "TYPE_ED25519",
    "TYPE_SM2",
    "TYPE_SM2_COSIGNATURE",
    "AmbiguousKeyError",
    "Checkpoint",
    "CheckpointError",
    "InvalidSignatureError",
    "KeyFormatError",
    "MalformedNoteError",
    "Note",
    "NoteError",
    "Signature",
    "Signer",
    "UnverifiedNoteError",
    "Verifier",
    "add_signatures",
    "format_checkpoint",
    "generate_signer",
    "is_valid_key_name",
    "key_id",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "sign_note",
    "signature_line",
    "verifier_key",
]

ALG_ED25519 = 0x01
TYPE_ED25519 = bytes([ALG_ED25519])
TYPE_SM2 = b"\xffjcjg-sm2-sm3"
"""SM2 with SM3 (GB/T 32918.2, default identifier): C2SP's signature type 0xff ("without an
identifier byte assigned by this specification") followed by our identifier, ``jcjg-sm2-sm3``.
Public key: the 65-byte uncompressed point; private key: the 32-byte scalar; signature: r || s."""
TYPE_COSIGNATURE_V1 = b"\x04"
"""c2sp.org/tlog-cosignature: a timestamped Ed25519 cosignature. The signature is an 8-byte
big-endian POSIX time then the Ed25519 signature of ``cosignature/v1\ntime <t>\n`` followed by
the checkpoint's text; the key id hashes the type byte 0x04 (the same Ed25519 key as a type-0x01
key has another id)."""
TYPE_SM2_COSIGNATURE = b"\xffjcjg-sm2-cosignature/v1"
"""The SM2 analogue of cosignature/v1 (``JCJG_CRYPTO=sm``, whose keys are SM2): the same
timestamped signature of the same message, by an SM2 key under this type, so that a log's key
never signs as a cosigner a text that could pass for one of its own notes."""
COSIGNATURE_HEADER = b"cosignature/v1\n"
_SM2_TYPES = (TYPE_SM2, TYPE_SM2_COSIGNATURE)
_COSIGNATURE_TYPES = (TYPE_COSIGNATURE_V1, TYPE_SM2_COSIGNATURE)
_PUBLIC_BYTES = {TYPE_ED25519: 32, TYPE_SM2: 65, TYPE_COSIGNATURE_V1: 32, TYPE_SM2_COSIGNATURE: 65}
_PRIVATE_BYTES = {TYPE_ED25519: 32, TYPE_SM2: 32, TYPE_COSIGNATURE_V1: 32, TYPE_SM2_COSIGNATURE: 32}
_MAX_TIMESTAMP = 2**63 - 1


def cosigned_message(timestamp: int, text: bytes) -> bytes:
    """What a cosignature/v1 signs: the header, the time line, the checkpoint's text."""
    return COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


MAX_SIGNATURES = 100
"""Most signature lines a note may carry; Go's note.Open rejects more."""

_SIG_PREFIX = "— "  # em dash U+2014, then a space
_HASH_SIZE = 32
_MAX_TREE_SIZE = 2**64 - 1

# Unicode White_Space, which is what Go's unicode.IsSpace tests. str.isspace() differs
# (it also counts U+001C..U+001F), so the set is spelled out.
_WHITE_SPACE = frozenset(
    [
        *range(0x09, 0x0E),
        *(0x20, 0x85, 0xA0, 0x1680),
        *range(0x2000, 0x200B),
        *(0x2028, 0x2029, 0x202F, 0x205F, 0x3000),
    ]
)
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
_HEX8 = re.compile(r"[0-9A-Fa-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """Base class of every signed-note and checkpoint error."""


class KeyFormatError(NoteError):
    """A signer or verifier key string is malformed, has the wrong key id or algorithm."""


class MalformedNoteError(NoteError):
    """The note is not syntactically a signed note."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"malformed note: {detail}" if detail else "malformed note")


class AmbiguousKeyError(NoteError):
    """Two different verifier keys share a name and key id."""

    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"ambiguous key {name}+{key_id:08x}")
        self.name = name
        self.key_id = key_id


class InvalidSignatureError(NoteError):
    """A signature from a known key does not verify (or is missing where it was required)."""

    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"invalid signature for key {name}+{key_id:08x}")
        self.name = name
        self.key_id = key_id


class UnverifiedNoteError(NoteError):
    """The note is well formed but no signature from a known key is on it."""

    def __init__(self, note: Note) -> None:
        super().__init__("note has no verifiable signatures")
        self.note = note


class CheckpointError(NoteError):
    """The text is not a valid tlog checkpoint, or not the expected log's."""


# ---------------------------------------------------------------------------------------------
# Keys.


def is_valid_key_name(name: str) -> bool:
    """Return True if `name` may name a key: non-empty, no white space, ``+`` or controls."""
    if not isinstance(name, str) or not name or "+" in name:
        return False
    if any(ord(c) in _WHITE_SPACE or ord(c) < 0x20 for c in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates are not UTF-8
        return False
    return True


def key_id(name: str, public_key: bytes, key_type: bytes = TYPE_ED25519) -> int:
    """Return a key's id: SHA-256(name || LF || signature type || key)[:4] as uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + key_type + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def verifier_key(name: str, public_key: bytes, key_type: bytes = TYPE_ED25519) -> str:
    """Return the verifier key string ``<name>+<hex id>+<base64(type || key)>``."""
    if not is_valid_key_name(name):
        raise KeyFormatError(f"invalid key name {name!r}")
    if key_type not in _PUBLIC_BYTES:
        raise KeyFormatError("unknown signature type")
    if not isinstance(public_key, bytes) or len(public_key) != _PUBLIC_BYTES[key_type]:
        raise KeyFormatError(f"the public key is {_PUBLIC_BYTES[key_type]} bytes")
    encoded = base64.b64encode(key_type + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key, key_type):08x}+{encoded}"


def generate_signer(name: str, algorithm: str = "ed25519") -> tuple[str, str]:
    """Generate a new key named `name` (``ed25519``, or ``sm2`` for ``JCJG_CRYPTO=sm``);
    return (signer key, verifier key) strings."""
    if not is_valid_key_name(name):
        raise KeyFormatError(f"invalid key name {name!r}")
    if algorithm == "sm2":
        key = SM2SigningKey.generate()
        key_type, public, secret = TYPE_SM2, key.public_bytes, key.private_bytes_raw()
    elif algorithm == "ed25519":
        private = Ed25519PrivateKey.generate()
        key_type = TYPE_ED25519
        public, secret = private.public_key().public_bytes_raw(), private.private_bytes_raw()
    else:
        raise KeyFormatError(f"unknown algorithm {algorithm!r}")
    encoded = base64.b64encode(key_type + secret).decode("ascii")
    kid = key_id(name, public, key_type)
    return f"PRIVATE+KEY+{name}+{kid:08x}+{encoded}", verifier_key(name, public, key_type)


def _b64decode(text: str) -> bytes | None:
    """Strict standard base64 (padding required, no stray characters), or None."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def _parse_key(fields: list[str], sizes: dict[bytes, int]) -> tuple[str, int, bytes, bytes]:
    """Parse name, hex key id and base64(type || key); return (name, id, type, key)."""
    if len(fields) != 3:
        raise KeyFormatError("malformed key")
    name, hex_id, encoded = fields
    raw = _b64decode(encoded)
    # Requiring canonical base64 means one key has one spelling.
    if (
        not is_valid_key_name(name)
        or not _HEX8.fullmatch(hex_id)
        or raw is None
        or not raw
        or base64.b64encode(raw).decode("ascii") != encoded
    ):
        raise KeyFormatError("malformed key")
    key_type = next((t for t in _SM2_TYPES if raw.startswith(t)), raw[:1])
    if key_type not in sizes:
        raise KeyFormatError(f"unknown key algorithm {raw[0]:#04x}")
    key = raw[len(key_type) :]
    if len(key) != sizes[key_type]:
        raise KeyFormatError(f"the key is {sizes[key_type]} bytes")
    return name, int(hex_id, 16), key_type, key


def _split_key(text: str, parts: int) -> list[str]:
    # Split on the first `parts - 1` pluses only: base64 may itself contain "+".
    if not isinstance(text, str):
        raise KeyFormatError("a key is a string")
    return text.split("+", parts - 1)


def _smkey(make: type[Any], data: bytes) -> Any:
    try:
        return make(data)
    except (ValueError, SMUnavailable) as exc:  # no tongsuopy here: an SM2 key is unusable
        raise KeyFormatError(str(exc)) from exc


class Verifier:
    """A note verifier (Ed25519, or SM2 for ``JCJG_CRYPTO=sm``), from a verifier key string."""

    __slots__ = ("_key", "key_id", "key_type", "name", "public_key")

    def __init__(self, vkey: str) -> None:
        """Parse ``<name>+<hex id>+<base64(type || public key)>``; raise KeyFormatError."""
        name, kid, key_type, public = _parse_key(_split_key(vkey, 3), _PUBLIC_BYTES)
        if kid != key_id(name, public, key_type):
            raise KeyFormatError("verifier key id does not match the key")
        self.name = name
        self.key_id = kid
        self.key_type = key_type
        self.public_key = public
        self._key: Any = (
            _smkey(SM2VerifyingKey, public)
            if key_type in _SM2_TYPES
            else Ed25519PublicKey.from_public_bytes(public)
        )

    @property
    def is_sm2(self) -> bool:
        """Whether this is an SM2 key: its log hashes with SM3 (``JCJG_CRYPTO=sm``)."""
        return self.key_type == TYPE_SM2

    @property
    def is_log_key(self) -> bool:
        """Whether a log may sign with this key (Ed25519 or SM2), not a cosigner's form."""
        return self.key_type in (TYPE_ED25519, TYPE_SM2)

    @property
    def vkey(self) -> str:
        """The verifier key string."""
        return verifier_key(self.name, self.public_key, self.key_type)

    def cosignature_verifier(self) -> Verifier | None:
        """The cosigner form of this log key (Ed25519: cosignature/v1, type 0x04; SM2:
        `TYPE_SM2_COSIGNATURE`), None for a key that is no log key."""
        kind = {TYPE_ED25519: TYPE_COSIGNATURE_V1, TYPE_SM2: TYPE_SM2_COSIGNATURE}
        if self.key_type not in kind:
            return None
        return Verifier(verifier_key(self.name, self.public_key, kind[self.key_type]))

    def verify(self, msg: bytes, sig: bytes) -> bool:
        """Return True iff `sig` is this key's signature of `msg` (a cosigner's key: the
        timestamped signature of the cosigned message)."""
        if self.key_type in _COSIGNATURE_TYPES:
            if len(sig) != 72:
                return False
            timestamp = int.from_bytes(sig[:8], "big")
            if timestamp > _MAX_TIMESTAMP:
                return False
            msg, sig = cosigned_message(timestamp, msg), sig[8:]
        if len(sig) != 64:
            return False
        if self.key_type in _SM2_TYPES:
            return bool(self._key.verify(msg, sig))
        try:
            self._key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"


class Signer:
    """A note signer (Ed25519, or SM2), from a signer key string (keep it secret)."""

    __slots__ = ("_key", "key_id", "key_type", "name", "public_key")

    def __init__(self, skey: str) -> None:
        """Parse ``PRIVATE+KEY+<name>+<hex id>+<base64(type || private key)>``; raise
        KeyFormatError."""
        fields = _split_key(skey, 5)
        if fields[:2] != ["PRIVATE", "KEY"]:
            raise KeyFormatError("malformed signer key")
        name, kid, key_type, secret = _parse_key(fields[2:], _PRIVATE_BYTES)
        key: Any
        if key_type in _SM2_TYPES:
            key = _smkey(SM2SigningKey, secret)
            public = key.public_bytes
        else:
            key = Ed25519PrivateKey.from_private_bytes(secret)
            public = key.public_key().public_bytes_raw()
        if kid != key_id(name, public, key_type):
            raise KeyFormatError("signer key id does not match the key")
        self.name = name
        self.key_id = kid
        self.key_type = key_type
        self.public_key = public
        self._key = key

    @property
    def is_sm2(self) -> bool:
        return self.key_type == TYPE_SM2

    @property
    def vkey(self) -> str:
        """The matching verifier key string, to publish."""
        return verifier_key(self.name, self.public_key, self.key_type)

    def verifier(self) -> Verifier:
        """Return the matching `Verifier`."""
        return Verifier(self.vkey)

    def cosigner(self) -> Signer | None:
        """This log key as a cosigner: Ed25519 as a cosignature/v1 signer (type 0x04), SM2
        under `TYPE_SM2_COSIGNATURE`; its messages start with ``cosignature/v1``, which no note
        this key signs as a log does. None for a key that is no log key."""
        kind = {TYPE_ED25519: TYPE_COSIGNATURE_V1, TYPE_SM2: TYPE_SM2_COSIGNATURE}
        if self.key_type not in kind:
            return None
        secret = self._key.private_bytes_raw()  # the Ed25519 seed, or the SM2 scalar
        kid = key_id(self.name, self.public_key, kind[self.key_type])
        encoded = base64.b64encode(kind[self.key_type] + secret).decode("ascii")
        return Signer(f"PRIVATE+KEY+{self.name}+{kid:08x}+{encoded}")

    def sign(self, msg: bytes, *, timestamp: int | None = None) -> bytes:
        """Return the signature of `msg`: 64 bytes (Ed25519; SM2: r || s), or for a
        cosigner's key the 8-byte time (now, or ``timestamp``) and the 64 bytes."""
        if self.key_type in _COSIGNATURE_TYPES:
            moment = int(time.time()) if timestamp is None else timestamp
            if not 0 <= moment <= _MAX_TIMESTAMP:
                raise NoteError("a cosignature's time is a POSIX time below 2**63")
            signed: bytes = self._key.sign(cosigned_message(moment, msg))
            return moment.to_bytes(8, "big") + signed
        signature: bytes = self._key.sign(msg)
        return signature

    def __repr__(self) -> str:
        # Never print the seed.
        return f"Signer(name={self.name!r}, key_id={self.key_id:08x})"


# ---------------------------------------------------------------------------------------------
# Notes.


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: key name, key id and the base64 of (key id || signature)."""

    name: str
    key_id: int
    base64: str

    @property
    def line(self) -> str:
        """The signature line, newline included."""
        return f"{_SIG_PREFIX}{self.name} {self.base64}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """An opened note: its text and its verified and unverified signatures, in note order."""

    text: str
    sigs: tuple[Signature, ...]
    unverified_sigs: tuple[Signature, ...] = ()


def _check_text(text: str) -> bytes:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedNoteError("note text must be a string ending in a newline")
    if _CONTROL.search(text):
        raise MalformedNoteError("note text contains a control character")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedNoteError("note text is not valid Unicode") from exc


def signature_line(text: str, signer: Signer) -> str:
    """Return `signer`'s signature line over note `text` (for cosigning an existing note)."""
    msg = _check_text(text)
    return _signature_line(msg, signer)


def _signature_line(msg: bytes, signer: Signer) -> str:
    blob = signer.key_id.to_bytes(4, "big") + signer.sign(msg)
    return Signature(signer.name, signer.key_id, base64.b64encode(blob).decode("ascii")).line


def sign_note(text: str, *signers: Signer) -> bytes:
    """Sign `text` with every signer; return the encoded note (text, blank line, signatures)."""
    msg = _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    seen: set[tuple[str, int]] = set()
    lines = []
    for s in signers:
        if (s.name, s.key_id) in seen:
            raise NoteError(f"duplicate signer {s.name}+{s.key_id:08x}")
        seen.add((s.name, s.key_id))
        lines.append(_signature_line(msg, s))
    return msg + b"\n" + "".join(lines).encode("utf-8")


def _parse_line(line: str) -> tuple[Signature, bytes]:
    """Parse one signature line (without its newline); return it and the raw signature."""
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError("signature line must start with an em dash and a space")
    name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    raw = _b64decode(encoded)
    if raw is None or not is_valid_key_name(name) or not encoded or len(raw) < 5:
        raise MalformedNoteError(f"bad signature line {line!r}")
    kid = int.from_bytes(raw[:4], "big")
    return Signature(name, kid, encoded), raw[4:]


def _split_note(msg: bytes | str) -> tuple[str, list[str]]:
    """Check the note's syntax; return its text and signature lines (without newlines)."""
    if isinstance(msg, str):
        try:
            msg = msg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedNoteError("not valid Unicode") from exc
    if not isinstance(msg, bytes | bytearray | memoryview):
        raise MalformedNoteError("a note is bytes or str")
    try:
        decoded = bytes(msg).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNoteError("not valid UTF-8") from exc
    if _CONTROL.search(decoded):
        raise MalformedNoteError("contains a control character")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("no blank line before the signatures")
    text, sigs = decoded[: split + 1], decoded[split + 2 :]
    if not sigs.endswith("\n"):
        raise MalformedNoteError("signatures must end in a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"more than {MAX_SIGNATURES} signatures")
    return text, lines


def open_note(msg: bytes | str, verifiers: Iterable[Verifier]) -> Note:
    """Parse and verify a signed note against the known `verifiers`.

    Raises MalformedNoteError on bad syntax, AmbiguousKeyError if two different known keys
    share a signature's name and key id, InvalidSignatureError if a known key's signature fails,
    and UnverifiedNoteError (carrying the parsed note) if no known key signed it.
    Repeated signature lines are reported once.
    """
    known: dict[tuple[str, int], Verifier] = {}
    ambiguous: set[tuple[str, int]] = set()
    for v in verifiers:
        k = (v.name, v.key_id)
        if k in known and known[k].public_key != v.public_key:
            ambiguous.add(k)
        known.setdefault(k, v)

    text, lines = _split_note(msg)
    body = text.encode("utf-8")
    parsed = [_parse_line(line) for line in lines]  # all syntax errors before any crypto
    sigs: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    for sig, raw in parsed:
        k = (sig.name, sig.key_id)
        if k in ambiguous:
            raise AmbiguousKeyError(*k)
        verifier = known.get(k)
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if k in seen:
            continue  # Go drops repeats by one key without checking them again
        seen.add(k)
        if not verifier.verify(body, raw):
            raise InvalidSignatureError(*k)
        sigs.append(sig)
    note = Note(text, tuple(sigs), tuple(unverified))
    if not sigs:
        raise UnverifiedNoteError(note)
    return note


def add_signatures(
    note: bytes | str,
    new_sig_lines: Iterable[str],
    *,
    verifiers: Iterable[Verifier] | None = None,
) -> bytes:
    """Append signature lines (cosignatures) to an encoded note; return the new note.

    The note is checked for syntax only. Each new line is a signature line such as
    `signature_line` returns (the trailing newline is optional). A line already on the note is
    skipped; a different signature under a name and key id already present is an error. If
    `verifiers` is given, every new line must come from one of them and verify over the text.
    """
    text, lines = _split_note(note)
    body = text.encode("utf-8")
    present = {_parse_line(line)[0]: line for line in lines}
    by_key = {(s.name, s.key_id): s for s in present}
    known = None if verifiers is None else {(v.name, v.key_id): v for v in verifiers}
    out = list(lines)
    for new in new_sig_lines:
        line = new.removesuffix("\n") if isinstance(new, str) else new
        if not isinstance(line, str) or "\n" in line:
            raise MalformedNoteError("a signature line is one line of text")
        sig, raw = _parse_line(line)
        k = (sig.name, sig.key_id)
        if known is not None:
            v = known.get(k)
            if v is None or not v.verify(body, raw):
                raise InvalidSignatureError(*k)
        if sig in present:
            continue
        if k in by_key:
            raise NoteError(f"the note already has another signature by {sig.name}+{k[1]:08x}")
        present[sig] = line
        by_key[k] = sig
        out.append(line)
    if len(out) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    return body + b"\n" + "".join(f"{line}\n" for line in out).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Checkpoints.


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's signed tree head: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        """Return the checkpoint note text (see `format_checkpoint`)."""
        return format_checkpoint(self.origin, self.size, self.root, self.extensions)


def _check_line(line: str, what: str) -> None:
    if not isinstance(line, str) or not line:
        raise CheckpointError(f"{what} must be a non-empty string")
    if "\n" in line or _CONTROL.search(line):
        raise CheckpointError(f"{what} must be one line without control characters")


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """Return the checkpoint text ``<origin>\\n<size>\\n<base64 root>\\n[<extension>\\n...]``."""
    _check_line(origin, "origin")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_TREE_SIZE:
        raise CheckpointError(f"tree size must be an integer in [0, 2**64), got {size!r}")
    if not isinstance(root, bytes) or len(root) != _HASH_SIZE:
        raise CheckpointError(f"root hash must be {_HASH_SIZE} bytes")
    if isinstance(extensions, str):
        raise CheckpointError("extensions is a sequence of lines, not a string")
    for ext in extensions:
        _check_line(ext, "extension line")
    head = f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"
    return head + "".join(f"{ext}\n" for ext in extensions)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse and validate checkpoint note text; raise CheckpointError if it is not one.

    The size must be decimal without leading zeros and below 2**64, the root canonical base64
    of 32 bytes, and every line non-empty.
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        raise CheckpointError("checkpoint text must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError("checkpoint needs origin, size and root hash lines")
    origin, size_text, root_text, *extensions = lines
    for i, line in enumerate(lines):
        _check_line(line, f"line {i + 1}")
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > _MAX_TREE_SIZE:
        raise CheckpointError(f"bad tree size {size_text!r}")
    root = _b64decode(root_text)
    if root is None or len(root) != _HASH_SIZE:
        raise CheckpointError(f"root hash must be base64 of {_HASH_SIZE} bytes")
    if base64.b64encode(root).decode("ascii") != root_text:
        raise CheckpointError("root hash is not canonical base64")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def open_checkpoint(
    msg: bytes | str, verifiers: Iterable[Verifier], *, origin: str | None = None
) -> tuple[Checkpoint, Note]:
    """Open a signed checkpoint: verify the note, parse its text, and check the origin.

    Pass only the log's own verifier here (a witness's signature alone must not make a
    checkpoint valid); check cosignatures with a second `open_note` call if needed.
    """
    note = open_note(msg, verifiers)
    checkpoint = parse_checkpoint(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint, note
