"""The alerts domain: the rules engine, alerts, their handling (cases) and escalation."""

from jcjg.alerts import dossier, engine, facts, jobs, models, service
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.catalogue.regulations import CITING
from jcjg.config import Settings
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.dossier import DOSSIER, FACETS
from jcjg.core.facts import FACT_CONTENTS, FORWARDED_FACTS
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
    "rule_basis": "预警规则的本地区依据",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"alert": "/alerts/{}"}

# The keys rules' findings share in their facts, for the pages (core.labels kind "finding"; a
# rule's own ``labels`` name its particular ones first).
FINDINGS = {
    "problems": "问题", "late": "超时", "late_minutes": "超时（分钟）", "reasons": "原因",
    "starts_on": "开始日期", "commission_number": "委托编号", "sample_code": "样品标识码",
    "distance": "照片差异（汉明距离）", "distance_m": "距离（米）", "days": "天数",
    "days_over": "超期天数", "deadline": "期限", "hours": "小时", "ratio": "比例",
    "region": "行政区划", "report": "检测报告", "returned": "退回", "revoked": "已撤销",
    "sealed_on": "封样日期", "specialty": "检测专项", "stage": "阶段", "status": "状态",
    "structure_part": "部位", "suspended": "暂停", "test_record": "检测记录",
    "witness": "封样的见证人员", "witness_user_id": "见证人员账号编号", "parameters": "参数",
    "material": "材料", "number": "编号",
    "contract": "检测合同", "commission": "委托", "reported_working_days": "报告的工作日数",
}  # fmt: skip

DOMAIN = Domain(
    name="alerts",
    title="预警",
    models=(models,),
    routers=("jcjg.alerts.pages:router", "jcjg.alerts.api:router"),
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
    labels={"finding": FINDINGS, "entity": ENTITIES, "page": PAGES},
    hooks={
        DOSSIER: dossier.sections,
        FACETS: dossier.facets,
        CITING: service.citing_bases,
        FORWARDED_FACTS: facts.appliers,
        FACT_CONTENTS: facts.contents,
    },
)
