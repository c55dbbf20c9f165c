"""The platform's domains: the one list the app, the worker, the permission table, the menu and
the generic tests read (``docs/development/adding-a-domain.md``).

Adding a domain is one line here. The order is the order of routing (the exchange first: its
requests are the most frequent) and of the menu within a group.
"""

from __future__ import annotations

import gc

# Importing every domain builds the objects the process keeps to its end (models, schemas,
# routes: most of the 4-5 s of CPU each server, worker and command spends starting). The cyclic
# collector's passes over that growing heap while it is built were a fifth of it; it is paused
# for the imports and what they built is then left out of its later passes (gc.freeze).
_collecting = gc.isenabled()
gc.disable()
try:
    from jcjg.accounts.domain import DOMAIN as accounts
    from jcjg.alerts.domain import DOMAIN as alerts
    from jcjg.analytics.domain import DOMAIN as analytics
    from jcjg.archives.domain import DOMAIN as archives
    from jcjg.audit.domain import DOMAIN as audit
    from jcjg.auth.domain import DOMAIN as auth
    from jcjg.catalogue.domain import DOMAIN as catalogue
    from jcjg.contracts.domain import DOMAIN as contracts
    from jcjg.core import domains as registry
    from jcjg.core.domains import Domain
    from jcjg.credit.domain import DOMAIN as credit
    from jcjg.exchange.domain import DOMAIN as exchange
    from jcjg.experts.domain import DOMAIN as experts
    from jcjg.governance.domain import DOMAIN as governance
    from jcjg.home.domain import DOMAIN as home
    from jcjg.ledger.domain import DOMAIN as ledger
    from jcjg.networking.domain import DOMAIN as networking
    from jcjg.nonconformity.domain import DOMAIN as nonconformity
    from jcjg.notify.domain import DOMAIN as notify
    from jcjg.operations.domain import DOMAIN as operations
    from jcjg.overview.domain import DOMAIN as overview
    from jcjg.penalties.domain import DOMAIN as penalties
    from jcjg.proficiency.domain import DOMAIN as proficiency
    from jcjg.projects.domain import DOMAIN as projects
    from jcjg.rectification.domain import DOMAIN as rectification
    from jcjg.regions.domain import DOMAIN as regions
    from jcjg.registry.domain import DOMAIN as institutions
    from jcjg.reports.domain import DOMAIN as reports
    from jcjg.sampling.domain import DOMAIN as sampling
    from jcjg.supervision.domain import DOMAIN as supervision
    from jcjg.tenancy.domain import DOMAIN as tenancy
    from jcjg.testing.domain import DOMAIN as testing
    from jcjg.video.domain import DOMAIN as video
finally:
    gc.freeze()
    if _collecting:
        gc.enable()

DOMAINS: tuple[Domain, ...] = (
    exchange,
    networking,
    home,
    auth,
    accounts,
    notify,
    nonconformity,
    rectification,
    regions,
    catalogue,
    tenancy,
    institutions,
    audit,
    ledger,
    alerts,
    projects,
    sampling,
    testing,
    reports,
    contracts,
    archives,
    video,
    experts,
    proficiency,
    overview,
    analytics,
    supervision,
    penalties,
    credit,
    operations,
    governance,
)


def install() -> tuple[Domain, ...]:
    """Install the platform's domains in this process (idempotent) and return them."""
    if not registry.is_installed():
        registry.install(DOMAINS)
    return registry.installed()
