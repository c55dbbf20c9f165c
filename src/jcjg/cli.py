"""The ``jcjg`` command line: serve, database, demo data, users, worker."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from typing import TYPE_CHECKING

import click
from sqlalchemy.orm import Session

from jcjg.config import Settings, get_settings, reread_settings
from jcjg.core.commands import cli_session, session_factory

if TYPE_CHECKING:
    from jcjg.core.errors import AppError
    from jcjg.demo.load import Outcome
    from jcjg.exchange.models import Client


class _Main(click.Group):
    """The process-level commands here; a domain's own (``Domain.commands``) found by name."""

    def _domain_commands(self) -> dict[str, click.Command]:
        from jcjg.domains import install

        return {c.name: c for d in install() for c in d.commands if c.name}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._domain_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._domain_commands().get(cmd_name)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """建设工程检测监管信息服务平台 (JCJG) 命令行。"""
    from jcjg.domains import install

    install()  # every command works on the platform's domains (sessions configure them)


@main.command()
@click.option("--host", default=None, help="监听地址（默认 JCJG_HOST 或 127.0.0.1）")
@click.option("--port", default=None, type=int, help="端口（默认 JCJG_PORT 或 8000）")
@click.option("--reload", is_flag=True, help="开发时代码变更自动重启")
@click.option(
    "--simulate",
    is_flag=True,
    help="首次启动时（还没有任何报送消息）在后台运行 jcjg simulate，让演示地区“活起来”",
)
def serve(host: str | None, port: int | None, reload: bool, simulate: bool) -> None:
    """启动 Web 服务（页面、JSON 接口）。"""
    import uvicorn

    # the app (and each worker process) reads the address it serves from the environment: its
    # links and QR codes follow --host and --port unless JCJG_BASE_URL says otherwise
    if host:
        os.environ["JCJG_HOST"] = host
    if port:
        os.environ["JCJG_PORT"] = str(port)
    if host or port:
        reread_settings()
    settings = get_settings()
    if simulate:
        _refuse_in_production("serve --simulate")  # before the database is opened
    simulation = None
    if simulate and _first_start():
        url = f"http://{host or settings.host}:{port or settings.port}"
        simulation = threading.Thread(
            target=_simulate_when_up, args=(url,), name="jcjg-simulate", daemon=True
        )
        simulation.start()
    uvicorn.run(
        "jcjg.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        proxy_headers=True,
        timeout_keep_alive=settings.keep_alive_seconds,
    )
    if simulation is not None and simulation.is_alive():
        # the simulated labs' sending threads would keep the process alive, retrying a server
        # that is gone (the interpreter waits for a thread pool's threads at exit): stop now
        click.echo("服务已停止，模拟未完成（可运行 jcjg simulate 再模拟）", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _refuse_in_production(command: str) -> None:
    """Stop a demo or simulation ``command`` with the Chinese reason under ``JCJG_ENV=prod``."""
    from jcjg.demo.guard import DemoRefused, refuse_in_production

    try:
        refuse_in_production(get_settings(), command)
    except DemoRefused as refusal:
        raise click.ClickException(str(refusal)) from None


def _first_start() -> bool:
    """No message was ever received: the platform has not met any LIMS yet."""
    from sqlalchemy import select

    from jcjg.exchange.models import Message

    with cli_session() as session:
        return session.scalar(select(Message.id).limit(1)) is None


def _simulate_when_up(url: str) -> None:
    """Wait for the server to answer, then simulate a small region through it."""
    import time

    import httpx

    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        return
    click.echo("首次启动：模拟各检测机构的业务系统报送登记数据……")
    try:
        _simulate(6, 5, 1, 0.3, url, "360400", quiet=True)
    except (click.ClickException, SystemExit) as error:
        click.echo(f"模拟未完成：{error}", err=True)


@main.group()
def db() -> None:
    """数据库迁移。"""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """把数据库迁移到最新（或指定）版本；迁移到最新版本时，再加载随程序发布、数据库中还没有的参考数据
    （GB/T 2260 行政区划、资质目录）。可重复运行。"""
    from jcjg.refdata import upgrade

    url = get_settings().migration_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    loaded = upgrade(url, revision)
    click.echo(f"数据库已迁移到 {revision}")
    for line in loaded:
        click.echo(line)


def _load_edition(kind: str, path: str) -> None:
    from pathlib import Path

    from jcjg.core.editions import EditionError
    from jcjg.refdata import load_file

    with cli_session() as session:
        try:
            line = load_file(session, kind, Path(path))
        except EditionError as error:
            session.rollback()
            raise click.ClickException(f"未加载（数据库未作任何改动）：{error}") from None
        session.commit()
    click.echo(line)


@db.command("load-regions")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def db_load_regions(path: str) -> None:
    """加载一版 GB/T 2260 行政区划代码（制表符分隔的文本文件，格式见
    docs/operations/reference-data.md）。已加载的版本再次加载不作改动；被撤销的代码保留，
    供使用它的记录继续有效。"""
    _load_edition("regions", path)


@db.command("load-catalogue")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def db_load_catalogue(path: str) -> None:
    """加载一版资质目录（JSON 文件，格式见 docs/operations/reference-data.md）。已加载的版本再次加载
    不作改动；上一版的条目保留，按上一版登记的检测能力、资质证书仍指向它们。"""
    _load_edition("catalogue", path)


@db.command("load-boundaries")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def db_load_boundaries(path: str) -> None:
    """加载一版行政区划边界（GeoJSON，格式见 docs/maps.md），区域分布页据此画地图。应使用经审核、
    带审图号的标准地图数据；未注明审图号的版本只作内部示意。已加载的版本再次加载不作改动。"""
    _load_edition("boundaries", path)


@db.command("editions")
def db_editions() -> None:
    """列出数据库中已加载的参考数据版本（行政区划、资质目录）及每版的改动。"""
    from jcjg.core import editions
    from jcjg.refdata import KINDS, LABELS

    with cli_session() as session:
        for kind in KINDS:
            rows = editions.editions(session, kind)
            if not rows:
                how = "jcjg db load-boundaries" if kind == "boundaries" else "jcjg db upgrade"
                click.echo(f"{LABELS[kind]}：尚未加载（请运行 {how}）")
            for e in rows:
                published = f"，发布于 {e.published_date}" if e.published_date else ""
                click.echo(f"{e.title}{published}，{e.loaded_at:%Y-%m-%d %H:%M} 加载")
                click.echo(f"  {KINDS[kind].describe(e.code, e.summary)}")


@db.command("grant")
@click.argument("role")
def db_grant(role: str) -> None:
    """授予应用程序所用的数据库角色 ROLE 读写各表的权限，但不能改写审计日志、存证日志的叶和节点、
    报送的原始消息（只能更新其处理状态）。以迁移角色（JCJG_MIGRATION_DATABASE_URL）在每次 jcjg db
    upgrade 后运行。仅 PostgreSQL。"""
    from jcjg.core.db import make_engine
    from jcjg.core.privileges import PrivilegeError, grant
    from jcjg.domains import install

    protected = {t: c for d in install() for t, c in d.protected.items()}
    engine = make_engine(get_settings().migration_url)
    try:
        count = grant(engine, role, protected)
    except PrivilegeError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(
        f"已授予角色 {role} 对 {count} 张表的权限；受保护的表：{'、'.join(sorted(protected))}"
    )


@db.command("check")
def db_check() -> None:
    """检查数据库是否为最新版本，且模型与迁移一致（alembic check）。"""
    from jcjg.core.db import make_engine
    from jcjg.core.migrate import check, is_current

    url = get_settings().migration_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = is_current(conn)
    finally:
        engine.dispose()
    if not current:
        raise click.ClickException("数据库不是最新版本：请运行 jcjg db upgrade")
    check(url)
    click.echo("数据库为最新版本，模型与迁移一致")


@main.group()
def demo() -> None:
    """演示数据。"""


@demo.command("load")
def demo_load() -> None:
    """加载演示数据（可重复运行；新建账号的密码只显示这一次）。生产环境（JCJG_ENV=prod）拒绝运行。"""
    from jcjg.demo.load import ReferenceDataMissing, run

    _refuse_in_production("demo load")  # before the database is opened
    try:
        with cli_session() as session:
            outcome = run(session, get_settings())
    except ReferenceDataMissing as missing:
        raise click.ClickException(str(missing)) from None
    for line in demo_load_lines(outcome):
        click.echo(line)


def demo_load_lines(outcome: Outcome) -> list[str]:
    """What `jcjg demo load` prints of what it did: new accounts' passwords only once."""
    lines = []
    if outcome.raised:
        lines.append(f"预警规则扫描：新增 {outcome.raised} 条预警")
    if outcome.handled:
        lines.append(f"监督站已处理 {outcome.handled} 条预警（确认、排除、整改、办结、逾期升级）")
    if outcome.orders:
        lines.append(f"监督站已下达 {outcome.orders} 份整改通知（其一已办结并公示）")
    if not outcome.created:
        lines.append("演示数据已存在，无新增。忘记密码可用：jcjg users passwd <用户名>")
        return lines
    lines.append("已创建演示账号（密码只显示这一次，请妥善保存）：")
    lines += [
        f"  {username:<12} {password:<16} {role}" for username, role, password in outcome.created
    ]
    return lines


@main.group()
def users() -> None:
    """账号管理。"""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, help="角色，如 platform_admin、city_authority")
