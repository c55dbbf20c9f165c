"""The data standard's versions and what each holds: data elements (数据元), code lists (数据字典)
and models (数据模型), row by row so that pages filter, page and export them (docs/governance.md).

A version is written once: a draft copies the version it revises and is edited element by
element; once published its rows never change (the content's SHA-256 is notarised)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from jcjg.core.db import Base, UTCDateTime
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class DataStandard(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One version of the data standard: drafted, submitted, reviewed (by another person) and
    published with the time it takes effect."""

    __tablename__ = "data_standard"
    __permission_entity__: ClassVar[str] = "data_standard"

    version: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)  # StandardStatus
    note: Mapped[str] = mapped_column(Text, default="")  # what changes and why
    base_version: Mapped[int | None] = mapped_column(Integer, default=None)
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)  # the code's baseline
    effective_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    review_note: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    content_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    ledger_index: Mapped[int | None] = mapped_column(BigInteger, default=None)

    def audit_repr(self) -> str:
        return f"数据标准第 {self.version} 版"


class DataElement(ChangeLogged, IdMixin, Base):
    """A data element of a version: its name, definition, type, unit, source clause and value
    domain (within the code's envelope)."""

    __tablename__ = "data_element"
    __table_args__ = (UniqueConstraint("standard_id", "element_id"),)
    __permission_entity__: ClassVar[str] = "data_standard"

    standard_id: Mapped[int] = mapped_column(
        ForeignKey("data_standard.id", ondelete="CASCADE"), index=True
    )
    element_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(80))
    definition: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(16))  # DataType
    unit: Mapped[str] = mapped_column(String(32), default="")
    clause: Mapped[str] = mapped_column(String(200), default="")
    code_list: Mapped[str | None] = mapped_column(String(80), default=None)
    domain: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # differs from the version it revises (name, definition, unit, clause or domain)
    changed: Mapped[bool] = mapped_column(Boolean, default=False)

    def audit_repr(self) -> str:
        return f"{self.element_id} {self.name}"


class CodeList(IdMixin, Base):
    """A code list (数据字典) of a version: the codes an enumerated element may take, with
    their labels."""

    __tablename__ = "code_list"
    __table_args__ = (UniqueConstraint("standard_id", "list_id"),)

    standard_id: Mapped[int] = mapped_column(
        ForeignKey("data_standard.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(80))
    codes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class DataModel(IdMixin, Base):
    """A model (数据模型) of a version: the elements a message type is made of, each at its
    path, required or not."""

    __tablename__ = "data_model"
    __table_args__ = (UniqueConstraint("standard_id", "model_id"),)

    standard_id: Mapped[int] = mapped_column(
        ForeignKey("data_standard.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class RuleColumns(IdMixin):
    """What a quality rule and a conversion rule hold: a name, a kind, a message type's field,
    the kind's parameters, the clause it rests on, on or off, who added it. Its definition as
    saved each time, with the time it takes effect, is kept apart (:class:`RuleVersionColumns`)."""

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # QualityKind, ConversionKind
    message_type: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(200))  # records[].grade, results.成型日期
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    clause: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)


class RuleVersionColumns(IdMixin):
    """One saved definition of a rule (of the table ``__rule_table__``) and the time it takes
    effect: a message is judged or converted by each rule's latest version in force when it
    was signed (no time: in force for every message, as a rule saved before versions were
    kept). Written once."""

    __rule_table__: ClassVar[str]

    @declared_attr
    def rule_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey(f"{cls.__rule_table__}.id", ondelete="CASCADE"), index=True)

    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    effective_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    saved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class QualityRule(ChangeLogged, RuleColumns, TimestampMixin, Base):
    """A data quality rule (数据质量规则), as data: what a message type's field must satisfy
    (present, of a format, within a value domain, consistent with another field, in time)."""

    __tablename__ = "quality_rule"
    __permission_entity__: ClassVar[str] = "quality_rule"


class QualityRuleVersion(RuleVersionColumns, Base):
    """One saved definition of a quality rule (``kind``: QualityKind) from its effective time."""

    __tablename__ = "quality_rule_version"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)
    __rule_table__ = "quality_rule"


