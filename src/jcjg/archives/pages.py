"""A project's archive to download (档案移交)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from jcjg.archives.export import project_archive
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.forms import Id
from jcjg.projects.models import Project

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Exporter = Annotated[Principal, Depends(requires("archive:export"))]


@router.get("/projects/{project_id}/archive.zip")
def project_archive_zip(
    db: SessionDep,
    settings: SettingsDep,
    principal: Exporter,
    project_id: Id,
) -> Response:
    """What the reader may see of the project, as one zip with its manifest and log proofs."""
    project = get_scoped(db, Project, project_id, principal, "read")
    archive = project_archive(db=db, settings=settings, principal=principal, project=project)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while block := await run_in_threadpool(archive.read, 1 << 20):
                yield block
        finally:
            archive.close()

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="archive-{project.code}.zip"',
            "Cache-Control": "private, no-store",
        },
    )