@click.option("--name", "display_name", required=True, help="姓名或单位名称")
@click.option("--region", "region_code", default=None, help="所属行政区划代码")
@click.option("--institution", "institution_code", default=None, help="所属检测机构编号")
@click.option("--project", "project_ids", multiple=True, type=int, help="可见的工程项目 id")
def users_create(
    username: str,
    role: str,
    display_name: str,
    region_code: str | None,
    institution_code: str | None,
    project_ids: tuple[int, ...],
) -> None:
    """新建账号；初始密码随机生成并显示一次，首次登录须修改。"""
    from pydantic import ValidationError
    from sqlalchemy import select

    from jcjg.accounts.schemas import UserCreate
    from jcjg.accounts.service import create_user
    from jcjg.auth.choices import Role
    from jcjg.auth.scopes import Principal
    from jcjg.core.errors import AppError, ValidationFailed, field_errors_from_pydantic
    from jcjg.tenancy.models import Institution

    try:
        role_ = Role(role)
    except ValueError:
        raise click.BadParameter(f"可选角色：{', '.join(r.value for r in Role)}") from None
    operator = Principal(
        username="cli",
        role=Role.PLATFORM_ADMIN,
        permissions=frozenset({"user:create", "institution:read"}),
    )
    with cli_session() as session:
        institution_id = None
        if institution_code:
            institution = session.scalars(
                select(Institution).where(Institution.code == institution_code)
            ).first()
            if institution is None:
                raise click.BadParameter(f"检测机构 {institution_code} 不存在")
            institution_id = institution.id
        try:
            data = UserCreate(
                username=username,
                display_name=display_name,
                role=role_,
                region_code=region_code,
                institution_id=institution_id,
                project_ids=list(project_ids),
            )
            user, password = create_user(
                db=session, settings=get_settings(), principal=operator, data=data
            )
        except (AppError, ValidationError) as exc:
            # A bad username or region code fails in UserCreate itself: the same message, not
            # a pydantic traceback.
            error = (
                exc
                if isinstance(exc, AppError)
                else ValidationFailed(errors=field_errors_from_pydantic(exc.errors()))
            )
            messages = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
            raise click.ClickException(f"{error.detail} {messages}".strip()) from None
        session.commit()
    click.echo(f"已创建 {user.username}（{role_.label}），初始密码：{password}（首次登录须修改）")


