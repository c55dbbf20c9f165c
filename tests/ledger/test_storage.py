"""The stored log: notarise, integrate, proofs from stored nodes, checkpoints, tamper detection."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from sqlalchemy import select, text, update

from jcjg.ledger import merkle, service
from jcjg.ledger.canonical import canonical_json
from jcjg.ledger.models import LedgerLeaf, LedgerNode
from jcjg.ledger.note import Verifier, open_checkpoint


def _append(db, n: int, start: int = 0) -> list[service.Receipt]:
    return [
        service.notarise(db, "sample:seal", {"sample_code": f"S{start + i:06d}", "n": start + i})
        for i in range(n)
    ]


def _integrate_all(db) -> None:
    while service.integrate(db, batch=7):  # small batches cross batch boundaries
        pass


def _existing(db) -> list[bytes]:
    """Leaf hashes already in the session's log (other tests may have committed some)."""
    _integrate_all(db)
    return list(db.scalars(select(LedgerLeaf.leaf_hash).order_by(LedgerLeaf.leaf_index)))


def test_receipt_is_signed_and_recomputable(db):
    receipt = service.notarise(
        db, "report:issue", {"report_number": "JJ-2026-0001", "结论": "合格"}
    )
    leaf = db.get(LedgerLeaf, receipt.index)
    assert leaf.leaf_hash == receipt.leaf_hash
    # an outsider recomputes the leaf hash from the entry's canonical bytes
    entry = json.loads(leaf.entry)
    assert entry["data"]["结论"] == "合格"
    assert entry["entry_type"] == "report:issue"
    assert merkle.leaf_hash(canonical_json(entry)) == receipt.leaf_hash
    note = receipt.note
    verifier = service.log_identity().verifier
    from jcjg.ledger.note import open_note

    opened = open_note(note.encode(), [verifier])
    lines = opened.text.splitlines()
    assert lines[0] == service.RECEIPT_HEADER
    assert int(lines[2]) == receipt.index
    assert lines[5] == str(receipt.max_delay_seconds)


def test_indices_are_gap_free_and_rollback_returns_them(db):
    base = len(_existing(db))
    first = _append(db, 3)
    assert [r.index for r in first] == [base, base + 1, base + 2]
    nested = db.begin_nested()
    service.notarise(db, "sample:seal", {"n": "rolled back"})
    nested.rollback()
    again = service.notarise(db, "sample:seal", {"n": 3})
    assert again.index == base + 3  # the rolled-back append gave its index back


