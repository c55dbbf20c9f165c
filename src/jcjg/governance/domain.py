"""The governance domain: the data standard (data elements, code lists, models), versioned,
reviewed and published with an effective date, applied by the exchange from that date on
(000 7.1.2, 7.1.4; docs/governance.md)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from jcjg.alerts.engine import Rule
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, EVERY_ROLE, INSTITUTION, by_permission
from jcjg.config import get_settings
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.jobs import Job
from jcjg.exchange.models import Message
from jcjg.exchange.types import BATCH_APPLIED, CONVERSIONS, SCHEMA_DOMAINS, VALUE_DOMAINS
from jcjg.governance import (
    checks,
    choices,
    commands,
    conversion,
    jobs,
    models,
    quality,
    rules,
    sharing,
)


def on_batch(db: Session, applied: Sequence[tuple[Message, Any]]) -> None:
    """The exchange's hook (``exchange.types.BATCH_APPLIED``): the conversions made on a
    batch's applied messages recorded, the messages checked for quality and queued for their
    subscribers, in its transaction."""
    conversion.record(db, applied)
    quality.on_batch(db, applied)
    sharing.enqueue(db, get_settings(), applied)


DOMAIN = Domain(
    name="governance",
    title="数据治理",
    models=(models,),
    routers=(
        "jcjg.governance.api:router",
        "jcjg.governance.pages:router",
        "jcjg.governance.quality_pages:router",
        "jcjg.governance.conversion_pages:router",
        "jcjg.governance.sharing_pages:router",
        "jcjg.governance.data_set_pages:router",
        "jcjg.governance.sharing_api:router",
    ),
    jobs=collect(jobs, Job),
    rules=collect(rules, Rule),
    permissions={
        "data_standard:read": "查看数据标准（数据元、数据字典、数据模型）及其版本",
        "data_standard:edit": "起草数据标准的修订：修改数据元的名称、定义与值域",
        "data_standard:review": "审核并发布数据标准的修订，确定生效时间",
        "data_quality:read": "查看数据质量得分、未通过检验的数据与质量规则",
        "quality_rule:manage": "维护数据质量规则，发起离线检验",
        "sharing:read": "查看数据目录、共享对象、订阅、推送与访问记录",
        "sharing:manage": "编制数据集，提出数据集的修改、级别调整与撤销，登记共享对象及其公钥，"
        "订阅与脱敏策略，重新推送",
        "sharing:approve": "审核发布数据集及其变更，审核有条件共享的订阅",
    },
    grants=by_permission(
        {
            "data_standard:read": EVERY_ROLE,
            "data_standard:edit": (Role.PROVINCIAL_AUTHORITY,),
            "data_standard:review": (Role.PROVINCIAL_AUTHORITY,),
            "data_quality:read": (*AUTHORITIES, Role.STATION, Role.AUDITOR, *INSTITUTION),
            "quality_rule:manage": (Role.PROVINCIAL_AUTHORITY,),
            "sharing:read": AUTHORITIES,
            "sharing:manage": (Role.PROVINCIAL_AUTHORITY,),
            "sharing:approve": (Role.PROVINCIAL_AUTHORITY,),
        }
    ),
    nav=(
        NavEntry(
            title="数据标准",
            href="/governance",
            group="系统管理",
            permission="data_standard:read",
            order=60,
            text="数据元、数据字典与数据模型的版本，修订的审核与发布",
        ),
        NavEntry(
            title="数据质量",
            href="/governance/quality",
            group="系统管理",
            permission="data_quality:read",
            order=61,
            text="报送数据按完整性、格式、值域、一致性、及时性检验的得分与问题数据，数据转换规则与记录",
        ),
        NavEntry(
            title="数据共享",
            href="/governance/sharing",
            group="系统管理",
            permission="sharing:read",
            order=62,
            text="数据目录的分级与发布，共享对象的订阅、脱敏与签名推送",
        ),
    ),
    labels={
        "standard_status": choices.StandardStatus,
        "data_type": choices.DataType,
        "quality_kind": choices.QualityKind,
        "comparison": choices.Comparison,
        "conversion_kind": choices.ConversionKind,
        "data_grade": choices.DataGrade,
        "consumer_kind": choices.ConsumerKind,
        "masking": choices.Masking,
        "subscription_status": choices.SubscriptionStatus,
        "data_set_status": choices.DataSetStatus,
        "data_set_change_kind": choices.DataSetChangeKind,
        "data_set_change_status": choices.DataSetChangeStatus,
        "delivery_status": choices.DeliveryStatus,
        "access_kind": choices.AccessKind,
        "entity": {
            "data_standard": "数据标准版本",
            "data_element": "数据元",
            "code_list": "数据字典",
            "data_model": "数据模型",
            "quality_rule": "数据质量规则",
            "quality_check": "数据质量检验结果",
            "quality_run": "数据质量离线检验",
            "conversion_rule": "数据转换规则",
            "conversion_record": "数据转换记录",
            "data_quality": "数据质量得分",
            "data_set": "数据集",
            "data_set_change": "数据集变更",
            "share_consumer": "共享对象",
            "share_subscription": "数据共享订阅",
            "share_delivery": "数据推送",
            "share_access": "数据共享访问记录",
        },
        "tag": {
            "data_standard:publish": "数据标准发布存证",
            "share_package:issue": "数据共享数据包存证",
            "share_delivery:batch": "数据推送批次存证",
        },
        "page": {"data_standard": "/governance"},
    },
    hooks={
        VALUE_DOMAINS: checks.value_domains,
        SCHEMA_DOMAINS: checks.schema_for,
        BATCH_APPLIED: on_batch,
        CONVERSIONS: conversion.conversions,
    },
    commands=(commands.governance,),
)
