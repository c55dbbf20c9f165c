"""The parent watches each child's log and cosigns it (witness style, C2SP signed notes).

For each active child: fetch its latest checkpoint (``GET /ledger/checkpoint``) and open it with
the child's registered log key; prove it consistent with the last checkpoint checked
(``GET /ledger/proof/consistency``: the same size must have the same root, a smaller size is a
rollback); prove that the last leaf the child forwarded below it is in it
(``GET /ledger/proof/inclusion``: the child forwarded what its log holds); then sign the
checkpoint as a c2sp.org/tlog-cosignature v1 cosigner (this platform's log key, type 0x04: the
time and the Ed25519 signature of ``cosignature/v1``, the time line and the checkpoint's text;
under ``JCJG_CRYPTO=sm`` a plain SM2 note signature) and post the signature line to the child
(``POST /ledger/checkpoint/{size}/cosignatures``), which shows it on its ``/ledger`` and in public
verification. An inconsistency halts the child (its forwards are refused) and raises
``child_log_inconsistent`` until an operator resumes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.client.api import tls_context
from jcjg.core.db import utcnow
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.keys import hasher_for
from jcjg.ledger.note import NoteError, Verifier, open_checkpoint, signature_line
from jcjg.networking.choices import ChildStatus, Outcome
from jcjg.networking.models import Child, Forwarded

log = logging.getLogger("jcjg.networking.logs")
TIMEOUT = 10.0


class Inconsistent(Exception):
    """The child's log contradicts what was checked before: rewritten or rolled back."""


@dataclass
class Checked:
    child: str
    size: int = 0
    cosigned: bool = False
    error: str | None = None
    inconsistent: bool = False


def check_child(db: Session, child: Child, http: httpx.Client) -> Checked:
    """Check and cosign one child's latest checkpoint; flushes, the caller commits."""
    result = Checked(child.name)
    base = child.base_url.rstrip("/")
    try:
        note = _get(http, f"{base}/ledger/checkpoint").text
        checkpoint, opened = open_checkpoint(
            note, [Verifier(child.log_key)], origin=child.log_origin
        )
        result.size = checkpoint.size
        _consistent(child, http, checkpoint.size, checkpoint.root)
        _holds_forwarded(db, child, http, checkpoint.size, checkpoint.root)
    except Inconsistent as exc:
        child.status = ChildStatus.HALTED.value
        child.halted_reason = str(exc)[:500]
        child.last_check_error = str(exc)[:500]
        result.error, result.inconsistent = str(exc), True
        db.flush()
        log.error("child platform %s: log inconsistent: %s", child.name, exc)
        return result
    except (httpx.HTTPError, NoteError, ValueError, KeyError) as exc:
        child.last_check_error = f"无法核验其日志：{exc}"[:500]
        result.error = str(exc)
        db.flush()
        return result
    child.checked_size = checkpoint.size
    child.checked_root = checkpoint.root
    child.checked_note = note
    child.checked_at = utcnow()
    child.last_check_error = None
    if checkpoint.size and not _cosigned_by_us(note):
        line = signature_line(opened.text, ledger.log_identity().cosigner)
        try:
            answer = http.post(
                f"{base}/ledger/checkpoint/{checkpoint.size}/cosignatures",
                content=line.encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            child.last_check_error = f"联署签名未被下级平台接受：{exc}"[:500]
            result.error = str(exc)
        else:
            child.cosigned_at = utcnow()
            child.checked_note = answer.text
            result.cosigned = True
    elif checkpoint.size:
        result.cosigned = True
    db.flush()
    return result


def _get(http: httpx.Client, url: str) -> httpx.Response:
    response = http.get(url)
    response.raise_for_status()
    return response


def _cosigned_by_us(note: str) -> bool:
    me = ledger.log_identity().signer
    return any(line.startswith(f"\u2014 {me.name} ") for line in note.splitlines())


def _consistent(child: Child, http: httpx.Client, size: int, root: bytes) -> None:
    old, old_root = child.checked_size, child.checked_root
    if not old or old_root is None:
        return
    if size < old:
        raise Inconsistent(f"日志回退：先前核验的大小为 {old}，现在只有 {size}")
    if size == old:
        if root != old_root:
            raise Inconsistent(f"日志被改写：大小 {size} 的根哈希与先前核验的不同")
        return
    proof = _get(
        http, f"{child.base_url.rstrip('/')}/ledger/proof/consistency?first={old}&second={size}"
    ).json()
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    hasher = hasher_for(Verifier(child.log_key))
    if not merkle.verify_consistency(old, size, hashes, old_root, root, hasher=hasher):
        raise Inconsistent(f"日志被改写：大小 {size} 的树不以先前核验的大小 {old} 的树为前缀")


def _holds_forwarded(db: Session, child: Child, http: httpx.Client, size: int, root: bytes) -> None:
    """The last leaf the child forwarded within ``size`` must be in its tree of ``size``."""
    row = db.execute(
        select(Forwarded.origin_index, Forwarded.leaf_hash)
        .where(
            Forwarded.child_id == child.id,
            Forwarded.origin_index < size,
            Forwarded.outcome != Outcome.REFUSED,
        )
        .order_by(Forwarded.origin_index.desc())
        .limit(1)
    ).first()
    if row is None:
        return
    index, leaf_hash = row
    proof = _get(
        http, f"{child.base_url.rstrip('/')}/ledger/proof/inclusion?index={index}&size={size}"
    ).json()
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]
    hasher = hasher_for(Verifier(child.log_key))
    if not merkle.verify_inclusion(leaf_hash, index, size, hashes, root, hasher=hasher):
        raise Inconsistent(f"其转发的第 {index} 条不在其日志中：日志被改写或转发了伪造的条目")


