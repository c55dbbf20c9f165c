"""JSON API of cameras: list, one, register, change (``retired: true`` retires)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.forms import Id
from jcjg.core.pagination import Page, PageParams, page_params
from jcjg.video import service
from jcjg.video.choices import CameraStatus, PlaceKind
from jcjg.video.models import Camera
from jcjg.video.schemas import CameraIn, CameraRead, CameraUpdate

router = APIRouter(prefix="/api/v1", tags=["视频监控"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("camera:read"))]
Writer = Annotated[Principal, Depends(requires("camera:write"))]


@router.get("/cameras", summary="监控摄像机列表（按数据范围）", response_model=Page[CameraRead])
def list_cameras(
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    place_kind: PlaceKind | None = None,
    status: CameraStatus | None = None,
    institution_id: Id | None = None,
    q: Annotated[str, Query(max_length=64, description="编号或名称")] = "",
) -> Page[CameraRead]:
    stmt = service.cameras_stmt(
        principal=principal,
        place_kind=place_kind.value if place_kind else "",
        status=status.value if status else "",
        institution_id=institution_id,
        q=q,
    )
    total = service.count(db, stmt)
    rows = db.scalars(
        stmt.order_by(Camera.institution_id, Camera.code).offset(paging.offset).limit(paging.limit)
    ).all()
    return Page(
        items=[service.camera_read(c) for c in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/cameras/{camera_id}", summary="监控摄像机", response_model=CameraRead)
def get_camera(camera_id: Id, db: SessionDep, principal: Reader) -> CameraRead:
    return service.camera_read(get_scoped(db, Camera, camera_id, principal, "read"))


@router.post("/cameras", summary="登记监控摄像机", status_code=201, response_model=CameraRead)
def create_camera(
    data: CameraIn, db: SessionDep, settings: SettingsDep, principal: Writer
) -> CameraRead:
    camera = service.create_camera(db=db, settings=settings, principal=principal, data=data)
    return service.camera_read(camera)


@router.patch("/cameras/{camera_id}", summary="修改或停用监控摄像机", response_model=CameraRead)
def patch_camera(
    camera_id: Id, data: CameraUpdate, db: SessionDep, settings: SettingsDep, principal: Writer
) -> CameraRead:
    camera = service.patch_camera(
        db=db, settings=settings, principal=principal, camera_id=camera_id, data=data
    )
    return service.camera_read(camera)
