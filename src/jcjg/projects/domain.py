"""The projects domain: construction projects, their witnesses and samplers (003 IV(2)-(3))."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.cases import PROJECT_PARTIES
from jcjg.alerts.engine import Rule
from jcjg.alerts.evidence import EVIDENCE, page_source
from jcjg.alerts.facts import PROJECT_CODES, ProjectCodes
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.facts import FACT_CONTENTS, FORWARDED_FACTS
from jcjg.exchange.types import MessageType
from jcjg.projects import facts, messages, models, rules

_KEEPERS = (*AUTHORITIES, Role.STATION)

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "project": "工程项目",
    "project_member": "参建单位人员",
    "member_training": "见证取样人员培训考核",
    "spot_check": "现场抽查",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"project": "/projects/{}"}  # a training shows on its person's page, by user id


def _parties(db: Session, project_id: int) -> list[str]:
    """The project's 建设、施工、监理单位 as it records them (an alert's responsible party)."""
    project = db.get(models.Project, project_id)
    if project is None:
        return []
    return [project.owner_unit, project.contractor_unit, project.supervisor_unit]


def _code_of(db: Session, project_id: int) -> str | None:
    project = db.get(models.Project, project_id)
    return project.code if project is not None else None


def _id_of(db: Session, code: str, within: str) -> int | None:
    """The project of that code within the region prefix ``within``, if held here."""
    return db.scalar(
        select(models.Project.id).where(
            models.Project.code == code,
            models.Project.region_code.startswith(within, autoescape=True),
        )
    )


DOMAIN = Domain(
    name="projects",
    title="工程项目",
    models=(models,),
    # the training pages first: /projects/trainings is more specific than /projects/{id}
    routers=("jcjg.projects.training_pages:router", "jcjg.projects.pages:router"),
    permissions={
        "project:read": "查看工程项目及其见证、取样人员",
        "project:create": "登记工程项目",
        "project:update": "修改工程项目信息",
        "project:assign": "登记或变更项目的见证、取样人员",
        "project:train": "登记见证、取样人员的培训考核",
        "project:spot_check": "现场抽查见证、取样人员履职情况",
    },
    grants=by_permission(
        {
            "project:read": (*_KEEPERS, Role.PARTY_UNIT, Role.WITNESS, Role.SAMPLER, Role.AUDITOR),
            "project:create": _KEEPERS,
            "project:update": _KEEPERS,
            "project:assign": _KEEPERS,
            "project:train": _KEEPERS,
            "project:spot_check": _KEEPERS,
        }
    ),
    nav=(
        NavEntry(
            title="工程项目",
            href="/projects",
            group="工程与检测",
            permission="project:read",
            order=10,
            text="辖区内的工程项目、见证人员、取样人员与检测情况",
            phone=7,
        ),
        NavEntry(
            title="见证取样人员培训考核",
            href="/projects/trainings",
            group="工程与检测",
            permission="project:read",
            roles=frozenset(r.value for r in (*_KEEPERS, Role.AUDITOR)),
            order=12,
            text="见证、取样人员的培训、考核成绩与上岗证书，个人履职记录",
        ),
    ),
    message_types=collect(messages, MessageType),
    rules=collect(rules, Rule),
    labels={"entity": ENTITIES, "page": PAGES},
    hooks={
        EVIDENCE: lambda: page_source(
            "project", "工程项目", "/projects/{}", models.Project, "name"
        ),
        PROJECT_PARTIES: _parties,
        PROJECT_CODES: lambda: ProjectCodes(_code_of, _id_of),
        FORWARDED_FACTS: facts.appliers,  # a child platform's projects, kept here
        FACT_CONTENTS: facts.contents,
    },
)
