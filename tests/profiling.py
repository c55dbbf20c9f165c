"""Where the suite's time goes (``make test-profile``; CONTRIBUTING.md, "Tests").

``pytest --profile-suite=PATH`` records every test's set-up, call and tear-down time (on the
pytest-xdist controller, which receives every worker's reports), writes them with the run's
database and wall time to ``PATH`` (JSON) and prints the run's profile after the results: the
slowest tests and set-ups and the time per folder. Each phase's CPU time is
recorded beside it (the worker's, all its threads, and its children's reaped meanwhile: servers
and commands the test started): on a machine the runs share, a test's wall time is much what
the others do, its CPU time what it costs. ``python -m tests.profiling FILE...`` prints
one table over several runs (``make test-profile`` passes the SQLite and the PostgreSQL run's),
a column per database.

A set-up's time is what the fixtures it started took: a module's or a worker's fixture (a
database, a live server, a browser) is counted in the first test that asked for it.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import pytest

SLOWEST = 30


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("jcjg").addoption(
        "--profile-suite",
        metavar="PATH",
        default=None,
        help="write every test's set-up, call and tear-down times to PATH (JSON; {database} in "
        "it names the run's database) and print the slowest tests and set-ups and the time per "
        "folder",
    )


def _cpu() -> float:
    """CPU seconds of this process (every thread) and of its children reaped so far."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class _CpuClock:
    """In the process that runs the tests: each phase's CPU time, as a report property."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        started = item.stash.get(_STARTED, None)
        if started is not None:
            outcome.get_result().user_properties.append(("cpu", round(_cpu() - started, 4)))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        item.stash[_STARTED] = _cpu()
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        item.stash[_STARTED] = _cpu()
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Any:
        item.stash[_STARTED] = _cpu()
        yield


_STARTED = pytest.StashKey[float]()


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--profile-suite")
    if path:
        config.pluginmanager.register(_CpuClock(), "jcjg-profile-cpu")
    if path and not hasattr(config, "workerinput"):  # the controller sees every report
        # "{database}" in PATH names the run's database, so `make test PYTEST_ARGS=...` can
        # profile both of its runs at once
        path = path.replace("{database}", os.environ.get("JCJG_TEST_DATABASE", "sqlite"))
        config.pluginmanager.register(_Recorder(Path(path), config), "jcjg-profile")


class _Recorder:
    def __init__(self, path: Path, config: pytest.Config) -> None:
        self.path = path
        self.workers = getattr(config.option, "numprocesses", None) or 1
        self.started = time.monotonic()
        self.tests: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = self.tests.setdefault(
            report.nodeid,
            {"setup": 0.0, "call": 0.0, "teardown": 0.0, "cpu": 0.0, "outcome": "passed"},
        )
        row[report.when] = round(report.duration, 4)
        row["cpu"] += dict(report.user_properties).get("cpu", 0.0)
        node = getattr(report, "node", None)  # pytest-xdist: the worker that ran it
        row["worker"] = getattr(getattr(node, "gateway", None), "id", "main")
        row["ended"] = round(time.monotonic() - self.started, 2)
        if report.outcome != "passed" and row["outcome"] == "passed":
            row["outcome"] = report.outcome

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        run = {
            "database": os.environ.get("JCJG_TEST_DATABASE", "sqlite"),
            "wall": round(time.monotonic() - self.started, 1),
            "workers": self.workers,
            "tests": self.tests,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(run, indent=0))
        terminalreporter.write_sep("=", f"profile ({self.path})")
        report([run], terminalreporter._tw)  # type: ignore[attr-defined]


def folder(nodeid: str) -> str:
    """``tests/alerts/test_api.py::x`` is in ``alerts``; a module at the top is its own."""
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[1] if len(parts) > 2 else parts[-1]


def total(row: dict[str, Any]) -> float:
    return float(row["setup"] + row["call"] + row["teardown"])


def report(runs: Iterable[dict[str, Any]], out: TextIO | Any = sys.stdout) -> None:
    """The slowest tests and set-ups over ``runs``, and each folder's time per database."""
    runs = list(runs)

    def line(text: str = "") -> None:
        out.write(text + "\n")

    timed = [(row, nodeid, run["database"]) for run in runs for nodeid, row in run["tests"].items()]
    line(f"The {SLOWEST} slowest tests (set-up + call + tear-down, seconds):")
    for row, nodeid, db in sorted(timed, key=lambda t: -total(t[0]))[:SLOWEST]:
        line(f"{total(row):8.1f}  {db:10}  {nodeid}")
    line()
    if any(row.get("cpu") for row, _, _ in timed):
        line(f"The {SLOWEST} tests that cost the most CPU (set-up + call + tear-down, seconds):")
        for row, nodeid, db in sorted(timed, key=lambda t: -t[0].get("cpu", 0.0))[:SLOWEST]:
            line(f"{row['cpu']:8.1f}  {db:10}  {nodeid}")
        line()
    line(f"The {SLOWEST} slowest set-ups (the fixtures the test was first to ask for):")
    for row, nodeid, db in sorted(timed, key=lambda t: -t[0]["setup"])[:SLOWEST]:
        line(f"{row['setup']:8.1f}  {db:10}  {nodeid}")
    line()
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0, 0.0]))
    for row, nodeid, db in timed:
        cell = per[folder(nodeid)][db]
        cell[0] += total(row)
        cell[1] += row["outcome"] == "passed"
        cell[2] += row.get("cpu", 0.0)
    databases = [run["database"] for run in runs]
    head = "".join(f"{db + ' s':>14}{'cpu s':>8}{'passed':>8}" for db in databases)
    line(f"Time and CPU per folder (summed over the workers):\n{'folder':24}{head}")
    sums = {db: [0.0, 0, 0.0] for db in databases}
    for name in sorted(per, key=lambda f: -sum(c[0] for c in per[f].values())):
        cells = ""
        for db in databases:
            seconds, passed, cpu = per[name].get(db, [0.0, 0, 0.0])
            sums[db][0] += seconds
            sums[db][1] += int(passed)
            sums[db][2] += cpu
            cells += f"{seconds:14.1f}{cpu:8.1f}{int(passed):8d}"
        line(f"{name:24}{cells}")
    line(f"{'all':24}" + "".join(f"{s:14.1f}{c:8.1f}{int(p):8d}" for s, p, c in sums.values()))
    line(
        f"{'wall clock':24}"
        + "".join(f"{run['wall']:14.1f}{'':8}{str(run['workers']) + ' wk':>8}" for run in runs)
    )
    line()
    line("Per worker: tests' time, the first report (after start-up and collection) and the")
    line("last (the worker idles from then to the end of the run), seconds into the run:")
    for run in runs:
        workers: dict[str, list[float]] = defaultdict(lambda: [0.0, float("inf"), 0.0])
        for row in run["tests"].values():
            if "ended" not in row:
                continue
            cell = workers[row["worker"]]
            cell[0] += total(row)
            cell[1] = min(cell[1], row["ended"] - total(row))
            cell[2] = max(cell[2], row["ended"])
        for name, (busy, first, last) in sorted(workers.items()):
            line(
                f"  {run['database']:10} {name:6} busy {busy:8.1f}  first {first:6.1f}"
                f"  last {last:8.1f}  idle at the end {run['wall'] - last:6.1f}"
            )


if __name__ == "__main__":
    files = [Path(arg) for arg in sys.argv[1:] if Path(arg).exists()]
    if not files:
        sys.exit(
            "usage: python -m tests.profiling PROFILE.json ... (make test-profile writes them)"
        )
    report(json.loads(f.read_text()) for f in files)
