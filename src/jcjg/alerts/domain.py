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

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "alert": "预警",
    "case": "预警督办",
    "alert_case": "预警处理（督办）",
    "alert_case_event": "督办记录",
    "rule_threshold": "预警阈值",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"alert": "/alerts/{}"}

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
        NavEntry(title="预警", href="/alerts", group=_GROUP, permission="alert:read", order=10),
        NavEntry(
            title="预警规则", href="/alerts/rules", group=_GROUP, permission="alert:read", order=50
        ),
    ),
    configure=_configure,
    labels={"entity": ENTITIES, "page": PAGES},
)