def test_integration_proofs_match_the_plain_tree(db):
    hashes = _existing(db)
    base = len(hashes)
    receipts = _append(db, 37)
    _integrate_all(db)
    hashes += [r.leaf_hash for r in receipts]
    total = base + 37
    assert service.head(db).size == total
    assert service.head(db).root_hash == merkle.root_hash(hashes)
    for size in (1, 2, 7, 8, 9, 31, 37, total):
        assert service.root_at(db, size) == merkle.root_hash(hashes[:size])
        for index in {0, size // 2, size - 1}:
            proof = service.inclusion(db, index, size)
            assert [bytes.fromhex(h) for h in proof["hashes"]] == merkle.inclusion_proof(
                hashes, index, size
            )
    for first, second in ((1, 37), (7, 8), (8, 37), (13, 29), (37, 37), (5, total)):
        proof = service.consistency(db, first, second)
        expected = merkle.consistency_proof(hashes, first, second) if first < second else []
        assert [bytes.fromhex(h) for h in proof["hashes"]] == expected
        assert proof["first_root"] == merkle.root_hash(hashes[:first]).hex()


def test_checkpoint_is_a_signed_note_of_the_head(db):
    _append(db, 5)
    _integrate_all(db)
    row = service.latest_checkpoint(db)
    log = service.log_identity()
    checkpoint, note = open_checkpoint(row.note.encode(), [log.verifier], origin=log.origin)
    assert (checkpoint.size, checkpoint.root) == (service.head(db).size, service.head(db).root_hash)
    assert note.sigs[0].name == log.origin


def test_nothing_to_integrate_still_has_a_checkpoint(db):
    assert service.integrate(db) == 0
    row = service.latest_checkpoint(db)
    assert row.size == service.head(db).size


def test_verify_names_the_tampered_index(db):
    receipts = _append(db, 12)
    _integrate_all(db)
    assert service.verify_all(db).ok
    target = receipts[6].index
    forged = canonical_json({"entry_type": "sample:seal", "notarised_at": "x", "data": {"n": 99}})
    db.execute(update(LedgerLeaf).where(LedgerLeaf.leaf_index == target).values(entry=forged))
    report = service.verify_all(db)
    assert not report.ok
    assert any(f"序号 {target} " in p for p in report.problems), report.problems


def test_verify_finds_a_changed_leaf_hash_or_node(db):
    _existing(db)
    _append(db, 9)
    _integrate_all(db)
    db.execute(
        update(LedgerNode)
        .where(LedgerNode.level == 2, LedgerNode.node_index == 1)
        .values(hash=b"\x00" * 32)
    )
    report = service.verify_all(db)
    assert any("第 2 层节点 1" in p for p in report.problems)


def test_bad_requests(db):
    _append(db, 3)
    _integrate_all(db)
    size = service.head(db).size
    for call in (
        lambda: service.inclusion(db, size, size),
        lambda: service.inclusion(db, 0, size + 1),
        lambda: service.consistency(db, 0, 3),
        lambda: service.consistency(db, 3, 2),
        lambda: service.consistency(db, 1, size + 1),
        lambda: service.get_leaf(db, -1),
        lambda: service.find_by_hash(db, b"\x00" * 32),
    ):
        with pytest.raises(service.LedgerError):
            call()


def test_cosignatures_need_a_registered_key(db):
    _append(db, 2)
    _integrate_all(db)
    from jcjg.ledger.note import Signer, generate_signer, signature_line

    skey, vkey = generate_signer("province.example/witness")
    log = service.log_identity()
    row = service.latest_checkpoint(db)
    text_part = row.note.split("\n\n")[0] + "\n"
    line = signature_line(text_part, Signer(skey))
    with pytest.raises(service.LedgerError, match="未配置"):
        service.add_cosignatures(db, row.size, line)
    object.__setattr__(log, "witnesses", (Verifier(vkey),))
    try:
        updated = service.add_cosignatures(db, row.size, line)
        assert updated.note.count("\u2014 ") == 2
        other_skey, _ = generate_signer("stranger.example/w")
        with pytest.raises(service.LedgerError):
            service.add_cosignatures(db, row.size, signature_line(text_part, Signer(other_skey)))
        name_part, b64 = line.rstrip("\n").rsplit(" ", 1)
        blob = bytearray(base64.b64decode(b64))
        blob[-1] ^= 1  # one bit of the signature
        forged = f"{name_part} {base64.b64encode(bytes(blob)).decode()}"
        with pytest.raises(service.LedgerError):
            service.add_cosignatures(db, row.size, forged)
    finally:
        object.__setattr__(log, "witnesses", ())


def test_concurrent_writers_never_share_an_index(engine, database_url):
    """Real transactions on separate connections (no test rollback): 4 threads x 25 appends."""
    from jcjg.core.db import make_sessionmaker

    factory = make_sessionmaker(engine)
    with factory() as db:
        start = service.head(db).size
        start_index = db.scalar(text("SELECT next_index FROM ledger_counter"))
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(25):
                with factory() as db:
                    service.notarise(db, "sample:seal", {"writer": k, "i": i})
                    if i % 5 == 4:
                        db.rollback()  # some facts fail: their index must be reused
                    else:
                        db.commit()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with factory() as db:
        indices = db.scalars(
            select(LedgerLeaf.leaf_index).where(LedgerLeaf.leaf_index >= start_index)
        ).all()
        assert sorted(indices) == list(range(start_index, start_index + 80))
        while service.integrate(db):
            db.commit()
        db.commit()
        assert service.verify_all(db).ok
        assert service.head(db).size >= start + 80
