"""The demo and the simulator refuse a production installation.

Both write invented facts: demo institutions, accounts and records, and, for good, leaves of the
append-only ledger that no one may remove afterwards. ``JCJG_ENV=prod`` is the operator's word
that the database holds real data, so there they stop before opening it; ``dev`` (the default,
what ``make run`` uses) and ``test`` allow them.
"""

from __future__ import annotations

from jcjg.config import Settings

WHY = "演示与模拟数据是虚构的，且会作为事实永久写入存证日志，无法撤回"

REFUSALS = {
    "demo load": "生产环境（JCJG_ENV=prod）不能加载演示数据：{why}。演示请在开发环境"
    "（JCJG_ENV=dev）的独立数据库中运行。",
    "serve --simulate": "生产环境（JCJG_ENV=prod）不能带 --simulate 启动：模拟的机构、工地和监督站"
    "会写入本平台的数据库，{why}。请去掉 --simulate 启动服务。",
    "simulate": "生产环境（JCJG_ENV=prod）不能运行 jcjg simulate：模拟器会在本机数据库"
    "（JCJG_DATABASE_URL）中登记模拟机构和账号，{why}。请在开发环境（JCJG_ENV=dev）中运行，"
    "用 --url 指向要演练的平台。",
}


class DemoRefused(RuntimeError):
    """A demo or simulation command was asked to run in production."""


def refuse_in_production(settings: Settings, command: str) -> None:
    """Raise :class:`DemoRefused` with the Chinese reason when ``settings`` are production's;
    ``command`` is one of :data:`REFUSALS`."""
    if settings.env == "prod":
        raise DemoRefused(REFUSALS[command].format(why=WHY))
