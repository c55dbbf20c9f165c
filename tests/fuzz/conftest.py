"""The fuzz tests' world, and their totals at the end of the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jcjg.config import Settings
from tests.fuzz.harness import RUN, World, world


@pytest.fixture
def fuzz_world(tmp_path: Path, settings: Settings) -> Iterator[World]:
    with world(tmp_path, settings) as w:
        yield w


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures of the fuzz tests this process ran: each class found with its first
    reproducer, and the `FUZZ requests=… server_errors=… schema_violations=…` line."""
    if RUN.requests:
        terminalreporter.section("fuzzing")
        terminalreporter.write_line(RUN.report())
