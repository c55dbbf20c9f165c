"""The testing domain: test records with force-time curves, on-site tests, revisions,
statistics, and their rules."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE
from jcjg.auth.permissions import TEST_READERS, by_permission
from jcjg.core.domains import Domain, NavEntry, collect, lazy
from jcjg.core.jobs import Job
from jcjg.exchange.types import MessageType
from jcjg.projects.choices import PROJECT_PANELS
from jcjg.testing import analysis, evidence, fraud, jobs, messages, models, rules
from jcjg.testing.choices import Fracture, Joint
from jcjg.testing.labels import FIELDS

_GROUP = "工程与检测"

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "test_record": "检测记录",
    "test_revision": "数据修改记录",
    "test_specimen": "试件",
    "force_curve": "力值曲线",
    "onsite_plan": "现场检测计划",
    "onsite_record": "现场检测记录",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {
    "test_record": "/testing/records/{}",
    "onsite_plan": "/testing/onsite/plans/{}",
    "onsite_record": "/testing/onsite/records/{}",
}

# the raw values a LIMS gives as words (service.WORDS), as a page shows them
RAW_WORDS = {
    "compressive": "抗压",
    "flexural": "抗折",
    **{f.value: f.label for f in Fracture},
    **{j.value: j.label for j in Joint},
}

DOMAIN = Domain(
    name="testing",
    title="检测数据",
    models=(models,),
    routers=("jcjg.testing.pages:router",),
    permissions={"test_record:read": "查看检测数据（原始记录、力值曲线回放、数据修改记录）"},
    grants=by_permission({"test_record:read": TEST_READERS}),
    nav=(
        NavEntry(
            title="检测数据",
            href="/testing/records",
            group=_GROUP,
            permission="test_record:read",
            order=30,
            text="检测原始数据、力值曲线回放与数据修改记录",
            phone=4,
        ),
        NavEntry(
            title="现场检测",
            href="/testing/onsite",
            group=_GROUP,
            permission="test_record:read",
            order=35,
            text="现场检测的记录、位置与影像",
        ),
        NavEntry(
            title="检测统计",
            href="/testing/stats",
            group=_GROUP,
            permission="test_record:read",
            order=40,
            text="按检测机构统计检测数量、合格率与不合格率，可导出",
        ),
        NavEntry(
            title="现场检测统计",
            href="/testing/onsite/stats",
            group=_GROUP,
            permission="test_record:read",
            order=41,
            text="按检测机构、项目或月份统计现场检测的方案、上传时限与检测位置，可导出",
        ),
    ),
    message_types=collect(messages, MessageType),
    rules=(
        *collect(rules, Rule, RuleExtension),
        *collect(analysis, Rule),
        *collect(fraud, Rule),
    ),
    jobs=collect(jobs, Job),
    labels={"entity": ENTITIES, "page": PAGES, "field": FIELDS, "raw_word": RAW_WORDS},
    hooks={EVIDENCE: evidence.source, PROJECT_PANELS: lazy("jcjg.testing.pages:project_panels")},
)
