"""``jcjg institutions``: register testing institutions and list them from the command line,
as provisioning a production platform needs before any page is open (with ``jcjg users
create`` and ``jcjg clients create``: docs/operations/deployment.md). The same checks as the
page: a valid credit code, a region of the current edition, the platform's own institution
code (003 三（五）); the change is audited as the command line's."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from jcjg.core.commands import cli_session, problem_text

if TYPE_CHECKING:
    from jcjg.auth.scopes import Principal


def _operator() -> Principal:
    from jcjg.auth.choices import Role
    from jcjg.auth.scopes import Principal

    return Principal(
        username="cli",
        role=Role.PLATFORM_ADMIN,
        permissions=frozenset({"institution:create", "institution:read"}),
    )


def _as_dict(institution: object) -> dict[str, object]:
    return {
        name: getattr(institution, name)
        for name in ("code", "name", "credit_code", "region_code", "status")
    }


@click.group()
def institutions() -> None:
    """检测机构登记：新建、列出（生产环境开通时使用，与页面登记的检查相同）。"""


@institutions.command("create")
@click.option("--name", required=True, help="单位名称")
@click.option("--credit-code", required=True, help="统一社会信用代码（18 位）")
@click.option("--region", "region_code", required=True, help="所在行政区划代码（6 位）")
@click.option("--address", "registered_address", default=None, help="登记地址")
@click.option("--phone", default=None, help="联系电话")
def create(
    name: str, credit_code: str, region_code: str, registered_address: str | None,
    phone: str | None,
) -> None:  # fmt: skip
    """登记一家检测机构；机构编号由平台分配。输出 JSON（code、name、credit_code、region_code）。"""
    from jcjg.core.errors import AppError
    from jcjg.generic import service
    from jcjg.registry.specs import INSTITUTION

    raw = {"name": name, "credit_code": credit_code, "region_code": region_code}
    raw |= {k: v for k, v in (("registered_address", registered_address), ("phone", phone)) if v}
    with cli_session() as db:
        try:
            made = service.create_row(db=db, principal=_operator(), spec=INSTITUTION, raw=raw)
        except AppError as exc:
            raise click.ClickException(problem_text(exc)) from None
        db.commit()
        click.echo(json.dumps(_as_dict(made), ensure_ascii=False))


@institutions.command("list")
@click.option("--region", "region_code", default=None, help="只列出此行政区划（含下级）的机构")
def list_(region_code: str | None) -> None:
    """列出检测机构（JSON，每行一家，按机构编号）。"""
    from sqlalchemy import select
    from sqlalchemy.pool import NullPool

    from jcjg.core.commands import session_factory
    from jcjg.core.later import reading_session
    from jcjg.core.regioncodes import in_subtree
    from jcjg.tenancy.models import Institution

    with reading_session(session_factory(poolclass=NullPool)) as db:
        for row in db.scalars(select(Institution).order_by(Institution.code)):
            if region_code and not in_subtree(row.region_code, region_code):
                continue
            click.echo(json.dumps(_as_dict(row), ensure_ascii=False))
