"""The analytics domain (决策分析, 000 4.2.5, 7.2.1): the analysis workbench, saved, shared and
scheduled analyses, their exports (docs/analytics.md)."""

from jcjg.analytics import choices, jobs, models
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.jobs import Job

DOMAIN = Domain(
    name="analytics",
    title="决策分析",
    models=(models,),
    routers=(
        "jcjg.analytics.api:runs",
        "jcjg.analytics.api:router",
        "jcjg.analytics.pages:router",
    ),
    jobs=collect(jobs, Job),
    permissions={
        "analysis:read": "运行统计分析、查看保存的分析（结果只含本人数据范围内的数据）",
        "analysis:manage": "保存、共享、定期运行、删除本人的统计分析",
    },
    grants=by_permission(
        {
            "analysis:read": (*AUTHORITIES, Role.STATION, *INSTITUTION),
            "analysis:manage": (*AUTHORITIES, Role.STATION, *INSTITUTION),
        }
    ),
    nav=(
        NavEntry(
            title="决策分析",
            href="/analytics",
            group="行业管理",
            permission="analysis:read",
            order=40,
            text="选择数据集、维度和指标统计分析，出图表并导出",
        ),
    ),
    labels={
        "analytics_result": choices.ResultKind,
        "analysis_schedule": choices.Schedule,
        "entity": {"analysis": "统计分析"},
    },
)
