"""Every model of the platform, imported in one place for Alembic and the tests."""

import jcjg.archives.retention  # noqa: F401 (deletes of archives in retention are refused)
from jcjg.alerts.models import Alert, Case, CaseEvent, RuleThreshold
from jcjg.audit.models import AuditLog
from jcjg.auth.models import ApiToken, PasswordHistory, RoleGrant, User, UserProject, UserSession
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.contracts.models import Contract
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
from jcjg.nonconformity.models import Nonconformity
from jcjg.notify.models import Delivery, Notification, NotifyPreference
from jcjg.projects.models import Project, ProjectMember
from jcjg.rectification.models import RectificationEvent, RectificationOrder
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
    SigningCertificate,
    Training,
)
from jcjg.reports.models import CodeScan, Report, ReportRecord
from jcjg.sampling.models import (
    Commission,
    CommissionSample,
    IdentityCheck,
    Sample,
    SampleCode,
    SampleCodeBatch,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from jcjg.testing.models import (
    Curve,
    CurveKey,
    OnSitePlan,
    OnSiteRecord,
    Revision,
    Specimen,
    TestRecord,
)

__all__ = [
    "Alert",
    "ApiToken",
    "Assignment",
    "AuditLog",
    "Base",
    "Capability",
    "CapabilityAssessment",
    "Case",
    "CaseEvent",
    "Client",
    "ClientKey",
    "ClientStat",
    "CodeScan",
    "Commission",
    "CommissionSample",
    "Contract",
    "Curve",
    "CurveKey",
    "Delivery",
    "ELicence",
    "Equipment",
    "ExchangeFile",
    "IdentityCheck",
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
    "Nonconformity",
    "Notification",
    "NotifyPreference",
    "OnSitePlan",
    "OnSiteRecord",
    "Parameter",
    "PasswordHistory",
    "Person",
    "Project",
    "ProjectMember",
    "QualificationCertificate",
    "RectificationEvent",
    "RectificationOrder",
    "Region",
    "Report",
    "ReportRecord",
    "Revision",
    "RoleGrant",
    "RuleThreshold",
    "Sample",
    "SampleCode",
    "SampleCodeBatch",
    "SampleReceipt",
    "SampleSeal",
    "SeenNonce",
    "Signatory",
    "SigningCertificate",
    "Specialty",
    "Specimen",
    "TestItem",
    "TestRecord",
    "Training",
    "Upload",
    "User",
    "UserProject",
    "UserSession",
    "WitnessKey",
    "WitnessRecord",
]
