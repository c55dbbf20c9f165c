"""The credit domain (信用评价, 000 4.2.2 item 7; 001 5.3.4; 003 IV(5)): the four evaluations,
the platform's facts, a versioned weighted model per province, scores and grades per period
with their explanation, appeals, publication, and the public lookup of institutions
(docs/credit.md)."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.core.domains import PORTAL, Domain, NavEntry, PortalEntry, collect
from jcjg.core.dossier import DOSSIER, FACETS
from jcjg.core.jobs import Job
from jcjg.core.shared import SHARED_SOURCES
from jcjg.credit import choices, dossier, jobs, models, shared

DOMAIN = Domain(
    name="credit",
    title="信用评价",
    models=(models,),
    routers=("jcjg.credit.pages:router", "jcjg.credit.public:router", "jcjg.credit.api:api"),
    jobs=collect(jobs, Job),
    permissions={
        "credit:read": "查看信用评价（主管部门：本辖区；检测机构：本机构）",
        "credit:evaluate": "填写信用评价（机构自评、参建单位评价、行业协会评价、主管部门评价）",
        "credit:manage": "计算、公布信用评价，处理申诉",
        "credit:appeal": "对本机构的信用评价提出申诉",
        "credit:model": "修改本省的信用评价模型（新版本）",
    },
    grants=by_permission(
        {
            "credit:read": (
                *AUTHORITIES,
                Role.STATION,
                *INSTITUTION,
                Role.AUDITOR,
                Role.ASSOCIATION,
            ),
            "credit:evaluate": (
                *AUTHORITIES,
                Role.INSTITUTION_ADMIN,
                Role.PARTY_UNIT,
                Role.ASSOCIATION,
            ),
            "credit:manage": AUTHORITIES,
            "credit:appeal": (Role.INSTITUTION_ADMIN,),
            "credit:model": (Role.PROVINCIAL_AUTHORITY,),
        }
    ),
    nav=(
        NavEntry(
            title="信用评价",
            href="/credit",
            group="行业管理",
            permission="credit:read",
            order=40,
            text="检测机构和关键岗位人员的信用得分、等级、申诉与公布",
        ),
        NavEntry(
            title="填写信用评价",
            href="/credit/evaluate",
            group="行业管理",
            permission="credit:evaluate",
            order=41,
            text="机构自评、参建单位评价、行业协会评价、主管部门评价",
        ),
        NavEntry(
            title="信用评价模型",
            href="/credit/models",
            group="行业管理",
            permission="credit:read",
            order=42,
            text="权重、扣分项、等级划分及其版本",
        ),
    ),
    labels={
        "credit_source": choices.Source,
        "credit_fact": choices.FactKind,
        "credit_status": choices.ScoreStatus,
        "appeal_status": choices.AppealStatus,
        "entity": {
            "credit_model": "信用评价模型",
            "credit_evaluation": "信用评价",
            "credit_score": "信用评价结果",
            "credit_appeal": "信用评价申诉",
        },
        "tag": {"credit_model:version": "信用评价模型版本存证"},
    },
    hooks={
        DOSSIER: dossier.sections,
        FACETS: dossier.facets,
        SHARED_SOURCES: shared.sources,
        PORTAL: lambda: [
            PortalEntry(
                "检测机构查询",
                "/public/institutions",
                "检测机构的资质、信用等级与行政处罚公示",
                order=20,
            )
        ],
    },
)
