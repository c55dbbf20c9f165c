"""The ledger domain: the tamper-evident log (RFC 9162, C2SP checkpoints) and its public pages."""

from jcjg.config import Settings
from jcjg.core.domains import AppSetup, Domain, NavEntry, collect
from jcjg.core.jobs import Job
from jcjg.core.ratelimit import RateLimiter
from jcjg.ledger import api, jobs, models, pages, service


def _setup(setup: AppSetup) -> None:
    setup.app.state.rate_limiters["ledger"] = RateLimiter(
        setup.settings.ledger_rate_limit_per_minute
    )


def _configure(settings: Settings) -> None:
    service.configure(settings)


DOMAIN = Domain(
    name="ledger",
    title="存证日志",
    models=(models,),
    routers=(pages.router, api.router),
    jobs=collect(jobs, Job),
    nav=(
        NavEntry(
            title="存证日志",
            href="/ledger",
            group="监督执法",
            order=90,
            text="检测报告与数据的存证日志，可核验",
        ),
    ),
    configure=_configure,
    setup_app=_setup,
)
