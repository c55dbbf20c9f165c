"""The catalogue domain: the qualification catalogue (specialty, test item, parameter)."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import EVERY_ROLE, by_permission
from jcjg.catalogue import models, regulations, views
from jcjg.core import editions
from jcjg.core.domains import Domain, NavEntry

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "regulation": "法规与标准",
    "specialty": "检测专项",
    "test_item": "检测项目",
    "parameter": "检测参数",
}

DOMAIN = Domain(
    name="catalogue",
    title="资质目录",
    models=(editions, models, regulations),  # its reference data: editions, rows, regulations
    routers=(views.pages, views.api),
    permissions={
        "catalogue:read": "查看资质目录（专项、检测项目、参数）",
        "catalogue:update": "维护资质目录",
    },
    grants=by_permission(
        {"catalogue:read": EVERY_ROLE, "catalogue:update": (Role.PROVINCIAL_AUTHORITY,)}
    ),
    nav=(
        NavEntry(
            title="资质目录",
            href="/catalogue",
            group="检测机构",
            permission="catalogue:read",
            order=20,
            text="检测专项、检测项目、参数及人员设备场所最低要求",
        ),
    ),
    labels={"entity": ENTITIES},
)
