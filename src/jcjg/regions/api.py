"""JSON API for the region tree."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

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
    current: bool = Field(description="现行代码；false 表示已被后续版本撤销（使用它的记录仍有效）")
    replaced_by: list[str] = Field(description="撤销时由哪些代码代替（如已知）")


class RegionDetail(RegionRead):
    full_name: str
    children: list[RegionRead]


Historical = Annotated[bool, Query(description="同时列出已被后续版本撤销的区划")]


def _read(region: Region) -> RegionRead:
    return RegionRead(
        code=region.code,
        name=region.name,
        level=region.level,
        parent_code=region.parent_code,
        current=region.valid_to_id is None,
        replaced_by=list(region.replaced_by or []),
    )


@router.get("", summary="省级行政区划", response_model=list[RegionRead])
def provinces(
    db: SessionDep, principal: RegionReader, historical: Historical = False
) -> list[RegionRead]:
    return [_read(r) for r in service.children(db=db, code=None, historical=historical)]


@router.get(
    "/{code}",
    summary="行政区划及其下级（现行的；已撤销的代码也可查询）",
    response_model=RegionDetail,
)
def region(
    code: str, db: SessionDep, principal: RegionReader, historical: Historical = False
) -> RegionDetail:
    node = service.get(db=db, code=code)
    return RegionDetail(
        **_read(node).model_dump(),
        full_name=service.full_name(db=db, code=code),
        children=[_read(r) for r in service.children(db=db, code=code, historical=historical)],
    )
