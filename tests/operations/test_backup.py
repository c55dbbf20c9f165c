"""Backups (docs/operations/backups.md) on the run's database, PostgreSQL and SQLite: ``jcjg
backup`` makes one with a signed manifest; ``jcjg backup verify`` restores it into a scratch
database and finds the ledger's root as it was; ``jcjg restore`` brings it into an empty
database and folder; an altered file or manifest, a non-empty target, another log's key are
each refused in Chinese; the oldest backups beyond the kept number go."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.cli import main
from jcjg.config import get_settings
from jcjg.core.blobs import LocalBlobStore
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from jcjg.ledger.note import generate_signer
from jcjg.operations.models import Backup
from tests.conftest import command_line_on, fresh_database_url, upgraded_database_url

pytestmark = pytest.mark.sqlite


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A platform's database (a copy of the run's, on its backend) with a few notarised
    entries and a file, the command line pointed at it; its URL and data folder."""
    url, drop = upgraded_database_url(tmp_path)
    data = tmp_path / "data"
    command_line_on(monkeypatch, url, data)
    monkeypatch.setattr(ledger, "_identity", ledger.log_identity())  # kept for the next tests
    ledger.configure(get_settings())
    engine = make_engine(url)
    with Session(engine) as db:
        for n in range(5):
            ledger.notarise(db, "test:backup", {"n": n})
        ledger.integrate(db)
        ledger.ensure_checkpoint(db)
        db.commit()
    engine.dispose()
    LocalBlobStore(data / "blobs").put("检测报告".encode())
    yield url, data
    get_settings.cache_clear()
    drop()


def _leaves(url: str) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            return db.scalar(select(func.count()).select_from(LedgerLeaf)) or 0
    finally:
        engine.dispose()


def test_backup_verify_and_restore(platform, tmp_path: Path) -> None:
    url, _data = platform
    backups = tmp_path / "backups"
    made = run("backup", "--dir", str(backups))
    assert made.exit_code == 0, made.output
    assert "已备份到" in made.output
    (path,) = sorted(backups.iterdir())
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["ledger"]["size"] >= 5
    assert [f["path"] for f in manifest["files"]][-1].startswith("files/")
    assert any(f["path"].startswith("files/blobs/") for f in manifest["files"])
    assert any(f["path"] == "files/ledger/signing.key" for f in manifest["files"])
    engine = make_engine(url)
    with Session(engine) as db:
        record = db.scalars(select(Backup)).one()
        assert (record.status, record.path) == ("succeeded", str(path))
    engine.dispose()

    checked = run("backup", "verify", str(path))
    assert checked.exit_code == 0, checked.output
    assert "备份完好" in checked.output
    assert manifest["ledger"]["root"] in checked.output

    target, drop = fresh_database_url(tmp_path)
    try:
        key = ledger.log_identity().vkey
        restored = run("restore", str(path), "--database-url", target, "--data-dir",
                       str(tmp_path / "restored"), "--log-key", key)  # fmt: skip
        assert restored.exit_code == 0, restored.output
        assert _leaves(target) == _leaves(url)
        blob = next((tmp_path / "restored" / "blobs").rglob("*"))
        assert blob.exists()
        again = run("restore", str(path), "--database-url", target, "--data-dir",
                    str(tmp_path / "elsewhere"), "--log-key", key)  # fmt: skip
        assert again.exit_code == 1
        assert "只能恢复到新" in again.output
    finally:
        drop()


