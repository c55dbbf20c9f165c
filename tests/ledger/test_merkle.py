"""Tests for jcjg.ledger.merkle: RFC 6962 known answers, transparency-dev probes, tampering."""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcjg.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    Node,
    NodeHash,
    consistency_nodes,
    consistency_proof,
    consistency_proof_from,
    fold,
    inclusion_nodes,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
    root_from,
    root_hash,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)
from tests.conftest import examples

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

# Source: transparency-dev/merkle @ 417fb0c3 (see the file's "source" field and
# /work/shared/testdata/README.md).
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "rfc6962_vectors.json").read_text(encoding="utf-8")
)
H = bytes.fromhex
LEAVES = [H(x) for x in VECTORS["leaf_inputs_hex"]]
LEAF_HASHES = [H(x) for x in VECTORS["leaf_hashes_hex"]]
ROOTS = {int(n): H(r) for n, r in VECTORS["roots_by_tree_size"].items()}
NODE_TABLE = [[H(x) for x in row] for row in VECTORS["node_hashes_by_level"]]

SETTINGS = settings(max_examples=examples(60), deadline=None, database=None)


def _hashes(n: int, seed: str = "leaf") -> list[bytes]:
    return [leaf_hash(f"{seed}-{i}".encode()) for i in range(n)]


def _table_get_node(table: list[list[bytes]]) -> Callable[[int, int], bytes]:
    return lambda level, index: table[level][index]


class CountingStore:
    """A node store built by CompactRange, counting reads like a database would see them."""

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        cr = CompactRange()
        for n in cr.extend(leaf_hashes):
            self.nodes[(n.level, n.index)] = n.hash
        self.reads = 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.nodes[(level, index)]


# ---------------------------------------------------------------------------------------------
# Reference: RFC 6962 section 2.1, transcribed recursively, independent of the module's code.


