"""The video domain: cameras, recording, live preview and replay, clips, snapshots, and the
rules on coverage and gaps (docs/video.md)."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.core.domains import Domain, NavEntry, collect, lazy
from jcjg.core.dossier import DOSSIER
from jcjg.core.jobs import Job
from jcjg.exchange.types import MessageType
from jcjg.sampling.choices import RECEIPT_COLUMNS
from jcjg.testing.choices import RECORD_ACTIONS
from jcjg.video import (
    choices,
    coverage,
    dossier,
    jobs,
    messages,
    models,
    rules,
    snapshots,
)

ENTITIES = {
    "camera": "监控摄像机",
    "video_segment": "录像片段",
    "video_clip": "录像剪辑",
    "video_snapshot": "录像截图",
    "camera_outage": "摄像机离线",
}

PAGES = {"camera": "/video/cameras/{}"}

DOMAIN = Domain(
    name="video",
    title="视频监控",
    models=(models,),
    routers=("jcjg.video.api:router", "jcjg.video.pages:router"),
    rules=(*collect(rules, Rule, RuleExtension), *collect(coverage, Rule, RuleExtension)),
    permissions={
        "camera:read": "查看监控摄像机登记与录像状态",
        "camera:write": "登记、修改、停用本机构的监控摄像机",
        "camera:watch": "观看实时视频与录像回放（每次观看记入审计日志）",
        "camera:export": "导出录像剪辑（附签名的片段清单）",
    },
    grants=by_permission(
        {
            "camera:read": (*AUTHORITIES, Role.STATION, *INSTITUTION),
            "camera:write": (Role.INSTITUTION_ADMIN,),
            "camera:watch": (*AUTHORITIES, Role.STATION, *INSTITUTION),
            "camera:export": (*AUTHORITIES, Role.STATION, Role.INSTITUTION_ADMIN),
        }
    ),
    nav=(
        NavEntry(
            title="视频监控",
            href="/video/cameras",
            group="检测机构",
            permission="camera:read",
            order=80,
            text="监控摄像机、实时预览与录像回放",
        ),
    ),
    message_types=collect(messages, MessageType),
    jobs=(*collect(jobs, Job), *collect(snapshots, Job)),
    hooks={
        DOSSIER: dossier.sections,
        RECORD_ACTIONS: lazy("jcjg.video.pages:record_actions"),
        RECEIPT_COLUMNS: lazy("jcjg.video.pages:receipt_column"),
    },
    labels={
        "place_kind": choices.PlaceKind,
        "camera_form": choices.CameraForm,
        "camera_status": choices.CameraStatus,
        "entity": ENTITIES,
        "page": PAGES,
        "tag": {
            "camera:watch": "观看视频",
            "camera:export": "导出录像剪辑",
            "video_clip:export": "导出录像剪辑",
            "video_segment:notarise": "录像片段存证",
        },
    },
)
