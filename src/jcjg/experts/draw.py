#!/usr/bin/env python3
"""jcjg-verify-draw: recompute a panel draw of the JCJG platform from its published inputs.

A single file that needs only Python 3.11+ and imports nothing of the platform (copy it, read
it, run it). The platform draws with these same functions, so what this file says is what the
platform did; ``docs/experts.md`` spells the algorithm out for a reimplementation.

Input: the draw's published inputs (the JSON the platform offers for download on the panel's
page, ``format`` ``jcjg-panel-draw/1``)::

    {"format": "jcjg-panel-draw/1", "origin": "<the log's origin>",
     "commitment": {"index": 5, "leaf_hash": "<hex>", "entry_canonical": "<text hashed>"},
     "request":    {"index": 6, "leaf_hash": "<hex>", "entry_canonical": "<text hashed>"},
     "randomness": {"secret": "<hex>", "checkpoint": "<signed note>", "size": 7,
                    "root_hash": "<hex>", "inclusion": ["<hex>", ...]},
     "result":     {"index": 9, "leaf_hash": "<hex>", "entry_canonical": "<text hashed>"}}

What it checks, each a line of its report (exit 0 when every check holds, 1 when one fails,
2 when the input is unusable):

1. each entry's leaf hash is SHA-256(0x00 || entry_canonical) (SM3 when the inputs' log ``key``
   is an SM2 key: the national profile), its type is the expected one and the three belong to
   the same draw;
2. the commitment was notarised before the request (a smaller index) and is SHA-256 of the
   revealed secret;
3. the checkpoint's text names the log, the size and the root given, and the request leaf is
   included in that tree (RFC 9162 inclusion proof), so the root was fixed after the request;
4. seed = SHA-256(request leaf hash || SHA-256(secret || root)), as the result states;
5. the selection recomputed from the request's candidates and the seed equals the result's
   (the request's lists well formed: no pseudonym twice, known reasons, positive counts; the
   result names the checkpoint given, notarised after the request and not inside that tree);
6. each drawn pseudonym is HMAC(salt, draw, id) of the expert id the inputs name for it
   (``drawn_experts``), so no candidate was listed twice under other names.

The same file verifies a supervision spot-check draw (``format`` ``jcjg-supervision-draw/1``,
offered on a plan's page, docs/supervision.md): checks 1 to 4 alike, then the institutions and
officers recomputed by :func:`assign`, and each drawn pseudonym checked against the institution
or account id the inputs name for it (``drawn_institutions``, ``drawn_officers``).

Not checked by this file alone: that the checkpoint is the first (or, with a parent platform,
the first cosigned) one including the request; docs/experts.md says how that shows.

The checkpoint's signature is the log's: check it with ``jcjg-verify`` and the log's key (the
tool of the ledger), or on the platform's ``/ledger`` pages. ``--expert ID`` also prints the
pseudonym of expert ``ID`` in this draw (an expert checks that they were among the candidates).

    python draw.py inputs.json          (or: jcjg-verify-draw inputs.json)
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMAT = "jcjg-panel-draw/1"
COMMIT_TYPE = "panel_draw:commit"
REQUEST_TYPE = "panel_draw:request"
RESULT_TYPE = "panel_draw:result"
# the reasons a request may give for an excluded candidate (docs/experts.md, Exclusions)
EXCLUSIONS = frozenset({"employer", "relation", "recent", "unavailable", "region", "on_panel"})


class Invalid(Exception):
    """The published inputs do not verify; the message says why."""


# --- the algorithm (the platform draws with these) --------------------------------------------


def pseudonym(salt: bytes, draw_code: str, expert_id: int) -> str:
    """HMAC-SHA-256 keyed by the draw's salt over ``<draw code> NUL <expert id in decimal>``,
    hex: an expert's name in one draw, the same nowhere else."""
    message = draw_code.encode() + b"\x00" + str(expert_id).encode()
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


def commitment(secret: bytes) -> str:
    """What is notarised before the request: SHA-256 of the secret, hex."""
    return hashlib.sha256(secret).hexdigest()


def randomness(secret: bytes, root: bytes) -> bytes:
    """The randomness: SHA-256(secret || root of the first checkpoint that includes the
    request), fixed only after the request was notarised."""
    return hashlib.sha256(secret + root).digest()


