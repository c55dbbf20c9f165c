"""The levels (000 3.0.4, 4.1.5, 6.0.7; 004 二): a platform forwards its log to its upstream and
checks, cosigns and watches the platforms below it."""

from jcjg.alerts.engine import Rule, RuleExtension
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.domains import AppSetup, Domain, NavEntry, collect
from jcjg.core.jobs import Job
from jcjg.core.ratelimit import make_limiter
from jcjg.networking import commands, jobs, models, rules
from jcjg.networking.choices import ApplicationStatus, Attestation, ChildStatus, Outcome
from jcjg.networking.forward import configured, forward_loop


def _setup(setup: AppSetup) -> None:
    settings = setup.settings
    setup.app.state.rate_limiters["network_application"] = make_limiter(
        setup, "network_application", settings.network_application_rate_per_minute
    )
    if configured(settings) and settings.upstream_forwarder:
        setup.thread("jcjg-forwarder", forward_loop(setup.session_factory, settings))


DOMAIN = Domain(
    name="networking",
    title="平台互联",
    models=(models,),
    routers=(
        "jcjg.networking.api:router",
        "jcjg.networking.pages:router",
        "jcjg.networking.application_pages:router",
    ),
    jobs=collect(jobs, Job),
    permissions={
        "network_child:read": "查看上级平台转发状态与下级平台的转发、日志核验情况",
        "network_child:manage": (
            "登记下级平台，恢复因日志不一致而暂停的下级平台，更换其转报的日志记下的公钥"
        ),
    },
    grants=by_permission(
        {
            "network_child:read": (*AUTHORITIES, Role.AUDITOR),
            "network_child:manage": (Role.PROVINCIAL_AUTHORITY,),
        }
    ),
    nav=(
        NavEntry(
            title="平台互联",
            href="/network",
            group="数据交换",
            permission="network_child:read",
            order=30,
            text="上级平台转发与下级平台的转发、日志核验",
        ),
    ),
    rules=collect(rules, Rule, RuleExtension),
    setup_app=_setup,
    commands=(commands.network,),
    labels={
        "entity": {
            "network_child": "下级平台",
            "network_application": "接入申请",
            "network_log_key": "下级平台转报的日志公钥",
            "network_forwarded": "下级平台转发的条目",
        },
        "page": {"network_child": "/network/children/{}"},
        "child_status": ChildStatus,
        "forward_outcome": Outcome,
        "attestation": Attestation,
        "application_status": ApplicationStatus,
    },
)
