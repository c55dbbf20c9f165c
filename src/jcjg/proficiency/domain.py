"""The proficiency domain (能力验证, 000 4.2.3): schemes, participants, results, the ISO 13528
evaluation and its report, and the rule on unsatisfactory results (docs/proficiency.md)."""

from jcjg.alerts.engine import Rule
from jcjg.alerts.evidence import EVIDENCE, page_source
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.exchange.types import MessageType
from jcjg.proficiency import choices, messages, models, rules
from jcjg.proficiency.statistics import Score, Signal

ENTITIES = {
    "proficiency_scheme": "能力验证",
    "proficiency_participant": "能力验证参加机构",
    "proficiency_result": "能力验证结果",
}

PAGES = {"proficiency_scheme": "/proficiency/schemes/{}"}

DOMAIN = Domain(
    name="proficiency",
    title="能力验证",
    models=(models,),
    routers=("jcjg.proficiency.api:router", "jcjg.proficiency.pages:router"),
    rules=collect(rules, Rule),
    permissions={
        "proficiency:read": "查看能力验证（组织方：全部结果；参加机构：本机构的结果和统计量）",
        "proficiency:manage": "组织能力验证：创建、邀请参加机构、统计评价",
        "proficiency:submit": "提交本机构的能力验证结果",
    },
    grants=by_permission(
        {
            "proficiency:read": (*AUTHORITIES, Role.STATION, *INSTITUTION),
            "proficiency:manage": (*AUTHORITIES, Role.STATION),
            "proficiency:submit": INSTITUTION,
        }
    ),
    nav=(
        NavEntry(
            title="能力验证",
            href="/proficiency/schemes",
            group="检测机构",
            permission="proficiency:read",
            order=85,
            text="能力验证计划、结果提交与统计评价",
        ),
    ),
    message_types=collect(messages, MessageType),
    hooks={
        EVIDENCE: lambda: page_source(
            "proficiency_scheme",
            "能力验证",
            "/proficiency/schemes/{}",
            models.ProficiencyScheme,
            "title",
        ),
    },
    labels={
        "scheme_status": choices.SchemeStatus,
        "assigned_mode": choices.AssignedMode,
        "result_source": choices.Source,
        "proficiency_score": Score,
        "proficiency_signal": Signal,
        "entity": ENTITIES,
        "page": PAGES,
        "tag": {"proficiency_scheme:evaluate": "能力验证结果评价存证"},
    },
)
