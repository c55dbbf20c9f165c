"""RFC 6962 / RFC 9162 (section 2.1) Merkle tree hashing, proofs and verification.

Hashes are domain separated: a leaf hash is SHA-256(0x00 || data) and an interior node hash is
SHA-256(0x01 || left || right), so no leaf can pose as a node. The empty tree's root is
SHA-256("").

Two families of functions build proofs:

- the list-based ones (`root_hash`, `inclusion_proof`, `consistency_proof`) take every leaf hash
  and cost O(n); they are the plain definition, for tests, tools and small trees;
- the node-based ones (`root_from`, `inclusion_proof_from`, `consistency_proof_from`) read stored
  subtree hashes through a ``get_node(level, index)`` callback and call it O(log n) times.

Node addressing: the node at (level L, index i) is the root of the perfect subtree over the
leaves [i * 2**L, (i + 1) * 2**L); level 0 holds the leaf hashes. Only perfect subtrees are
ever stored. A tree whose size is not a power of two has a ragged right edge; its hashes there
are "ephemeral" and are folded from perfect nodes whenever a root or proof needs them. The
``*_nodes`` functions return that plan (which nodes, and how to fold them) so that a storage
layer can fetch all of them in one query.

`CompactRange` keeps only the right-edge frontier (one hash per set bit of the size) and appends
leaves, reporting every perfect node it completes, which is what a sequencer stores.

Verification follows transparency-dev/merkle's policy, which the shared known-answer probes
encode: every hash must be 32 bytes; ``index >= size`` fails; a consistency proof from size 0
fails (it proves nothing); when ``size1 == size2`` the proof must be empty and the two roots
equal (compared as given, without a length check, as transparency-dev does). The verifiers
return False for anything malformed and never raise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeGuard

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "GetNode",
    "Hasher",
    "Node",
    "NodeHash",
    "consistency_nodes",
    "consistency_proof",
    "consistency_proof_from",
    "empty_root",
    "fold",
    "inclusion_nodes",
    "inclusion_proof",
    "inclusion_proof_from",
    "leaf_hash",
    "node_hash",
    "root_from",
    "root_hash",
    "root_nodes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256

Hasher: TypeAlias = Callable[[bytes], Any]
"""A hash constructor with hashlib's shape, ``hasher(data).digest()``: ``hashlib.sha256`` (the
default, RFC 9162) or ``jcjg.ledger.sm.new_sm3`` (the log profile of
``JCJG_CRYPTO=sm``). Every function that hashes takes it as its keyword ``hasher``; the tree's
structure, node addresses and proofs are the same in both profiles."""


def empty_root(hasher: Hasher = _sha256) -> bytes:
    """The root of the empty tree: the hash of the empty string."""
    root: bytes = hasher(b"").digest()
    return root


# Frozen dataclasses rather than NamedTuples: a tuple field called "index" would shadow
# tuple.index, which the type checker rightly refuses.
@dataclass(frozen=True, slots=True)
class Node:
    """Address of a perfect subtree: leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int


@dataclass(frozen=True, slots=True)
class NodeHash:
    """A perfect subtree and its hash, as produced by `CompactRange` for storage."""

    level: int
    index: int
    hash: bytes


GetNode: TypeAlias = Callable[[int, int], bytes]
"""Callback returning the stored hash of the perfect subtree at (level, index)."""