class QualityCheck(IdMixin, Base):
    """The quality rules run on one applied message: how many applied, which failed (the
    field and why). One row a message; checked again by an offline run, it is replaced."""

    __tablename__ = "quality_check"
    __table_args__ = (
        UniqueConstraint("message_row_id"),
        Index("ix_quality_check_institution_month", "institution_id", "month"),
    )
    __permission_entity__: ClassVar[str] = "data_quality"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
    }

    message_row_id: Mapped[int] = mapped_column(
        ForeignKey("exchange_message.id", ondelete="CASCADE")
    )
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), default=None)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    message_type: Mapped[str] = mapped_column(String(64))
    month: Mapped[str] = mapped_column(String(7))  # "2026-11", received, in the platform's zone
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0, index=True)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class QualityRun(IdMixin, Base):
    """One offline run of the quality rules over the messages of a period (its log)."""

    __tablename__ = "quality_run"

    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, page, command
    messages: Mapped[int] = mapped_column(Integer, default=0)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    rules: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, done, failed
    note: Mapped[str] = mapped_column(Text, default="")


class QualityReference(IdMixin, Base):
    """Where a record a related-consistency rule (关联一致性) looks up was received: the latest
    applied message of a type, in a lane (an institution's or a region's), whose key field
    holds a value (a commission by its ``number``). Kept on arrival for the types and key
    fields the enabled rules name; the offline run fills it for the period it checks."""

    __tablename__ = "quality_reference"
    __table_args__ = (UniqueConstraint("lane", "message_type", "key_field", "key"),)

    lane: Mapped[str] = mapped_column(String(24))
    message_type: Mapped[str] = mapped_column(String(64))
    key_field: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    message_row_id: Mapped[int] = mapped_column(
        ForeignKey("exchange_message.id", ondelete="CASCADE"), index=True
    )


class ConversionRule(ChangeLogged, RuleColumns, TimestampMixin, Base):
    """A conversion rule (转换规则, 000 7.1.4(3)), as data: how a text field of a message type
    is rewritten before its handler applies it (full-width to half-width, whitespace, dates,
    units, synonyms and legacy codes to the standard's codes). The raw message stays as signed."""

    __tablename__ = "conversion_rule"
    __permission_entity__: ClassVar[str] = "conversion_rule"


class ConversionRuleVersion(RuleVersionColumns, Base):
    """One saved definition of a conversion rule (``kind``: ConversionKind) from its effective
    time."""

    __tablename__ = "conversion_rule_version"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)
    __rule_table__ = "conversion_rule"