class Reference:
    """MTH, PATH and PROOF exactly as RFC 6962 2.1 defines them, over one list of leaf hashes."""

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        self.h = leaf_hashes
        self.mth = functools.cache(self._mth)

    @staticmethod
    def _split(n: int) -> int:
        k = 1
        while k * 2 < n:
            k *= 2
        return k

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.h[lo]
        k = self._split(n)
        return hashlib.sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi)).digest()

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = self._split(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = self._split(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]

    def perfect_nodes(self, size: int) -> dict[tuple[int, int], bytes]:
        out = {}
        level = 0
        while (1 << level) <= size:
            for i in range(size >> level):
                out[(level, i)] = self.mth(i << level, (i + 1) << level)
            level += 1
        return out


# ---------------------------------------------------------------------------------------------
# Known answers.


def test_hasher_known_answers() -> None:
    vectors = VECTORS["hashing"]["vectors"]
    assert EMPTY_ROOT.hex() == vectors[0]["value"]
    assert root_hash([]).hex() == vectors[0]["value"]
    assert leaf_hash(H(vectors[1]["leaf_input_hex"])).hex() == vectors[1]["value"]
    assert leaf_hash(H(vectors[2]["leaf_input_hex"])).hex() == vectors[2]["value"]
    node = vectors[3]
    assert node_hash(H(node["left_hex"]), H(node["right_hex"])).hex() == node["value"]


def test_leaf_hashes_and_node_table() -> None:
    assert [leaf_hash(x) for x in LEAVES] == LEAF_HASHES
    assert NODE_TABLE[0] == LEAF_HASHES
    for level in range(1, len(NODE_TABLE)):
        for i, h in enumerate(NODE_TABLE[level]):
            assert h == node_hash(NODE_TABLE[level - 1][2 * i], NODE_TABLE[level - 1][2 * i + 1])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    a, b = LEAF_HASHES[0], LEAF_HASHES[1]
    assert leaf_hash(b"\x01" + a + b) != node_hash(a, b)
    assert leaf_hash(a + b) != node_hash(a, b)


@pytest.mark.parametrize("size", range(9))
def test_roots_for_sizes_0_to_8(size: int) -> None:
    want = ROOTS[size]
    assert root_hash(LEAF_HASHES[:size]) == want
    assert root_from(_table_get_node(NODE_TABLE), size) == want
    cr = CompactRange()
    cr.extend(LEAF_HASHES[:size])
    assert cr.root() == want
    assert fold([NODE_TABLE[n.level][n.index] for n in root_nodes(size)]) == want


def _table_cases(kind: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = VECTORS[f"{kind}_proofs"]["cases"]
    derived: list[dict[str, Any]] = VECTORS["derived_exhaustive_proofs"][kind]
    return cases + derived


@pytest.mark.parametrize(
    "case",
    _table_cases("inclusion"),
    ids=lambda c: f"i{c['leaf_index']}-n{c['tree_size']}",
)
def test_inclusion_proof_tables(case: dict[str, Any]) -> None:
    index, size = case["leaf_index"], case["tree_size"]
    want = [H(x) for x in case["proof"]]
    assert inclusion_proof(LEAF_HASHES, index, size) == want
    assert inclusion_proof_from(_table_get_node(NODE_TABLE), index, size) == want
    assert verify_inclusion(LEAF_HASHES[index], index, size, want, ROOTS[size])


@pytest.mark.parametrize(
    "case",
    _table_cases("consistency"),
    ids=lambda c: f"m{c['size1']}-n{c['size2']}",
)
def test_consistency_proof_tables(case: dict[str, Any]) -> None:
    size1, size2 = case["size1"], case["size2"]
    want = [H(x) for x in case["proof"]]
    assert consistency_proof(LEAF_HASHES, size1, size2) == want
    assert consistency_proof_from(_table_get_node(NODE_TABLE), size1, size2) == want
    assert verify_consistency(size1, size2, want, ROOTS[size1], ROOTS[size2])


def test_table_roots_match_listed_roots() -> None:
    for case in VECTORS["inclusion_proofs"]["cases"]:
        assert H(case["root"]) == ROOTS[case["tree_size"]]
        assert H(case["leaf_hash"]) == LEAF_HASHES[case["leaf_index"]]
    for case in VECTORS["consistency_proofs"]["cases"]:
        assert H(case["root1"]) == ROOTS[case["size1"]]
        assert H(case["root2"]) == ROOTS[case["size2"]]


# The probes' indexes include 2**64 - 1 ("leafIdx sub 1" on index 0): Python ints keep it.
INCLUSION_PROBES: list[dict[str, Any]] = VECTORS["verification_probes"]["inclusion"]
CONSISTENCY_PROBES: list[dict[str, Any]] = VECTORS["verification_probes"]["consistency"]


def _probe_id(probe: dict[str, Any]) -> str:
    return str(probe["file"]).removeprefix("testdata/").removesuffix(".json")


def test_probe_counts() -> None:
    assert len(INCLUSION_PROBES) == 86
    assert len(CONSISTENCY_PROBES) == 98


@pytest.mark.parametrize("probe", INCLUSION_PROBES, ids=_probe_id)
def test_inclusion_probe(probe: dict[str, Any]) -> None:
    ok = verify_inclusion(
        H(probe["leaf_hash"]),
        probe["leaf_index"],
        probe["tree_size"],
        [H(x) for x in probe["proof"]],
        H(probe["root"]),
    )
    assert ok is (not probe["want_error"])


@pytest.mark.parametrize("probe", CONSISTENCY_PROBES, ids=_probe_id)
def test_consistency_probe(probe: dict[str, Any]) -> None:
    ok = verify_consistency(
        probe["size1"],
        probe["size2"],
        [H(x) for x in probe["proof"]],
        H(probe["root1"]),
        H(probe["root2"]),
    )
    assert ok is (not probe["want_error"])


# ---------------------------------------------------------------------------------------------
# Agreement with the RFC text for every tree up to 70 leaves.

MAX_SIZE = 70


@pytest.fixture(scope="module")
def reference() -> Reference:
    return Reference(_hashes(MAX_SIZE))


def test_roots_agree_with_reference(reference: Reference) -> None:
    table = reference.perfect_nodes(MAX_SIZE)
    get = lambda level, index: table[(level, index)]  # noqa: E731
    cr = CompactRange()
    for size in range(MAX_SIZE + 1):
        want = reference.mth(0, size)
        assert root_hash(reference.h[:size]) == want
        assert root_from(get, size) == want
        assert cr.root() == want
        assert CompactRange.from_nodes(get, size).root() == want
        if size < MAX_SIZE:
            cr.append(reference.h[size])


def test_inclusion_agrees_with_reference_for_all_sizes(reference: Reference) -> None:
    table = reference.perfect_nodes(MAX_SIZE)
    get = lambda level, index: table[(level, index)]  # noqa: E731
    for size in range(1, MAX_SIZE + 1):
        root = reference.mth(0, size)
        for index in range(size):
            want = reference.path(index, 0, size)
            assert inclusion_proof(reference.h, index, size) == want
            assert inclusion_proof_from(get, index, size) == want
            assert verify_inclusion(reference.h[index], index, size, want, root)


def test_consistency_agrees_with_reference_for_all_sizes(reference: Reference) -> None:
    table = reference.perfect_nodes(MAX_SIZE)
    get = lambda level, index: table[(level, index)]  # noqa: E731
    for size2 in range(1, MAX_SIZE + 1):
        root2 = reference.mth(0, size2)
        for size1 in range(1, size2 + 1):
            want = reference.subproof(size1, 0, size2, True)
            assert consistency_proof(reference.h, size1, size2) == want
            assert consistency_proof_from(get, size1, size2) == want
            assert verify_consistency(size1, size2, want, reference.mth(0, size1), root2)


def test_node_plans_are_logarithmic() -> None:
    leaves = _hashes(5000)
    store = CountingStore(leaves)
    ref = Reference(leaves)
    rng = random.Random(6962)
    for _ in range(200):
        size = rng.randint(1, len(leaves))
        index = rng.randrange(size)
        bound = 2 * size.bit_length() + 1
        store.reads = 0
        assert inclusion_proof_from(store.get, index, size) == ref.path(index, 0, size)
        assert store.reads <= bound
        size1 = rng.randint(1, size)
        store.reads = 0
        assert consistency_proof_from(store.get, size1, size) == ref.subproof(size1, 0, size, True)
        assert store.reads <= bound
        store.reads = 0
        assert root_from(store.get, size) == ref.mth(0, size)
        assert store.reads == size.bit_count()


def test_plans_at_a_billion_leaves_stay_small() -> None:
    size = 10**9 + 7
    for index in (0, 1, size // 2, size - 2, size - 1):
        plan = inclusion_nodes(index, size)
        assert sum(len(item) for item in plan) <= 2 * size.bit_length()
    plan = consistency_nodes(123_456_789, size)
    assert sum(len(item) for item in plan) <= 2 * size.bit_length() + 1
    assert len(root_nodes(size)) == size.bit_count()


def test_node_plan_shapes() -> None:
    # RFC 6962 2.1.3 example, 7 leaves: the path of leaf 3 is [c, g, l], l = H(i, j).
    assert inclusion_nodes(3, 7) == [(Node(0, 2),), (Node(1, 0),), (Node(1, 2), Node(0, 6))]
    # RFC 6962 2.1.3 consistency examples: 3 -> 7 is [c, d, g, l]; 4 -> 7 is [l]; 6 -> 7 [i, j, k].
    assert consistency_nodes(3, 7) == [
        (Node(0, 2),),
        (Node(0, 3),),
        (Node(1, 0),),
        (Node(1, 2), Node(0, 6)),
    ]
    assert consistency_nodes(4, 7) == [(Node(1, 2), Node(0, 6))]
    assert consistency_nodes(6, 7) == [(Node(1, 2),), (Node(0, 6),), (Node(2, 0),)]
    assert root_nodes(7) == [Node(2, 0), Node(1, 2), Node(0, 6)]
    assert root_nodes(0) == []


# ---------------------------------------------------------------------------------------------
# CompactRange.


def test_compact_range_emits_every_perfect_node_once(reference: Reference) -> None:
    cr = CompactRange()
    emitted = cr.extend(reference.h)
    keys = [(n.level, n.index) for n in emitted]
    assert len(keys) == len(set(keys))
    assert {(n.level, n.index): n.hash for n in emitted} == reference.perfect_nodes(MAX_SIZE)
    assert cr.size == MAX_SIZE
    table = reference.perfect_nodes(MAX_SIZE)
    assert list(cr.hashes) == [table[(n.level, n.index)] for n in root_nodes(MAX_SIZE)]


def test_compact_range_node_order_and_leaves_flag() -> None:
    cr = CompactRange()
    assert cr.append(LEAF_HASHES[0]) == [NodeHash(0, 0, LEAF_HASHES[0])]
    assert cr.append(LEAF_HASHES[1]) == [
        NodeHash(0, 1, LEAF_HASHES[1]),
        NodeHash(1, 0, NODE_TABLE[1][0]),
    ]
    assert cr.extend(LEAF_HASHES[2:4], include_leaves=False) == [
        NodeHash(1, 1, NODE_TABLE[1][1]),
        NodeHash(2, 0, NODE_TABLE[2][0]),
    ]
    assert cr.size == 4
    assert cr.root() == ROOTS[4]
    assert "size=4" in repr(cr)


def test_compact_range_resumes_from_stored_frontier() -> None:
    leaves = _hashes(300)
    for split in (0, 1, 2, 5, 64, 127, 128, 129, 299):
        whole = CompactRange()
        whole_nodes = whole.extend(leaves)
        first = CompactRange()
        stored = {(n.level, n.index): n.hash for n in first.extend(leaves[:split])}
        resumed = CompactRange.from_nodes(lambda lv, i: stored[(lv, i)], split)  # noqa: B023
        assert resumed.hashes == first.hashes
        later = resumed.extend(leaves[split:])
        assert resumed.root() == whole.root() == root_hash(leaves)
        stored.update({(n.level, n.index): n.hash for n in later})
        assert stored == {(n.level, n.index): n.hash for n in whole_nodes}


def test_compact_range_rejects_bad_frontier() -> None:
    with pytest.raises(ValueError, match="frontier hashes"):
        CompactRange(3, [LEAF_HASHES[0]])
    with pytest.raises(ValueError, match="must be >= 0"):
        CompactRange(-1)
    with pytest.raises(ValueError, match="not a 32-byte hash"):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError, match="not a 32-byte hash"):
        CompactRange().append(b"x" * 31)
    with pytest.raises(ValueError, match="not a 32-byte hash"):
        CompactRange.from_nodes(lambda level, index: b"", 3)


# ---------------------------------------------------------------------------------------------
# Argument errors from the generators.


@pytest.mark.parametrize(
    ("index", "size", "n_leaves"),
    [(0, 0, 4), (4, 4, 4), (-1, 3, 4), (0, 5, 4), (0, -1, 4), (3, 2, 4)],
)
def test_inclusion_proof_rejects_impossible_arguments(index: int, size: int, n_leaves: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        inclusion_proof(LEAF_HASHES[:n_leaves], index, size)
    if size <= n_leaves:
        with pytest.raises(ValueError, match="out of range"):
            inclusion_proof_from(_table_get_node(NODE_TABLE), index, size)


@pytest.mark.parametrize(
    ("size1", "size2", "n_leaves"),
    [(0, 3, 4), (0, 0, 4), (3, 2, 4), (-1, 2, 4), (2, 5, 4), (5, 5, 4)],
)
def test_consistency_proof_rejects_impossible_arguments(
    size1: int, size2: int, n_leaves: int
) -> None:
    with pytest.raises(ValueError, match=r"range|size1"):
        consistency_proof(LEAF_HASHES[:n_leaves], size1, size2)
    if size2 <= n_leaves:
        with pytest.raises(ValueError, match="size1"):
            consistency_proof_from(_table_get_node(NODE_TABLE), size1, size2)


def test_list_functions_reject_malformed_leaf_hashes() -> None:
    for bad in (b"short", "00" * 32, None):
        leaves: list[Any] = [*LEAF_HASHES[:3], bad]
        with pytest.raises(ValueError, match="not a 32-byte hash"):
            root_hash(leaves)
        with pytest.raises(ValueError, match="not a 32-byte hash"):
            inclusion_proof(leaves, 0, 4)
        with pytest.raises(ValueError, match="not a 32-byte hash"):
            consistency_proof(leaves, 1, 4)
        assert inclusion_proof(leaves, 0, 3) == inclusion_proof(LEAF_HASHES, 0, 3)


def test_root_nodes_rejects_negative_size() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        root_nodes(-1)


def test_equal_sizes_give_empty_consistency_proof() -> None:
    assert consistency_proof(LEAF_HASHES, 5, 5) == []
    assert consistency_proof_from(_table_get_node(NODE_TABLE), 5, 5) == []
    assert verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])


def test_storage_returning_garbage_is_an_error_not_a_wrong_proof() -> None:
    with pytest.raises(ValueError, match="not a 32-byte hash"):
        inclusion_proof_from(lambda level, index: b"\x00" * 31, 0, 8)
    with pytest.raises(ValueError, match="not a 32-byte hash"):
        root_from(lambda level, index: "00" * 32, 8)  # type: ignore[arg-type,return-value]


# ---------------------------------------------------------------------------------------------
# Tampering: every way of damaging a good proof must fail.


def _shape(plan: list[tuple[Node, ...]], start: int) -> tuple[bool, ...]:
    """Left/right pattern of a proof: whether each element's subtree lies before `start`."""
    return tuple((item[0].index << item[0].level) < start for item in plan)


def _flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


TAMPER_CASES = [(0, 1), (0, 8), (5, 8), (2, 3), (1, 5), (6, 7), (12, 13), (31, 70), (69, 70)]


@pytest.mark.parametrize(("index", "size"), TAMPER_CASES)
def test_inclusion_tampering_fails(index: int, size: int) -> None:
    leaves = _hashes(MAX_SIZE)
    root = root_hash(leaves[:size])
    leaf = leaves[index]
    proof = inclusion_proof(leaves, index, size)
    assert verify_inclusion(leaf, index, size, proof, root)

    for i, p in enumerate(proof):
        for bit in range(256):
            bad = [*proof[:i], _flip(p, bit), *proof[i + 1 :]]
            assert not verify_inclusion(leaf, index, size, bad, root)
    for bit in range(256):
        assert not verify_inclusion(_flip(leaf, bit), index, size, proof, root)
        assert not verify_inclusion(leaf, index, size, proof, _flip(root, bit))

    for other in range(-1, size + 2):
        if other != index:
            assert not verify_inclusion(leaf, other, size, proof, root)
    # A proof binds the tree size only through its shape (the signed checkpoint binds the
    # rest), so another size with the same left/right pattern may legitimately pass.
    shape = _shape(inclusion_nodes(index, size), index)
    for other_size in (0, index, size - 1, size + 1, size * 2, size + 64, 2**64 - 1):
        if other_size <= index or _shape(inclusion_nodes(index, other_size), index) != shape:
            assert not verify_inclusion(leaf, index, other_size, proof, root)
    assert not verify_inclusion(leaf, index, 2 * size, proof, root)

    extra = leaves[0]
    assert not verify_inclusion(leaf, index, size, [*proof, extra], root)
    assert not verify_inclusion(leaf, index, size, [extra, *proof], root)
    assert not verify_inclusion(leaf, index, size, [*proof, root], root)
    for i in range(len(proof)):
        assert not verify_inclusion(leaf, index, size, proof[:i] + proof[i + 1 :], root)
        assert not verify_inclusion(leaf, index, size, [*proof[:i], proof[i], *proof[i:]], root)
    if len(proof) > 1:
        assert not verify_inclusion(leaf, index, size, proof[::-1], root)

    # Wrong lengths anywhere.
    for bad_len in (b"", leaf[:31], leaf + b"\x00"):
        assert not verify_inclusion(bad_len, index, size, proof, root)
        assert not verify_inclusion(leaf, index, size, proof, bad_len)
        if proof:
            assert not verify_inclusion(leaf, index, size, [bad_len, *proof[1:]], root)


@pytest.mark.parametrize(
    ("size1", "size2"),
    [(1, 2), (1, 8), (6, 8), (2, 5), (6, 7), (4, 8), (3, 70), (64, 70), (37, 69)],
)
def test_consistency_tampering_fails(size1: int, size2: int) -> None:
    leaves = _hashes(MAX_SIZE)
    root1, root2 = root_hash(leaves[:size1]), root_hash(leaves[:size2])
    proof = consistency_proof(leaves, size1, size2)
    assert verify_consistency(size1, size2, proof, root1, root2)

    for i, p in enumerate(proof):
        for bit in range(256):
            bad = [*proof[:i], _flip(p, bit), *proof[i + 1 :]]
            assert not verify_consistency(size1, size2, bad, root1, root2)
    for bit in range(256):
        assert not verify_consistency(size1, size2, proof, _flip(root1, bit), root2)
        assert not verify_consistency(size1, size2, proof, root1, _flip(root2, bit))

    for other in range(0, size2 + 2):
        if other != size1:
            assert not verify_consistency(other, size2, proof, root1, root2)
    # As for inclusion, only a size2 with a different proof shape must fail.
    shape = _shape(consistency_nodes(size1, size2), size1)
    for other in (size1 - 1, size1, size2 - 1, size2 + 1, 2 * size2, 2**64 - 1):
        if other <= size1 or _shape(consistency_nodes(size1, other), size1) != shape:
            assert not verify_consistency(size1, other, proof, root1, root2)
    assert not verify_consistency(size1, 2 * size2, proof, root1, root2)

    assert not verify_consistency(size1, size2, proof, root2, root1)
    assert not verify_consistency(size1, size2, [], root1, root2)
    assert not verify_consistency(size1, size2, [*proof, root2], root1, root2)
    assert not verify_consistency(size1, size2, [root1, *proof], root1, root2)
    for i in range(len(proof)):
        assert not verify_consistency(size1, size2, proof[:i] + proof[i + 1 :], root1, root2)
        dup = [*proof[:i], proof[i], *proof[i:]]
        assert not verify_consistency(size1, size2, dup, root1, root2)

    for bad_len in (b"", root1[:31], root1 + b"\x00"):
        assert not verify_consistency(size1, size2, proof, bad_len, root2)
        assert not verify_consistency(size1, size2, proof, root1, bad_len)
        assert not verify_consistency(size1, size2, [bad_len, *proof[1:]], root1, root2)


def test_consistency_policy_edges() -> None:
    r = ROOTS
    assert not verify_consistency(0, 0, [], r[0], r[0])  # size1 == 0 proves nothing
    assert not verify_consistency(0, 5, [], r[0], r[5])
    assert not verify_consistency(5, 4, [], r[5], r[4])
    assert not verify_consistency(5, 5, [r[5]], r[5], r[5])
    assert not verify_consistency(5, 5, [], r[5], r[4])
    assert verify_consistency(5, 5, [], r[5], r[5])


@pytest.mark.parametrize(
    "args",
    [
        ("not bytes", 0, 1, [], ROOTS[1]),
        (LEAF_HASHES[0], "0", 1, [], ROOTS[1]),
        (LEAF_HASHES[0], 0, 1.0, [], ROOTS[1]),
        (LEAF_HASHES[0], True, 2, [LEAF_HASHES[0]], ROOTS[2]),
        (LEAF_HASHES[1], 1, 2, LEAF_HASHES[0], ROOTS[2]),  # a hash where a list belongs
        (LEAF_HASHES[1], 1, 2, [LEAF_HASHES[0].hex()], ROOTS[2]),
        (LEAF_HASHES[1], 1, 2, [None], ROOTS[2]),
        (LEAF_HASHES[1], 1, 2, None, ROOTS[2]),
        (LEAF_HASHES[1], 1, 2, 7, ROOTS[2]),
        (LEAF_HASHES[1], 1, 2, [LEAF_HASHES[0]], None),
        (LEAF_HASHES[0], -1, 2, [LEAF_HASHES[1]], ROOTS[2]),
        (LEAF_HASHES[0], 0, -2, [LEAF_HASHES[1]], ROOTS[2]),
    ],
)
def test_verify_inclusion_never_raises_on_garbage(args: tuple[Any, ...]) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        ("1", 2, [LEAF_HASHES[1]], ROOTS[1], ROOTS[2]),
        (1, 2.0, [LEAF_HASHES[1]], ROOTS[1], ROOTS[2]),
        (True, 2, [LEAF_HASHES[1]], ROOTS[1], ROOTS[2]),
        (1, 2, LEAF_HASHES[1], ROOTS[1], ROOTS[2]),
        (1, 2, [1], ROOTS[1], ROOTS[2]),
        (1, 2, None, ROOTS[1], ROOTS[2]),
        (1, 2, [LEAF_HASHES[1]], None, ROOTS[2]),
        (1, 2, [LEAF_HASHES[1]], ROOTS[1], ROOTS[2].hex()),
        (1, 1, [], "x", "x"),
        (-1, 2, [LEAF_HASHES[1]], ROOTS[1], ROOTS[2]),
        (1, -2, [LEAF_HASHES[1]], ROOTS[1], ROOTS[2]),
    ],
)
def test_verify_consistency_never_raises_on_garbage(args: tuple[Any, ...]) -> None:
    assert verify_consistency(*args) is False


