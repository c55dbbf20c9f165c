"""Every model of the platform, imported in one place for Alembic and the tests."""

from jcjg.audit.models import AuditLog
from jcjg.auth.models import ApiToken, PasswordHistory, RoleGrant, User, UserProject, UserSession
from jcjg.core.db import Base
from jcjg.core.jobs import JobRun, JobSchedule
from jcjg.ledger.models import LedgerCheckpoint, LedgerCounter, LedgerHead, LedgerLeaf, LedgerNode
from jcjg.regions.models import Region
from jcjg.registry.models import Institution

__all__ = [
    "ApiToken",
    "AuditLog",
    "Base",
    "Institution",
    "JobRun",
    "JobSchedule",
    "LedgerCheckpoint",
    "LedgerCounter",
    "LedgerHead",
    "LedgerLeaf",
    "LedgerNode",
    "PasswordHistory",
    "Region",
    "RoleGrant",
    "User",
    "UserProject",
    "UserSession",
]
