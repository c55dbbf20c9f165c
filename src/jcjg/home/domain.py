"""The home domain: each role's home page, the problem-type pages and the jobs page."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import EVERY_ROLE, by_permission
from jcjg.core.domains import Domain, NavEntry
from jcjg.home import pages

DOMAIN = Domain(
    name="home",
    title="首页",
    routers=(pages.router,),
    permissions={"home:view": "查看首页", "job:read": "查看定时任务"},
    grants=by_permission({"home:view": EVERY_ROLE, "job:read": (Role.AUDITOR,)}),
    nav=(
        NavEntry(title="首页", href="/", group="工作台", permission="home:view", order=0, phone=2),
        NavEntry(
            title="定时任务",
            href="/admin/jobs",
            group="系统管理",
            permission="job:read",
            order=50,
            text="查看后台定时任务的运行情况",
        ),
    ),
)
