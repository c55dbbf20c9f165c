"""Every model of the platform, imported in one place for Alembic and the tests."""

from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.audit.models import AuditLog
from jcjg.auth.models import ApiToken, PasswordHistory, RoleGrant, User, UserProject, UserSession
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core.db import Base
from jcjg.core.jobs import JobRun, JobSchedule
from jcjg.exchange.models import (
    Client,
    ClientKey,
    ClientStat,
    ExchangeFile,
    Message,
    SeenNonce,
    Upload,
)
from jcjg.ledger.models import LedgerCheckpoint, LedgerCounter, LedgerHead, LedgerLeaf, LedgerNode
from jcjg.regions.models import Region
from jcjg.registry.models import (
    Assignment,
    Capability,
    CapabilityAssessment,
    ELicence,
    Equipment,
    Institution,
    Lab,
    Person,
    QualificationCertificate,
    Signatory,
    Training,
)

__all__ = [
    "Alert",
    "ApiToken",
    "Assignment",
    "AuditLog",
    "Base",
    "Capability",
    "CapabilityAssessment",
    "Client",
    "ClientKey",
    "ClientStat",
    "ELicence",
    "Equipment",
    "ExchangeFile",
    "Institution",
    "JobRun",
    "JobSchedule",
    "Lab",
    "LedgerCheckpoint",
    "LedgerCounter",
    "LedgerHead",
    "LedgerLeaf",
    "LedgerNode",
    "Message",
    "Parameter",
    "PasswordHistory",
    "Person",
    "QualificationCertificate",
    "Region",
    "RoleGrant",
    "RuleThreshold",
    "SeenNonce",
    "Signatory",
    "Specialty",
    "TestItem",
    "Training",
    "Upload",
    "User",
    "UserProject",
    "UserSession",
]
