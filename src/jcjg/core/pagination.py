"""Offset pagination shared by list endpoints and pages."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class PageParams(BaseModel):
    offset: int = 0
    limit: int = 20

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    def pages(self, total: int) -> int:
        return max(1, (total + self.limit - 1) // self.limit)


def page_params(
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="跳过的条数")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="每页条数")] = 20,
) -> PageParams:
    return PageParams(offset=offset, limit=limit)


def count_rows(db: Session, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` gives (its ordering dropped: it does not change the count)."""
    return int(db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