def seed(request_leaf_hash: bytes, value: bytes) -> str:
    """SHA-256(request leaf hash || randomness), hex."""
    return hashlib.sha256(request_leaf_hash + value).hexdigest()


def rank(seed_hex: str, specialty: str, name: str) -> str:
    """A candidate's place for one specialty: SHA-256 over ``seed NUL specialty NUL pseudonym``
    (hex text, UTF-8), hex; the smallest is drawn first."""
    text = f"{seed_hex}\x00{specialty}\x00{name}"
    return hashlib.sha256(text.encode()).hexdigest()


def select(
    seed_hex: str,
    requirements: Sequence[Mapping[str, Any]],
    candidates: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The drawn: for each requirement in the request's order (``specialty``, ``count``), the
    ``count`` candidates who hold the specialty, were not excluded and were not drawn for an
    earlier requirement, with the smallest ranks; fewer when fewer are eligible."""
    pool = [c for c in candidates if not c.get("excluded")]
    taken: set[str] = set()
    drawn: list[dict[str, Any]] = []
    for requirement in requirements:
        specialty = str(requirement["specialty"])
        eligible = [
            c["pseudonym"]
            for c in pool
            if specialty in c.get("specialties", ()) and c["pseudonym"] not in taken
        ]
        ordered = sorted(eligible, key=lambda p: (rank(seed_hex, specialty, p), p))
        for place, name in enumerate(ordered[: int(requirement["count"])], start=1):
            taken.add(name)
            drawn.append({"specialty": specialty, "place": place, "pseudonym": name})
    return drawn


SUPERVISION_FORMAT = "jcjg-supervision-draw/1"
SUPERVISION_COMMIT_TYPE = "supervision_draw:commit"
SUPERVISION_REQUEST_TYPE = "supervision_draw:request"
SUPERVISION_RESULT_TYPE = "supervision_draw:result"
SUPERVISION_EXCLUSIONS = frozenset({"recent"})  # checked within the plan's recent months
INSTITUTION_TAG = "/institution"  # pseudonym(salt, draw + tag, id): an institution's name
OFFICER_TAG = "/officer"  # and an officer's (an account id), never the same for both


def assign(
    seed_hex: str,
    institution_count: int,
    officers_per_check: int,
    institutions: Iterable[Mapping[str, Any]],
    officers: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The spot-check draw ("双随机"): the ``institution_count`` institutions not excluded with
    the smallest ``rank(seed, "institution", pseudonym)``; then, for each drawn institution in
    that order, the ``officers_per_check`` officers without a declared conflict with it, by
    (checks already given in this draw, ``rank(seed, institution pseudonym, officer
    pseudonym)``, pseudonym) ascending, so the work spreads evenly; fewer when fewer are left."""
    pool = [str(i["pseudonym"]) for i in institutions if not i.get("excluded")]
    ordered = sorted(pool, key=lambda p: (rank(seed_hex, "institution", p), p))
    load = {str(o["pseudonym"]): 0 for o in officers}
    checks: list[dict[str, Any]] = []
    for place, name in enumerate(ordered[:institution_count], start=1):
        free = [str(o["pseudonym"]) for o in officers if name not in o.get("conflicts", ())]
        free.sort(key=lambda p: (load[p], rank(seed_hex, name, p), p))
        chosen = free[:officers_per_check]
        for person in chosen:
            load[person] += 1
        checks.append({"place": place, "institution": name, "officers": chosen})
    return checks


# --- checking the published inputs -------------------------------------------------------------


SM2_KEY = b"\xffjcjg-sm2-sm3"  # a log key of the national profile (JCJG_CRYPTO=sm)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905), from hashlib's OpenSSL or, failing that, cryptography's."""
    try:
        return hashlib.new("sm3", data).digest()
    except ValueError:
        from cryptography.hazmat.primitives import hashes

        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()


def log_hash(inputs: Mapping[str, Any]) -> Any:
    """The log's tree hash: SM3 when the inputs' log key (``key``) is an SM2 key (the national
    profile, docs/operations/cryptography.md), SHA-256 otherwise."""
    try:
        raw = base64.b64decode(str(inputs.get("key", "")).split("+", 2)[2], validate=True)
    except (IndexError, ValueError):
        return sha256
    return sm3 if raw.startswith(SM2_KEY) else sha256


def leaf_hash(data: bytes, h: Any = sha256) -> bytes:
    return bytes(h(b"\x00" + data))


def node_hash(left: bytes, right: bytes, h: Any = sha256) -> bytes:
    return bytes(h(b"\x01" + left + right))


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes, h: Any = sha256
) -> bool:
    """RFC 9162 section 2.1.3.2 (as jcjg-verify does; ``h`` SHA-256, or SM3)."""
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