def leaf_hash(data: bytes, *, hasher: Hasher = _sha256) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data)."""
    digest: bytes = hasher(b"\x00" + data).digest()
    return digest


def node_hash(left: bytes, right: bytes, *, hasher: Hasher = _sha256) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    digest: bytes = hasher(b"\x01" + left + right).digest()
    return digest


def fold(hashes: Sequence[bytes], *, hasher: Hasher = _sha256) -> bytes:
    """Fold the hashes of consecutive perfect subtrees, left to right, into one subtree hash.

    The subtrees must be the decomposition of an aligned range (as returned by `root_nodes` or
    within a proof plan); RFC 6962 then hashes them right to left: H(a, H(b, c)).
    An empty sequence folds to the empty-tree root.
    """
    if not hashes:
        return empty_root(hasher)
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hasher(b"\x01" + h + acc).digest()
    return acc


# ---------------------------------------------------------------------------------------------
# Proof plans: which perfect nodes a root or a proof needs.


def _range_nodes(begin: int, end: int) -> list[Node]:
    """Decompose [begin, end) into maximal aligned perfect subtrees, left to right."""
    nodes: list[Node] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            # The subtree must also be aligned: no larger than begin's lowest set bit.
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append(Node(level, begin >> level))
        begin += 1 << level
    return nodes


def root_nodes(size: int) -> list[Node]:
    """Return the perfect subtrees whose fold is the root of a tree of `size` leaves.

    These are also the tree's right-edge frontier: one node per set bit of `size`, highest level
    first, which is exactly what `CompactRange` needs to continue appending.
    """
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    return _range_nodes(0, size)


def _path_nodes(level: int, index: int, size: int) -> list[tuple[Node, ...]]:
    """Siblings on the path from the perfect node (level, index) to the root of a tree of `size`.

    Each item is one proof element: usually a single perfect node; at most once, where the path
    meets the ragged right edge, a run of perfect nodes to be folded into an ephemeral one.
    Levels whose sibling lies wholly beyond `size` are skipped, because RFC 6962 promotes a lone
    left child instead of hashing it with nothing.
    """
    plan: list[tuple[Node, ...]] = []
    top = (size - 1).bit_length()  # level of the root's (possibly ephemeral) node
    for lvl in range(level, top):
        sibling = index ^ 1
        start = sibling << lvl
        if start < size:
            if start + (1 << lvl) <= size:
                plan.append((Node(lvl, sibling),))
            else:
                plan.append(tuple(_range_nodes(start, size)))
        index >>= 1
    return plan


def inclusion_nodes(index: int, size: int) -> list[tuple[Node, ...]]:
    """Return the plan of an inclusion proof for leaf `index` in a tree of `size` leaves.

    One tuple per proof element, bottom-up; fold each tuple's node hashes with `fold`.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for tree size {size}")
    return _path_nodes(0, index, size)


def consistency_nodes(size1: int, size2: int) -> list[tuple[Node, ...]]:
    """Return the plan of a consistency proof from tree size `size1` to `size2`.

    Raises ValueError unless 1 <= size1 <= size2 (a proof from the empty tree proves nothing
    and the verifier rejects it). Equal sizes give an empty proof.
    """
    if not 1 <= size1 <= size2:
        raise ValueError(f"consistency proof needs 1 <= size1 <= size2, got {size1}, {size2}")
    if size1 == size2:
        return []
    # The largest perfect subtree ending at size1: its inclusion path in the bigger tree, plus
    # the subtree itself unless it is the whole old tree (then the verifier already has root1).
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    plan = _path_nodes(level, index, size2)
    if index:
        plan.insert(0, (Node(level, index),))
    return plan


# ---------------------------------------------------------------------------------------------
# Node-based (storage) computation.


def _fold_nodes(get_node: GetNode, nodes: Sequence[Node], hasher: Hasher) -> bytes:
    acc = _checked(get_node, nodes[-1])
    for i in range(len(nodes) - 2, -1, -1):
        acc = hasher(b"\x01" + _checked(get_node, nodes[i]) + acc).digest()
    return acc


def _checked(get_node: GetNode, node: Node) -> bytes:
    # A short or missing hash from storage would silently yield a wrong proof; fail loudly.
    return _require_hash(get_node(node.level, node.index), f"get_node({node.level}, {node.index})")


def root_from(get_node: GetNode, size: int, *, hasher: Hasher = _sha256) -> bytes:
    """Return the root of a tree of `size` leaves from stored perfect-subtree hashes."""
    nodes = root_nodes(size)
    if not nodes:
        return empty_root(hasher)
    return _fold_nodes(get_node, nodes, hasher)


def inclusion_proof_from(
    get_node: GetNode, index: int, size: int, *, hasher: Hasher = _sha256
) -> list[bytes]:
    """Return the inclusion proof of leaf `index` in a tree of `size` leaves, O(log n) reads."""
    return [_fold_nodes(get_node, item, hasher) for item in inclusion_nodes(index, size)]


def consistency_proof_from(
    get_node: GetNode, size1: int, size2: int, *, hasher: Hasher = _sha256
) -> list[bytes]:
    """Return the consistency proof from `size1` to `size2`, O(log n) reads."""
    return [_fold_nodes(get_node, item, hasher) for item in consistency_nodes(size1, size2)]


# ---------------------------------------------------------------------------------------------
# List-based computation.


def _require_hash(h: object, what: str) -> bytes:
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise ValueError(f"{what} {h!r} is not a {HASH_SIZE}-byte hash")
    return h


def _prefix(leaf_hashes: Sequence[bytes], size: int) -> list[bytes]:
    if not 0 <= size <= len(leaf_hashes):
        raise ValueError(f"tree size {size} out of range for {len(leaf_hashes)} leaves")
    return [_require_hash(leaf_hashes[i], "leaf hash") for i in range(size)]


