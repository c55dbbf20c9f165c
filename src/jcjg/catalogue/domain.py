"""The catalogue domain: the qualification catalogue (specialty, test item, parameter)."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import EVERY_ROLE, by_permission
from jcjg.catalogue import models, views
from jcjg.core import editions
from jcjg.core.domains import Domain, NavEntry

DOMAIN = Domain(
    name="catalogue",
    title="资质目录",
    models=(editions, models),  # the editions of its reference data, and its rows
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
)