def _hex(value: Any, what: str, size: int | None = 32) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError as exc:
        raise Invalid(f"{what} is not hex") from exc
    if size is not None and len(raw) != size:
        raise Invalid(f"{what} is not {size} bytes")
    return raw


def entry(
    part: Mapping[str, Any], entry_type: str, what: str, h: Any = sha256
) -> tuple[bytes, dict[str, Any]]:
    """One notarised entry: its leaf hash checked against its canonical text; (hash, data)."""
    text = part.get("entry_canonical")
    if not isinstance(text, str):
        raise Invalid(f"{what}: entry_canonical missing")
    digest = leaf_hash(text.encode(), h)
    if digest != _hex(part.get("leaf_hash"), f"{what} leaf_hash"):
        name = "SM3" if h is sm3 else "SHA-256"
        raise Invalid(f"{what}: leaf hash is not {name}(0x00 || entry_canonical)")
    envelope = json.loads(text)
    if envelope.get("entry_type") != entry_type:
        raise Invalid(f"{what}: entry type is {envelope.get('entry_type')!r}, not {entry_type}")
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise Invalid(f"{what}: entry holds no data object")
    return digest, data


def _checkpoint(note: str, origin: str) -> tuple[int, bytes]:
    """The size and root a checkpoint note's text states (its first three lines)."""
    lines = note.split("\n")
    if len(lines) < 3 or lines[0] != origin:
        raise Invalid("the checkpoint does not name the log's origin")
    try:
        return int(lines[1]), base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise Invalid("the checkpoint's size or root is malformed") from exc


def _randomness(inputs: Mapping[str, Any], request: Mapping[str, Any], req_hash: bytes) -> bytes:
    """Checks 2 and 3; returns the randomness value."""
    rnd = inputs.get("randomness") or {}
    secret = _hex(rnd.get("secret"), "randomness secret")
    if commitment(secret) != request.get("commitment"):
        raise Invalid("the revealed secret does not match the commitment")
    size, root = _checkpoint(str(rnd.get("checkpoint", "")), str(inputs.get("origin", "")))
    if size != rnd.get("size") or root != _hex(rnd.get("root_hash"), "root_hash"):
        raise Invalid("the checkpoint's size or root differs from the one given")
    proof = [_hex(h, "inclusion hash") for h in rnd.get("inclusion") or []]
    index = int(inputs["request"]["index"])
    if not verify_inclusion(req_hash, index, size, proof, root, log_hash(inputs)):
        raise Invalid("the request is not included in the checkpoint's tree")
    return randomness(secret, root)


def _well_formed(request: Mapping[str, Any]) -> None:
    """The request's lists as the algorithm expects them: no pseudonym twice, known reasons,
    positive counts."""
    candidates = request.get("candidates")
    requirements = request.get("requirements")
    if not isinstance(candidates, list) or not isinstance(requirements, list):
        raise Invalid("the request has no candidate or requirement list")
    names = [c.get("pseudonym") for c in candidates]
    if len(set(names)) != len(names):
        raise Invalid("a pseudonym appears twice among the candidates")
    for c in candidates:
        if c.get("excluded") is not None and c.get("excluded") not in EXCLUSIONS:
            raise Invalid(f"unknown exclusion reason {c.get('excluded')!r}")
    for r in requirements:
        count = r.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise Invalid("a requirement's count is not a positive integer")


def _drawn_are_who_they_say(inputs: Mapping[str, Any], request: Mapping[str, Any]) -> int:
    """Check 6: each drawn pseudonym is HMAC(salt, draw, id) of the expert id the inputs name
    for it, so no candidate stands in for another (a padded list would show here)."""
    salt = _hex(request.get("salt"), "salt", None)
    named = inputs.get("drawn_experts")
    if not isinstance(named, list):
        raise Invalid("the inputs do not name the drawn experts")
    for item in named:
        expert_id = item.get("expert_id")
        if not isinstance(expert_id, int) or isinstance(expert_id, bool):
            raise Invalid("a drawn expert's id is not an integer")
        if pseudonym(salt, str(request["draw"]), expert_id) != item.get("pseudonym"):
            raise Invalid(f"expert {expert_id} is not the pseudonym the inputs give for them")
    return len(named)