def relay_proof(db: Session, child: Child, index: int, http: httpx.Client) -> dict[str, Any] | None:
    """What a leaf of this platform's log relaying the child's leaf ``index`` carries up
    (docs/networking.md, "Relayed facts"): the child's latest checkpoint checked here (consistent
    with those checked before) and cosigned by this platform, and the leaf's inclusion proof in
    it (from the child: the parent above verifies it). A checkpoint not covering ``index`` yet is
    fetched and checked now; None while the child's log does not cover it (or cannot be read or
    checked): the relay waits. Flushes (the caller commits or rolls back)."""
    if child.checked_size <= index or not child.checked_note:
        check_child(db, child, http)
        if child.status != ChildStatus.ACTIVE.value or child.checked_size <= index:
            return None
    note = child.checked_note or ""
    try:
        checkpoint, opened = open_checkpoint(
            note, [Verifier(child.log_key)], origin=child.log_origin
        )
        proof = _get(
            http,
            f"{child.base_url.rstrip('/')}/ledger/proof/inclusion"
            f"?index={index}&size={checkpoint.size}",
        ).json()
        hashes = [str(h) for h in proof["hashes"]]
    except (httpx.HTTPError, NoteError, ValueError, KeyError, TypeError) as exc:
        log.warning("child platform %s: no inclusion proof of leaf %d: %s", child.name, index, exc)
        return None
    if not _cosigned_by_us(note):
        note += signature_line(opened.text, ledger.log_identity().cosigner)
    return {"checkpoint": note, "hashes": hashes}


def check_all(db: Session, *, transport: httpx.BaseTransport | None = None) -> list[Checked]:
    """Check every active child (commits after each)."""
    results: list[Checked] = []
    children = db.scalars(
        select(Child).where(Child.status == ChildStatus.ACTIVE.value).order_by(Child.id)
    ).all()
    with httpx.Client(timeout=TIMEOUT, transport=transport, verify=tls_context()) as http:
        for child in children:
            results.append(check_child(db, child, http))
            db.commit()
    return results
