"""``JCJG_ENV=prod``: the demo and the simulator refuse, in Chinese, and write nothing.

The commands run in-process against the session's database (SQLite or PostgreSQL) with a
production secret configured, so that the refusal, not the settings check, is what stops them.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from jcjg.cli import main
from jcjg.config import Settings, get_settings
from jcjg.demo.guard import DemoRefused, refuse_in_production
from tests.conftest import command_line_on, row_counts


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path) -> None:
    command_line_on(monkeypatch, database_url, tmp_path / "data", "prod", secret_key="p" * 48)
    assert get_settings().env == "prod"  # the settings themselves are accepted
    yield
    get_settings.cache_clear()


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the server must not start")

    monkeypatch.setattr(uvicorn, "run", refuse)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["demo", "load"], "不能加载演示数据"),
        (["serve", "--simulate"], "不能带 --simulate 启动"),
        (["simulate", "--institutions", "1", "--days", "1"], "不能运行 jcjg simulate"),
    ],
    ids=["demo load", "serve --simulate", "simulate"],
)
def test_production_refuses_and_writes_nothing(
    production: None, no_server: None, engine: Engine, args: list[str], words: str
) -> None:
    before = row_counts(engine)
    assert before["region"] > 3000
    assert before["specialty"] > 0
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert words in result.output
    assert "JCJG_ENV=prod" in result.output
    assert "存证日志" in result.output  # and says why
    assert row_counts(engine) == before


def test_the_libraries_refuse_too(production: None, db) -> None:
    from jcjg.demo.load import load

    with pytest.raises(DemoRefused, match="不能加载演示数据"):
        load(db, get_settings())


@pytest.mark.parametrize("env", ["dev", "test"])
def test_dev_and_test_allow_them(env: str) -> None:
    settings = Settings(env=env, secret_key="s" * 32)
    for command in ("demo load", "serve --simulate", "simulate"):
        refuse_in_production(settings, command)  # no exception
