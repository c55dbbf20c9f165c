#!/usr/bin/env python3
"""jcjg-verify: check, without the platform, that an entry is in the JCJG log.

A single file that needs only Python 3.11+ and the ``cryptography`` package (for Ed25519; for
a log of the national profile, ``JCJG_CRYPTO=sm``, also ``tongsuopy`` for SM2); it imports
nothing of the platform, so a court expert or any member of the public can read and run
it. Input is a proof bundle, as ``jcjg ledger prove INDEX`` prints it::

    {"entry_canonical": "<the exact canonical JSON text that was hashed>",
     "index": 7, "size": 12, "hashes": ["<hex>", ...],
     "checkpoint": "<signed note text>", "key": "<name>+<hex key id>+<base64 key>"}

(``entry`` as a JSON object may stand instead of ``entry_canonical``; it is then put in canonical
form here, which supports strings, integers, booleans, null, arrays and objects.)

The log's key is never taken from the bundle: you give it with ``--key``, as you obtained it
through a channel you trust (the authority's notice, an upstream platform, a cosigner). The tool
checks that the checkpoint is signed by that key and names that log, that the entry's leaf hash
SHA-256(0x00 || entry) (SM3 when the key is an SM2 key) is included at ``index`` in the tree
whose size and root the checkpoint states (RFC 9162 section 2.1.3.2), and says yes or no. Run:

    python standalone.py --key '<name>+<id>+<key>' bundle.json     (or: jcjg-verify ...)

``--key`` also takes a file holding the key; ``-`` as the bundle reads stdin.
Exit status 0 means verified, 1 not verified, 2 unusable input.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

SIG_PREFIX = "\u2014 "  # "— " starts every signature line of a signed note
ED25519 = b"\x01"
SM2 = b"\xffjcjg-sm2-sm3"  # C2SP signature type 0xff and the platform's identifier
SM2_ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


class Invalid(Exception):
    """The bundle does not verify; the message says why."""


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905): from hashlib when its OpenSSL has it, else from cryptography."""
    try:
        return hashlib.new("sm3", data).digest()
    except ValueError:
        from cryptography.hazmat.primitives import hashes

        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(data: bytes, h: Any = sha256) -> bytes:
    return bytes(h(b"\x00" + data))


def node_hash(left: bytes, right: bytes, h: Any = sha256) -> bytes:
    return bytes(h(b"\x01" + left + right))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, h: Any = sha256
) -> bool:
    """RFC 9162 section 2.1.3.2 (``h``: SHA-256, or SM3 for the national profile)."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof) or len(root) != 32:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r, h)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p, h)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def canonical(value: Any) -> str:
    """Canonical JSON (RFC 8785 for the types we allow): sorted keys (UTF-16 order), no spaces."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{canonical(k)}:{canonical(value[k])}" for k in keys) + "}"
    raise Invalid(f"entry holds a {type(value).__name__}; give entry_canonical instead")


def parse_key(vkey: str) -> tuple[str, bytes, bytes]:
    """``<name>+<hex key id>+<base64(type || public key)>`` -> (name, id, type || public key),
    the type 0x01 (Ed25519, 32-byte key) or 0xff "jcjg-sm2-sm3" (SM2, 65-byte point)."""
    try:
        name, hex_id, b64 = vkey.strip().split("+", 2)
        raw = base64.b64decode(b64, validate=True)
        key_id = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise Invalid(f"malformed verifier key: {exc}") from exc
    ed25519 = len(raw) == 33 and raw[:1] == ED25519
    sm2 = len(raw) == len(SM2) + 65 and raw.startswith(SM2)
    if not (ed25519 or sm2) or len(key_id) != 4:
        raise Invalid("verifier key is not an Ed25519 or SM2 note key")
    expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    if expected != key_id:
        raise Invalid("verifier key id does not match its name and key")
    return name, key_id, raw