@users.command("passwd")
@click.argument("username")
def users_passwd(username: str) -> None:
    """重置密码：生成随机密码并显示一次，下次登录须修改。"""
    from jcjg.accounts.service import find_user, set_password
    from jcjg.auth.passwords import generate_password
    from jcjg.auth.sessions import end_all_sessions
    from jcjg.core.errors import AppError

    with cli_session() as session:
        try:
            user = find_user(db=session, username=username)
            password = generate_password()
            set_password(
                db=session,
                settings=get_settings(),
                user=user,
                new_password=password,
                must_change=True,
            )
            end_all_sessions(db=session, user_id=user.id)
        except AppError as error:
            raise click.ClickException(error.detail) from None
        session.commit()
    click.echo(f"{username} 的新密码：{password}（下次登录须修改）")


def _set_lock(username: str, locked: bool) -> None:
    import datetime as dt

    from jcjg.accounts.service import find_user
    from jcjg.auth.sessions import end_all_sessions
    from jcjg.core.db import utcnow
    from jcjg.core.errors import AppError

    with cli_session() as session:
        try:
            user = find_user(db=session, username=username)
        except AppError as error:
            raise click.ClickException(error.detail) from None
        if locked:
            user.locked_until = utcnow() + dt.timedelta(days=365 * 100)
            end_all_sessions(db=session, user_id=user.id)
        else:
            user.locked_until = None
            user.failed_logins = 0
        session.commit()


@users.command("lock")
@click.argument("username")
def users_lock(username: str) -> None:
    """锁定账号并结束其所有会话。"""
    _set_lock(username, True)
    click.echo(f"已锁定 {username}")


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """解锁账号并清零失败次数。"""
    _set_lock(username, False)
    click.echo(f"已解锁 {username}")


@main.group()
def ledger() -> None:
    """区块链存证（透明日志）：整合、检查点、证明、核验。"""


def _ledger_session() -> Session:
    from jcjg.ledger import service

    service.configure(get_settings())
    return cli_session()


@ledger.command("integrate")
def ledger_integrate() -> None:
    """整合所有待整合的条目并签发新检查点。"""
    from jcjg.ledger import service

    total = 0
    with _ledger_session() as session:
        while done := service.integrate(session):
            session.commit()
            total += done
        session.commit()
        size = service.head(session).size
    click.echo(f"整合 {total} 条，树大小 {size}")


@ledger.command("checkpoint")
def ledger_checkpoint() -> None:
    """整合待整合条目，然后输出最新签名检查点（C2SP signed note）。"""
    from jcjg.ledger import service

    with _ledger_session() as session:
        while service.integrate(session):
            session.commit()
        note = service.latest_checkpoint(session).note
        session.commit()
    click.echo(note, nl=False)


@ledger.command("prove")
@click.argument("index", type=int)
@click.option("--size", type=int, default=None, help="树大小（缺省为最新检查点）")
def ledger_prove(index: int, size: int | None) -> None:
    """输出条目 INDEX 的核验包（条目、包含证明、检查点、公钥），供 jcjg-verify 离线核验。"""
    import json

    from jcjg.ledger import service

    with _ledger_session() as session:
        try:
            bundle = service.proof_bundle(session, index, size)
        except service.LedgerError as error:
            raise click.ClickException(str(error)) from None
    click.echo(json.dumps(bundle, ensure_ascii=False, indent=2))


@ledger.command("verify")
def ledger_verify() -> None:
    """由存储的条目重算每个叶哈希、各层节点和根哈希，并核验最新检查点的签名；指出被篡改的序号。"""
    from jcjg.ledger import service

    with _ledger_session() as session:
        report = service.verify_all(session)
    if report.ok:
        click.echo(f"日志完好：{report.leaves_checked} 个条目、根哈希与最新检查点签名均核验通过")
        return
    for problem in report.problems:
        click.echo(f"篡改：{problem}", err=True)
    raise SystemExit(1)


