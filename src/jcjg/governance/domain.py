"""The governance domain: the data standard (data elements, code lists, models), versioned,
reviewed and published with an effective date, applied by the exchange from that date on
(000 7.1.2, 7.1.4; docs/governance.md)."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import EVERY_ROLE, by_permission
from jcjg.core.domains import Domain, NavEntry
from jcjg.exchange.types import SCHEMA_DOMAINS, VALUE_DOMAINS
from jcjg.governance import api, checks, choices, commands, models, pages

DOMAIN = Domain(
    name="governance",
    title="数据治理",
    models=(models,),
    routers=(api.router, pages.router),
    permissions={
        "data_standard:read": "查看数据标准（数据元、数据字典、数据模型）及其版本",
        "data_standard:edit": "起草数据标准的修订：修改数据元的名称、定义与值域",
        "data_standard:review": "审核并发布数据标准的修订，确定生效时间",
    },
    grants=by_permission(
        {
            "data_standard:read": EVERY_ROLE,
            "data_standard:edit": (Role.PROVINCIAL_AUTHORITY,),
            "data_standard:review": (Role.PROVINCIAL_AUTHORITY,),
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
    ),
    labels={
        "standard_status": choices.StandardStatus,
        "data_type": choices.DataType,
        "entity": {
            "data_standard": "数据标准版本",
            "data_element": "数据元",
            "code_list": "数据字典",
            "data_model": "数据模型",
        },
        "tag": {"data_standard:publish": "数据标准发布存证"},
        "page": {"data_standard": "/governance"},
    },
    hooks={VALUE_DOMAINS: checks.value_domains, SCHEMA_DOMAINS: checks.schema_for},
    commands=(commands.governance,),
)
