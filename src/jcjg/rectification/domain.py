"""The rectification domain: rectification orders of 002 arts. 17-18 and their public list."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE, page_source
from jcjg.core.domains import PORTAL, Domain, NavEntry, PortalEntry, collect
from jcjg.core.dossier import DOSSIER
from jcjg.core.facts import FACT_CONTENTS, FORWARDED_FACTS
from jcjg.rectification import dossier, facts, models, rules

_GROUP = "监督执法"

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"rectification_order": "整改通知", "rectification_event": "整改记录"}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"rectification_order": "/rectification-orders/{}"}

DOMAIN = Domain(
    name="rectification",
    title="整改通知",
    models=(models,),
    routers=("jcjg.rectification.pages:router", "jcjg.rectification.pages:public_router"),
    nav=(
        NavEntry(
            title="整改通知",
            href="/rectification-orders",
            group=_GROUP,
            permission="alert:read",
            order=20,
            text="责令检测机构整改、整改答复与复核办结，整改记录在网站公布",
        ),
        NavEntry(
            title="整改公示",
            href="/public/rectification-orders",
            group=_GROUP,
            order=80,
            text="已公布的整改通知",
        ),
    ),
    rules=collect(rules, Rule, RuleExtension),
    labels={
        "tag": {"rectification_order:issue": "整改通知下达"},
        "entity": ENTITIES,
        "page": PAGES,
    },
    hooks={
        DOSSIER: dossier.sections,
        FORWARDED_FACTS: facts.appliers,
        FACT_CONTENTS: facts.contents,
        PORTAL: lambda: [
            PortalEntry(
                "整改公示",
                "/public/rectification-orders",
                "主管部门已公布的整改通知及整改结果",
                order=30,
            )
        ],
        EVIDENCE: lambda: page_source(
            "rectification_order",
            "整改通知",
            "/rectification-orders/{}",
            models.RectificationOrder,
            "number",
            "ledger_index",
        ),
    },
)
