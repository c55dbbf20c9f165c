"""The exchange domain: the signed API through which labs' systems and other platforms upload,
its clients and keys, resumable uploads, monitoring and its rules."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.alerts.evidence import EVIDENCE, page_source
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.domains import AppSetup, Domain, NavEntry, collect
from jcjg.core.jobs import Job
from jcjg.core.openapi import SECURITY_SCHEMES_HOOK
from jcjg.core.ratelimit import ByRate, make_limiter
from jcjg.exchange import cache, jobs, models, rules
from jcjg.exchange.apply import Wakeup, apply_loop
from jcjg.exchange.auth import security_schemes
from jcjg.exchange.commit import GroupCommitter
from jcjg.exchange.conformance import Probe
from jcjg.exchange.monitor import Recorder, flush_loop


def _setup(setup: AppSetup) -> None:
    from jcjg.exchange import api  # with the app's routes: a command or a worker serves none

    state = setup.app.state
    settings = setup.settings
    cache.configure(settings.exchange_cache_seconds)
    setup.app.add_middleware(api.MessagePath)
    if settings.exchange_conformance_log is not None:  # the conformance sandbox only
        setup.app.add_middleware(Probe, log=settings.exchange_conformance_log)
    burst = settings.exchange_rate_limit_burst_seconds
    state.rate_limiters["exchange"] = make_limiter(
        setup, "exchange", settings.exchange_rate_limit_per_minute, burst_seconds=burst
    )
    # clients with a limit of their own (Client.rate_limit_per_minute, else
    # JCJG_EXCHANGE_CLIENT_RATE_LIMITS): a limiter per rate
    state.exchange_own_limits = ByRate(
        lambda n: make_limiter(setup, f"exchange-{n}", n, burst_seconds=burst)
    )
    wakeup = state.exchange_wakeup = Wakeup()
    setup.on_stopping(wakeup.close)
    if settings.exchange_group_commit:
        committer = state.exchange_committer = GroupCommitter(
            setup.session_factory,
            max_batch=settings.exchange_commit_max_batch,
            on_commit=wakeup.set,
        )
        setup.on_shutdown(committer.close)
    for n in range(settings.exchange_apply_workers):
        setup.thread(
            f"jcjg-exchange-apply-{n}",
            apply_loop(
                setup.session_factory,
                settings,
                settings.exchange_apply_poll_seconds,
                wakeup,
                settings.exchange_apply_gather_seconds,
                settings.exchange_apply_nice,
            ),
        )
    recorder = state.exchange_recorder = Recorder()
    every = setup.settings.exchange_stats_flush_seconds
    setup.thread(
        "jcjg-exchange-stats",
        lambda stop: flush_loop(recorder, setup.session_factory, stop, every),
    )


_GROUP = "数据交换"

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "exchange_client": "接入方",
    "exchange_client_key": "接入密钥",
    "exchange_message": "报送消息",
    "exchange_file": "报送文件",
    "exchange_upload": "文件上传",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"exchange_client": "/exchange/clients/{}"}

DOMAIN = Domain(
    name="exchange",
    title="数据交换",
    models=(models,),
    # the signed API first: its requests are the most frequent, and a request is matched
    # against the routers in the list's order
    routers=(
        "jcjg.exchange.api:router",
        "jcjg.exchange.uploads:router",
        "jcjg.exchange.pages:router",
    ),
    jobs=collect(jobs, Job),
    permissions={
        "exchange_client:read": "查看数据接入方、密钥与接入监控",
        "exchange_client:apply": "为本机构申请数据接入，上传公钥、申请或轮换本机构的密钥",
        "exchange_client:approve": "审批数据接入申请，停用或恢复接入方，吊销密钥，登记其他平台",
    },
    grants=by_permission(
        {
            "exchange_client:read": (*AUTHORITIES, Role.INSTITUTION_ADMIN, Role.AUDITOR),
            "exchange_client:apply": (Role.INSTITUTION_ADMIN,),
            "exchange_client:approve": AUTHORITIES,
        }
    ),
    nav=(
        NavEntry(
            title="数据接入",
            href="/exchange/clients",
            group=_GROUP,
            permission="exchange_client:read",
            order=10,
            text="检测机构信息系统的接入申请、密钥与停用",
        ),
        NavEntry(
            title="接入监控",
            href="/exchange/monitor",
            group=_GROUP,
            permission="exchange_client:read",
            order=20,
            text="各接入方的报文数量、被拒原因与时延",
        ),
    ),
    rules=collect(rules, Rule, RuleExtension),
    setup_app=_setup,
    labels={"entity": ENTITIES, "page": PAGES},
    hooks={
        EVIDENCE: lambda: page_source(
            "exchange_client", "数据接入方", "/exchange/clients/{}", models.Client, "name"
        ),
        SECURITY_SCHEMES_HOOK: security_schemes,
    },
    # the raw messages as signed and received: only where each stands may change
    protected={
        "exchange_message": ("status", "applied_at", "results", "warnings", "problem"),
    },
)