def _verify_notarised(
    inputs: Mapping[str, Any], types: tuple[str, str, str]
) -> tuple[bytes, dict[str, Any], dict[str, Any], str, list[str]]:
    """Checks 1 to 4, the same for every kind of draw: (request leaf hash, request, result,
    seed, the report's lines so far)."""
    h = log_hash(inputs)
    _, commit = entry(inputs["commitment"], types[0], "commitment", h)
    req_hash, request = entry(inputs["request"], types[1], "request", h)
    _, result = entry(inputs["result"], types[2], "result", h)
    code = request.get("draw")
    if commit.get("draw") != code or result.get("draw") != code:
        raise Invalid("the commitment, request and result are of different draws")
    if int(inputs["commitment"]["index"]) >= int(inputs["request"]["index"]):
        raise Invalid("the commitment was not notarised before the request")
    if commit.get("commitment") != request.get("commitment"):
        raise Invalid("the request names another commitment")
    if int(inputs["result"]["index"]) <= int(inputs["request"]["index"]):
        raise Invalid("the result was not notarised after the request")
    if types[1] == REQUEST_TYPE:
        _well_formed(request)
    else:
        _supervision_well_formed(request)
    report = [f"ok   entries hash to their leaves (draw {code})", "ok   commitment before request"]
    value = _randomness(inputs, request, req_hash)
    rnd = inputs["randomness"]
    if result.get("checkpoint_size") != rnd.get("size") or result.get("checkpoint_root") != rnd.get(
        "root_hash"
    ):
        raise Invalid("the result names another checkpoint than the one given")
    if int(rnd["size"]) > int(inputs["result"]["index"]):
        raise Invalid("the checkpoint already includes the result: it was not the one drawn with")
    report.append("ok   secret matches commitment; request included in the checkpoint's tree")
    seed_hex = seed(req_hash, value)
    if result.get("request_leaf_hash") != req_hash.hex() or result.get("seed") != seed_hex:
        raise Invalid("the result's seed is not SHA-256(request leaf || randomness)")
    report.append(f"ok   seed {seed_hex}")
    return req_hash, request, result, seed_hex, report


def verify(inputs: Mapping[str, Any]) -> list[str]:
    """Every check of the module's doc; returns the report's lines, raises Invalid."""
    if inputs.get("format") == SUPERVISION_FORMAT:
        return verify_supervision(inputs)
    if inputs.get("format") != FORMAT:
        raise Invalid(f"not a {FORMAT} or {SUPERVISION_FORMAT} document")
    _, request, result, seed_hex, report = _verify_notarised(
        inputs, (COMMIT_TYPE, REQUEST_TYPE, RESULT_TYPE)
    )
    drawn = select(seed_hex, request.get("requirements", []), request.get("candidates", []))
    if drawn != result.get("drawn"):
        raise Invalid("the drawn experts differ from those recomputed from the inputs")
    report.append(
        f"ok   {len(drawn)} drawn, recomputed from {len(request['candidates'])} candidates"
    )
    named = _drawn_are_who_they_say(inputs, request)
    if sorted(d["pseudonym"] for d in inputs["drawn_experts"]) != sorted(
        d["pseudonym"] for d in drawn
    ):
        raise Invalid("the drawn experts named differ from the pseudonyms drawn")
    report.append(f"ok   {named} drawn experts match their pseudonyms")
    return report


# --- the supervision spot-check draw ("双随机": institutions and officers) ----------------------


