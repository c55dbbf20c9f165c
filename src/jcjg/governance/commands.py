"""``jcjg governance``: the shipped baseline and the generated docs, regenerated from the code
(docs/governance.md)."""

from __future__ import annotations

from pathlib import Path

import click

DOC = Path("docs/exchange-api/data-standard.md")


def baseline_text() -> str:
    from jcjg.exchange.types import message_types
    from jcjg.governance import standard

    # the CLI has installed the platform's domains: every message type is known
    return standard.dumps(standard.build(message_types()))


def docs_text(content: dict[str, object] | None = None) -> str:
    from jcjg.governance import docs, standard

    shipped = content or standard.shipped()
    return docs.markdown(
        shipped, version=1, title="数据标准基线（随平台代码发布）", effective="随平台部署即生效"
    )


@click.group()
def governance() -> None:
    """数据治理（docs/governance.md）：数据标准的基线与文档。"""


@governance.command("baseline")
@click.option("--write", is_flag=True, help="写入 src/jcjg/governance/data/baseline.json")
def governance_baseline(write: bool) -> None:
    """由各消息类型的定义生成数据标准基线；不加 --write 则只核对是否一致。"""
    from importlib import resources

    text = baseline_text()
    target = Path(str(resources.files("jcjg.governance").joinpath("data", "baseline.json")))
    if write:
        target.write_text(text, encoding="utf-8")
        click.echo(f"已写入 {target}")
        return
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        raise click.ClickException("随附基线与代码不一致：运行 jcjg governance baseline --write")
    click.echo("随附基线与代码一致")


@governance.command("docs")
@click.option("--write", is_flag=True, help=f"写入 {DOC}（在仓库根目录运行）")
def governance_docs(write: bool) -> None:
    """由随附基线生成交换接口文档中的数据标准一页；不加 --write 则输出到标准输出。"""
    text = docs_text()
    if write:
        DOC.write_text(text, encoding="utf-8")
        click.echo(f"已写入 {DOC}")
    else:
        click.echo(text, nl=False)
