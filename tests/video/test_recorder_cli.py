"""``jcjg video record``: runs the recorder for a while and ends cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from jcjg.cli import main
from tests.conftest import command_line_on


def test_video_record_runs_and_stops(
    monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> None:
    command_line_on(monkeypatch, database_url, tmp_path / "data")
    result = CliRunner().invoke(
        main,
        ["video", "record", "--holder", "cli-test", "--capacity", "2", "--seconds", "0.3"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    assert "录像服务 cli-test：最多 2 路" in result.output
    assert "已入库片段 0 个" in result.output


def test_video_record_help_speaks_chinese() -> None:
    result = CliRunner().invoke(main, ["video", "record", "--help"])
    assert result.exit_code == 0
    assert "运行录像服务" in result.output
