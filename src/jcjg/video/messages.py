"""Message type of cameras: ``video.camera``, the institution's cameras as its LIMS or video
system keeps them, matched by code, created or updated (``retired: true`` retires one)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select

from jcjg.config import Settings
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.exchange.types import HandlerContext, MessageBase, message_type
from jcjg.projects.models import Project
from jcjg.registry.models import Equipment, Lab
from jcjg.video import addresses, service
from jcjg.video.choices import CameraStatus
from jcjg.video.models import Camera
from jcjg.video.schemas import CameraFields

MAX_CAMERAS = 500


class CameraRecord(CameraFields):
    lab_name: str | None = Field(default=None, max_length=100, description="所在检测场所名称")
    equipment_asset_number: str | None = Field(
        default=None, max_length=64, description="监控的仪器设备编号（设备摄像机）"
    )
    project_code: str | None = Field(
        default=None, max_length=32, description="工程项目编号（现场检测摄像机）"
    )
    password: str | None = Field(
        default=None, max_length=128, description="视频流密码（加密保存；省略则不修改）"
    )
    retired: bool = Field(default=False, description="true：停用这台摄像机")


class CameraMessage(MessageBase):
    cameras: list[CameraRecord] = Field(min_length=1, max_length=MAX_CAMERAS)


_EXAMPLE = {
    "message_id": "4b1d6c2e-8f3a-4e5b-9c7d-2a1b3c4d5e6f",
    "institution_code": "JC360400-0001",
    "cameras": [
        {
            "code": "CAM-LX-01",
            "name": "力学室 1 号压力机",
            "place_kind": "mechanical",
            "form": "dome",
            "lab_name": "力学室",
            "equipment_asset_number": "YJ-2000-01",
            "location": "力学室东墙",
            "resolution": "1920x1080",
            "stream_url": "rtsp://192.0.2.10:554/Streaming/Channels/101",
            "username": "viewer",
            "password": "s3cret-Pass",
            "onvif_address": "http://192.0.2.10/onvif/device_service",
        }
    ],
}


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


def _refs(ctx: HandlerContext, record: CameraRecord, at: int) -> service.Refs:
    """The record's lab, machine and project by name, asset number and code."""
    db, inst = ctx.db, ctx.institution
    lab_id = equipment_id = project_id = None
    if record.lab_name:
        lab_id = db.scalar(
            select(Lab.id).where(Lab.institution_id == inst.id, Lab.name == record.lab_name)
        )
        if lab_id is None:
            raise _refuse(f"cameras.{at}.lab_name", "本机构没有这个检测场所（请先报送检测场所）")
    if record.equipment_asset_number:
        equipment_id = db.scalar(
            select(Equipment.id).where(
                Equipment.institution_id == inst.id,
                Equipment.asset_number == record.equipment_asset_number,
            )
        )
        if equipment_id is None:
            raise _refuse(f"cameras.{at}.equipment_asset_number", "本机构没有这个设备编号")
    if record.project_code:
        project_id = db.scalar(select(Project.id).where(Project.code == record.project_code))
        if project_id is None:
            raise _refuse(f"cameras.{at}.project_code", "平台没有这个工程项目编号")
    return service.Refs(lab_id, equipment_id, project_id)


def _apply(ctx: HandlerContext, record: CameraRecord, at: int, counts: dict[str, int]) -> None:
    camera = ctx.db.scalars(
        select(Camera).where(
            Camera.institution_id == ctx.institution.id, Camera.code == record.code
        )
    ).first()
    fields = CameraFields.model_validate(record.model_dump(include=set(service.FIELDS)))
    refs = _refs(ctx, record, at)  # its errors name their camera already
    try:
        camera_row, changed = service.write_camera(
            ctx.db, ctx.settings, institution=ctx.institution, camera=camera,
            fields=fields, refs=refs, password=record.password,
        )  # fmt: skip
    except ValidationFailed as error:
        raise ValidationFailed(
            errors=[FieldError(f"cameras.{at}.{e.field}", e.message, e.code) for e in error.errors]
        ) from error
    if camera_row.message_id != ctx.message_id and changed:
        camera_row.message_id = ctx.message_id
    was_retired = camera_row.status == CameraStatus.RETIRED
    if record.retired and not was_retired:
        service.set_status(camera_row, CameraStatus.RETIRED)
        counts["retired"] += 1
    elif not record.retired and was_retired:
        service.set_status(camera_row, CameraStatus.PENDING)
        changed = True
    key = "created" if camera is None else "updated" if changed else "unchanged"
    counts[key] += 1


def _resolve_ahead(message: CameraMessage, settings: Settings) -> None:
    """The stream addresses' host names resolved before the apply transaction (on SQLite it
    holds the one write lock); the handler's check finds them remembered."""
    for record in message.cameras:
        addresses.refusal(settings, record.stream_url)


@message_type(
    "video.camera",
    title="监控摄像机同步",
    schema=CameraMessage,
    example=_EXAMPLE,
    prepare=_resolve_ahead,
)
def handle_cameras(ctx: HandlerContext, message: CameraMessage) -> dict[str, Any]:
    """监控摄像机（000 4.3.4（7）；003 二）：机构的摄像机登记，按编号匹配，新增或更新；
    ``retired: true`` 停用。密码加密保存，不回显。新的或改动的视频流地址不得指向本机、内网
    （平台允许的网段除外）、链路本地、保留或平台自身的地址（``address_refused``）。"""
    codes = [r.code for r in message.cameras]
    if len(set(codes)) != len(codes):
        raise _refuse("cameras", "同一消息中摄像机编号重复")
    counts = {"created": 0, "updated": 0, "unchanged": 0, "retired": 0}
    for at, record in enumerate(message.cameras):
        _apply(ctx, record, at, counts)
    ctx.db.flush()
    return counts
