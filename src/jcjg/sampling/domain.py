"""The sampling domain: sample codes, sampling on site, witnessed sealing, commissions and
receipt at the lab (003 I-II), on the phone pages of samplers and witnesses."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, OFFICERS, by_permission
from jcjg.core.domains import Domain, NavEntry, collect, lazy
from jcjg.core.facts import FACT_CONTENTS, FORWARDED_FACTS
from jcjg.exchange.types import MessageType
from jcjg.projects.choices import MEMBER_PHOTO_PROBLEM, PROJECT_COLUMNS, PROJECT_PANELS
from jcjg.sampling import (
    evidence,
    facts,
    identity,
    messages,
    models,
    pours,
    reuse,
    rules,
)

_GROUP = "工程与检测"

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "commission": "委托",
    "commission_sample": "委托样品",
    "concrete_pour": "混凝土浇筑",
    "identity_check": "身份核验",
    "sample": "样品",
    "sample_code": "样品标识码",
    "sample_code_batch": "样品标识码批次",
    "sample_receipt": "收样记录",
    "sample_seal": "样品封志",
    "witness_key": "见证密钥",
    "witness_record": "见证记录",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"commission": "/commissions/{}", "concrete_pour": "/pours/{}"}

DOMAIN = Domain(
    name="sampling",
    title="样品与委托",
    models=(models,),
    routers=(
        "jcjg.sampling.api:router",
        "jcjg.sampling.pages:router",
        "jcjg.sampling.project_pages:router",
    ),
    permissions={
        "sample:read": "查看样品、封志、见证记录、委托和收样记录",
        "sample:issue_codes": "为工程项目申领样品唯一性编码并打印标识",
        "sample:register": "现场取样登记（取样人员）",
        "sample:seal": "见证封样（见证人员，电子封志）",
        "sample:receive": "收样验封（检测机构）",
        "sample:revoke_key": "吊销见证人员的封志密钥（手机遗失等）",
    },
    grants=by_permission(
        {
            "sample:read": (
                *AUTHORITIES,
                Role.STATION,
                *INSTITUTION,
                Role.PARTY_UNIT,
                Role.WITNESS,
                Role.SAMPLER,
                Role.AUDITOR,
            ),
            "sample:issue_codes": (Role.STATION, Role.PARTY_UNIT),
            "sample:register": (Role.SAMPLER,),
            "sample:seal": (Role.WITNESS,),
            "sample:receive": INSTITUTION,
            "sample:revoke_key": OFFICERS,
        }
    ),
    nav=(
        NavEntry(
            title="取样见证",
            href="/m",
            group="工作台",
            permission="project:read",
            roles=frozenset({Role.WITNESS.value, Role.SAMPLER.value}),
            order=5,
            landing=True,
            text="在手机上办理今天的现场工作",
            phone=1,
        ),
        NavEntry(
            title="样品与委托",
            href="/samples",
            group=_GROUP,
            permission="sample:read",
            order=20,
            text="样品唯一性编码、现场取样、见证封样、委托与收样记录",
            phone=6,
        ),
        NavEntry(
            title="收样验封",
            href="/receipt",
            group=_GROUP,
            permission="sample:receive",
            roles=frozenset(r.value for r in INSTITUTION),  # a lab receives its own samples
            order=21,
            text="扫描样品标识，核验编码、委托、电子封志与照片后收样",
        ),
    ),
    message_types=collect(messages, MessageType),
    rules=(*collect(rules, Rule, RuleExtension), *collect(reuse, Rule), *collect(pours, Rule)),
    labels={"entity": ENTITIES, "page": PAGES},
    hooks={
        EVIDENCE: evidence.source,
        PROJECT_PANELS: lazy("jcjg.sampling.project_pages:project_panels"),
        PROJECT_COLUMNS: lazy("jcjg.sampling.project_pages:project_columns"),
        MEMBER_PHOTO_PROBLEM: identity.registered_photo_problem,
        FORWARDED_FACTS: facts.appliers,  # a child's samples, seals, records, key revocations
        FACT_CONTENTS: facts.contents,
    },
)