@main.command()
@click.option("--once", is_flag=True, help="只运行一轮到期任务、处理完待处理的报送消息后退出")
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 3600),
    default=None,
    help="定时任务的轮询间隔（秒），默认 JCJG_WORKER_POLL_SECONDS（5）",
)
@click.option(
    "--apply-workers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 64),
    help="处理已受理报送消息的线程数（0：不处理）",
)
def worker(once: bool, poll: float | None, apply_workers: int) -> None:
    """运行后台定时任务，并按序处理已受理的报送消息（多进程部署时与 JCJG_EMBEDDED_WORKER=false、
    JCJG_EXCHANGE_APPLY_WORKERS=0 搭配，见 docs/operations/deployment.md）。"""
    from jcjg.core.jobs import run_due, worker_loop
    from jcjg.exchange.apply import Wakeup, apply_loop, drain

    factory = session_factory()
    settings = get_settings()
    if once:
        try:
            applied = drain(factory, settings) if apply_workers else 0
            runs = run_due(factory)
        finally:
            factory.kw["bind"].dispose()  # the pool's connections end with the command
        for run in runs:
            click.echo(f"{run.name}: {run.status}")
        if applied:
            click.echo(f"处理报送消息 {applied} 条")
        if any(r.status == "failed" for r in runs):
            sys.exit(1)
        return
    stop = threading.Event()
    wakeup = Wakeup()  # no request wakes them here: they poll, and are woken to stop
    loop = apply_loop(
        factory,
        settings,
        settings.exchange_apply_poll_seconds,
        wakeup,
        settings.exchange_apply_gather_seconds,
    )
    threads = [
        threading.Thread(target=loop, args=(stop,), name=f"jcjg-exchange-apply-{n}", daemon=True)
        for n in range(apply_workers)
    ]
    if settings.video_record_in_worker:
        from jcjg.video.recorder import Recorder

        recorder = Recorder(settings, factory)
        threads.append(
            threading.Thread(target=recorder.run, args=(stop,), name="jcjg-video-recorder")
        )
    from jcjg.networking.forward import configured, forward_loop

    if configured(settings) and settings.upstream_forwarder:  # one forwarder holds the cursor
        forwarder = forward_loop(factory, settings)
        threads.append(threading.Thread(target=forwarder, args=(stop,), name="jcjg-forwarder"))
    for thread in threads:
        thread.start()
    try:
        worker_loop(factory, stop, poll or settings.worker_poll_seconds, settings)
    except KeyboardInterrupt:
        stop.set()
    wakeup.close()
    for thread in threads:
        thread.join(timeout=10)


@main.group()
def jobs() -> None:
    """定时任务：列出、立即运行（不必等到期，结果与日志记入 /admin/jobs）。"""


@jobs.command("list")
def jobs_list() -> None:
    """列出定时任务：名称、说明、间隔、下次运行时间、最近一次结果。"""
    from sqlalchemy import select

    from jcjg.core.jobs import JobRun, JobSchedule, registered
    from jcjg.core.workdays import BEIJING

    with cli_session() as session:
        schedules = {s.name: s for s in session.scalars(select(JobSchedule))}
        for name, job_ in sorted(registered().items()):
            last = session.scalars(
                select(JobRun).where(JobRun.name == name).order_by(JobRun.id.desc()).limit(1)
            ).first()
            schedule = schedules.get(name)
            upcoming = (
                schedule.next_run_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
                if schedule
                else "首次运行 worker 时"
            )
            minutes = int(job_.every.total_seconds() // 60)
            every = f"每 {minutes} 分钟" if minutes < 60 else f"每 {minutes / 60:g} 小时"
            outcome = (
                f"{last.status}（{last.started_at.astimezone(BEIJING):%m-%d %H:%M}）"
                if last
                else "从未运行"
            )
            click.echo(f"{name}\t{job_.title}\t{every}\t下次 {upcoming}\t最近 {outcome}")


@jobs.command("run")
@click.argument("name")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="按指定时刻判断期限（仅测试环境，JCJG_ENV 不为 prod）：带时区的时间，如 "
    "2026-12-10T09:00+08:00；只用于按时刻判断的任务（alerts.sweep、alerts.escalate、"
    "exchange.monitor）",
)
def jobs_run(name: str, as_of: str | None) -> None:
    """立即运行定时任务 NAME（如 alerts.sweep），打印其日志；失败时退出码为 1。"""
    from jcjg.core.jobs import registered, run_job

    settings = get_settings()
    moment = _as_of(as_of, settings) if as_of else None
    factory = session_factory()  # installs the domains, whose jobs these are
    found = registered().get(name)
    if found is None or (moment is not None and not found.as_of):
        factory.kw["bind"].dispose()
        if found is None:
            names = "、".join(sorted(registered()))
            raise click.ClickException(f"没有名为 {name} 的定时任务。现有：{names}")
        timed = "、".join(sorted(n for n, j in registered().items() if j.as_of))
        raise click.ClickException(f"定时任务 {name} 不按时刻判断，不能用 --as-of。可用：{timed}")
    try:
        run = run_job(factory, found, settings, as_of=moment)
    finally:
        factory.kw["bind"].dispose()
    if run.log:
        click.echo(run.log.rstrip())
    click.echo(f"{name}: {run.status}")
    if run.status != "succeeded":
        sys.exit(1)


