"""The supervision domain: random spot-check plans ("双随机、一公开") drawn by a notarised,
verifiable draw, checks on a phone, published results, and the supervision log (监管台账)
(002 第四条、第十六条; 003 三; 004; docs/supervision.md)."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.domains import PORTAL, Domain, NavEntry, PortalEntry, collect
from jcjg.core.jobs import Job
from jcjg.supervision import choices, jobs, models

_GROUP = "监督执法"
_STAFF = (*AUTHORITIES, Role.STATION)

DOMAIN = Domain(
    name="supervision",
    title="监督执法",
    models=(models,),
    routers=(
        "jcjg.supervision.api:router",
        "jcjg.supervision.pages:router",
        "jcjg.supervision.pages:public_router",
    ),
    jobs=collect(jobs, Job),
    permissions={
        "supervision:read": "查看本辖区双随机抽查计划、抽取过程与检查结果",
        "supervision:write": "制定抽查计划、发起抽取、记录检查并签字、公开结果",
        "supervision_log:read": "查看本辖区监管台账",
        "supervision_log:write": "记录监管台账",
        "check_item:manage": "维护监督检查项（各类检查的检查表，全国通用；默认仅平台管理员）",
    },
    grants=by_permission(
        {
            "supervision:read": (*_STAFF, Role.AUDITOR),
            "supervision:write": _STAFF,
            "supervision_log:read": (*_STAFF, Role.AUDITOR),
            "supervision_log:write": _STAFF,
        }
    ),
    nav=(
        NavEntry(
            title="双随机抽查",
            href="/supervision/plans",
            group=_GROUP,
            permission="supervision:read",
            order=30,
            text="随机抽取检测机构与执法人员，可公开验证；现场检查与结果公开",
        ),
        NavEntry(
            title="监管台账",
            href="/supervision/log",
            group=_GROUP,
            permission="supervision_log:read",
            order=31,
            text="日常监管工作记录：现场检查、约谈、资料核查、投诉处理",
        ),
        NavEntry(
            title="抽查结果公示",
            href="/public/spot-checks",
            group=_GROUP,
            order=81,
            text="已公开的双随机抽查结果",
        ),
    ),
    labels={
        "plan_status": choices.PlanStatus,
        "check_status": choices.CheckStatus,
        "item_result": choices.ItemResult,
        "log_kind": choices.LogKind,
        # the log's column ``kind`` as the audit pages show it (core.labels.shown)
        "kind": {k.value: k.label for k in choices.LogKind},
        "result": {r.value: r.label for r in choices.ItemResult},
        "entity": {
            "supervision_plan": "双随机抽查计划",
            "supervision_draw": "双随机抽取",
            "supervision_check": "检查任务",
            "check_finding": "检查项结果",
            "check_item": "检查项",
            "supervision_log": "监管台账",
            "officer_relation": "执法人员回避申报",
        },
        "page": {
            "supervision_plan": "/supervision/plans/{}",
            "supervision_check": "/supervision/checks/{}",
        },
        "tag": {
            "supervision_draw:commit": "双随机抽取承诺存证",
            "supervision_draw:request": "双随机抽取请求存证",
            "supervision_draw:result": "双随机抽取结果存证",
        },
    },
    hooks={
        PORTAL: lambda: [
            PortalEntry(
                "抽查结果公示", "/public/spot-checks", "“双随机、一公开”抽查的对象与结果", order=40
            )
        ]
    },
)
