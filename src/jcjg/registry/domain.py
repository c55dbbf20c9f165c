"""The registry domain: institutions, labs, people, equipment, capabilities, certificates,
signatories and e-licences (000 4.1.1), served by the generic views, with their rules."""

from typing import Any

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, INSTITUTION, by_permission
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.facts import FORWARDED_FACTS
from jcjg.core.jobs import Job
from jcjg.exchange.types import MessageType
from jcjg.generic.spec import EntitySpec
from jcjg.registry import (
    commands,
    evidence,
    facts,
    messages,
    models,
    rules,
    specs,
    sync,
)


def _ref_targets() -> dict[str, tuple[type[Any], bool]]:
    """An institution's labs and people, which its other rows point to."""
    return {"lab": (models.Lab, True), "person": (models.Person, True)}


# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "institution": "检测机构",
    "certificate": "资格证书",
    "assignment": "岗位聘任",
    "capability": "检测能力",
    "capability_assessment": "能力核查",
    "e_licence": "电子资质证书",
    "equipment": "仪器设备",
    "lab": "检测场所",
    "person": "人员",
    "qualification_certificate": "资格证书",
    "signatory": "授权签字人",
    "signing_certificate": "签名证书",
    "training": "培训记录",
}

# who oversees institutions (an institution's own people have its record instead)
_OVERSEERS = frozenset(
    r.value
    for r in (*AUTHORITIES, Role.STATION, Role.PLATFORM_ADMIN, Role.AUDITOR, Role.ASSOCIATION)
)

DOMAIN = Domain(
    name="registry",
    title="检测机构登记",
    models=(models,),
    # the registry's own pages first: they are more specific than the generic /registry/{kind}
    routers=(
        "jcjg.registry.pages:router",
        "jcjg.registry.dossier:router",
        "jcjg.registry.photos:router",
        "jcjg.generic.views:pages",
        "jcjg.generic.views:api",
    ),
    commands=(commands.institutions,),
    permissions={
        "institution:read": "查看检测机构及其人员、设备、场所、资质",
        "institution:create": "登记检测机构",
        "institution:update": "维护检测机构信息（人员、设备、场所、能力、证书、签字人）",
        "institution:status": "暂停、撤销或恢复检测机构",
        "person_photo:view": "查看人员清晰照片（核对身份，留痕）",
    },
    grants=by_permission(
        {
            "institution:read": (
                *AUTHORITIES,
                Role.STATION,
                *INSTITUTION,
                Role.AUDITOR,
                Role.ASSOCIATION,
            ),
            "institution:create": AUTHORITIES,
            "institution:update": (*AUTHORITIES, Role.INSTITUTION_ADMIN),
            "institution:status": AUTHORITIES,
            "person_photo:view": (*AUTHORITIES, Role.STATION, Role.INSTITUTION_ADMIN),
        }
    ),
    nav=(
        NavEntry(
            title="检测机构登记",
            href="/registry",
            group="检测机构",
            permission="institution:read",
            order=10,
            text="检测机构、人员、设备、场所、能力、资质证书与报告批准人",
        ),
        NavEntry(
            title="机构档案",
            href="/institutions",
            group="检测机构",
            permission="institution:read",
            roles=_OVERSEERS,
            order=5,
            text="按所在地、资质、信用等级和预警查找检测机构，打开一家机构的全部档案",
        ),
    ),
    message_types=collect(messages, MessageType),
    rules=collect(rules, Rule, RuleExtension),
    jobs=collect(sync, Job),
    specs=collect(specs, EntitySpec),
    labels={"entity": ENTITIES},
    hooks={
        EVIDENCE: evidence.source,
        "generic.ref_targets": _ref_targets,
        FORWARDED_FACTS: facts.appliers,  # a child platform's institutions, rebuilt here
    },
)