@pytest.mark.sqlite_run  # the manifest's and the folder's checks, whatever the database
def test_an_altered_backup_or_another_logs_key_is_refused(platform, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    assert run("backup", "--dir", str(backups)).exit_code == 0
    (path,) = sorted(backups.iterdir())

    altered = tmp_path / "altered"
    shutil.copytree(path, altered)
    files = [p for p in (altered / "files" / "blobs").rglob("*") if p.is_file()]
    files[0].write_bytes(b"forged")
    refused = run("backup", "verify", str(altered))
    assert refused.exit_code == 1
    assert "哈希不符" in refused.output

    rewritten = tmp_path / "rewritten"
    shutil.copytree(path, rewritten)
    manifest = json.loads((rewritten / "manifest.json").read_text())
    manifest["ledger"]["size"] = 1
    (rewritten / "manifest.json").write_text(json.dumps(manifest))
    refused = run("backup", "verify", str(rewritten))
    assert refused.exit_code == 1
    assert "清单被改动过" in refused.output

    stranger = generate_signer("elsewhere.example.cn/ledger")[1]
    refused = run("backup", "verify", str(path), "--log-key", stranger)
    assert refused.exit_code == 1
    assert "无法用本平台日志公钥核验" in refused.output


@pytest.mark.sqlite_run  # the manifest's and the folder's checks, whatever the database
def test_the_oldest_backups_beyond_the_kept_number_go(platform, tmp_path: Path) -> None:
    from jcjg.operations.backup import prune

    backups = tmp_path / "backups"
    assert run("backup", "--dir", str(backups), "--keep", "2").exit_code == 0
    (made,) = backups.iterdir()
    for older in ("jcjg-20261101T010000Z", "jcjg-20261102T010000Z"):  # earlier days' backups
        shutil.copytree(made, backups / older)
    assert [p.name for p in prune(backups, 2)] == ["jcjg-20261101T010000Z"]
    kept = run("backup", "list", "--dir", str(backups))
    assert kept.exit_code == 0
    assert [Path(line).name for line in kept.output.split()] == [
        "jcjg-20261102T010000Z", made.name,
    ]  # fmt: skip
    assert run("backup", "--dir", str(backups), "--keep", "0").exit_code == 2  # at least 1


@pytest.mark.sqlite_run  # the manifest's and the folder's checks, whatever the database
def test_a_failed_backup_is_recorded_and_the_daily_job_backs_up_when_told_where(
    platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jcjg.core import jobs
    from jcjg.operations.jobs import daily_backup

    url, _data = platform
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    failed = run("backup", "--dir", str(blocked))
    assert failed.exit_code == 1
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as db:
        row = db.scalars(select(Backup)).one()
        assert row.status == "failed"
        assert row.error
    assert jobs.run_job(factory, daily_backup).status == "succeeded"  # no folder: nothing
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(Backup)) == 1
    monkeypatch.setenv("JCJG_BACKUP_DIR", str(tmp_path / "daily"))
    get_settings.cache_clear()
    assert jobs.run_job(factory, daily_backup).status == "succeeded"  # the backup started
    deadline = time.monotonic() + 90
    while True:  # a process of its own: the other jobs go on meanwhile
        with factory() as db:
            statuses = db.scalars(select(Backup.status).order_by(Backup.id)).all()
        if (statuses[-1] != "failed" and statuses[-1] != "running") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert statuses == ["failed", "succeeded"], (tmp_path / "daily" / "backup.log").read_text()
    from jcjg.operations.jobs import _STARTED

    for process in _STARTED:
        process.wait(timeout=30)
    _STARTED.clear()
    assert len([p for p in (tmp_path / "daily").iterdir() if p.name.startswith("jcjg-")]) == 1
    engine.dispose()


def _resign(backup: Path, manifest: dict) -> None:
    """Write ``manifest`` into ``backup`` signed with the log's key, as someone holding a
    backup (whose files hold that key) could."""
    from jcjg.operations.backup import _sign

    body = json.dumps(manifest, ensure_ascii=False, indent=1).encode() + b"\n"
    (backup / "manifest.json").write_bytes(body)
    (backup / "manifest.sig").write_bytes(_sign(body, ledger.log_identity().signer))


@pytest.mark.sqlite_run  # the manifest's and the folder's checks, whatever the database
def test_a_manifest_cannot_place_files_outside_the_restore(platform, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    assert run("backup", "--dir", str(backups)).exit_code == 0
    (path,) = sorted(backups.iterdir())
    manifest = json.loads((path / "manifest.json").read_text())
    for bad in ("files/../../outside.txt", "/etc/passwd", "other/x", "files"):
        crafted = tmp_path / f"crafted-{abs(hash(bad))}"
        shutil.copytree(path, crafted)
        entry = dict(manifest["files"][0], path=bad)
        _resign(crafted, {**manifest, "files": [*manifest["files"], entry]})
        refused = run("backup", "verify", str(crafted))
        assert refused.exit_code == 1, bad
        assert "路径不合规" in refused.output, (bad, refused.output)
    renamed = tmp_path / "renamed"
    shutil.copytree(path, renamed)
    _resign(renamed, {**manifest, "database": {**manifest["database"], "file": "../x"}})
    refused = run("backup", "verify", str(renamed))
    assert refused.exit_code == 1
    assert "数据库文件名不合规" in refused.output
    assert not (tmp_path / "outside.txt").exists()


@pytest.mark.sqlite_run  # the dump is altered as a SQLite file
def test_a_leaf_altered_in_the_dump_is_found(platform, tmp_path: Path) -> None:
    """verify recomputes the root from the leaves' entries, not from the stored tree."""
    if not platform[0].startswith("sqlite"):
        pytest.skip("the dump is altered as a SQLite file here")
    import hashlib
    import sqlite3

    backups = tmp_path / "backups"
    assert run("backup", "--dir", str(backups)).exit_code == 0
    (path,) = sorted(backups.iterdir())
    dump = path / "database.sqlite3"
    with sqlite3.connect(dump) as conn:
        conn.execute("UPDATE ledger_leaf SET entry = CAST('{}' AS BLOB) WHERE leaf_index = 1")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["database"]["sha256"] = hashlib.sha256(dump.read_bytes()).hexdigest()
    _resign(path, manifest)
    refused = run("backup", "verify", str(path))
    assert refused.exit_code == 1
    assert "第 1 条与其叶哈希不符" in refused.output