def _signature_ok(typed_key: bytes, signature: bytes, text: bytes) -> bool:
    if typed_key.startswith(SM2):
        try:
            from tongsuopy.crypto import hashes
            from tongsuopy.crypto.asymciphers import ec
            from tongsuopy.crypto.exceptions import InvalidSignature as SM2Invalid
        except ImportError as exc:
            raise Invalid("an SM2 log key needs tongsuopy: pip install tongsuopy") from exc
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (0 < r < SM2_ORDER and 0 < s < SM2_ORDER):
            return False
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), typed_key[len(SM2) :])
        try:
            key.verify(encode_dss_signature(r, s), text, ec.ECDSA(hashes.SM3()))
        except SM2Invalid:
            return False
        return True
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(typed_key[1:]).verify(signature, text)
    except InvalidSignature:
        return False
    return True


def verify_note(note: str, vkey: str) -> str:
    """Return the note's text when one of its signatures is by ``vkey``'s key."""
    name, key_id, public = parse_key(vkey)
    if "\n\n" not in note:
        raise Invalid("checkpoint is not a signed note (no blank line before signatures)")
    split = note.rindex("\n\n")
    text, sigs = note[: split + 1], note[split + 2 :]
    for line in sigs.splitlines():
        if not line.startswith(SIG_PREFIX):
            raise Invalid(f"malformed signature line: {line!r}")
        sig_name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except ValueError:
            continue
        if sig_name != name or blob[:4] != key_id or len(blob) != 68:
            continue
        if not _signature_ok(public, blob[4:], text.encode()):
            raise Invalid("the log's signature on the checkpoint is invalid")
        return text
    raise Invalid(f"the checkpoint carries no signature by {name}")


def verify_bundle(bundle: dict[str, Any], key: str) -> dict[str, Any]:
    """Verify a proof bundle against the log key ``key``; return what was proven, or raise
    :class:`Invalid`."""
    key = key.strip()
    name, key_id, typed_key = parse_key(key)
    if "key" in bundle and str(bundle["key"]).strip() != key:
        raise Invalid("the bundle names another log key than the one you trust")
    text = verify_note(str(bundle["checkpoint"]), key)
    lines = text.rstrip("\n").split("\n")
    if len(lines) < 3 or not lines[1].isdecimal():
        raise Invalid("checkpoint text is not origin / size / root")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    if origin != name:
        raise Invalid(f"checkpoint is of log {origin!r}, the key is of log {name!r}")
    if int(bundle["size"]) != size:
        raise Invalid(f"proof is for tree size {bundle['size']}, checkpoint says {size}")
    if "entry_canonical" in bundle:
        data = str(bundle["entry_canonical"]).encode()
        entry = json.loads(data)
    else:
        entry = bundle["entry"]
        data = canonical(entry).encode()
    proof = [bytes.fromhex(h) for h in bundle["hashes"]]
    index = int(bundle["index"])
    h = sm3 if typed_key.startswith(SM2) else sha256
    if not verify_inclusion(leaf_hash(data, h), index, size, proof, root, h):
        raise Invalid("the entry is NOT in the tree of this checkpoint (inclusion proof fails)")
    return {"origin": origin, "size": size, "index": index, "entry": entry, "key_id": key_id.hex()}


def _read_key(value: str) -> str:
    if "+" in value:
        return value
    with open(value, encoding="ascii") as handle:
        return handle.read().strip()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="jcjg-verify", description="离线核验 JCJG 存证条目 / verify a JCJG log entry offline"
    )
    parser.add_argument("--key", required=True, help="the log's verifier key, or a file with it")
    parser.add_argument("bundle", help="proof bundle (JSON file, or - for stdin)")
    try:
        args = parser.parse_args(argv)
    except SystemExit:
        return 2
    try:
        key = _read_key(args.key)
        if args.bundle == "-":
            raw = sys.stdin.read()
        else:
            with open(args.bundle, encoding="utf-8") as handle:
                raw = handle.read()
        bundle = json.loads(raw)
    except (OSError, ValueError) as exc:
        print(f"无法读取 / cannot read: {exc}", file=sys.stderr)
        return 2
    try:
        result = verify_bundle(bundle, key)
    except (Invalid, KeyError, TypeError, ValueError) as exc:
        print(f"否 / NO: {exc}")
        return 1
    print(
        f"是 / YES: 条目 {result['index']} 在日志 {result['origin']}"
        f"（公钥编号 {result['key_id']}）大小为 {result['size']} 的树中"
    )
    print(json.dumps(result["entry"], ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