def _as_of(raw: str, settings: Settings) -> dt.datetime:
    """The moment ``--as-of`` names (with its offset), on a deployment that is not production."""
    if settings.env == "prod":
        raise click.ClickException(
            "--as-of 只用于测试环境：生产环境（JCJG_ENV=prod）不能按其他时刻运行任务"
        )
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise click.ClickException(
            f"--as-of 应为带时区的时间，如 2026-12-10T09:00+08:00：{raw}"
        ) from None
    if moment.tzinfo is None:
        raise click.ClickException("--as-of 须带时区，如 2026-12-10T09:00+08:00")
    return moment.astimezone(dt.UTC)


@main.group()
def conformance() -> None:
    """数据交换合规测试：检测机构业务系统（LIMS）厂商在沙箱平台上测试自己的客户端，得出通过/未通过报告。"""


@conformance.command("sandbox")
@click.argument("folder", type=click.Path(file_okay=False), default="jcjg-conformance")
@click.option(
    "--institution",
    "institution_code",
    default=None,
    help="测试用的检测机构编号（默认演示地区的检测中心）",
)
@click.option("--port", default=8765, show_default=True, type=int, help="沙箱平台的端口")
@click.option("--serve/--no-serve", default=True, help="准备好后是否启动沙箱平台")
def conformance_sandbox(folder: str, institution_code: str | None, port: int, serve: bool) -> None:
    """在 FOLDER 中准备沙箱平台（SQLite 数据库、演示地区的数据、测试机构的接入密钥），然后启动它；
    厂商的客户端向它报送，结束后运行 jcjg conformance report。"""
    from pathlib import Path

    from jcjg.exchange.conformance import prepare_sandbox

    root = Path(folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        JCJG_DATABASE_URL=f"sqlite:///{root / 'sandbox.sqlite3'}",
        JCJG_DATA_DIR=str(root / "data"),
        JCJG_EXCHANGE_CONFORMANCE_LOG=str(root / "traffic.jsonl"),
        JCJG_PORT=str(port),
        JCJG_ENV=os.environ.get("JCJG_ENV", "dev"),
    )
    reread_settings()
    settings = get_settings()
    _refuse_in_production("conformance sandbox")
    from jcjg.refdata import upgrade

    upgrade(settings.database_url, "head")
    factory = session_factory()
    with factory() as session:
        from jcjg.demo.load import run as load_demo

        load_demo(session, settings)  # the demo region: institutions, projects, people ...
    try:
        guide = prepare_sandbox(factory, settings, root, institution_code, _projects_near)
    except LookupError as missing:
        raise click.ClickException(str(missing)) from None
    click.echo(guide)
    if serve:
        import uvicorn

        uvicorn.run(
            "jcjg.main:create_app",
            factory=True,
            host=settings.host,
            port=port,
            proxy_headers=True,
            timeout_keep_alive=settings.keep_alive_seconds,
        )


def _projects_near(session: Session, region_code: str) -> list[str]:
    """Codes of up to five projects in ``region_code``'s city (for the sandbox's guide)."""
    from sqlalchemy import select

    from jcjg.projects.models import Project

    stmt = select(Project.code).where(Project.region_code.startswith(region_code[:4]))
    return list(session.scalars(stmt.order_by(Project.id).limit(5)))


@conformance.command("report")
@click.option("--key-id", "key_id", required=True, help="被测客户端的密钥编号")
@click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False),
    default=None,
    help="沙箱的请求记录（默认 JCJG_EXCHANGE_CONFORMANCE_LOG）",
)
@click.option(
    "--types", default="", help="该产品报送的消息类型（逗号分隔；默认检测机构可报送的全部类型）"
)
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
def conformance_report(key_id: str, log: str | None, types: str, as_json: bool) -> None:
    """按沙箱的请求记录和平台保存的数据判定被测客户端，逐项输出通过/未通过；
    全部必需项通过时退出码为 0。"""
    from pathlib import Path

    from jcjg.exchange.conformance import lims_types, report

    settings = get_settings()
    path = Path(log) if log else settings.exchange_conformance_log
    if path is None:
        raise click.UsageError(
            "请用 --log 指定沙箱的请求记录，或设置 JCJG_EXCHANGE_CONFORMANCE_LOG"
        )
    factory = session_factory()
    wanted = [t.strip() for t in types.split(",") if t.strip()] or None
    unknown = sorted(set(wanted or ()) - set(lims_types()))
    if unknown:
        factory.kw["bind"].dispose()
        raise click.UsageError(f"不是检测机构可报送的消息类型：{'、'.join(unknown)}")
    from jcjg.core.later import reading_session

    try:
        with reading_session(factory) as db:
            found = report(db, path, key_id, wanted)
    except LookupError as missing:
        raise click.ClickException(str(missing)) from None
    finally:
        factory.kw["bind"].dispose()
    if as_json:
        _echo_json(found.as_dict())
    else:
        click.echo(found.text())
    sys.exit(0 if found.passed else 1)


@main.group()
def video() -> None:
    """视频监控：录像服务（见 docs/video.md）。"""


