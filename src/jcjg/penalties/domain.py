"""The penalties domain (行政处罚, 000 4.2.2 item 6): the register of administrative penalty
decisions against institutions and their people, public within their publicity period
(docs/penalties.md)."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.core.domains import Domain, NavEntry
from jcjg.core.dossier import DOSSIER
from jcjg.core.facts import FACT_CONTENTS, FORWARDED_FACTS
from jcjg.core.shared import SHARED_SOURCES
from jcjg.penalties import choices, dossier, facts, models, shared

DOMAIN = Domain(
    name="penalties",
    title="行政处罚",
    models=(models,),
    routers=("jcjg.penalties.api:router", "jcjg.penalties.pages:router"),
    permissions={
        "penalty:read": "查看行政处罚（主管部门：本辖区；检测机构：本机构）",
        "penalty:manage": "登记和更正行政处罚决定",
    },
    grants=by_permission(
        {
            "penalty:read": (
                *AUTHORITIES,
                Role.STATION,
                *INSTITUTION,
                Role.AUDITOR,
                Role.ASSOCIATION,
            ),
            "penalty:manage": AUTHORITIES,
        }
    ),
    nav=(
        NavEntry(
            title="行政处罚",
            href="/penalties",
            group="行业管理",
            permission="penalty:read",
            order=30,
            text="行政处罚决定的登记、更正与公示",
        ),
    ),
    labels={
        "penalty_kind": choices.PenaltyKind,
        "entity": {"penalty": "行政处罚"},
        "tag": {"penalty:decide": "行政处罚决定", "penalty:correct": "行政处罚决定更正"},
        "page": {"penalty": "/penalties/{}"},
    },
    hooks={
        DOSSIER: dossier.sections,
        FORWARDED_FACTS: facts.appliers,
        FACT_CONTENTS: facts.contents,
        SHARED_SOURCES: shared.sources,
    },
)
