"""JSON API for the region tree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.regions import service
from jcjg.regions.models import Region

router = APIRouter(prefix="/api/v1/regions", tags=["行政区划"], route_class=TransactionalRoute)
RegionReader = Annotated[Principal, Depends(requires("region:read"))]


class RegionRead(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None


class RegionDetail(RegionRead):
    full_name: str
    children: list[RegionRead]


def _read(region: Region) -> RegionRead:
    return RegionRead(
        code=region.code, name=region.name, level=region.level, parent_code=region.parent_code
    )


@router.get("", summary="省级行政区划", response_model=list[RegionRead])
def provinces(db: SessionDep, principal: RegionReader) -> list[RegionRead]:
    return [_read(r) for r in service.children(db=db, code=None)]


@router.get("/{code}", summary="行政区划及其下级", response_model=RegionDetail)
def region(code: str, db: SessionDep, principal: RegionReader) -> RegionDetail:
    node = service.get(db=db, code=code)
    return RegionDetail(
        **_read(node).model_dump(),
        full_name=service.full_name(db=db, code=code),
        children=[_read(r) for r in service.children(db=db, code=code)],
    )