@video.command("record")
@click.option(
    "--holder", default=None, help="本录像服务的名称（默认 主机名:进程号），写入摄像机租约"
)
@click.option(
    "--capacity",
    type=click.IntRange(1, 10_000),
    default=None,
    help="最多同时录制的摄像机数（默认 JCJG_VIDEO_RECORDER_CAPACITY）",
)
@click.option(
    "--seconds", type=click.FloatRange(0), default=0.0, help="录制这么多秒后停止（0：一直运行）"
)
@click.option("--poll", type=click.FloatRange(0.05, 10), default=0.5, show_default=True)
def video_record(holder: str | None, capacity: int | None, seconds: float, poll: float) -> None:
    """运行录像服务：认领没有录像服务持有（或租约已过期）的摄像机，用 ffmpeg 不转码地录成片段，
    计算哈希、入链，断线重连；Ctrl-C 或 SIGTERM 时结束各 ffmpeg 并释放租约。"""
    import signal

    from jcjg.video.recorder import Recorder

    settings = get_settings()
    factory = session_factory()
    recorder = Recorder(settings, factory, holder=holder, capacity=capacity)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if seconds:
        threading.Timer(seconds, stop.set).start()
    click.echo(f"录像服务 {recorder.holder}：最多 {recorder.capacity} 路")
    try:
        recorder.run(stop, poll)
    except KeyboardInterrupt:
        stop.set()
    finally:
        factory.kw["bind"].dispose()
    click.echo(f"已入库片段 {recorder.ingested} 个")


@main.command("calendar")
@click.argument("year", type=click.IntRange(2000, 2100), required=False)
def calendar(year: int | None) -> None:
    """列出 YEAR 年（默认今年，北京时间）法定节假日与调休上班日：各类期限按此工作日历计算。"""
    from jcjg.core.db import utcnow
    from jcjg.core.workdays import beijing_date, calendar_exceptions, covers

    year = year or beijing_date(utcnow()).year
    if not covers(year):
        click.echo(
            f"工作日历未收录 {year} 年（chinese-calendar 包未包含该年安排）：期限按周一至周五计算。"
        )
        return
    weekdays = "一二三四五六日"
    for entry in calendar_exceptions(year):
        kind = "调休上班" if entry.is_workday else "放假"
        click.echo(
            f"{entry.day.isoformat()}\t星期{weekdays[entry.day.weekday()]}\t{kind}\t{entry.holiday}"
        )
    click.echo("其余日期：周一至周五为工作日，周六、周日休息。")


@main.group()
def exchange() -> None:
    """数据交换：按原始报送消息重放。"""


@exchange.command("replay")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="重放该时刻（北京时间）以来受理的消息",
)
@click.option("--apply/--no-apply", default=True, show_default=True, help="重放后立即处理")
def exchange_replay(since: dt.datetime, apply: bool) -> None:
    """把某时刻以来受理的原始消息重新置为待处理，并按受理顺序重新处理（重建由消息生成的数据；
    先清空要重建的数据，见 docs/exchange-api/README.md）。"""
    from jcjg.core.workdays import BEIJING
    from jcjg.exchange.apply import drain, replay

    factory = session_factory()
    moment = since.replace(tzinfo=BEIJING).astimezone(dt.UTC)
    try:
        with factory() as session:
            count = replay(session, moment)
            session.commit()
        done = drain(factory, get_settings()) if apply else None
    finally:
        factory.kw["bind"].dispose()  # the pool's connections end with the command
    click.echo(f"重新置为待处理 {count} 条消息")
    if done is not None:
        click.echo(f"已处理 {done} 条")


if __name__ == "__main__":
    main()


@main.group()
def clients() -> None:
    """数据交换接入：业务系统（LIMS）与其他平台的密钥签发、列表、轮换、吊销。"""


def _echo_json(data: object) -> None:
    import json

    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _client_or_fail(session: Session, ident: str) -> Client:
    from jcjg.exchange.clients import find_client

    client = find_client(session, ident)
    if client is None:
        raise click.ClickException(f"没有接入 {ident}（可用接入编号或密钥编号）")
    return client


def _refusal(error: AppError) -> click.ClickException:
    """A service's refusal as a command-line error, its field messages included."""
    details = "；".join(e.message for e in error.errors)
    return click.ClickException(f"{error.detail} {details}".strip())


@clients.command("create")
@click.option("--institution", "institution_code", default=None, help="检测机构编号（LIMS）")
@click.option(
    "--region", default=None, help="其他平台所辖的行政区划代码（与 --institution 二选一）"
)
@click.option(
    "--alg",
    type=click.Choice(["ed25519", "sm2-sm3", "hmac-sha256"]),
    default="ed25519",
    show_default=True,
)
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Ed25519 或 SM2 公钥文件（PEM，或原始公钥的 Base64）",
)
@click.option("--name", default=None, help="接入名称（缺省按机构名生成）")
def clients_create(
    institution_code: str | None,
    region: str | None,
    alg: str,
    public_key: str | None,
    name: str | None,
) -> None:
    """登记并开通一个接入，签发第一把密钥；输出 JSON（含 key_id，HMAC 另含 secret）。"""
    from pathlib import Path

    from sqlalchemy import select

    from jcjg.core.errors import AppError
    from jcjg.exchange import clients as service
    from jcjg.exchange.choices import ClientKind, ClientStatus
    from jcjg.tenancy.models import Institution

    if (institution_code is None) == (region is None):
        raise click.UsageError("请给出 --institution（机构业务系统）或 --region（其他平台）之一")
    key_bytes = Path(public_key).read_bytes() if public_key else None
    settings = get_settings()
    with cli_session() as session:
        try:
            institution = None
            if institution_code is not None:
                institution = session.scalar(
                    select(Institution).where(Institution.code == institution_code)
                )
                if institution is None:
                    raise click.ClickException(f"没有编号为 {institution_code} 的检测机构")
            client = service.create_client(
                session,
                name=name or (f"{institution.name} 业务系统" if institution else f"平台 {region}"),
                institution=institution,
                region_code=region,
                kind=ClientKind.LIMS if institution else ClientKind.PLATFORM,
                status=ClientStatus.ACTIVE,
            )
            issued = service.issue_key(session, client, settings, alg=alg, public_key=key_bytes)
            session.commit()
        except AppError as error:
            raise _refusal(error) from None
        _echo_json(issued.as_dict())


