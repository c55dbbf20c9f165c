"""The public explorer of the log (区块链存证浏览), in Chinese."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.ratelimit import rate_limit
from jcjg.core.templating import render
from jcjg.ledger import merkle, service
from jcjg.ledger.service import LedgerError

router = APIRouter(
    include_in_schema=False,
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("ledger"))],
)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


@router.get("/ledger", response_class=HTMLResponse)
def explorer(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires(None))],
    leaf_hash: Annotated[str | None, Query(max_length=128)] = None,
    first: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    second: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    entry_type: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    checkpoint = service.latest_checkpoint(db)
    context: dict[str, object] = {
        "checkpoint": checkpoint,
        "cosigned": service.latest_cosigned(db),
        "vkey": service.log_identity().vkey,
        "counts": service.counts_by_type(db),
        "entries": service.recent(db, limit=20, entry_type=entry_type or None),
        "entry_type": entry_type or "",
        "leaf_hash": leaf_hash or "",
        "first": first,
        "second": second,
    }
    if leaf_hash:
        if not _HEX64.match(leaf_hash.strip()):
            context["lookup_error"] = "叶哈希应为 64 位十六进制字符"
        else:
            try:
                proof = service.find_by_hash(db, bytes.fromhex(leaf_hash.strip()))
                leaf = service.get_leaf(db, proof["index"])
                ok = merkle.verify_inclusion(
                    bytes.fromhex(proof["leaf_hash"]),
                    proof["index"],
                    proof["size"],
                    [bytes.fromhex(h) for h in proof["hashes"]],
                    service.root_at(db, proof["size"]),
                    hasher=service.log_identity().hasher,
                )
                context["lookup"] = {"proof": proof, "entry": service.entry_json(leaf), "ok": ok}
            except LedgerError as exc:
                context["lookup_error"] = str(exc)
    if first is not None:
        try:
            proof = service.consistency(db, first, second or None)
            ok = merkle.verify_consistency(
                proof["first"],
                proof["second"],
                [bytes.fromhex(h) for h in proof["hashes"]],
                bytes.fromhex(proof["first_root"]),
                bytes.fromhex(proof["second_root"]),
                hasher=service.log_identity().hasher,
            )
            context["consistency"] = {"proof": proof, "ok": ok}
        except LedgerError as exc:
            context["consistency_error"] = str(exc)
    return render(request, "ledger/explorer.html", context)
