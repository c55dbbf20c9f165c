"""The nonconformity domain: the register of nonconforming results (000 4.3.4 item 6)."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.facts import FACT_CONTENTS, FORWARDED_FACTS
from jcjg.exchange.types import MessageType
from jcjg.nonconformity import evidence, facts, messages, models, rules, service
from jcjg.testing.service import NONCONFORMING_RECORD

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"nonconformity": "不合格结果"}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"nonconformity": "/nonconformities/{}"}

DOMAIN = Domain(
    name="nonconformity",
    title="不合格台账",
    models=(models,),
    routers=("jcjg.nonconformity.pages:router",),
    nav=(
        NavEntry(
            title="不合格台账",
            href="/nonconformities",
            group="监督执法",
            permission="test_record:read",
            order=30,
            text="不合格检测结果的登记、通知、处理与闭环",
            phone=5,
        ),
    ),
    message_types=collect(messages, MessageType),
    rules=collect(rules, Rule, RuleExtension),
    labels={"entity": ENTITIES, "page": PAGES},
    hooks={
        EVIDENCE: evidence.source,
        NONCONFORMING_RECORD: service.register,
        FORWARDED_FACTS: facts.appliers,
        FACT_CONTENTS: facts.contents,
    },
)
