"""The ``project`` message: projects received from another platform (003 IV(2): projects are
entered by the station here, or come from the platform that already holds them, such as a
province's construction permit or quality supervision system)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.types import HandlerContext, RegionMessageBase, message_type
from jcjg.projects.models import Project
from jcjg.projects.service import ProjectFields, check_centre
from jcjg.regions import service as regions


class ProjectMessage(ProjectFields, RegionMessageBase):
    """A project as the sending platform holds it: the region in the envelope, its facts."""


_EXAMPLE = {
    "message_id": "3c1f6a2e-9b7d-4e10-8a55-6f0e2d4c8b91",
    "region_code": "360402",
    "code": "XM360402-2026-017",
    "name": "九江市濂溪区滨江学校教学楼工程",
    "address": "九江市濂溪区十里大道 88 号",
    "site_latitude": 29.6851,
    "site_longitude": 116.0122,
    "site_radius_m": 250,
    "owner_unit": "九江市濂溪区教育局",
    "contractor_unit": "江西某建工集团有限公司",
    "supervisor_unit": "九江某工程监理有限公司",
    "station": "九江市建设工程质量安全监督站",
    "permit_number": "360402202611170101",
    "status": "under_construction",
}


SITE_FACILITIES = ("curing_room", "cube_molds")


@message_type(
    "project",
    title="工程项目信息同步",
    schema=ProjectMessage,
    example=_EXAMPLE,
    senders={ClientKind.PLATFORM.value},
)
def handle_project(ctx: HandlerContext, message: ProjectMessage) -> dict[str, Any]:
    """工程项目（003 四（二））：由其他监管平台（如施工许可、质量监督系统）报送其辖区内的工程项目，
    含电子围栏与参建各方；按项目编号新增或更新（整条记录为当前状态）。只接受其他平台报送；
    本平台监督站录入的或其他平台报送的项目，不能由另一来源覆盖。"""
    check_centre(message)
    fields = message.model_dump(mode="json", exclude={"message_id", "region_code"})
    # the site's curing room and molds only when the sender states them: a platform that does
    # not know them leaves what the station recorded
    for name in SITE_FACILITIES:
        if name not in message.model_fields_set:
            fields.pop(name)
    source = ctx.client.region_code
    project = ctx.db.scalars(select(Project).where(Project.code == message.code)).first()
    created = project is None
    changed: list[str] = []
    if project is None:
        regions.current(db=ctx.db, code=ctx.region_code)  # a new project: a current region
        project = Project(region_code=ctx.region_code, origin=source, **fields)
        ctx.db.add(project)
    else:
        if project.origin != source:
            owner = "本平台监督站录入" if not project.origin else "其他平台报送"
            raise ValidationFailed(
                errors=[FieldError("code", f"该项目编号已由{owner}，不能由本平台覆盖", "unique")]
            )
        if project.region_code != ctx.region_code:
            raise ValidationFailed(
                errors=[FieldError("region_code", "项目的行政区划不能更改", "immutable")]
            )
        for key, value in fields.items():
            if getattr(project, key) != value:
                setattr(project, key, value)
                changed.append(key)
    ctx.db.flush()
    return {
        "project_code": project.code,
        "created": created,
        "changed": sorted(changed),
    }
