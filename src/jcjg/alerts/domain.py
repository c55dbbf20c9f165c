"""The alerts domain: the rules engine, alerts, their handling (cases) and escalation."""

from jcjg.alerts import api, engine, jobs, models, pages
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.config import Settings
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.jobs import Job


def _configure(settings: Settings) -> None:
    engine.configure(settings)  # JCJG_ALERTS_ON_WRITE


_GROUP = "监督执法"

DOMAIN = Domain(
    name="alerts",
    title="预警",
    models=(models,),
    routers=(pages.router, api.router),
    jobs=collect(jobs, Job),
    permissions={
        "alert:read": "查看预警和整改通知",
        "rule:configure": "设置预警规则的地区阈值",
        "case:handle": "处理预警：确认、排除、责令整改、退回、办结、重新打开（督办）；"
        "下达、退回、办结和公布整改通知",
        "case:answer": "答复本机构的整改要求和整改通知并上传整改证明材料",
    },
    grants=by_permission(
        {
            "alert:read": (*AUTHORITIES, Role.STATION, *INSTITUTION, Role.AUDITOR),
            "rule:configure": (Role.PROVINCIAL_AUTHORITY,),
            "case:handle": (*AUTHORITIES, Role.STATION),
            "case:answer": INSTITUTION,
        }
    ),
    nav=(
        NavEntry(
            title="预警",
            href="/alerts",
            group=_GROUP,
            permission="alert:read",
            order=10,
            text="查看辖区或本机构的预警，确认、责令整改、复核办结，逾期升级督办",
            phone=3,
        ),
        NavEntry(
            title="预警规则",
            href="/alerts/rules",
            group=_GROUP,
            permission="alert:read",
            order=50,
            text="预警规则、依据与各地阈值",
        ),
    ),
    configure=_configure,
)