@clients.command("list")
def clients_list() -> None:
    """列出全部接入及其密钥（JSON）。"""
    from sqlalchemy import select

    from jcjg.core.db import utcnow
    from jcjg.exchange.models import Client

    now = utcnow()
    with cli_session() as session:
        rows = []
        for client in session.scalars(select(Client).order_by(Client.id)):
            rows.append(
                {
                    "client_id": client.id,
                    "name": client.name,
                    "kind": client.kind,
                    "status": client.status,
                    "institution_id": client.institution_id,
                    "region_code": client.region_code,
                    "last_seen_at": client.last_seen_at.isoformat()
                    if client.last_seen_at
                    else None,
                    "keys": [
                        {
                            "key_id": k.key_id,
                            "alg": k.alg,
                            "state": k.state(now),
                            "valid_from": k.valid_from.isoformat(),
                            "valid_until": k.valid_until.isoformat() if k.valid_until else None,
                        }
                        for k in client.keys
                    ],
                }
            )
    _echo_json(rows)


@clients.command("rotate")
@click.argument("client")
@click.option("--alg", type=click.Choice(["ed25519", "sm2-sm3", "hmac-sha256"]), default=None)
@click.option("--public-key", "public_key", type=click.Path(exists=True, dir_okay=False))
@click.option("--overlap-days", type=int, default=None, help="旧密钥继续有效的天数")
def clients_rotate(
    client: str, alg: str | None, public_key: str | None, overlap_days: int | None
) -> None:
    """为接入 CLIENT（接入编号或其任一密钥编号）签发新密钥，旧密钥在重叠期后失效。"""
    from pathlib import Path

    from jcjg.core.errors import AppError
    from jcjg.exchange import clients as service

    key_bytes = Path(public_key).read_bytes() if public_key else None
    with cli_session() as session:
        found = _client_or_fail(session, client)
        try:
            issued = service.rotate(
                session,
                found,
                get_settings(),
                alg=alg,
                public_key=key_bytes,
                overlap_days=overlap_days,
            )
            session.commit()
        except AppError as error:
            raise _refusal(error) from None
        _echo_json(issued.as_dict())


@clients.command("revoke")
@click.argument("key_id")
@click.option("--reason", required=True, help="吊销原因（留痕）")
def clients_revoke(key_id: str, reason: str) -> None:
    """立即吊销密钥 KEY_ID。"""
    from sqlalchemy import select

    from jcjg.core.errors import AppError
    from jcjg.exchange import clients as service
    from jcjg.exchange.models import ClientKey

    with cli_session() as session:
        key = session.scalar(select(ClientKey).where(ClientKey.key_id == key_id))
        if key is None:
            raise click.ClickException(f"没有密钥 {key_id}")
        try:
            service.revoke(session, key, reason)
            session.commit()
        except AppError as error:
            raise _refusal(error) from None
    _echo_json({"key_id": key_id, "state": "revoked"})


@main.command()
@click.option("--institutions", default=6, show_default=True, type=click.IntRange(1, 500))
@click.option("--days", default=5, show_default=True, type=click.IntRange(1, 365))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option(
    "--violations",
    default=0.3,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="违规的比例：机构（证书挂靠、检定过期、超范围签字等）与样品（无标识、超时、异地封样、"
    "非登记见证人、调换、标识破损、封样后篡改）、项目（人员更换未提前报告）及检测数据（加荷速度、"
    "曲线复用、结果与曲线不符、判定不符、上传超时、改动自动采集值、未登记设备、设备时间冲突、"
    "现场检测方案未提前上传）、报告（签章证书未登记、签章后篡改、二维码抄用他人报告、结论数据与原始记录"
    "不符、报告编号跳号）、合同超时上传，以及扫描伪造报告上从未签发的监管码",
)
@click.option("--url", default=None, help="平台地址（缺省 JCJG_BASE_URL）")
@click.option("--region", default="360400", show_default=True, help="所模拟的地市或省的区划代码")
@click.option(
    "--city",
    "cities",
    multiple=True,
    help="模拟一个省及其城市平台（可重复）：区划代码,城市平台地址,其数据库地址；本命令的数据库与"
    "--url 为省平台。各城市平台须已登记为省平台的下级平台并在转发（docs/networking.md）",
)
@click.option("--wait", "wait_seconds", default=120.0, show_default=True, help="等待转发到齐的秒数")
def simulate(
    institutions: int, days: int, seed: int, violations: float, url: str | None, region: str,
    cities: tuple[str, ...], wait_seconds: float,
) -> None:  # fmt: skip
    """模拟一个地区：各检测机构的业务系统经真实接口、用真实客户端报送数据；各工地的取样、见证
    人员用手机页面登记、封样，检测机构的业务系统同步委托、收样验封。带 --city 时模拟一个省：各城市
    的检测机构向其城市平台报送，城市平台转发给省平台，最后逐个城市核对省平台是否收齐。
    生产环境（JCJG_ENV=prod）拒绝运行。"""
    if cities:
        _simulate_province(institutions, days, seed, violations, cities, wait_seconds)
        return
    _simulate(institutions, days, seed, violations, url, region)


