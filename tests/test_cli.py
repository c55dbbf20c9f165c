"""The ``jcjg`` command line, run in-process against its own SQLite file.

The CLI builds its own engine from ``JCJG_DATABASE_URL``, so these tests do not use the shared
test database; they run on SQLite only. A test starts from an empty file, or from a copy of the
run's upgraded database or of its demo region (tests.conftest: ``schema_template``,
``demo_template``).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jcjg.audit.models import AuditLog
from jcjg.auth.models import User, UserSession
from jcjg.auth.passwords import verify_password
from jcjg.cli import demo_load_lines, main
from jcjg.config import get_settings, reread_settings
from jcjg.core.db import make_engine, utcnow
from jcjg.demo.load import USERS
from tests.conftest import (
    Template,
    command_line_on,
    demo_outcome,
    demo_template,
    schema_template,
)

# The CLI builds its own SQLite engine: tested once, in the SQLite run.
pytestmark = pytest.mark.sqlite_only

COMMANDS = {"serve", "db", "demo", "users", "worker", "clients", "jobs", "calendar"}
PASSWORD_IN_OUTPUT = re.compile(r"初始密码：(\S+)（首次登录须修改）")


def _use_database(monkeypatch: pytest.MonkeyPatch, path: Path) -> str:
    """Point the CLI at ``path`` (dev settings) and forget any cached settings."""
    url = f"sqlite:///{path}"
    command_line_on(monkeypatch, url, path.parent / "data")
    return url


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, whatever its write-ahead log holds."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty database file, not yet migrated."""
    path = tmp_path / "jcjg.db"
    _use_database(monkeypatch, path)
    yield path
    get_settings.cache_clear()


def _template_file(template: Template) -> Path:
    return Path(make_url(template.url).database or "")


@pytest.fixture
def migrated(fresh: Path) -> Path:
    """The database ``jcjg db upgrade`` leaves (a copy of the run's)."""
    _copy(_template_file(schema_template()), fresh)
    return fresh


