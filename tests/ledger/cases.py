"""The ledger domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from tests.generic import PUBLIC, Routes

ROUTES: Routes = {
    ("GET", "/ledger"): PUBLIC,
    ("GET", "/ledger/checkpoint"): PUBLIC,
    ("GET", "/ledger/key"): PUBLIC,
    ("GET", "/ledger/entries/{index}"): PUBLIC,
    ("GET", "/ledger/proof/inclusion"): PUBLIC,
    ("GET", "/ledger/proof/by-hash"): PUBLIC,
    ("GET", "/ledger/proof/consistency"): PUBLIC,
    ("POST", "/ledger/checkpoint/{size}/cosignatures"): PUBLIC,
}
