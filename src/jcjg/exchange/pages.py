"""Pages of the exchange: client applications, keys, monitoring (filled in below)."""

from __future__ import annotations

from fastapi import APIRouter

from jcjg.core.deps import TransactionalRoute

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