@pytest.fixture
def demo(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The database ``jcjg demo load`` leaves after ``jcjg db upgrade`` (a copy of the run's),
    with the files of its data folder and the key its secrets are sealed with."""
    template = demo_template()
    _copy(_template_file(template), fresh)
    shutil.copytree(template.data_dir, fresh.parent / "data")
    command_line_on(
        monkeypatch, f"sqlite:///{fresh}", fresh.parent / "data", secret_key=template.secret_key
    )
    return fresh


@pytest.fixture
def engine(fresh: Path) -> Iterator[Engine]:
    """An engine on the CLI's database, to look at what the commands did."""
    engine = make_engine(f"sqlite:///{fresh}")
    yield engine
    engine.dispose()


def _user(engine: Engine, username: str) -> User:
    with Session(engine) as db:
        return db.scalars(select(User).where(User.username == username)).one()


# --- help --------------------------------------------------------------------------------------


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


def test_help_lists_the_commands(fresh: Path) -> None:
    result = run("--help")
    assert result.exit_code == 0
    listed = set(re.findall(r"^  (\w+)\s", result.output, flags=re.MULTILINE))
    assert listed >= COMMANDS
    assert "命令行" in result.output


@pytest.mark.parametrize("path", _command_paths(main), ids=" ".join)
def test_every_command_answers_help(fresh: Path, path: tuple[str, ...]) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert not fresh.exists()  # asking for help touches no database


def test_every_expected_command_exists() -> None:
    paths = set(_command_paths(main))
    assert {(c,) for c in COMMANDS} <= paths
    assert {
        ("db", "upgrade"),
        ("db", "check"),
        ("demo", "load"),
        ("users", "create"),
        ("users", "passwd"),
        ("users", "lock"),
        ("users", "unlock"),
        ("jobs", "list"),
        ("jobs", "run"),
    } <= paths


def test_unknown_command_fails(fresh: Path) -> None:
    result = run("frobnicate")
    assert result.exit_code == 2
    assert "No such command" in result.output


# --- db ----------------------------------------------------------------------------------------


@pytest.mark.migrations
def test_db_upgrade_then_check(fresh: Path) -> None:
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "数据库已迁移到 head" in upgraded.output
    checked = run("db", "check")
    assert checked.exit_code == 0, checked.output
    assert "数据库为最新版本，模型与迁移一致" in checked.output


@pytest.mark.migrations
def test_db_upgrade_again_changes_nothing(migrated: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "check").exit_code == 0


def test_db_check_refuses_a_database_that_is_not_migrated(fresh: Path) -> None:
    result = run("db", "check")
    assert result.exit_code == 1
    assert "数据库不是最新版本：请运行 jcjg db upgrade" in result.output


# --- demo --------------------------------------------------------------------------------------


def test_demo_load_prints_the_accounts_once(demo: Path, engine: Engine) -> None:
    # the first load is the run's demo region (conftest._build_demo runs what the command runs
    # and keeps what it reported): printed as the command prints it
    first = "\n".join(demo_load_lines(demo_outcome())) + "\n"
    assert "已创建演示账号" in first
    assert "预警规则扫描：新增" in first
    for demo_user in USERS:
        assert re.search(rf"^  {demo_user.username}\s+\S+\s+\S", first, re.MULTILINE)
    # The printed password is the account's password.
    admin_password = re.search(r"^  admin\s+(\S+)\s", first, re.MULTILINE)
    assert admin_password
    assert verify_password(_user(engine, "admin").password_hash, admin_password.group(1))

    second = run("demo", "load")
    assert second.exit_code == 0, second.output
    assert "演示数据已存在，无新增" in second.output
    assert "已创建演示账号" not in second.output
    assert admin_password.group(1) not in second.output


# --- users -------------------------------------------------------------------------------------


def test_users_create_prints_an_initial_password(demo: Path, engine: Engine) -> None:
    result = run(
        "users", "create", "jj_new", "--role", "city_authority", "--name", "九江新账号",
        "--region", "360400",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "已创建 jj_new（市县主管部门）" in result.output
    password = PASSWORD_IN_OUTPUT.search(result.output)
    assert password, result.output
    user = _user(engine, "jj_new")
    assert (user.display_name, user.role, user.region_code) == (
        "九江新账号",
        "city_authority",
        "360400",
    )
    assert user.must_change_password is True
    assert verify_password(user.password_hash, password.group(1))
    with Session(engine) as db:
        trail = db.scalars(
            select(AuditLog).where(
                AuditLog.object_type == "user_account", AuditLog.object_id == str(user.id)
            )
        ).all()
    assert [(row.action, row.username) for row in trail] == [("create", "cli")]


def test_users_create_refuses_a_duplicate_username(demo: Path) -> None:
    result = run("users", "create", "admin", "--role", "platform_admin", "--name", "又一个")
    assert result.exit_code == 1
    assert "用户名 admin 已被使用" in result.output


def test_users_create_refuses_an_unknown_role(demo: Path, engine: Engine) -> None:
    result = run("users", "create", "new_1", "--role", "mayor", "--name", "X", "--region", "360400")
    assert result.exit_code == 2
    assert "可选角色" in result.output
    assert "city_authority" in result.output
    with Session(engine) as db:
        assert db.scalars(select(User).where(User.username == "new_1")).first() is None


def test_users_create_refuses_an_unknown_region(demo: Path, engine: Engine) -> None:
    result = run(
        "users", "create", "new_x2", "--role", "city_authority", "--name", "X",
        "--region", "369999",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "行政区划代码不存在" in result.output
    with Session(engine) as db:
        assert db.scalars(select(User).where(User.username == "new_x2")).first() is None


@pytest.mark.parametrize(
    ("username", "region", "message"),
    [
        ("ab", "360400", "username: 长度不足"),
        ("new_x4", "36040", "region_code: 行政区划代码应为 6 位 GB/T 2260 代码"),
    ],
)
def test_users_create_explains_invalid_input(
    demo: Path, username: str, region: str, message: str
) -> None:
    result = run(
        "users", "create", username, "--role", "city_authority", "--name", "X",
        "--region", region,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "提交的数据有字段不符合要求" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_users_create_refuses_an_unknown_institution(demo: Path) -> None:
    result = run(
        "users", "create", "new_x3", "--role", "institution_staff", "--name", "X",
        "--institution", "NO-SUCH-LAB",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "检测机构 NO-SUCH-LAB 不存在" in result.output


def test_users_create_for_an_institution(demo: Path, engine: Engine) -> None:
    result = run(
        "users", "create", "lab_new", "--role", "institution_staff", "--name", "检测员",
        "--institution", "JC360403-0001",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = _user(engine, "lab_new")
    assert user.institution_id is not None
    assert user.region_code == "360403"  # the institution's region


def test_users_passwd_sets_a_new_password_and_ends_sessions(demo: Path, engine: Engine) -> None:
    before = _user(engine, "jj_city")
    with Session(engine) as db:
        db.add(UserSession(token_hash="a" * 64, user_id=before.id, csrf_token="c"))
        db.commit()
    result = run("users", "passwd", "jj_city")
    assert result.exit_code == 0, result.output
    match = re.search(r"jj_city 的新密码：(\S+)（下次登录须修改）", result.output)
    assert match, result.output
    after = _user(engine, "jj_city")
    assert after.password_hash != before.password_hash
    assert verify_password(after.password_hash, match.group(1))
    assert after.must_change_password is True
    with Session(engine) as db:
        assert db.scalars(select(UserSession).where(UserSession.user_id == after.id)).all() == []


def test_users_lock_and_unlock(demo: Path, engine: Engine) -> None:
    user = _user(engine, "jj_city")
    with Session(engine) as db:
        db.add(UserSession(token_hash="b" * 64, user_id=user.id, csrf_token="c"))
        db.get_one(User, user.id).failed_logins = 3
        db.commit()

    locked = run("users", "lock", "jj_city")
    assert locked.exit_code == 0, locked.output
    assert "已锁定 jj_city" in locked.output
    user = _user(engine, "jj_city")
    assert user.locked_until is not None
    assert user.locked_until > utcnow() + dt.timedelta(days=365)
    with Session(engine) as db:
        assert db.scalars(select(UserSession).where(UserSession.user_id == user.id)).all() == []

    unlocked = run("users", "unlock", "jj_city")
    assert unlocked.exit_code == 0, unlocked.output
    assert "已解锁 jj_city" in unlocked.output
    user = _user(engine, "jj_city")
    assert user.locked_until is None
    assert user.failed_logins == 0


@pytest.mark.parametrize("command", ["passwd", "lock", "unlock"])
def test_users_commands_refuse_an_unknown_user(demo: Path, command: str) -> None:
    result = run("users", command, "nobody")
    assert result.exit_code == 1
    assert "用户 nobody 不存在" in result.output


# --- worker ------------------------------------------------------------------------------------


def test_worker_once_runs_the_due_jobs(migrated: Path) -> None:
    first = run("worker", "--once")
    assert first.exit_code == 0, first.output
    assert "auth.purge_sessions: succeeded" in first.output
    second = run("worker", "--once")  # the same minute: nothing is due again
    assert second.exit_code == 0, second.output
    # but a job every few seconds (ledger.integrate, 5 s) when the first pass took longer
    from jcjg.core.jobs import registered

    again = [line.split(":")[0] for line in second.output.splitlines()]
    assert all(registered()[name].every.total_seconds() < 60 for name in again), again


def test_jobs_run_one_on_demand_and_list_them(migrated: Path, engine: Engine) -> None:
    from jcjg.core.jobs import JobRun

    listed = run("jobs", "list")
    assert listed.exit_code == 0, listed.output
    assert "auth.purge_sessions" in listed.output
    assert "从未运行" in listed.output
    ran = run("jobs", "run", "auth.purge_sessions")
    assert ran.exit_code == 0, ran.output
    assert ran.output.rstrip().endswith("auth.purge_sessions: succeeded")
    with Session(engine) as db:
        assert db.scalars(
            select(JobRun.status).where(JobRun.name == "auth.purge_sessions")
        ).all() == ["succeeded"]
    again = run("jobs", "list")
    assert re.search(r"auth\.purge_sessions\t.*最近 succeeded", again.output)
    unknown = CliRunner().invoke(main, ["jobs", "run", "no.such_job"])
    assert unknown.exit_code == 1
    assert "没有名为 no.such_job 的定时任务" in unknown.output
    assert "auth.purge_sessions" in unknown.output


def test_jobs_run_in_a_fresh_process(migrated: Path, engine: Engine) -> None:
    """The command as an operator types it: a new interpreter, where nothing installed the
    domains before the command asks for their jobs (a crash once)."""
    import subprocess
    import sys

    from jcjg.core.jobs import JobRun

    done = subprocess.run(
        [sys.executable, "-c", "from jcjg.cli import main; main()", "jobs", "run",
         "auth.purge_sessions"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.rstrip().endswith("auth.purge_sessions: succeeded")
    with Session(engine) as db:
        assert db.scalars(select(JobRun.status)).all() == ["succeeded"]


def test_calendar_lists_holidays_and_weekend_workdays(fresh: Path) -> None:
    shown = run("calendar", "2026")
    assert shown.exit_code == 0, shown.output
    assert "2026-10-01\t星期四\t放假\t国庆节" in shown.output
    assert "2026-01-04\t星期日\t调休上班\t元旦" in shown.output
    assert "2026-10-05" in shown.output  # a Monday off
    assert "2026-10-12" not in shown.output  # an ordinary Monday
    beyond = run("calendar", "2099")
    assert beyond.exit_code == 0
    assert "未收录 2099 年" in beyond.output
    assert CliRunner().invoke(main, ["calendar", "1999"]).exit_code == 2


# --- clients ------------------------------------------------------------------------------------


def _first_institution(engine: Engine) -> str:
    from jcjg.tenancy.models import Institution

    with Session(engine) as db:
        return db.scalars(select(Institution.code).order_by(Institution.id)).first() or ""


def test_clients_create_hmac_prints_the_secret_once(demo: Path, engine: Engine) -> None:
    import base64
    import json

    from jcjg.exchange.models import ClientKey

    code = _first_institution(engine)
    result = run("clients", "create", "--institution", code, "--alg", "hmac-sha256")
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)
    assert issued["alg"] == "hmac-sha256"
    assert len(base64.b64decode(issued["secret"])) == 32
    with Session(engine) as db:
        key = db.scalars(select(ClientKey).where(ClientKey.key_id == issued["key_id"])).one()
        assert base64.b64decode(issued["secret"]) not in key.key_material  # sealed, not clear
        assert key.client.status == "active"
    # the demo's own clients (the demo lab's systems) are listed too: find the new one
    [mine] = [
        c
        for c in json.loads(run("clients", "list").output)
        if any(k["key_id"] == issued["key_id"] for k in c["keys"])
    ]
    assert mine["keys"][0] == {
        "key_id": issued["key_id"],
        "alg": "hmac-sha256",
        "state": "valid",
        "valid_from": mine["keys"][0]["valid_from"],
        "valid_until": mine["keys"][0]["valid_until"],
    }
    assert "secret" not in run("clients", "list").output


def test_clients_create_ed25519_rotate_and_revoke(
    demo: Path, engine: Engine, tmp_path: Path
) -> None:
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def pem_file(name: str) -> Path:
        public = Ed25519PrivateKey.generate().public_key()
        path = tmp_path / name
        path.write_bytes(
            public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return path

    code = _first_institution(engine)
    first = json.loads(
        run(
            "clients", "create", "--institution", code, "--public-key", str(pem_file("a.pem"))
        ).output
    )
    assert first["alg"] == "ed25519"
    assert first["secret"] is None
    # Without a public key an ed25519 key cannot be issued; a bad one is refused in Chinese.
    missing = CliRunner().invoke(main, ["clients", "create", "--institution", code])
    assert missing.exit_code != 0
    assert "公钥" in missing.output
    garbage = tmp_path / "bad.pem"
    garbage.write_text("not a key")
    bad = CliRunner().invoke(
        main, ["clients", "create", "--institution", code, "--public-key", str(garbage)]
    )
    assert bad.exit_code != 0
    assert "公钥格式不正确" in bad.output
    rotated = json.loads(
        run(
            "clients",
            "rotate",
            first["key_id"],
            "--public-key",
            str(pem_file("b.pem")),
            "--overlap-days",
            "3",
        ).output
    )
    assert rotated["key_id"] != first["key_id"]

    def listed_keys() -> dict[str, dict[str, str]]:  # of every client, the demo's too
        return {
            k["key_id"]: k for c in json.loads(run("clients", "list").output) for k in c["keys"]
        }

    keys = listed_keys()
    old_until = dt.datetime.fromisoformat(keys[first["key_id"]]["valid_until"])
    assert dt.timedelta(days=2) < old_until - utcnow() <= dt.timedelta(days=3)
    assert keys[rotated["key_id"]]["state"] == "valid"
    assert run("clients", "revoke", first["key_id"], "--reason", "离职人员曾接触").exit_code == 0
    keys = listed_keys()
    assert keys[first["key_id"]]["state"] == "revoked"
    again = CliRunner().invoke(main, ["clients", "revoke", first["key_id"], "--reason", "x"])
    assert again.exit_code != 0


def test_clients_create_sm2_and_a_key_of_the_other_kind_refused(
    demo: Path, engine: Engine, tmp_path: Path
) -> None:
    """An SM2 public key issues an sm2-sm3 key; an Ed25519 PEM given as SM2, or an SM2 PEM
    given as Ed25519, is refused in Chinese (not a crash)."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from jcjg.exchange.signatures import SM2SigningKey

    code = _first_institution(engine)
    sm2 = tmp_path / "sm2.pem"
    sm2.write_bytes(SM2SigningKey.generate().verifying_key().public_pem())
    ed = tmp_path / "ed.pem"
    ed.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    made = json.loads(
        run(
            "clients", "create", "--institution", code, "--alg", "sm2-sm3", "--public-key", str(sm2)
        ).output
    )
    assert made["alg"] == "sm2-sm3"
    assert len(base64.b64decode(made["public_key"])) == 65
    for alg, path in (("sm2-sm3", ed), ("ed25519", sm2)):
        args = ["clients", "create", "--institution", code, "--alg", alg, "--public-key", str(path)]
        refused = CliRunner().invoke(main, args)
        assert refused.exit_code == 1, refused.output
        assert "公钥格式不正确" in refused.output


def test_clients_create_refuses_unknown_institution_and_needs_one_target(demo: Path) -> None:
    unknown = CliRunner().invoke(main, ["clients", "create", "--institution", "NOPE"])
    assert unknown.exit_code != 0
    assert "NOPE" in unknown.output
    neither = CliRunner().invoke(main, ["clients", "create", "--alg", "hmac-sha256"])
    assert neither.exit_code != 0


def test_a_time_driven_job_runs_as_of_another_time(migrated: Path, engine: Engine) -> None:
    """A vendor's test of a deadline needs no waiting: ``--as-of`` runs a job that judges time
    as of the moment given (test deployments only); the run's log says so."""
    from jcjg.core.jobs import JobRun

    ran = run("jobs", "run", "alerts.escalate", "--as-of", "2027-01-04T09:00+08:00")
    assert ran.exit_code == 0, ran.output
    assert "按指定时刻 2027-01-04T01:00:00+00:00 运行（as-of）" in ran.output
    with Session(engine) as db:
        [logged] = db.scalars(select(JobRun.log).where(JobRun.name == "alerts.escalate")).all()
    assert "as-of" in logged
    refused = {
        ("auth.purge_sessions", "2027-01-04T09:00+08:00"): "不按时刻判断，不能用 --as-of",
        ("alerts.sweep", "2027-01-04T09:00"): "须带时区",
        ("alerts.sweep", "next monday"): "应为带时区的时间",
    }
    for (name, moment), said in refused.items():
        answer = CliRunner().invoke(main, ["jobs", "run", name, "--as-of", moment])
        assert answer.exit_code == 1, answer.output
        assert said in answer.output
        assert "alerts.sweep" in answer.output or "时区" in answer.output


def test_as_of_is_refused_in_production(migrated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JCJG_ENV", "prod")
    monkeypatch.setenv("JCJG_SECRET_KEY", "a-production-secret-of-enough-length-0123456789")
    reread_settings()
    try:
        answer = CliRunner().invoke(
            main, ["jobs", "run", "alerts.sweep", "--as-of", "2027-01-04T09:00+08:00"]
        )
    finally:
        monkeypatch.undo()
        reread_settings()
    assert answer.exit_code == 1
    assert "只用于测试环境" in answer.output


def test_a_job_reads_its_as_of_time(migrated: Path) -> None:
    import datetime as dt_

    from jcjg.core import jobs
    from jcjg.core.commands import session_factory

    seen: list[dt_.datetime] = []
    timed = jobs.Job(
        "test.timed",
        "按时刻",
        dt_.timedelta(hours=1),
        lambda db, log: seen.append(jobs.now()),
        as_of=True,
    )
    untimed = jobs.Job("test.untimed", "不按时刻", dt_.timedelta(hours=1), lambda db, log: None)
    factory = session_factory()
    moment = dt_.datetime(2027, 1, 4, 1, 0, tzinfo=dt_.UTC)
    try:
        jobs.run_job(factory, timed, as_of=moment)
        jobs.run_job(factory, timed)
        with pytest.raises(ValueError, match="不能指定 as-of"):
            jobs.run_job(factory, untimed, as_of=moment)
    finally:
        factory.kw["bind"].dispose()
    assert seen[0] == moment
    assert abs((seen[1] - utcnow()).total_seconds()) < 60  # now again after the run


def test_conformance_report_says_what_is_wrong_with_its_arguments(migrated: Path) -> None:
    unknown_type = CliRunner().invoke(
        main, ["conformance", "report", "--key-id", "k", "--log", "x.jsonl", "--types", "project"]
    )
    assert unknown_type.exit_code == 2
    assert "不是检测机构可报送的消息类型：project" in unknown_type.output
    no_key = CliRunner().invoke(
        main, ["conformance", "report", "--key-id", "k", "--log", "x.jsonl"]
    )
    assert no_key.exit_code == 1
    assert "没有密钥 k" in no_key.output
    no_log = CliRunner().invoke(main, ["conformance", "report", "--key-id", "k"])
    assert no_log.exit_code == 2
    assert "JCJG_EXCHANGE_CONFORMANCE_LOG" in no_log.output


def test_import_legacy_reports(migrated: Path, engine: Engine, tmp_path: Path) -> None:
    """``jcjg import legacy-reports``: the count, or every problem and nothing imported."""
    from jcjg.reports.models import LegacyReport

    head = "监管码,报告编号,检测机构,签发日期\n"
    good = tmp_path / "old.csv"
    good.write_text(head + "CMD00001,BG-1,甲检测,2020-01-01\n", encoding="utf-8")
    result = run("import", "legacy-reports", str(good), "--source", "旧平台")
    assert result.exit_code == 0, result.output
    assert "已导入 1 份" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(head + "X,BG-1,甲检测,2020-01-01\nCMD00002,BG-2,乙检测,2020-01-01\n")
    refused = CliRunner().invoke(main, ["import", "legacy-reports", str(bad), "--source", "旧"])
    assert refused.exit_code == 1
    assert "第 2 行 监管码" in refused.output
    assert "一份也没有导入" in refused.output
    with Session(engine) as db:
        assert [r.code for r in db.scalars(select(LegacyReport))] == ["CMD00001"]


def test_network_add_child_and_resume(migrated: Path, engine: Engine) -> None:
    from jcjg.ledger.note import generate_signer
    from jcjg.networking.models import Child

    _skey, vkey = generate_signer("jcjg.nc.example.cn/ledger")
    result = run("network", "add-child", "--name", "南昌市平台", "--region", "360100",
                 "--url", "https://jcjg.nc.example.cn", "--log-key", vkey)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "JCJG_UPSTREAM_KEY_ID=c" in result.output
    assert "JCJG_UPSTREAM_KEY=" in result.output  # the HMAC secret, once
    again = CliRunner().invoke(main, ["network", "add-child", "--name", "又一个",
                                      "--region", "360100", "--url", "https://x.example.cn",
                                      "--log-key", vkey])  # fmt: skip
    assert again.exit_code == 1
    assert "已登记为下级平台" in again.output
    bad = CliRunner().invoke(main, ["network", "add-child", "--name", "坏", "--region", "999999",
                                    "--url", "ftp://x", "--log-key", "nonsense"])  # fmt: skip
    assert bad.exit_code == 1
    not_halted = CliRunner().invoke(main, ["network", "resume", "南昌市平台"])
    assert "未暂停" in not_halted.output
    with Session(engine) as db:
        child = db.scalars(select(Child)).one()
        child.status = "halted"
        db.commit()
    assert run("network", "resume", "南昌市平台").exit_code == 0
    with Session(engine) as db:
        assert db.scalars(select(Child)).one().status == "active"
    unconfigured = CliRunner().invoke(main, ["network", "forward", "--once"])
    assert unconfigured.exit_code == 1
    assert "未配置上级平台" in unconfigured.output