class ConversionRecord(IdMixin, Base):
    """One value a conversion rule rewrote in an applied message: the rule, the field, the value
    as sent and as applied."""

    __tablename__ = "conversion_record"
    __table_args__ = (
        Index("ix_conversion_record_institution_received", "institution_id", "received_at"),
    )
    __permission_entity__: ClassVar[str] = "data_quality"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
    }

    message_row_id: Mapped[int] = mapped_column(
        ForeignKey("exchange_message.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), default=None)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    message_type: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversion_rule.id", ondelete="SET NULL"), default=None, index=True
    )
    rule_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # ConversionKind
    field: Mapped[str] = mapped_column(String(200))  # equipment.0.model
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    converted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class DataSet(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A data set of the catalogue (数据目录): what a message type's applied data is shared as,
    classified and graded (public, conditional, restricted), compiled and published."""

    __tablename__ = "data_set"
    __permission_entity__: ClassVar[str] = "data_set"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), default="")  # 分类: 检测报告、人员 …
    message_type: Mapped[str] = mapped_column(String(64))  # its first (main) type
    grade: Mapped[str] = mapped_column(String(16))  # DataGrade
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft, published, withdrawn
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # the message types whose applied data the set holds, the first its ``message_type``
    # (a report with its signed file and its withdrawals); fixed once compiled
    types: Mapped[list[DataSetType]] = relationship(
        lazy="selectin", order_by="DataSetType.position", cascade="all, delete-orphan"
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        if not self.types and self.message_type:  # a set of one type
            self.types = [DataSetType(message_type=self.message_type, position=0)]

    @property
    def message_types(self) -> list[str]:
        """The set's message types, its main one first (a set compiled before sets held
        several types, or not flushed yet, holds its ``message_type`` alone)."""
        return [t.message_type for t in self.types] or [self.message_type]

    def audit_repr(self) -> str:
        return self.name


class DataSetType(Base):
    """One message type of a data set (a set holds one or several: 检测报告 is the report,
    its signed file and its withdrawals); what the delivery match, queries and packages
    select by."""

    __tablename__ = "data_set_type"

    data_set_id: Mapped[int] = mapped_column(ForeignKey("data_set.id"), primary_key=True)
    message_type: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class DataSetChange(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A change to a published data set (数据集变更): its description edited, its grade changed
    or the set withdrawn, asked for by one officer and approved by another; what it was and
    what it became, and what the change did to the set's subscriptions (docs/sharing.md)."""

    __tablename__ = "data_set_change"
    __permission_entity__: ClassVar[str] = "data_set"

    data_set_id: Mapped[int] = mapped_column(ForeignKey("data_set.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # DataSetChangeKind
    status: Mapped[str] = mapped_column(String(16), index=True)  # DataSetChangeStatus
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    # what applying it did: {"suspended": n, "pending": n, "stopped": n} subscriptions
    effects: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)

    def audit_repr(self) -> str:
        return f"数据集变更 #{self.id}"


class Consumer(ChangeLogged, IdMixin, TimestampMixin, Base):
    """Who receives shared data (共享对象): another department, a bank checking reports …,
    with the address its deliveries are posted to (blank: it only queries), and the Ed25519
    public key it signs its queries with (``key_id``: ``share-`` and 24 hex digits of the
    key's SHA-256)."""

    __tablename__ = "share_consumer"
    __permission_entity__: ClassVar[str] = "share_consumer"

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # ConsumerKind
    contact: Mapped[str] = mapped_column(String(100), default="")
    endpoint: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active, suspended
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    key_id: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    public_key: Mapped[str] = mapped_column(String(64), default="")  # base64 of 32 raw bytes
    key_registered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    def audit_repr(self) -> str:
        return self.name


class Subscription(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A consumer's subscription to a data set, with its masking policy (path -> method); a
    conditional data set's waits for approval by another person."""

    __tablename__ = "share_subscription"
    __table_args__ = (UniqueConstraint("consumer_id", "data_set_id"),)
    __permission_entity__: ClassVar[str] = "share_subscription"

    consumer_id: Mapped[int] = mapped_column(ForeignKey("share_consumer.id"), index=True)
    data_set_id: Mapped[int] = mapped_column(ForeignKey("data_set.id"), index=True)
    masking: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # words replaced in free text ({"sensitive": [...], "safe": [...]}; docs/sharing.md)
    words: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))  # pending, active, rejected, stopped
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class Delivery(IdMixin, Base):
    """One message, or one derived record (a published or corrected penalty decision), of a
    subscribed data set, masked for its consumer and posted to it: at least once, retried with
    backoff, dead after the last attempt (replayable). ``message_row_id`` names the applied
    message it was made of; ``record_key`` the derived record (its source is the set's)."""

    __tablename__ = "share_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "message_row_id"),
        Index("ix_share_delivery_due", "status", "next_at"),
    )

    subscription_id: Mapped[int] = mapped_column(ForeignKey("share_subscription.id"), index=True)
    message_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("exchange_message.id", ondelete="CASCADE"), default=None
    )
    record_key: Mapped[int | None] = mapped_column(BigInteger, default=None)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)  # the consumer's dedup key
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # a masked delivery's place in the batch notarised before its first post (docs/sharing.md):
    # ``index`` (the batch's leaf in the log), ``size``, ``position``, ``path`` (hex) and the
    # ``sha256`` of the body it commits to; None for an unmasked one (its body has ``ledger``)
    proof: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)


class SharedRecord(IdMixin, Base):
    """A record of a derived source (``core.shared``) as the deliver job last saw it public:
    its source's version token and the SHA-256 of what it shares. A record not here is new
    (``published``); one whose digest changed, ``corrected``; one no longer public leaves.
    The unique key, and updates conditional on the version read, keep two send passes at once
    from queueing a record twice."""

    __tablename__ = "share_record"
    __table_args__ = (UniqueConstraint("source", "record_key"),)

    source: Mapped[str] = mapped_column(String(64))  # the source's code, ``penalty.decision``
    record_key: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Access(IdMixin, Base):
    """One answered request of a consumer's (查询 or 数据包): who, which data set, with what
    filters, how many rows; a package's manifest digest and its leaf in the log. Written in
    the request's transaction, never changed."""

    __tablename__ = "share_access"
    __table_args__ = (Index("ix_share_access_consumer_at", "consumer_id", "at"),)

    consumer_id: Mapped[int] = mapped_column(ForeignKey("share_consumer.id"))
    data_set_id: Mapped[int] = mapped_column(ForeignKey("data_set.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # AccessKind
    key_id: Mapped[str] = mapped_column(String(64))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    ledger_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
