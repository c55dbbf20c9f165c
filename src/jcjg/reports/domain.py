"""The reports domain: test reports, supervision codes, their files and public verification
(the QR code's page, kept answers under load), with their rules."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE
from jcjg.auth.permissions import TEST_READERS, by_permission
from jcjg.core.domains import PORTAL, AppSetup, Domain, NavEntry, PortalEntry, collect, lazy
from jcjg.core.ratelimit import make_limiter
from jcjg.exchange.types import MessageType
from jcjg.projects.choices import PROJECT_PANELS
from jcjg.reports import curing, evidence, messages, models, rules
from jcjg.reports.chain import ChainCache
from jcjg.reports.fastpath import AnswerCache, VerifyFastPath, check_loop
from jcjg.reports.scanlog import ScanLog
from jcjg.reports.scanlog import flush_loop as scan_flush_loop


def _setup(setup: AppSetup) -> None:
    settings, factory, state = setup.settings, setup.session_factory, setup.app.state
    state.rate_limiters["verify"] = make_limiter(
        setup, "verify", settings.verify_rate_limit_per_minute
    )
    scan_log = state.scan_log = ScanLog(setup.engine.dialect)
    state.chain_cache = ChainCache()
    answers = state.verify_answers = AnswerCache(settings.verify_page_cache_seconds)
    setup.app.add_middleware(
        VerifyFastPath,
        answers=answers,
        limiters=state.rate_limiters,
        scan_log=scan_log,
        factory=factory,
        salt=settings.secret_key,
        session_cookie=settings.session_cookie,
        write_at_once=not settings.verify_scan_flush_seconds,
    )
    if settings.verify_scan_flush_seconds:
        every = settings.verify_scan_flush_seconds
        setup.thread(
            "jcjg-code-scans", lambda stop: scan_flush_loop(scan_log, factory, stop, every)
        )
    if settings.verify_page_cache_seconds:
        setup.thread("jcjg-verify-answers", lambda stop: check_loop(answers, factory, stop))


# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "report": "检测报告",
    "report_test_record": "报告所含检测记录",
    "code_scan": "二维码查验",
    "supervision_code": "监管码",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"report": "/reports/{}"}

DOMAIN = Domain(
    name="reports",
    title="检测报告",
    models=(models,),
    routers=("jcjg.reports.pages:router", "jcjg.reports.public:router"),
    permissions={"report:read": "查看检测报告、监管码、报告文件及其核验结果"},
    grants=by_permission({"report:read": TEST_READERS}),
    nav=(
        NavEntry(
            title="检测报告",
            href="/reports",
            group="工程与检测",
            permission="report:read",
            order=50,
            text="检测报告、二维码与防伪查验",
        ),
    ),
    message_types=collect(messages, MessageType),
    rules=(*collect(rules, Rule, RuleExtension), *collect(curing, Rule)),
    labels={
        "entity": ENTITIES,
        "page": PAGES,
        "tag": {"report:legacy_import": "原平台报告导入"},
    },
    hooks={
        PORTAL: lambda: [
            PortalEntry("扫码查验", "/m/scan", "用手机摄像头扫描报告上的二维码查验真伪", order=10)
        ],
        EVIDENCE: evidence.source,
        PROJECT_PANELS: lazy("jcjg.reports.pages:project_panels"),
    },
    setup_app=_setup,
)
