"""The projects domain: construction projects, their witnesses and samplers (003 IV(2)-(3))."""

from jcjg.alerts.evidence import EVIDENCE, page_source
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.exchange.types import MessageType
from jcjg.projects import messages, models, pages

_KEEPERS = (*AUTHORITIES, Role.STATION)

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"project": "工程项目", "project_member": "参建单位人员"}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"project": "/projects/{}"}

DOMAIN = Domain(
    name="projects",
    title="工程项目",
    models=(models,),
    routers=(pages.router,),
    permissions={
        "project:read": "查看工程项目及其见证、取样人员",
        "project:create": "登记工程项目",
        "project:update": "修改工程项目信息",
        "project:assign": "登记或变更项目的见证、取样人员",
    },
    grants=by_permission(
        {
            "project:read": (*_KEEPERS, Role.PARTY_UNIT, Role.WITNESS, Role.SAMPLER, Role.AUDITOR),
            "project:create": _KEEPERS,
            "project:update": _KEEPERS,
            "project:assign": _KEEPERS,
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
    ),
    message_types=collect(messages, MessageType),
    labels={"entity": ENTITIES, "page": PAGES},
    hooks={
        EVIDENCE: lambda: page_source("project", "工程项目", "/projects/{}", models.Project, "name")
    },
)
