"""The overview domain (行业管理 › 行业概况, 000 4.2.2; 监管情况报告, 002 第四条):
docs/overview.md."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.domains import PORTAL, Domain, NavEntry, PortalEntry, collect
from jcjg.core.jobs import Job
from jcjg.overview import business, jobs, models
from jcjg.overview.periods import PeriodKind
from jcjg.overview.sections import OVERVIEW_REPORT_SECTIONS, OVERVIEW_SECTIONS

DOMAIN = Domain(
    name="overview",
    title="行业概况",
    models=(models,),
    routers=("jcjg.overview.pages:router", "jcjg.overview.pages:public_router"),
    jobs=collect(jobs, Job),
    hooks={
        PORTAL: lambda: [
            PortalEntry(
                "行业概况",
                "/public/overview",
                "本地区检测机构、检测报告与不合格结果的统计",
                order=50,
            )
        ],
        OVERVIEW_SECTIONS: business.page_sections,
        OVERVIEW_REPORT_SECTIONS: business.report_sections,
    },
    permissions={
        "overview:read": "查看本地区的行业概况（机构、人员、设备、报告、不合格项、预警）",
        "supervision_report:read": "查看本地区的监管情况报告",
        "supervision_report:generate": "为过去的月份或季度生成监管情况报告",
    },
    grants=by_permission(
        {
            "overview:read": (*AUTHORITIES, Role.STATION, Role.AUDITOR),
            "supervision_report:read": (*AUTHORITIES, Role.STATION, Role.AUDITOR),
            "supervision_report:generate": AUTHORITIES,
        }
    ),
    nav=(
        NavEntry(
            title="行业概况",
            href="/overview",
            group="行业管理",
            permission="overview:read",
            order=10,
            text="本地区检测机构、人员、设备、报告、不合格项和预警的概况，可逐级查看",
        ),
        NavEntry(
            title="监管情况报告",
            href="/overview/reports",
            group="行业管理",
            permission="supervision_report:read",
            order=20,
            text="每月、每季度自动生成的监管情况报告（PDF，已存证）",
        ),
    ),
    labels={
        "period_kind": PeriodKind,
        "entity": {"supervision_report": "监管情况报告", "overview": "行业概况"},
    },
)
