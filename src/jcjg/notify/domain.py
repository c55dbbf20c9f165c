"""The notify domain: the inbox, e-mail and SMS digests, preferences and the delivery log."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import by_permission
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.jobs import Job
from jcjg.notify import jobs, models

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"notification": "通知", "notify_preference": "通知设置"}

DOMAIN = Domain(
    name="notify",
    title="通知",
    models=(models,),
    routers=("jcjg.notify.pages:router",),
    jobs=collect(jobs, Job),
    permissions={"notify:read": "查看邮件、短信的发送记录（收件人脱敏、结果与重试）"},
    grants=by_permission({"notify:read": (Role.AUDITOR,)}),
    nav=(
        NavEntry(
            title="站内通知",
            href="/inbox",
            group="工作台",
            permission="account:manage",
            order=10,
            text="与您有关的预警处理、整改要求和不合格结果",
            phone=8,
        ),
        NavEntry(
            title="通知设置",
            href="/account/notifications",
            group="个人设置",
            permission="account:manage",
            order=10,
            text="邮件、短信、关注的规则与免打扰时段",
        ),
        NavEntry(
            title="通知发送记录",
            href="/admin/deliveries",
            group="系统管理",
            permission="notify:read",
            order=60,
            text="邮件、短信的收件人（脱敏）、结果与重试",
        ),
    ),
    labels={"entity": ENTITIES},
)
