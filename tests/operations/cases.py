"""The operations domain's generic cases (tests/generic.py: routes, grants, change-logged
models)."""

from __future__ import annotations

from jcjg.operations.models import Threshold
from tests.factories import Factory
from tests.generic import AU, P, Routes

ROUTES: Routes = {
    ("GET", "/metrics"): "ops:metrics",
    ("GET", "/api/v1/metrics"): "ops:metrics",
    ("GET", "/ops"): "ops:read",
    ("POST", "/ops/thresholds"): "ops:configure",
}

# Who holds each permission by default: the platform's administrators (and, for the metrics,
# the monitoring server's address, JCJG_METRICS_ALLOW, which is no role); the auditor reads
# the operations page.
GRANTS = {
    "ops:metrics": frozenset({P}),
    "ops:read": frozenset({P, AU}),
    "ops:configure": frozenset({P}),
}


def _threshold(f: Factory) -> Threshold:
    row = Threshold(rule_id="ops_disk_low", key="free_percent", value=15)
    f.db.add(row)
    f.db.flush()
    return row


WRITES = {Threshold: (_threshold, lambda t: setattr(t, "value", 20))}
