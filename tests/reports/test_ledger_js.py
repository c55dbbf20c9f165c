"""The browser's log verifier (static/js/ledger-verify.js), run under Node: it agrees with the
server's Python verifier on every proof of random trees and on the known-answer and tampered
vectors of transparency-dev/merkle, and it checks a checkpoint the platform signed."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from jcjg.ledger import merkle
from jcjg.ledger.note import Signer, generate_signer, sign_note
from jcjg.ledger.sm import new_sm3

SCRIPT = Path(__file__).parents[2] / "src" / "jcjg" / "static" / "js" / "ledger-verify.js"
VECTORS = Path(__file__).parents[1] / "ledger" / "data" / "rfc6962_vectors.json"
RUNNER = """
const api = require(process.argv[1]);
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", async () => {
  const { inclusion, notes } = JSON.parse(input);
  const out = { inclusion: [], notes: [] };
  for (const c of inclusion) {
    let ok = false;
    try {
      const leaf = api.unhex(c.leaf_hash);
      const proof = c.proof.map(api.unhex);
      const root = api.unhex(c.root);
      ok = await api.verifyInclusion(c.leaf_index, c.tree_size, leaf, proof, root, c.kind);
    } catch (e) { ok = false; }  // not even hex: not a proof
    out.inclusion.push(ok);
  }
  for (const n of notes) {
    let ok = false;
    try { ok = (await api.verifyNote(n.text, n.vkey)).ok; } catch (e) { ok = false; }
    out.notes.push(ok);
  }
  process.stdout.write(JSON.stringify(out));
});
"""


def _node(inclusion: list[dict], notes: list[dict] | None = None) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make install brings it)")
    result = subprocess.run(
        [node, "-e", RUNNER, str(SCRIPT)],
        cwd=SCRIPT.parents[4],  # require("sm-crypto") from the repository's node_modules
        input=json.dumps({"inclusion": inclusion, "notes": notes or []}),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def test_known_answers_and_tampered_vectors():
    vectors = json.loads(VECTORS.read_text())
    cases = vectors["inclusion_proofs"]["cases"] + vectors["verification_probes"]["inclusion"]
    got = _node(cases)["inclusion"]
    for case, ok in zip(cases, got, strict=True):
        want = not case.get("want_error", False)
        assert ok is want, case.get("desc", case)
    assert sum(got) >= 10
    assert not all(got)  # the tampered ones are refused


def test_agrees_with_the_python_verifier_on_random_trees():
    rng = random.Random(7)
    cases, expected = [], []
    for size in (1, 2, 3, 5, 7, 8, 9, 31, 64, 100, 257):
        leaves = [merkle.leaf_hash(rng.randbytes(12)) for _ in range(size)]
        root = merkle.root_hash(leaves)
        for index in sorted({0, size - 1, rng.randrange(size)}):
            proof = merkle.inclusion_proof(leaves, index, size)
            variants = [(proof, leaves[index], root)]
            if proof:  # one flipped bit in the proof, the wrong leaf, a dropped hash
                bad = bytearray(proof[0])
                bad[0] ^= 1
                variants.append(([bytes(bad), *proof[1:]], leaves[index], root))
                variants.append((proof[:-1], leaves[index], root))
            variants.append(
                (proof, leaves[(index + 1) % size], root) if size > 1 else (proof, b"\0" * 32, root)
            )
            for p, leaf, r in variants:
                cases.append({"leaf_index": index, "tree_size": size, "leaf_hash": leaf.hex(),
                              "root": r.hex(), "proof": [h.hex() for h in p]})  # fmt: skip
                expected.append(merkle.verify_inclusion(leaf, index, size, p, r))
    assert _node(cases)["inclusion"] == expected
    assert True in expected
    assert False in expected


def test_checks_a_signed_checkpoint():
    skey, vkey = generate_signer("jcjg.test/ledger")
    signer = Signer(skey)
    body = "jcjg.test/ledger\n42\n" + "A" * 43 + "=\n"
    text = sign_note(body, signer).decode()
    other_skey, other_vkey = generate_signer("jcjg.test/ledger")
    forged = sign_note(body.replace("42", "43"), Signer(other_skey)).decode()
    altered = text.replace("\n42\n", "\n43\n")
    notes = [
        {"text": text, "vkey": vkey},
        {"text": altered, "vkey": vkey},  # the size changed after signing
        {"text": forged, "vkey": vkey},  # signed by another key of the same name
        {"text": text, "vkey": other_vkey},
    ]
    assert _node([], notes)["notes"] == [True, False, False, False]


def test_a_log_of_the_national_profile_sm2_notes_and_sm3_trees():
    """JCJG_CRYPTO=sm: the browser checks the SM2 checkpoint and the SM3 proofs (sm-crypto),
    and agrees with the Python verifier; an SM3 proof is no SHA-256 proof."""
    skey, vkey = generate_signer("jcjg.test/ledger/sm", "sm2")
    body = "jcjg.test/ledger/sm\n42\n" + "A" * 43 + "=\n"
    text = sign_note(body, Signer(skey)).decode()
    other_skey, other_vkey = generate_signer("jcjg.test/ledger/sm", "sm2")
    forged = sign_note(body, Signer(other_skey)).decode()
    notes = [
        {"text": text, "vkey": vkey},
        {"text": text.replace("\n42\n", "\n43\n"), "vkey": vkey},
        {"text": forged, "vkey": vkey},
        {"text": text, "vkey": other_vkey},
    ]
    rng = random.Random(11)
    cases, expected = [], []
    for size in (1, 2, 5, 9, 33):
        leaves = [merkle.leaf_hash(rng.randbytes(12), hasher=new_sm3) for _ in range(size)]
        root = merkle.root_hash(leaves, hasher=new_sm3)
        for index in sorted({0, size - 1, rng.randrange(size)}):
            proof = merkle.inclusion_proof(leaves, index, size, hasher=new_sm3)
            for kind in ("sm2", "ed25519"):  # the right hash, and SHA-256 on an SM3 tree
                cases.append({"leaf_index": index, "tree_size": size, "kind": kind,
                              "leaf_hash": leaves[index].hex(), "root": root.hex(),
                              "proof": [h.hex() for h in proof]})  # fmt: skip
                expected.append(kind == "sm2" or size == 1)
    got = _node(cases, notes)
    assert got["notes"] == [True, False, False, False]
    assert got["inclusion"] == expected