def test_verifiers_accept_other_bytes_like_hashes() -> None:
    # Annotated as bytes, but a caller holding bytearray or memoryview still gets an answer.
    proof: Any = tuple(memoryview(p) for p in inclusion_proof(LEAF_HASHES, 5, 8))
    leaf: Any = bytearray(LEAF_HASHES[5])
    root: Any = bytearray(ROOTS[8])
    assert verify_inclusion(leaf, 5, 8, proof, root)
    cproof: Any = (bytearray(p) for p in consistency_proof(LEAF_HASHES, 3, 8))
    root8: Any = memoryview(ROOTS[8])
    assert verify_consistency(3, 8, cproof, ROOTS[3], root8)


def test_verifiers_swallow_exceptions_from_odd_iterables() -> None:
    def boom() -> Any:
        yield LEAF_HASHES[0]
        raise RuntimeError("storage went away")

    assert verify_inclusion(LEAF_HASHES[1], 1, 2, boom(), ROOTS[2]) is False
    assert verify_consistency(1, 2, boom(), ROOTS[1], ROOTS[2]) is False


# ---------------------------------------------------------------------------------------------
# Properties.


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    size = draw(st.integers(min_value=1, max_value=300))
    index = draw(st.integers(min_value=0, max_value=size - 1))
    seed = draw(st.text(alphabet="abc", max_size=3))
    return _hashes(size, seed), index, size


