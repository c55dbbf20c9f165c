"""JSON API of analyses: run one ad hoc, the saved ones (list, get, create, change, delete),
a saved one's result and its export (xlsx, pdf)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from jcjg.analytics import engine, service
from jcjg.analytics.models import Analysis
from jcjg.analytics.schemas import AnalysisIn, AnalysisPatch, AnalysisRead, Definition, ResultRead
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.forms import Id
from jcjg.core.listing import XLSX, download
from jcjg.core.pagination import Page, PageParams, count_rows, page_params

router = APIRouter(prefix="/api/v1/analyses", tags=["决策分析"], route_class=TransactionalRoute)
# running a definition without saving it: a path of its own, not one ``/{analysis_id}`` takes
runs = APIRouter(prefix="/api/v1/analysis-runs", tags=["决策分析"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("analysis:read"))]
Manager = Annotated[Principal, Depends(requires("analysis:manage"))]


def result_read(result: engine.Result) -> ResultRead:
    return ResultRead(header=result.header, rows=result.table()[1:],
                      tallied_at=result.tallied_at, truncated=result.truncated,
                      counted_at=result.counted_at)  # fmt: skip


@runs.post("", summary="即时运行一个分析（不保存）", response_model=ResultRead)
def run(data: Definition, request: Request, db: SessionDep, principal: Reader) -> ResultRead:
    return result_read(service.counted(request.app.state, db, principal, data))


@router.get("", summary="保存的分析（本人的与本地区共享的）", response_model=Page[AnalysisRead])
def list_analyses(
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str, Query(max_length=64, description="名称")] = "",
) -> Page[AnalysisRead]:
    stmt = service.analyses_stmt(principal, q)
    total = count_rows(db, stmt)
    rows = db.scalars(stmt.order_by(Analysis.id.desc()).offset(paging.offset).limit(paging.limit))
    return Page(items=[service.read(db, principal, r) for r in rows], total=total,
                offset=paging.offset, limit=paging.limit)  # fmt: skip


@router.post("", summary="保存一个分析", status_code=201, response_model=AnalysisRead)
def create(data: AnalysisIn, db: SessionDep, principal: Manager) -> AnalysisRead:
    return service.read(db, principal, service.create(db, principal, data))


@router.get("/{analysis_id}", summary="一个保存的分析", response_model=AnalysisRead)
def get(analysis_id: Id, db: SessionDep, principal: Reader) -> AnalysisRead:
    return service.read(db, principal, service.get(db, principal, analysis_id))


@router.patch("/{analysis_id}", summary="修改保存的分析（仅创建者）", response_model=AnalysisRead)
def patch(analysis_id: Id, data: AnalysisPatch, db: SessionDep, principal: Manager) -> AnalysisRead:
    row = service.get(db, principal, analysis_id)
    return service.read(db, principal, service.update(db, principal, row, data))


@router.delete("/{analysis_id}", summary="删除保存的分析（仅创建者）", status_code=204)
def delete(analysis_id: Id, db: SessionDep, principal: Manager) -> Response:
    service.delete(db, principal, service.get(db, principal, analysis_id))
    return Response(status_code=204)


@router.get("/{analysis_id}/result", summary="运行保存的分析（读者本人的数据范围）",
            response_model=ResultRead)  # fmt: skip
def result(analysis_id: Id, request: Request, db: SessionDep, principal: Reader) -> ResultRead:
    row = service.get(db, principal, analysis_id)
    return result_read(
        service.counted(request.app.state, db, principal, service.definition_of(row))
    )


_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/{analysis_id}/export",
    summary="导出保存的分析（xlsx 或 pdf）",
    response_class=Response,
    responses={
        200: {
            "description": "分析结果文件（Content-Disposition 给出文件名）：format=xlsx 为 Excel "
            "工作簿，format=pdf 为 PDF",
            "content": {XLSX: _BINARY, "application/pdf": _BINARY},
        }
    },
)
def export(
    analysis_id: Id,
    request: Request,
    db: SessionDep,
    principal: Reader,
    settings: SettingsDep,
    format: Annotated[Literal["xlsx", "pdf"], Query(description="xlsx 或 pdf")] = "xlsx",
) -> Response:
    row = service.get(db, principal, analysis_id)
    d = service.definition_of(row)
    found = service.counted(request.app.state, db, principal, d)
    if format == "pdf":
        data = service.pdf(found, d, row.name, settings.platform_name)
        return download(data, service.filename(row.name, "pdf"), "application/pdf")
    return download(service.xlsx(found, d, row.name), service.filename(row.name, "xlsx"), XLSX)
