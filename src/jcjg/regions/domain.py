"""The regions domain: GB/T 2260 administrative regions."""

from jcjg.auth.permissions import EVERY_ROLE, by_permission
from jcjg.core import editions
from jcjg.core.domains import Domain, NavEntry
from jcjg.core.regioncodes import RegionLevel
from jcjg.regions import models
from jcjg.regions.choices import RegionChangeKind

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"region": "行政区划", "region_change": "区划变更"}

DOMAIN = Domain(
    name="regions",
    title="行政区划",
    models=(editions, models),  # the editions of its reference data, and its rows
    routers=("jcjg.regions.pages:router", "jcjg.regions.api:router"),
    permissions={"region:read": "查看行政区划"},
    grants=by_permission({"region:read": EVERY_ROLE}),
    nav=(
        NavEntry(
            title="行政区划",
            href="/regions",
            group="系统管理",
            permission="region:read",
            order=40,
            text="浏览 GB/T 2260 行政区划",
        ),
    ),
    labels={"entity": ENTITIES, "level": RegionLevel, "region_change": RegionChangeKind},
)