@st.composite
def tree_and_sizes(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    size2 = draw(st.integers(min_value=1, max_value=300))
    size1 = draw(st.integers(min_value=1, max_value=size2))
    seed = draw(st.text(alphabet="abc", max_size=3))
    return _hashes(size2, seed), size1, size2


@SETTINGS
@given(tree_and_index(), st.data())
def test_property_inclusion_verifies_and_every_bit_matters(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    leaves, index, size = case
    root = root_hash(leaves)
    proof = inclusion_proof(leaves, index, size)
    assert verify_inclusion(leaves[index], index, size, proof, root)
    store = CountingStore(leaves)
    assert inclusion_proof_from(store.get, index, size) == proof
    assert root_from(store.get, size) == root

    # Flip one bit somewhere in (leaf hash, proof..., root).
    parts = [leaves[index], *proof, root]
    which = data.draw(st.integers(min_value=0, max_value=len(parts) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    parts[which] = _flip(parts[which], bit)
    assert not verify_inclusion(parts[0], index, size, parts[1:-1], parts[-1])


@SETTINGS
@given(tree_and_sizes(), st.data())
def test_property_consistency_verifies_and_every_bit_matters(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    leaves, size1, size2 = case
    root1, root2 = root_hash(leaves[:size1]), root_hash(leaves)
    proof = consistency_proof(leaves, size1, size2)
    assert verify_consistency(size1, size2, proof, root1, root2)
    store = CountingStore(leaves)
    assert consistency_proof_from(store.get, size1, size2) == proof
    if size1 == size2:
        return  # nothing to flip but the roots, covered below
    parts = [root1, *proof, root2]
    which = data.draw(st.integers(min_value=0, max_value=len(parts) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    parts[which] = _flip(parts[which], bit)
    assert not verify_consistency(size1, size2, parts[1:-1], parts[0], parts[-1])


@SETTINGS
@given(tree_and_sizes())
def test_property_different_history_is_inconsistent(case: tuple[list[bytes], int, int]) -> None:
    leaves, size1, size2 = case
    forked = [*leaves[: size1 - 1], leaf_hash(b"rewritten"), *leaves[size1:]]
    proof = consistency_proof(forked, size1, size2)
    # The forked log's proof cannot link the honest old root to the forked new root.
    assert not verify_consistency(size1, size2, proof, root_hash(leaves[:size1]), root_hash(forked))


@SETTINGS
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=8))
def test_property_compact_range_batches_equal_one_batch(batches: list[int]) -> None:
    total = sum(batches)
    leaves = _hashes(total)
    one = CompactRange()
    one_nodes = one.extend(leaves)
    many = CompactRange()
    many_nodes: list[NodeHash] = []
    start = 0
    for b in batches:
        # Each batch resumes from a frontier, as a sequencer reloads it from storage.
        many = CompactRange(many.size, many.hashes)
        many_nodes += many.extend(leaves[start : start + b])
        start += b
    assert many.root() == one.root() == root_hash(leaves)
    assert many_nodes == one_nodes
