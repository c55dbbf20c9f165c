"""The operations domain (000 8.2.4): the platform's own figures for its operators."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.auth.choices import Role
from jcjg.auth.permissions import by_permission
from jcjg.core.domains import AppSetup, Domain, NavEntry, collect
from jcjg.core.jobs import Job
from jcjg.core.memo import TimedMemo
from jcjg.operations import commands, jobs, models, rules


def _setup(setup: AppSetup) -> None:
    # the database's figures, read at most once per JCJG_METRICS_CACHE_SECONDS per process
    setup.app.state.metrics_figures = TimedMemo(setup.settings.metrics_cache_seconds, 2)


DOMAIN = Domain(
    name="operations",
    title="运行监控",
    models=(models,),
    routers=("jcjg.operations.metrics:router", "jcjg.operations.pages:router"),
    permissions={
        "ops:metrics": "读取平台运行指标（/metrics，供运维监控系统采集）",
        "ops:read": "查看运行监控（各组成部分、磁盘、定时任务、备份与运维预警）",
        "ops:configure": "设置运维预警的阈值",
    },
    grants=by_permission({"ops:read": (Role.AUDITOR,)}),
    nav=(
        NavEntry(
            title="运行监控",
            href="/ops",
            group="系统管理",
            permission="ops:read",
            order=40,
            text="平台自身的运行、存储、数据交换与备份，运维预警及其阈值",
        ),
    ),
    setup_app=_setup,
    jobs=collect(jobs, Job),
    rules=collect(rules, Rule, RuleExtension),
    labels={"entity": {"ops_component": "平台组成部分", "ops": "运行监控"}},
    commands=(commands.backup, commands.restore),
)
