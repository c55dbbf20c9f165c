"""``jcjg institutions create`` / ``list`` (provisioning a production platform from the
command line, issue 42 item 4): the page's checks, the platform's code, the audit trail, and
nothing written for a refusal; on both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from jcjg.audit.models import AuditLog
from jcjg.cli import main
from jcjg.core.db import make_engine
from jcjg.registry.codes import check_character
from jcjg.tenancy.models import Institution
from tests.conftest import command_line_on, row_counts, upgraded_database_url

pytestmark = pytest.mark.sqlite  # the embedded default's path too


def _credit(first17: str = "91360402MA38B5YT8") -> str:
    return first17 + check_character(first17)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url, drop = upgraded_database_url(tmp_path)
    command_line_on(monkeypatch, url, tmp_path / "data", env="prod",
                    secret_key="prod-secret-" + "k" * 40)  # fmt: skip
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop()


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_an_institution_is_registered_and_listed(engine: Engine) -> None:
    made = run("institutions", "create", "--name", "九江市建设工程质量检测中心",
               "--credit-code", _credit(), "--region", "360402",
               "--address", "九江市濂溪区长虹大道 1 号", "--phone", "0792-8123456")  # fmt: skip
    assert made.exit_code == 0, made.output
    shown = json.loads(made.output)
    assert shown == {
        "code": "JC360402-0001", "name": "九江市建设工程质量检测中心", "credit_code": _credit(),
        "region_code": "360402", "status": "active",
    }  # fmt: skip
    second = run("institutions", "create", "--name", "南昌检测", "--credit-code",
                 _credit("91360100MA38B5YT8"), "--region", "360102")  # fmt: skip
    assert second.exit_code == 0, second.output
    with engine.connect() as conn:
        row = conn.execute(select(Institution).where(Institution.code == "JC360402-0001")).one()
        assert row.registered_address == "九江市濂溪区长虹大道 1 号"
        trail = conn.execute(
            select(AuditLog.username, AuditLog.ip).where(
                AuditLog.object_type == "institution", AuditLog.object_id == str(row.id)
            )
        ).all()
    assert trail == [("cli", "local")]
    listed = run("institutions", "list")
    assert [json.loads(line)["code"] for line in listed.output.splitlines()] == [
        "JC360102-0001", "JC360402-0001",
    ]  # fmt: skip
    only = run("institutions", "list", "--region", "360400")
    assert [json.loads(line)["name"] for line in only.output.splitlines()] == [
        "九江市建设工程质量检测中心"
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--credit-code", "91360402MA38B5YT8X", "--region", "360402"), "统一社会信用代码无效"),
        (("--credit-code", _credit(), "--region", "999999"), "region_code"),
        (("--credit-code", _credit(), "--region", "36040\x00"), "region_code"),
        (("--credit-code", _credit(), "--region", "360402", "--phone", "x" * 40), "phone"),
    ],
)
def test_a_refusal_says_why_and_writes_nothing(
    engine: Engine, args: tuple[str, ...], says: str
) -> None:
    before = row_counts(engine)
    refused = run("institutions", "create", "--name", "九江检测", *args)
    assert refused.exit_code == 1, refused.output
    assert says in refused.output
    assert "Traceback" not in refused.output
    assert row_counts(engine) == before


def test_a_credit_code_is_one_institutions(engine: Engine) -> None:
    assert run("institutions", "create", "--name", "甲", "--credit-code", _credit(),
               "--region", "360402").exit_code == 0  # fmt: skip
    again = run("institutions", "create", "--name", "乙", "--credit-code", _credit(),
                "--region", "360403")  # fmt: skip
    assert again.exit_code == 1
    assert "已被其他检测机构使用" in again.output
