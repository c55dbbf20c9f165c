"""The home domain: each role's home page, the problem-type pages and the jobs page."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, EVERY_ROLE, by_permission
from jcjg.core.domains import Domain, NavEntry

# who oversees a region: they see the region view in their menu
_REGULATORS = frozenset(
    r.value for r in (*AUTHORITIES, Role.STATION, Role.PLATFORM_ADMIN, Role.AUDITOR)
)

DOMAIN = Domain(
    name="home",
    title="首页",
    routers=("jcjg.home.pages:router", "jcjg.home.portal:router", "jcjg.home.regions:router"),
    permissions={"home:view": "查看首页", "job:read": "查看定时任务"},
    grants=by_permission({"home:view": EVERY_ROLE, "job:read": (Role.AUDITOR,)}),
    nav=(
        NavEntry(title="首页", href="/", group="工作台", permission="home:view", order=0, phone=2),
        NavEntry(
            title="区域分布",
            href="/regions/overview",
            group="监督执法",
            permission="project:read",
            roles=_REGULATORS,
            order=60,
            text="各市县的检测机构和工程项目数量，工程项目位置分布",
        ),
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
