"""The ledger domain: the tamper-evident log (RFC 9162, C2SP checkpoints) and its public pages."""

from jcjg.config import Settings
from jcjg.core.domains import PORTAL, AppSetup, Domain, NavEntry, PortalEntry, collect
from jcjg.core.jobs import Job
from jcjg.core.ratelimit import make_limiter
from jcjg.ledger import jobs, models, service


def _setup(setup: AppSetup) -> None:
    setup.app.state.rate_limiters["ledger"] = make_limiter(
        setup, "ledger", setup.settings.ledger_rate_limit_per_minute
    )


def _configure(settings: Settings) -> None:
    service.configure(settings)


# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"ledger_leaf": "存证条目", "ledger_checkpoint": "存证检查点"}

# The actions of the log's entry tags ("<entity>:<action>", core.labels kind "tag").
VERBS = {
    "create": "创建",
    "register": "登记",
    "issue": "签发",
    "file": "文件上传",
    "withdraw": "撤回",
    "status": "状态变更",
    "apply": "申请",
    "approve": "批准",
    "link": "关联",
    "report": "报告",
    "receive": "收样",
    "assign": "指派",
    "upload": "上传",
    "answer": "答复",
    "close": "办结",
    "publish": "公示",
    "confirm": "确认",
    "dismiss": "排除",
    "escalate": "升级督办",
    "rectify": "整改",
    "require": "责令整改",
    "return": "退回整改",
    "seal": "加封",
    "receipt": "收样",
    "revise": "修改",
    "revoke": "撤销",
    "checkpoint": "检查点",
    "draw": "抽取",
}

DOMAIN = Domain(
    name="ledger",
    title="存证日志",
    models=(models,),
    routers=("jcjg.ledger.pages:router", "jcjg.ledger.api:router"),
    jobs=collect(jobs, Job),
    nav=(
        NavEntry(
            title="存证日志",
            href="/ledger",
            group="监督执法",
            order=90,
            text="检测报告与数据的存证日志，可核验",
        ),
    ),
    configure=_configure,
    setup_app=_setup,
    labels={"entity": ENTITIES, "verb": VERBS},
    # the log's leaves and tree nodes are written once; counters, heads, checkpoints move on
    protected={"ledger_leaf": (), "ledger_node": ()},
    hooks={
        PORTAL: lambda: [
            PortalEntry(
                "数据存证", "/ledger", "平台存证日志：任何人可核验报告与数据未被篡改", order=70
            )
        ]
    },
)
