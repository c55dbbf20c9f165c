"""The archives domain: a project's testing archive exported whole, and the retention period in
which archived records cannot be deleted."""

from jcjg.archives import retention
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.config import Settings
from jcjg.core.domains import Domain


def _configure(settings: Settings) -> None:
    retention.configure(settings.archive_retention_years)  # and refuses deletes in retention


DOMAIN = Domain(
    name="archives",
    title="检测档案",
    routers=("jcjg.archives.pages:router",),
    permissions={
        "archive:export": "导出工程项目的检测档案（合同、报告、原始记录、曲线、样品、存证证明）"
    },
    grants=by_permission({"archive:export": (*AUTHORITIES, Role.STATION)}),
    configure=_configure,
)