def _next_level(row: list[bytes], hasher: Hasher) -> list[bytes]:
    # A trailing odd node is promoted unchanged: RFC 6962's split at the largest power of two
    # yields exactly this level-by-level shape.
    nxt = [hasher(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
    if len(row) & 1:
        nxt.append(row[-1])
    return nxt


def root_hash(leaf_hashes: Sequence[bytes], *, hasher: Hasher = _sha256) -> bytes:
    """Return the Merkle tree hash (root) of all `leaf_hashes`; SHA-256("") when empty."""
    cr = CompactRange(hasher=hasher)
    for h in leaf_hashes:
        cr.append(h, include_leaves=False)
    return cr.root()


def _path(row: list[bytes], level: int, index: int, hasher: Hasher) -> list[bytes]:
    """Climb from (level, index), whose level row is `row`, collecting siblings bottom-up."""
    proof: list[bytes] = []
    while len(row) > 1:
        sibling = index ^ 1
        if sibling < len(row):
            proof.append(row[sibling])
        row = _next_level(row, hasher)
        index >>= 1
    return proof


def inclusion_proof(
    leaf_hashes: Sequence[bytes], index: int, size: int, *, hasher: Hasher = _sha256
) -> list[bytes]:
    """Return the RFC 9162 inclusion proof (audit path) of leaf `index` in the first `size` leaves.

    Raises ValueError unless 0 <= index < size <= len(leaf_hashes).
    """
    row = _prefix(leaf_hashes, size)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for tree size {size}")
    return _path(row, 0, index, hasher)


def consistency_proof(
    leaf_hashes: Sequence[bytes], size1: int, size2: int, *, hasher: Hasher = _sha256
) -> list[bytes]:
    """Return the RFC 9162 consistency proof between the first `size1` and `size2` leaves.

    Raises ValueError unless 1 <= size1 <= size2 <= len(leaf_hashes).
    """
    row = _prefix(leaf_hashes, size2)
    if not 1 <= size1 <= size2:
        raise ValueError(f"consistency proof needs 1 <= size1 <= size2, got {size1}, {size2}")
    if size1 == size2:
        return []
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    for _ in range(level):
        row = _next_level(row, hasher)
    # row[index] covers [size1 - 2**level, size1), inside the tree, so it is a perfect node.
    head = [row[index]] if index else []
    return head + _path(row, level, index, hasher)


# ---------------------------------------------------------------------------------------------
# Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2).


def _is_size(n: object) -> TypeGuard[int]:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0


def _as_hash(h: object) -> bytes | None:
    if isinstance(h, bytes | bytearray | memoryview):
        b = bytes(h)
        if len(b) == HASH_SIZE:
            return b
    return None


def _as_hashes(proof: object) -> list[bytes] | None:
    if isinstance(proof, str | bytes | bytearray | memoryview) or not isinstance(proof, Iterable):
        return None  # a single hash is not a list of hashes
    out: list[bytes] = []
    for p in proof:
        h = _as_hash(p)
        if h is None:
            return None
        out.append(h)
    return out


def verify_inclusion(
    leaf_hash: bytes,
    index: int,
    size: int,
    proof: Sequence[bytes],
    root: bytes,
    *,
    hasher: Hasher = _sha256,
) -> bool:
    """Return True iff `proof` shows `leaf_hash` is leaf `index` of the tree (`size`, `root`).

    Never raises: malformed input of any kind verifies as False.
    """
    try:
        return _verify_inclusion(leaf_hash, index, size, proof, root, hasher)
    except Exception:  # the contract is a boolean, whatever the caller passed
        return False


def _verify_inclusion(
    leaf: object, index: object, size: object, proof: object, root: object, hasher: Hasher
) -> bool:
    if not (_is_size(index) and _is_size(size)) or index >= size:
        return False
    r = _as_hash(leaf)
    want = _as_hash(root)
    path = _as_hashes(proof)
    if r is None or want is None or path is None:
        return False
    fn, sn = index, size - 1
    for p in path:
        if sn == 0:
            return False  # proof longer than the path to the root
        if fn & 1 or fn == sn:
            r = hasher(b"\x01" + p + r).digest()
            # Skip the levels where this node was promoted without a right sibling.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = hasher(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == want


def verify_consistency(
    size1: int,
    size2: int,
    proof: Sequence[bytes],
    root1: bytes,
    root2: bytes,
    *,
    hasher: Hasher = _sha256,
) -> bool:
    """Return True iff `proof` shows tree (`size1`, `root1`) is a prefix of (`size2`, `root2`).

    ``size1 == 0`` is always False. For ``size1 == size2`` the proof must be empty and the roots
    equal. Never raises: malformed input of any kind verifies as False.
    """
    try:
        return _verify_consistency(size1, size2, proof, root1, root2, hasher)
    except Exception:  # the contract is a boolean, whatever the caller passed
        return False


def _verify_consistency(
    size1: object, size2: object, proof: object, root1: object, root2: object, hasher: Hasher
) -> bool:
    if not (_is_size(size1) and _is_size(size2)) or size1 > size2 or size1 == 0:
        return False
    path = _as_hashes(proof)
    if path is None:
        return False
    if size1 == size2:
        return _same_tree(path, root1, root2)
    want1 = _as_hash(root1)
    want2 = _as_hash(root2)
    if want1 is None or want2 is None or not path:
        return False
    return _walk_consistency(size1, size2, path, want1, want2, hasher)


def _same_tree(path: list[bytes], root1: object, root2: object) -> bool:
    """Equal sizes: an empty proof and equal roots."""
    # transparency-dev compares the roots as given here; the probes expect exactly that.
    if not isinstance(root1, bytes | bytearray | memoryview):
        return False
    if not isinstance(root2, bytes | bytearray | memoryview):
        return False
    return not path and bytes(root1) == bytes(root2)


def _walk_consistency(
    size1: int, size2: int, path: list[bytes], want1: bytes, want2: bytes, hasher: Hasher
) -> bool:
    """RFC 9162 2.1.4.2 for ``0 < size1 < size2`` and a non-empty proof: rebuild both roots
    from the proof and compare them with the ones wanted."""
    if size1 & (size1 - 1) == 0:
        path.insert(0, want1)  # the old tree is a perfect subtree: its root starts the walk
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hasher(b"\x01" + c + fr).digest()
            sr = hasher(b"\x01" + c + sr).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = hasher(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == want1 and sr == want2


# ---------------------------------------------------------------------------------------------
# Incremental appends.


class CompactRange:
    """The right-edge frontier of a Merkle tree, for appending leaves without the whole tree.

    A tree of size n is summarised by the hashes of the perfect subtrees in `root_nodes(n)`:
    one per set bit of n, highest level first. Appending a leaf adds a level-0 node and merges
    equal-sized neighbours, so a batch of b leaves costs about 2b hash operations and the
    frontier never exceeds 64 hashes. Each completed perfect node is reported so that the caller
    can store it; together with the leaf hashes they make every later proof O(log n) reads.

    Load a frontier from storage with ``CompactRange.from_nodes(get_node, size)``.
    """

    __slots__ = ("_hasher", "_hashes", "_size")

    def __init__(
        self, size: int = 0, hashes: Sequence[bytes] = (), *, hasher: Hasher = _sha256
    ) -> None:
        """Start from the frontier of a tree of `size` leaves (`root_nodes(size)` hashes)."""
        if size < 0:
            raise ValueError(f"tree size must be >= 0, got {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} frontier hashes, got {len(hashes)}"
            )
        self._size = size
        self._hashes = [_require_hash(h, "frontier hash") for h in hashes]
        self._hasher = hasher

    @classmethod
    def from_nodes(cls, get_node: GetNode, size: int, *, hasher: Hasher = _sha256) -> CompactRange:
        """Load the frontier of a tree of `size` leaves from stored perfect-subtree hashes."""
        return cls(size, [_checked(get_node, n) for n in root_nodes(size)], hasher=hasher)

    @property
    def size(self) -> int:
        """Number of leaves appended so far (including those before the loaded frontier)."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The frontier hashes, matching `root_nodes(self.size)`."""
        return tuple(self._hashes)

    def root(self) -> bytes:
        """Return the root hash of the tree so far."""
        return fold(self._hashes, hasher=self._hasher)

    def append(self, leaf_hash: bytes, *, include_leaves: bool = True) -> list[NodeHash]:
        """Append one leaf hash; return the perfect nodes it completed, lowest level first.

        With ``include_leaves=False`` the level-0 node (the leaf hash itself) is left out, for
        storage that keeps leaf hashes elsewhere.
        """
        _require_hash(leaf_hash, "leaf hash")
        index = self._size
        out = [NodeHash(0, index, leaf_hash)] if include_leaves else []
        h = leaf_hash
        level = 0
        hashes = self._hashes
        hasher = self._hasher
        # Each set low bit of the old size is a frontier subtree of the same level to merge.
        while index & 1:
            h = hasher(b"\x01" + hashes.pop() + h).digest()
            index >>= 1
            level += 1
            out.append(NodeHash(level, index, h))
        hashes.append(h)
        self._size += 1
        return out

    def extend(
        self, leaf_hashes: Iterable[bytes], *, include_leaves: bool = True
    ) -> list[NodeHash]:
        """Append leaf hashes in order; return every perfect node completed, in creation order.

        The returned list holds up to 2 entries per leaf: append in batches of a size the
        caller is happy to hold in memory.
        """
        out: list[NodeHash] = []
        for h in leaf_hashes:
            out.extend(self.append(h, include_leaves=include_leaves))
        return out

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
