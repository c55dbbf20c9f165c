"""Tamper-evident log: a generic RFC 6962 Merkle log, signed checkpoints and canonical JSON.

The ledger knows nothing about reports or any other domain; the application decides what a leaf
holds. The pure parts live here without a database:

- `jcjg.ledger.merkle`: leaf and node hashes, roots, inclusion and consistency proofs and their
  verifiers (RFC 6962 / RFC 9162 section 2.1), node-addressed proof plans for O(log n) reads from
  stored subtree hashes, and `CompactRange` for appending batches.
- `jcjg.ledger.note`: C2SP signed notes (Ed25519) and tlog checkpoints, wire-compatible with
  Go's golang.org/x/mod/sumdb/note.
- `jcjg.ledger.canonical`: canonical JSON (RFC 8785 JCS) for hashing structured leaves.
"""
