"""``jcjg backup`` (make one; ``backup verify``, ``backup list``) and ``jcjg restore``
(docs/operations/backups.md)."""

from __future__ import annotations

from pathlib import Path

import click

from jcjg.config import Settings, get_settings
from jcjg.core.commands import session_factory


def _backup_dir(settings: Settings, given: str | None) -> Path:
    return Path(given) if given else settings.backup_dir or settings.data_dir / "backups"


def _log_key(given: str | None) -> str:
    """The log's verifier key: as given, else this platform's own."""
    if given:
        return given.strip()
    from jcjg.core.domains import configure_installed
    from jcjg.ledger import service as ledger

    configure_installed(get_settings())
    return ledger.log_identity().vkey


@click.group(invoke_without_command=True)
@click.option(
    "--dir",
    "directory",
    default=None,
    help="备份目录（默认 JCJG_BACKUP_DIR，或数据目录下的 backups）",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="保留最近几份（默认 JCJG_BACKUP_KEEP，7）",
)
@click.pass_context
def backup(ctx: click.Context, directory: str | None, keep: int | None) -> None:
    """备份数据库、文件与密钥，附签名清单与备份时的存证检查点；超出保留份数的最早备份删除。"""
    if ctx.invoked_subcommand is not None:
        return
    from jcjg.operations.backup import BackupError, make

    settings = get_settings()
    factory = session_factory()
    try:
        made = make(factory, settings, _backup_dir(settings, directory),
                    keep=keep or settings.backup_keep)  # fmt: skip
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        factory.kw["bind"].dispose()
    click.echo(f"已备份到 {made.path}：{made.files} 个文件，共 {made.size} 字节，"
               f"存证日志 {made.ledger_size} 条")  # fmt: skip


@backup.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--log-key", default=None, help="存证日志公钥（/ledger/key 的内容；默认本平台的）")
def backup_verify(path: str, log_key: str | None) -> None:
    """核验备份 PATH：清单签名与每个文件的哈希，恢复到临时数据库后重算存证日志的根哈希。"""
    from jcjg.operations.backup import BackupError, verify

    try:
        checked = verify(Path(path), get_settings(), _log_key(log_key))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"备份完好：{checked.files} 个文件的哈希相符，数据库已试恢复，存证日志前 "
               f"{checked.ledger_size} 条的根哈希 {checked.root} 与备份时一致")  # fmt: skip


@backup.command("list")
@click.option("--dir", "directory", default=None, help="备份目录")
def backup_list(directory: str | None) -> None:
    """列出备份目录中的备份（最早的在前）。"""
    from jcjg.operations.backup import backups

    for path in backups(_backup_dir(get_settings(), directory)):
        click.echo(path)


@click.command()
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("--database-url", required=True, help="要恢复到的新数据库（须为空）")
@click.option("--data-dir", required=True, help="要恢复到的新数据目录（须为空或不存在）")
@click.option(
    "--log-key",
    required=True,
    help="存证日志公钥（平台公布的 /ledger/key 的内容，不要取自备份本身）",
)
def restore(path: str, database_url: str, data_dir: str, log_key: str) -> None:
    """把备份 PATH 恢复到新的空数据库和新的数据目录（先核验，后恢复，再核验存证日志）。"""
    from jcjg.operations.backup import BackupError
    from jcjg.operations.backup import restore as restore_backup

    try:
        checked = restore_backup(Path(path), log_key.strip(), database_url, Path(data_dir))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"已恢复：数据库与 {checked.files} 个文件；存证日志前 {checked.ledger_size} 条"
               f"的根哈希与备份时一致。请以 JCJG_DATABASE_URL={database_url} 和 "
               f"JCJG_DATA_DIR={data_dir} 启动，并运行 jcjg db upgrade。")  # fmt: skip