def _simulate_province(
    institutions: int,
    days: int,
    seed: int,
    violations: float,
    cities: tuple[str, ...],
    wait_seconds: float,
) -> None:
    """``jcjg simulate --city …``: the province is this command's database and platform."""
    from jcjg.demo.simulator import network

    _refuse_in_production("simulate")
    try:
        parsed = [network.City.parse(text) for text in cities]
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    try:
        done = network.play(
            cli_session, get_settings(), parsed, institutions=institutions, days=days,
            seed=seed, violations=violations, wait=wait_seconds, echo=click.echo,
        )  # fmt: skip
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    for arrival in done:
        click.echo(arrival.line())
        for failure in arrival.failures[:10]:
            click.echo(f"  {failure}")
    if any(a.failures for a in done) or not all(a.complete for a in done):
        raise SystemExit(1)


def _simulate(
    institutions: int,
    days: int,
    seed: int,
    violations: float,
    url: str | None,
    region: str,
    *,
    quiet: bool = False,
) -> None:
    from jcjg.demo.simulator import alerts as cases
    from jcjg.demo.simulator import proficiency, video
    from jcjg.demo.simulator import region as sim
    from jcjg.demo.simulator import sampling as sites

    _refuse_in_production("simulate")  # it registers its institutions in this database
    settings = get_settings()
    with cli_session() as session:
        try:
            sims = sim.prepare(
                session,
                settings,
                institutions=institutions,
                region=region,
                seed=seed,
                violations=violations,
                key_dir=settings.data_dir / "simulator",
            )
            projects = sites.prepare(
                session,
                settings,
                labs=[(s.code, s.region) for s in sims],
                region=region,
                seed=seed,
                violations=violations,
                codes_per_project=4 * days + 4,
            )
            handlers = cases.prepare(
                session,
                station=projects[0].station,
                institution_codes=[s.code for s in sims],
                violations=violations,
            )
            session.commit()
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        catalogue = sim.catalogue_parameters(session)
    target = url or settings.base_url

    def progress(day: int, done: int, total: int) -> None:
        if quiet:
            return
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "." * (width - filled)
        click.echo(f"\r第 {day + 1}/{days} 天 [{bar}] {done}/{total}", nl=done == total)

    if not quiet:
        click.echo(f"模拟 {len(sims)} 家机构，{days} 天，发往 {target}")
    summary = sim.run(
        sims,
        url=target,
        days=days,
        seed=seed,
        catalogue=catalogue,
        progress=progress,
        projects=projects,
        violations=violations,
        handlers=handlers,
    )
    if summary.tamper:
        with cli_session() as session:
            sites.tamper(session, summary.tamper)
    with cli_session() as session:  # the labs' cameras and what they recorded
        summary.planted.update(video.film(session, settings, [(s.code, s.violator) for s in sims]))
    # the region's proficiency test: the labs' LIMS send their results, the scheme is evaluated
    planted, failures = proficiency.run(
        cli_session, [(s, s.violator) for s in sims], region=region, url=target, seed=seed
    )
    summary.planted.update(planted)
    summary.failures.extend(failures)
    for line in summary.lines():
        click.echo(line)
    if summary.failures:
        raise SystemExit(1)


@main.group("import")
def import_() -> None:
    """导入数据（接管原有平台时）。"""


@import_.command("legacy-reports")
@click.argument("table", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--source", required=True, help="签发这些报告的原平台名称，如 江西省建设工程检测监管平台（旧）"
)
def import_legacy_reports(table: str, source: str) -> None:
    """导入原平台签发的报告（CSV 或 xlsx：监管码、报告编号、检测机构、机构编号、签发日期、
    报告文件哈希或报告文件），使已印制的监管码和二维码在 /v/ 继续可查；有一行不合规则全部不导入。"""
    import hashlib
    from pathlib import Path

    from jcjg.core.blobs import blob_store
    from jcjg.core.errors import AppError
    from jcjg.generic.tabular import read_table
    from jcjg.reports.legacy import Refused, import_table

    settings = get_settings()
    path = Path(table)
    data = path.read_bytes()
    try:
        rows = read_table(data, path.name)
    except AppError as error:
        raise click.ClickException(str(error.detail)) from None
    with cli_session() as db:
        try:
            done = import_table(
                db,
                rows,
                source=source,
                file_sha256=hashlib.sha256(data).hexdigest(),
                folder=path.parent,
                keep_file=blob_store(settings).put,
            )
        except Refused as refused:
            db.rollback()
            for problem in refused.problems[:50]:
                click.echo(str(problem), err=True)
            more = len(refused.problems) - 50
            unlisted = f"（另有 {more} 处未列出）" if more > 0 else ""
            raise click.ClickException(
                f"有 {len(refused.problems)} 处不合规{unlisted}，一份也没有导入"
            ) from None
        db.commit()
    click.echo(f"已导入 {done.count} 份原平台报告（存证日志第 {done.ledger_index} 条）")
