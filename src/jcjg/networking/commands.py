"""``jcjg network``: registering children, applying to a parent, forwarding and resuming by
hand (docs/networking.md)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import click

from jcjg.config import get_settings
from jcjg.core.commands import cli_session, problem_text, session_factory
from jcjg.core.db import utcnow


@click.group()
def network() -> None:
    """平台互联（docs/networking.md）：登记下级平台、向上级平台转发、核验下级平台的日志。"""


@network.command("add-child")
@click.option("--name", required=True, help="下级平台名称")
@click.option("--region", "region_code", required=True, help="其所辖行政区划代码，如 360100")
@click.option("--url", "base_url", required=True, help="其访问地址，如 https://jcjg.nc.example.cn")
@click.option("--log-key", "log_key", required=True, help="其存证日志公钥（其 /ledger/key 的内容）")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="其转发签名的 Ed25519 公钥文件（PEM）；不给则签发 HMAC 共享密钥",
)
def network_add_child(
    name: str, region_code: str, base_url: str, log_key: str, public_key: str | None
) -> None:
    """登记下级平台，签发其转发密钥（HMAC 密钥只显示这一次）。"""
    from pathlib import Path

    from jcjg.core.errors import AppError
    from jcjg.networking.service import register_child

    settings = get_settings()
    with cli_session() as db:
        try:
            made = register_child(
                db,
                settings,
                name=name,
                region_code=region_code,
                base_url=base_url,
                log_key=log_key,
                public_key=Path(public_key).read_bytes() if public_key else None,
            )
        except AppError as error:
            db.rollback()
            raise click.ClickException(problem_text(error)) from None
        db.commit()
        shown = made.key.as_dict()
        click.echo(f"下级平台 {made.child.name}（日志 {made.child.log_origin}）已登记")
        click.echo(f"JCJG_UPSTREAM_KEY_ID={shown['key_id']}")
        if shown["secret"]:
            click.echo(f"JCJG_UPSTREAM_KEY={shown['secret']}")


# how long ``jcjg network forward --once`` waits for the parent to take the rest
WAITING_AT_MOST = 120.0


@network.command("forward")
@click.option("--once", is_flag=True, help="转发到没有可转发的条目为止，然后退出")
def network_forward(once: bool) -> None:
    """把本平台的存证日志按序转发给上级平台（JCJG_UPSTREAM_*）；平时由应用进程或 jcjg worker
    在后台转发，这里供运维人员补发或排查。"""
    from jcjg.networking.forward import configured, forward_loop, forward_once, upstream_client

    settings = get_settings()
    if not configured(settings):
        raise click.ClickException(
            "未配置上级平台：请设置 JCJG_UPSTREAM_URL、JCJG_UPSTREAM_KEY_ID 和 JCJG_UPSTREAM_KEY"
        )
    factory = session_factory()
    try:
        if not once:
            import signal

            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())  # stopped: the lease given back
            try:
                forward_loop(factory, settings)(stop)
            except KeyboardInterrupt:
                stop.set()
            return
        total = 0
        give_up = time.monotonic() + WAITING_AT_MOST
        with upstream_client(settings) as client:
            while True:
                done = forward_once(factory, settings, client)
                if done.error and done.waiting and time.monotonic() < give_up:
                    # the parent takes the rest once it relayed this platform's facts up
                    wait = (done.retry_at - utcnow()).total_seconds() if done.retry_at else 1
                    time.sleep(min(max(wait + 0.05, 0.1), 30.0))
                    continue
                if done.error:
                    raise click.ClickException(f"转发失败：{done.error}")
                total += done.forwarded
                if done.idle:
                    break
        click.echo(f"已转发 {total} 条")
    finally:
        factory.kw["bind"].dispose()


@network.command("resume")
@click.argument("name")
@click.option("--forget-log", is_flag=True, help="忘记先前核验的检查点（其日志已从备份重建）")
def network_resume(name: str, forget_log: bool) -> None:
    """恢复因日志不一致而暂停的下级平台 NAME。"""
    from sqlalchemy import select

    from jcjg.core.errors import AppError
    from jcjg.networking.models import Child
    from jcjg.networking.service import resume_child

    with cli_session() as db:
        child = db.scalar(select(Child).where(Child.name == name))
        if child is None:
            raise click.ClickException(f"没有名为“{name}”的下级平台")
        try:
            resume_child(db, child, forget_log=forget_log)
        except AppError as error:
            raise click.ClickException(str(error.detail)) from None
        db.commit()
        click.echo(f"已恢复接收 {name} 的转发")


def _key_path(key: str | None) -> Path:
    return Path(key) if key else get_settings().data_dir / "network" / "upstream-key.pem"


def _state_path(key: Path) -> Path:
    return key.with_name(key.name + ".application.json")


def _print_answer(answer: dict[str, Any], key: Path, alg: str) -> None:
    labels = {"pending": "待审批", "approved": "已批准", "rejected": "未批准"}
    click.echo(
        f"申请编号 {answer.get('reference')}：{labels.get(str(answer.get('status')), '未知')}"
    )
    if answer.get("status") == "rejected":
        click.echo(f"理由：{answer.get('reason') or '（未说明）'}")
    if answer.get("status") == "approved":
        click.echo("请为本平台设置（然后重启；转发由应用进程或 jcjg worker 在后台进行）：")
        click.echo(f"JCJG_UPSTREAM_URL={answer.get('upstream_url')}")
        click.echo(f"JCJG_UPSTREAM_KEY_ID={answer.get('key_id')}")
        click.echo(f"JCJG_UPSTREAM_KEY_ALG={alg}")
        click.echo(f'JCJG_UPSTREAM_KEY="$(cat {key})"')
        click.echo(f"JCJG_UPSTREAM_LOG_KEY={str(answer.get('upstream_log_key') or '').strip()}")


@network.command("apply")
@click.option(
    "--parent", "parent_url", required=True, help="上级平台地址，如 https://jcjg.jx.example.cn"
)
@click.option("--name", required=True, help="本平台名称")
@click.option("--region", "region_code", required=True, help="本平台所辖行政区划代码，如 360100")
@click.option("--contact-name", required=True, help="联系人")
@click.option("--contact-phone", required=True, help="联系电话")
@click.option("--contact-email", default=None, help="电子邮箱")
@click.option("--note", default=None, help="说明")
@click.option(
    "--key",
    default=None,
    help="转发签名私钥文件（PEM）；不存在时生成（默认 JCJG_DATA_DIR/network/upstream-key.pem）",
)
def network_apply(
    parent_url: str,
    name: str,
    region_code: str,
    contact_name: str,
    contact_phone: str,
    contact_email: str | None,
    note: str | None,
    key: str | None,
) -> None:
    """向上级平台在线申请接入（000 6.0.7）：提交本平台的访问地址（JCJG_BASE_URL）、存证日志公钥和
    转发签名公钥，以该密钥签名；批准后用 jcjg network application 取得转发所需的设置。"""
    from jcjg.core.domains import configure_installed
    from jcjg.ledger import service as ledger
    from jcjg.networking import applying

    settings = get_settings()
    if not settings.base_url_given:
        raise click.ClickException(
            "请先设置本平台的对外地址 JCJG_BASE_URL：上级平台从这里核验本平台"
        )
    configure_installed(settings)
    path = _key_path(key)
    fields = {
        "name": name,
        "region_code": region_code,
        "base_url": settings.base_url,
        "log_key": ledger.log_identity().vkey,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "contact_email": contact_email,
        "note": note,
    }
    try:
        signer = applying.key_from(path, "sm2-sm3" if settings.crypto == "sm" else "ed25519")
        answer = applying.send(parent_url, signer, fields, ledger.log_identity().signer)
    except applying.ApplyError as exc:
        raise click.ClickException(str(exc)) from None
    _state_path(path).write_text(
        json.dumps({"parent": parent_url, "reference": answer.get("reference")}) + "\n"
    )
    click.echo(f"转发签名私钥：{path}（妥善保管，不要发给任何人）")
    _print_answer(answer, path, signer.alg)


@network.command("application")
@click.option("--key", default=None, help="申请时所用的私钥文件（默认同 jcjg network apply）")
def network_application(key: str | None) -> None:
    """查询本平台向上级平台提交的接入申请；批准后打印转发所需的设置。"""
    from jcjg.networking import applying

    path = _key_path(key)
    state = _state_path(path)
    if not state.exists():
        raise click.ClickException(
            f"没有找到接入申请的记录（{state}）：请先运行 jcjg network apply"
        )
    saved = json.loads(state.read_text())
    try:
        signer = applying.key_from(path)
        answer = applying.status(saved["parent"], saved["reference"], signer)
    except applying.ApplyError as exc:
        raise click.ClickException(str(exc)) from None
    _print_answer(answer, path, signer.alg)
