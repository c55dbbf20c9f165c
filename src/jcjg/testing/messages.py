"""Message types of test data: ``test_record`` (raw data, curves, the lab's results) and
``test_revision`` (a correction with before, after and reason)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from jcjg.exchange.models import Message
from jcjg.exchange.types import HandlerContext, message_type, string_members, strings_named
from jcjg.projects import service as projects
from jcjg.registry import service as registry
from jcjg.sampling import service as sampling
from jcjg.tenancy.models import Institution
from jcjg.testing import service
from jcjg.testing.schemas import OnSitePlanIn, OnSiteRecordIn, RecordIn, RevisionIn

_CURVE = [[round(i * 0.1, 1), round(max(0.0, i * 1.125 - 2), 3)] for i in range(12)]

_RECORD_EXAMPLE: dict[str, Any] = {
    "message_id": "5d0c8d0e-2f6b-4b8a-9a31-7c4e0f9b2a11",
    "institution_code": "JC360400-0001",
    "number": "JL-HNT-2026-001234",
    "kind": "concrete_compression",
    "item_code": "0108",
    "parameter_codes": ["010801"],
    "standard": "GB/T 50081-2019",
    "lab_name": "力学室",
    "equipment": ["0001-SB-003"],
    "inspectors": [{"name": "王检测", "id_number": "360402198503120011"}],
    "commission_number": "WT-2026-000123",
    "started_at": "2026-11-20T09:30:00+08:00",
    "ended_at": "2026-11-20T09:36:10+08:00",
    "environment": {"temperature_c": 20.5, "humidity_percent": 55},
    "acquisition": "auto",
    "grade": "C30",
    "age_days": 28,
    "specimen_size_mm": 150,
    "specimens": [
        {
            "position": 1,
            "sample_code": "360402260000001K",
            "values": {"peak_kn": 812.4, "strength_mpa": 36.1},
            "curve": {"points": _CURVE},
        },
        {
            "position": 2,
            "sample_code": "360402260000001K",
            "values": {"peak_kn": 798.0, "strength_mpa": 35.5},
            "curve_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
        {
            "position": 3,
            "sample_code": "360402260000001K",
            "values": {"peak_kn": 825.1, "strength_mpa": 36.7},
        },
    ],
    "results": {"strength_mpa": 36.1, "percent_of_design": 120},
    "judgement": "conforming",
}


def _record_files(message: RecordIn) -> list[str]:
    return [s.curve_sha256 for s in message.specimens if s.curve_sha256]


# what a test record or a report names, found in its body's bytes: a record's number (the
# first member so named), the project and commission, and the inspectors' or signatories' ID
# numbers (at most PEOPLE_AHEAD of those)
_NAMED = string_members("number", "project_code", "commission_number", "id_number")
PEOPLE_AHEAD = 20


def read_named_ahead(
    db: Session, institutions: Sequence[Institution], messages: Sequence[Message]
) -> None:
    """``batch_reads`` of test records and reports (``reports.messages``): what their handlers
    read before they write, read once for the batch: whether the records' numbers are taken
    (``read_numbers_ahead``), and the projects, commissions and registered people (inspectors,
    signatories) they name, kept only when found. Each key is found in its body's bytes
    (``exchange.types.strings_named``), not by parsing a body of curves: a guess, as every
    read ahead is. The memo answers truly whatever it reads (the database's answer for that
    key), and a key written otherwise once its message is read (NFC) is asked for by its
    handler, as before."""
    numbers: list[tuple[int, str]] = []
    projects_named: list[str] = []
    commissions: list[tuple[int, str]] = []
    people: list[tuple[int, str]] = []
    for row in messages:
        owner = row.institution_id
        if owner is None:
            continue
        named = strings_named(row.body, _NAMED, PEOPLE_AHEAD + 3)
        if row.message_type == "test_record":  # a report's number is another's
            numbers += [(owner, n) for n in named.get("number", [])[:1]]
        projects_named += named.get("project_code", [])[:1]
        commissions += [(owner, n) for n in named.get("commission_number", [])[:1]]
        people += [(owner, n) for n in named.get("id_number", [])]
    service.read_numbers_ahead(db, numbers)
    projects.read_projects_ahead(db, projects_named)
    sampling.read_commissions_ahead(db, commissions)
    registry.read_people_ahead(db, people)


@message_type(
    "test_record",
    title="检测数据（原始记录、力值曲线）",
    schema=RecordIn,
    example=_RECORD_EXAMPLE,
    files=_record_files,
    prepare=service.read_ahead,
    batch_reads=read_named_ahead,
)
def handle_record(ctx: HandlerContext, message: RecordIn) -> dict[str, Any]:
    """一条检测原始记录（001 4.2.2.2、5.4.7、6.3）：委托、试验项目与参数、标准、场所、设备、
    检测人员、起止时间、环境、采集方式，每个试件的原始数值与力值-时间曲线（自动采集的力学
    试验必须有曲线），以及检测机构计算的结果和判定。原始记录一经上传不能覆盖，更正用
    test_revision。平台按标准复算结果，并检查加荷速度、曲线与结果是否一致、曲线是否被重复
    使用、是否按时上传。"""
    record = service.store_record(
        db=ctx.db,
        settings=ctx.settings,
        institution=ctx.institution,
        data=message,
        received_at=ctx.received_at,
        message_id=ctx.message_id,
    )
    return {
        "record_number": record.number,
        "record_id": record.id,
        "specimens": len(message.specimens),
        "curves": sum(1 for s in message.specimens if s.curve or s.curve_sha256),
        "platform_judgement": record.platform_judgement,
        "recomputed": record.recomputed,
    }


_REVISION_EXAMPLE = {
    "message_id": "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "institution_code": "JC360400-0001",
    "record_number": "JL-GJ-2026-000456",
    "field": "specimens[2].yield_kn",
    "before": 131.2,
    "after": 128.6,
    "reason": "自动采集未能准确判读下屈服点，依据力值-时间曲线人工更正（001 6.2.4）",
    "revised_by": "王检测",
    "revised_at": "2026-11-20T10:05:00+08:00",
}


@message_type("test_revision", title="数据修改记录", schema=RevisionIn, example=_REVISION_EXAMPLE)
def handle_revision(ctx: HandlerContext, message: RevisionIn) -> dict[str, Any]:
    """数据修改记录（001 4.2.2.2、5.4.4；002 第十三条）：修改时间、修改人、字段、修改前值、
    修改后值、修改原因。原始值保留可查；修改前值须与平台保存的当前值一致。修改自动采集的
    数值会触发“人工修改自动采集数据”预警。"""
    revision = service.store_revision(
        db=ctx.db,
        institution=ctx.institution,
        data=message,
        received_at=ctx.received_at,
        message_id=ctx.message_id,
    )
    return {
        "record_number": message.record_number,
        "field": revision.field,
        "auto_acquired": revision.auto_acquired,
    }


_PLAN_EXAMPLE = {
    "message_id": "4c2d7e1a-6b3f-4e8a-9d0c-1f2e3a4b5c6d",
    "institution_code": "JC360400-0001",
    "number": "XCFA-2026-0031",
    "project_code": "XM360402-001",
    "item_code": "0203",
    "method_statement": "采用回弹法检测 3 层梁板混凝土强度，按 JGJ/T 23 布置 10 个测区……",
    "planned_start": "2026-11-26T09:00:00+08:00",
    "planned_end": "2026-11-26T17:00:00+08:00",
    "quantity": "3 层梁板 12 个构件",
    "location": "3 层 ⑤～⑨ 轴梁板",
}


def _plan_files(message: OnSitePlanIn) -> list[str]:
    return [message.method_sha256] if message.method_sha256 else []


@message_type(
    "onsite_plan",
    title="现场检测方案",
    schema=OnSitePlanIn,
    example=_PLAN_EXAMPLE,
    files=_plan_files,
)
def handle_plan(ctx: HandlerContext, message: OnSitePlanIn) -> dict[str, Any]:
    """现场检测方案（002 第十条；003 三（三））：检测方案、计划开始和结束时间、检测数量、部位，
    须在作业前按地区规定的时限上传（广西提前 24 小时，九江提前 3 个工作日；按地区可设），
    否则触发“现场检测方案未按时上传”预警。方案编号不可覆盖，变更用新编号。"""
    plan = service.store_plan(
        db=ctx.db,
        institution=ctx.institution,
        data=message,
        received_at=ctx.received_at,
        message_id=ctx.message_id,
    )
    return {"plan_number": plan.number, "planned_start": plan.planned_start.isoformat()}


_ONSITE_EXAMPLE = {
    "message_id": "7e6d5c4b-3a2f-4e1d-8c0b-9a8f7e6d5c4b",
    "institution_code": "JC360400-0001",
    "number": "XCJL-2026-0102",
    "plan_number": "XCFA-2026-0031",
    "project_code": "XM360402-001",
    "item_code": "0203",
    "started_at": "2026-11-26T09:12:00+08:00",
    "ended_at": "2026-11-26T15:40:00+08:00",
    "latitude": 29.7113,
    "longitude": 116.0024,
    "photos": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    "clips": [],
    "inspectors": [{"name": "王检测"}],
    "data": {"测区数": 10, "推定强度_MPa": 32.6},
}


def _onsite_files(message: OnSiteRecordIn) -> list[str]:
    return [*message.photos, *message.clips]


@message_type(
    "onsite_record",
    title="现场检测记录",
    schema=OnSiteRecordIn,
    example=_ONSITE_EXAMPLE,
    files=_onsite_files,
)
def handle_onsite_record(ctx: HandlerContext, message: OnSiteRecordIn) -> dict[str, Any]:
    """现场检测记录（001 4.2.2.2）：检测登记信息、原始数据、关键环节照片和视频、检测定位信息；
    平台计算定位与项目电子围栏的距离。没有事先上传检测方案的记录触发“现场检测方案未按时上传”。"""
    record = service.store_onsite_record(
        db=ctx.db,
        institution=ctx.institution,
        data=message,
        received_at=ctx.received_at,
        message_id=ctx.message_id,
    )
    return {
        "record_number": record.number,
        "plan_number": record.plan_number or None,
        "distance_m": record.distance_m,
    }
