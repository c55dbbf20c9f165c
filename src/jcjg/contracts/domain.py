"""The contracts domain: testing contracts between owners and institutions, with their rules."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE, page_source
from jcjg.auth.permissions import TEST_READERS, by_permission
from jcjg.contracts import messages, models, rules
from jcjg.core.domains import Domain, NavEntry, collect, lazy
from jcjg.exchange.types import MessageType
from jcjg.projects.choices import PROJECT_PANELS

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"contract": "检测合同"}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"contract": "/contracts/{}"}

DOMAIN = Domain(
    name="contracts",
    title="检测合同",
    models=(models,),
    routers=("jcjg.contracts.pages:router",),
    permissions={"contract:read": "查看检测合同及其文本"},
    grants=by_permission({"contract:read": TEST_READERS}),
    nav=(
        NavEntry(
            title="检测合同",
            href="/contracts",
            group="工程与检测",
            permission="contract:read",
            order=60,
            text="检测合同与委托",
        ),
    ),
    message_types=collect(messages, MessageType),
    rules=collect(rules, Rule, RuleExtension),
    labels={"entity": ENTITIES, "page": PAGES},
    hooks={
        EVIDENCE: lambda: page_source(
            "contract", "检测合同", "/contracts/{}", models.Contract, "number", "ledger_index"
        ),
        PROJECT_PANELS: lazy("jcjg.contracts.pages:project_panels"),
    },
)
