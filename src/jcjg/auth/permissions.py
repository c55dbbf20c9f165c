"""Permissions and the default grants of each role.

A permission is ``"<entity>:<action>"``. The defaults below are the product's decision; the
platform administrator may add or withdraw grants per role, stored in ``role_grant`` rows and
applied on top of these defaults (NetBox's permissions-as-data, without its complexity).
Every route names the permission it needs; the role x route matrix test holds the whole table.
"""

from __future__ import annotations

from jcjg.auth.choices import Role

PERMISSIONS: dict[str, str] = {
    "home:view": "查看首页",
    "account:manage": "管理本人账号（改密、令牌、双因素）",
    "region:read": "查看行政区划",
    "institution:read": "查看检测机构及其人员、设备、场所、资质",
    "institution:create": "登记检测机构",
    "institution:update": "维护检测机构信息（人员、设备、场所、能力、证书、签字人）",
    "institution:status": "暂停、撤销或恢复检测机构",
    "catalogue:read": "查看资质目录（专项、检测项目、参数）",
    "catalogue:update": "维护资质目录",
    "alert:read": "查看预警和整改通知",
    "rule:configure": "设置预警规则的地区阈值",
    "case:handle": "处理预警：确认、排除、责令整改、退回、办结、重新打开（督办）；"
    "下达、退回、办结和公布整改通知",
    "case:answer": "答复本机构的整改要求和整改通知并上传整改证明材料",
    "user:read": "查看用户",
    "user:create": "新建用户",
    "user:update": "修改用户（含锁定、解锁、重置密码）",
    "role:read": "查看角色与权限",
    "role:update": "修改角色权限",
    "audit:read": "查看审计日志",
    "personal_data:unmask": "查看未脱敏的个人信息（留痕）",
    "job:read": "查看定时任务",
    "notify:read": "查看邮件、短信的发送记录（收件人脱敏、结果与重试）",
    "exchange_client:read": "查看数据接入方、密钥与接入监控",
    "exchange_client:apply": "为本机构申请数据接入，上传公钥、申请或轮换本机构的密钥",
    "exchange_client:approve": "审批数据接入申请，停用或恢复接入方，吊销密钥，登记其他平台",
    "project:read": "查看工程项目及其见证、取样人员",
    "project:create": "登记工程项目",
    "project:update": "修改工程项目信息",
    "project:assign": "登记或变更项目的见证、取样人员",
    "sample:read": "查看样品、封志、见证记录、委托和收样记录",
    "sample:issue_codes": "为工程项目申领样品唯一性编码并打印标识",
    "sample:register": "现场取样登记（取样人员）",
    "sample:seal": "见证封样（见证人员，电子封志）",
    "sample:receive": "收样验封（检测机构）",
    "test_record:read": "查看检测数据（原始记录、力值曲线回放、数据修改记录）",
    "report:read": "查看检测报告、监管码、报告文件及其核验结果",
    "contract:read": "查看检测合同及其文本",
    "archive:export": "导出工程项目的检测档案（合同、报告、原始记录、曲线、样品、存证证明）",
}

# What the anonymous public may do without logging in. Public pages (verification, ledger) add
# their permissions here in later issues.
PUBLIC_PERMISSIONS: frozenset[str] = frozenset()

_EVERYONE = {"home:view", "account:manage", "region:read", "catalogue:read"}
_AUTHORITY = {"institution:read", "institution:create", "institution:update", "institution:status"}
_USER_ADMIN = {"user:read", "user:create", "user:update"}
_EXCHANGE_APPROVER = {"exchange_client:read", "exchange_client:approve"}
_PROJECT_KEEPER = {"project:read", "project:create", "project:update", "project:assign"}
_SAMPLE_READER = {"project:read", "sample:read"}
_TEST_READER = {
    "test_record:read",
    "report:read",
    "contract:read",
}  # the data and the reports made of it

DEFAULT_GRANTS: dict[Role, frozenset[str]] = {
    Role.PLATFORM_ADMIN: frozenset(PERMISSIONS),
    Role.PROVINCIAL_AUTHORITY: frozenset(
        _EVERYONE
        | _USER_ADMIN
        | _AUTHORITY
        | _EXCHANGE_APPROVER
        | {"audit:read", "personal_data:unmask", "catalogue:update", "alert:read", "rule:configure"}
        | {"case:handle"}
        | {"archive:export"}
        | _PROJECT_KEEPER
        | _SAMPLE_READER
        | _TEST_READER
    ),
    Role.CITY_AUTHORITY: frozenset(
        _EVERYONE
        | _USER_ADMIN
        | _AUTHORITY
        | _EXCHANGE_APPROVER
        | {"audit:read", "personal_data:unmask", "alert:read", "archive:export", "case:handle"}
        | _PROJECT_KEEPER
        | _SAMPLE_READER
        | _TEST_READER
    ),
    Role.STATION: frozenset(
        _EVERYONE
        | {"institution:read", "user:read", "alert:read", "case:handle"}
        | _PROJECT_KEEPER
        | _SAMPLE_READER
        | {"sample:issue_codes", "archive:export"}
        | _TEST_READER
    ),
    Role.INSTITUTION_ADMIN: frozenset(
        _EVERYONE
        | _USER_ADMIN
        | {"institution:read", "institution:update", "audit:read", "alert:read", "case:answer"}
        | {"exchange_client:read", "exchange_client:apply"}
        | {"sample:read", "sample:receive"}
        | _TEST_READER
    ),
    Role.INSTITUTION_STAFF: frozenset(
        _EVERYONE
        | {"institution:read", "alert:read", "case:answer", "sample:read", "sample:receive"}
        | _TEST_READER
    ),
    Role.PARTY_UNIT: frozenset(_EVERYONE | _SAMPLE_READER | _TEST_READER | {"sample:issue_codes"}),
    Role.WITNESS: frozenset(_EVERYONE | _SAMPLE_READER | {"sample:seal"}),
    Role.SAMPLER: frozenset(_EVERYONE | _SAMPLE_READER | {"sample:register"}),
    Role.EXPERT: frozenset(_EVERYONE),
    Role.AUDITOR: frozenset(
        _EVERYONE
        | {"institution:read", "user:read", "role:read", "audit:read", "job:read", "alert:read"}
        | {"exchange_client:read", "notify:read"}
        | _SAMPLE_READER
        | _TEST_READER
    ),
}

# Which roles a user administrator may give: never its own level or above, so no account can
# create an account more powerful than itself.
ASSIGNABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.PLATFORM_ADMIN: frozenset(Role),
    Role.PROVINCIAL_AUTHORITY: frozenset(
        {
            Role.CITY_AUTHORITY,
            Role.STATION,
            Role.INSTITUTION_ADMIN,
            Role.INSTITUTION_STAFF,
            Role.PARTY_UNIT,
            Role.WITNESS,
            Role.SAMPLER,
            Role.EXPERT,
            Role.AUDITOR,
        }
    ),
    Role.CITY_AUTHORITY: frozenset(
        {
            Role.STATION,
            Role.INSTITUTION_ADMIN,
            Role.INSTITUTION_STAFF,
            Role.PARTY_UNIT,
            Role.WITNESS,
            Role.SAMPLER,
            Role.EXPERT,
        }
    ),
    Role.INSTITUTION_ADMIN: frozenset({Role.INSTITUTION_STAFF}),
}