def _supervision_well_formed(request: Mapping[str, Any]) -> None:
    """A spot-check request's lists: no pseudonym twice, known reasons, conflicts naming listed
    institutions, positive counts (at least two officers a check)."""
    institutions = request.get("institutions")
    officers = request.get("officers")
    if not isinstance(institutions, list) or not isinstance(officers, list):
        raise Invalid("the request has no institution or officer list")
    names = [i.get("pseudonym") for i in institutions]
    if len(set(names)) != len(names):
        raise Invalid("a pseudonym appears twice among the institutions")
    people = [o.get("pseudonym") for o in officers]
    if len(set(people)) != len(people):
        raise Invalid("a pseudonym appears twice among the officers")
    for i in institutions:
        if i.get("excluded") is not None and i.get("excluded") not in SUPERVISION_EXCLUSIONS:
            raise Invalid(f"unknown exclusion reason {i.get('excluded')!r}")
    known = set(names)
    for o in officers:
        conflicts = o.get("conflicts")
        if not isinstance(conflicts, list) or not set(conflicts) <= known:
            raise Invalid("an officer's conflicts name no listed institution")
    for key, least in (("institution_count", 1), ("officers_per_check", 2)):
        count = request.get(key)
        if not isinstance(count, int) or isinstance(count, bool) or count < least:
            raise Invalid(f"the request's {key} is not an integer of at least {least}")


def _named(
    inputs: Mapping[str, Any], key: str, id_key: str, salt: bytes, code: str, drawn: set[str]
) -> int:
    """Each drawn pseudonym is HMAC(salt, code, id) of the id the inputs name for it, and the
    inputs name exactly the drawn."""
    named = inputs.get(key)
    if not isinstance(named, list):
        raise Invalid(f"the inputs do not name the drawn ({key})")
    for item in named:
        ident = item.get(id_key)
        if not isinstance(ident, int) or isinstance(ident, bool):
            raise Invalid(f"a drawn {id_key} is not an integer")
        if pseudonym(salt, code, ident) != item.get("pseudonym"):
            raise Invalid(f"{id_key} {ident} is not the pseudonym the inputs give for it")
    if {str(item.get("pseudonym")) for item in named} != drawn or len(named) != len(drawn):
        raise Invalid(f"the drawn named in {key} differ from the pseudonyms drawn")
    return len(named)


def verify_supervision(inputs: Mapping[str, Any]) -> list[str]:
    """A spot-check draw (``jcjg-supervision-draw/1``): checks 1 to 4 as for a panel, then the
    institutions and officers recomputed by :func:`assign` and each drawn pseudonym checked
    against the institution id or account id the inputs name for it."""
    _, request, result, seed_hex, report = _verify_notarised(
        inputs, (SUPERVISION_COMMIT_TYPE, SUPERVISION_REQUEST_TYPE, SUPERVISION_RESULT_TYPE)
    )
    checks = assign(
        seed_hex,
        request["institution_count"],
        request["officers_per_check"],
        request["institutions"],
        request["officers"],
    )
    if checks != result.get("checks"):
        raise Invalid("the drawn institutions or officers differ from those recomputed")
    report.append(
        f"ok   {len(checks)} institutions drawn from {len(request['institutions'])}, "
        f"officers from {len(request['officers'])}, recomputed"
    )
    salt = _hex(request.get("salt"), "salt", None)
    code = str(request["draw"])
    places = {c["institution"] for c in checks}
    people = {o for c in checks for o in c["officers"]}
    n = _named(inputs, "drawn_institutions", "institution_id", salt, code + INSTITUTION_TAG, places)
    m = _named(inputs, "drawn_officers", "user_id", salt, code + OFFICER_TAG, people)
    report.append(f"ok   {n} institutions and {m} officers match their pseudonyms")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jcjg-verify-draw", description=__doc__.split("\n")[0])
    parser.add_argument("inputs", help="the draw's published inputs (JSON file, - for stdin)")
    parser.add_argument("--expert", type=int, help="print this expert id's pseudonym")
    args = parser.parse_args(argv)
    try:
        if args.inputs == "-":
            text = sys.stdin.read()
        else:
            with open(args.inputs, encoding="utf-8") as handle:
                text = handle.read()
        inputs = json.loads(text)
        if not isinstance(inputs, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        print(f"unusable input: {exc}", file=sys.stderr)
        return 2
    try:
        report = verify(inputs)
    except (Invalid, KeyError, TypeError, ValueError) as exc:
        print(f"NOT VERIFIED: {exc}")
        return 1
    print("\n".join(report))
    if args.expert is not None and inputs.get("format") == FORMAT:
        _, request = entry(inputs["request"], REQUEST_TYPE, "request")
        salt = _hex(request.get("salt"), "salt", None)
        print(f"expert {args.expert}: pseudonym {pseudonym(salt, request['draw'], args.expert)}")
    print("VERIFIED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
