"""Backups that are restored before anyone needs them (000 7.1.6, 8.2.3: regular backups and
disaster recovery; docs/operations/backups.md).

A backup is a folder ``jcjg-<UTC time>`` under ``JCJG_BACKUP_DIR``:

- ``database.dump`` (PostgreSQL: ``pg_dump --format=custom``, a consistent snapshot) or
  ``database.sqlite3`` (SQLite: the online backup API, a consistent copy while the platform
  runs);
- ``files/``: everything under ``JCJG_DATA_DIR`` (the blob store's files, recorded video, the
  ledger's and the documents' keys), the database file and older backups left out;
- ``manifest.json``: when, the database's kind and migration, the ledger's checkpoint at
  backup time (size, root, the signed note), and every file's size and SHA-256;
- ``manifest.sig``: a signed note (C2SP) by the ledger's own key over the manifest's SHA-256.

:func:`verify` checks the signature and every hash, restores the database into a scratch one
and recomputes the ledger's root at the manifest's size: a backup that verifies is one that
restores to the same log. :func:`restore` does the same into a database and folder of the
operator's choice (empty ones only).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, make_url, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from jcjg import __version__
from jcjg.config import Settings
from jcjg.core.db import create_database, make_engine, utcnow
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.keys import hasher_for
from jcjg.ledger.models import LedgerLeaf
from jcjg.ledger.note import Signer, Verifier, open_note, parse_checkpoint, sign_note
from jcjg.operations.models import Backup

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PREFIX = "jcjg-"
FORMAT = 1
_CHUNK = 1 << 20


class BackupError(Exception):
    """A backup, a restore or a verification that failed: why, in words."""


@dataclass(frozen=True)
class Made:
    path: Path
    size: int
    files: int
    ledger_size: int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _pg_url(url: str) -> URL:
    return make_url(url).set(drivername="postgresql")


def _pg_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def _pg_dsn(url: URL) -> str:
    """The libpq URI of ``url`` without its password (given in ``PGPASSWORD``): host, port,
    socket and query parameters (``sslmode`` …) kept as configured."""
    return url.set(password=None).render_as_string(hide_password=False)


def _run(args: list[str], env: dict[str, str]) -> None:
    # the PostgreSQL client's own programs, with arguments this module builds (no shell)
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} 失败：{done.stderr.strip()[-500:]}")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("内存中的 SQLite 数据库不能备份")
    return Path(database).resolve()


def _dump(url: str, target: Path) -> Path:
    """A consistent copy of the database at ``url`` in ``target`` (the folder)."""
    if url.startswith("sqlite"):
        out = target / "database.sqlite3"
        source = sqlite3.connect(_sqlite_path(url))
        try:
            copy = sqlite3.connect(out)
            with copy:
                source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside
            copy.close()
        finally:
            source.close()
        return out
    pg = _pg_url(url)
    out = target / "database.dump"
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(out),
          "--dbname", _pg_dsn(pg)], _pg_env(pg))  # fmt: skip
    return out


def _files(data_dir: Path, leave_out: set[Path]) -> Iterator[Path]:
    """The files under ``data_dir`` a backup keeps, in a stable order."""
    if not data_dir.exists():
        return
    for root, dirs, names in os.walk(data_dir):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in leave_out)
        for name in sorted(names):
            path = here / name
            if path.resolve() in leave_out or not path.is_file():
                continue
            yield path


def _left_out(settings: Settings, backup_dir: Path) -> set[Path]:
    out = {backup_dir.resolve()}
    if settings.database_url.startswith("sqlite"):
        db_file = _sqlite_path(settings.database_url)
        out |= {db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"), Path(f"{db_file}-journal")}
    return out


def _revision(db: Session) -> str | None:
    try:
        found = db.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:
        return None
    return str(found) if found is not None else None


def make(
    factory: sessionmaker[Session], settings: Settings, backup_dir: Path, *, keep: int
) -> Made:
    """Make a backup in ``backup_dir`` and record it (``ops_backup``); older ones beyond
    ``keep`` are removed. The record says failed, with why, when it does not complete."""
    now = utcnow()
    with factory() as db:
        ledger.ensure_checkpoint(db)  # the log's state, signed, at backup time
        db.commit()
        record = Backup(started_at=now, status="running", kind=_kind(settings))
        db.add(record)
        db.commit()
        record_id = record.id
    try:
        made = _make(factory, settings, backup_dir, now)
    except Exception as exc:
        with factory() as db:
            row = db.get_one(Backup, record_id)
            row.status, row.finished_at = "failed", utcnow()
            row.error = str(exc)[:500]
            db.commit()
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"备份失败：{type(exc).__name__}: {exc}") from exc
    with factory() as db:
        row = db.get_one(Backup, record_id)
        row.status, row.finished_at = "succeeded", utcnow()
        row.path, row.size_bytes = str(made.path), made.size
        row.ledger_size, row.files = made.ledger_size, made.files
        db.commit()
    prune(backup_dir, keep)
    return made


def _kind(settings: Settings) -> str:
    return "sqlite" if settings.database_url.startswith("sqlite") else "postgresql"


def _make(
    factory: sessionmaker[Session], settings: Settings, backup_dir: Path, now: dt.datetime
) -> Made:
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = PREFIX + now.strftime("%Y%m%dT%H%M%SZ")
    final = backup_dir / name
    if final.exists():
        raise BackupError(f"{final} 已存在：同一秒内只能备份一次")
    work = backup_dir / f".{name}.partial"
    work.mkdir(mode=0o700)
    try:
        with factory() as db:
            checkpoint = ledger.latest_checkpoint(db)
            revision = _revision(db)
        dumped = _dump(settings.database_url, work)
        files = []
        for path in _files(settings.data_dir, _left_out(settings, backup_dir)):
            relative = path.relative_to(settings.data_dir)
            copy = work / "files" / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
            files.append({"path": f"files/{relative.as_posix()}", "size": copy.stat().st_size,
                          "sha256": _sha256(copy)})  # fmt: skip
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "platform_version": __version__,
            "database": {
                "kind": _kind(settings),
                "file": dumped.name,
                "size": dumped.stat().st_size,
                "sha256": _sha256(dumped),
                "revision": revision,
            },
            "ledger": {
                "origin": ledger.log_identity().origin,
                "size": checkpoint.size,
                "root": checkpoint.root_hash.hex(),
                "checkpoint": checkpoint.note,
            },
            "files": files,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=1).encode() + b"\n"
        (work / MANIFEST).write_bytes(body)
        (work / SIGNATURE).write_bytes(_sign(body, ledger.log_identity().signer))
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in final.rglob("*") if p.is_file())
    return Made(final, size, len(files), checkpoint.size)


def _note_text(body: bytes) -> str:
    return f"jcjg-backup\n{hashlib.sha256(body).hexdigest()}\n"


def _sign(body: bytes, signer: Signer) -> bytes:
    return sign_note(_note_text(body), signer)


def backups(backup_dir: Path) -> list[Path]:
    """The finished backups in ``backup_dir``, oldest first."""
    if not backup_dir.is_dir():
        return []
    return sorted(
        p for p in backup_dir.iterdir() if p.name.startswith(PREFIX) and (p / MANIFEST).exists()
    )


def prune(backup_dir: Path, keep: int) -> list[Path]:
    """Remove the oldest backups beyond ``keep``; the removed."""
    found = backups(backup_dir)
    gone = found[: max(0, len(found) - keep)]
    for path in gone:
        shutil.rmtree(path)
    return gone


# --- checking and restoring -----------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    manifest: dict[str, Any]
    files: int
    ledger_size: int
    root: str


DUMP_FILES = ("database.dump", "database.sqlite3")


def _inside(base: Path, relative: str, prefix: str = "") -> Path:
    """``base / relative`` for a relative path made of plain names (no ``..``, not absolute,
    starting with ``prefix``), refused otherwise: a manifest names its files, never places."""
    parts = Path(relative).parts
    if (
        not relative
        or Path(relative).is_absolute()
        or "\\" in relative
        or any(p in ("", ".", "..") for p in parts)
        or (prefix and (not parts or parts[0] != prefix or len(parts) < 2))
    ):
        raise BackupError(f"备份清单中的文件路径不合规：{relative[:200]}")
    target = base / Path(*parts)
    if target.is_symlink():
        raise BackupError(f"备份中的 {relative[:200]} 是符号链接")
    return target


def _copy_checked(source: Path, target: Path, sha: str) -> None:
    """Copy ``source`` to ``target`` hashing what is written: the copy is what was checked."""
    h = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as out:
        while chunk := src.read(_CHUNK):
            h.update(chunk)
            out.write(chunk)
    if h.hexdigest() != sha:
        target.unlink(missing_ok=True)
        raise BackupError(f"备份中的文件 {source.name} 与清单中的哈希不符")


def read_manifest(path: Path, log_key: str) -> dict[str, Any]:
    """The manifest of the backup at ``path``, its signature checked with ``log_key`` (the
    log's verifier key, ``GET /ledger/key``) and every file's hash."""
    try:
        body = (path / MANIFEST).read_bytes()
        signed = (path / SIGNATURE).read_bytes()
    except OSError as exc:
        raise BackupError(f"{path} 不是完整的备份：缺少 {MANIFEST} 或 {SIGNATURE}") from exc
    try:
        note = open_note(signed, [Verifier(log_key)])
    except Exception as exc:
        raise BackupError("备份清单的签名无法用本平台日志公钥核验") from exc
    if note.text != _note_text(body):
        raise BackupError("备份清单与其签名不符：清单被改动过")
    manifest: dict[str, Any] = json.loads(body)
    database = manifest["database"]
    if database.get("file") not in DUMP_FILES:
        raise BackupError("备份清单中的数据库文件名不合规")
    wanted = [(path / database["file"], database["file"], database["sha256"])]
    for entry in manifest["files"]:
        wanted.append((_inside(path, entry["path"], "files"), entry["path"], entry["sha256"]))
    for file, relative, sha in wanted:
        if file.is_symlink() or not file.is_file():
            raise BackupError(f"备份缺少文件 {relative}")
        if _sha256(file) != sha:
            raise BackupError(f"备份中的文件 {relative} 与清单中的哈希不符")
    return manifest


def _restore_database(path: Path, manifest: dict[str, Any], url: str) -> None:
    """Restore the dump, from a private copy hashed as it is made (what is restored is what
    was checked, whatever happens to the backup folder meanwhile)."""
    with tempfile.TemporaryDirectory(prefix="jcjg-restore-") as folder:
        dumped = Path(folder) / manifest["database"]["file"]
        _copy_checked(path / manifest["database"]["file"], dumped, manifest["database"]["sha256"])
        _restore_dump(dumped, manifest, url)


def _restore_dump(dumped: Path, manifest: dict[str, Any], url: str) -> None:
    if manifest["database"]["kind"] != ("sqlite" if url.startswith("sqlite") else "postgresql"):
        raise BackupError(
            "备份的数据库类型与目标数据库不同（SQLite 与 PostgreSQL 之间不能直接恢复）"
        )
    _require_empty(url)
    if url.startswith("sqlite"):
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dumped, target)
        return
    pg = _pg_url(url)
    _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
          "--dbname", _pg_dsn(pg), str(dumped)], _pg_env(pg))  # fmt: skip


def _require_empty(url: str) -> None:
    if url.startswith("sqlite"):
        target = _sqlite_path(url)
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(f"目标数据库 {target} 已存在：只能恢复到新的数据库")
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise BackupError("目标数据库不是空的：只能恢复到新建的空数据库")


def _leaf_root(db: Session, size: int, hasher: merkle.Hasher) -> bytes:
    """The Merkle root of the first ``size`` leaves, each leaf's hash recomputed from its
    entry's bytes (not read from the stored tree)."""
    hashes: list[bytes] = []
    rows = db.execute(
        select(LedgerLeaf.leaf_index, LedgerLeaf.entry, LedgerLeaf.leaf_hash)
        .where(LedgerLeaf.leaf_index < size)
        .order_by(LedgerLeaf.leaf_index)
        .execution_options(yield_per=5_000)
    )
    for index, entry, stored in rows:
        computed = merkle.leaf_hash(entry, hasher=hasher)
        if index != len(hashes) or computed != stored:
            raise BackupError(f"恢复后的存证日志第 {index} 条与其叶哈希不符或有缺漏")
        hashes.append(computed)
    if len(hashes) != size:
        raise BackupError(f"恢复后的存证日志只有 {len(hashes)} 条，少于备份时的 {size} 条")
    return merkle.root_hash(hashes, hasher=hasher)


def _check_ledger(url: str, manifest: dict[str, Any], log_key: str) -> str:
    """The restored database's ledger: the root of its first ``size`` leaves recomputed from
    their entries, equal to the manifest's, to its stored tree's and to the checkpoint the
    log's key signed at backup time."""
    size = int(manifest["ledger"]["size"])
    try:
        verifier = Verifier(log_key)
        note = open_note(manifest["ledger"]["checkpoint"], [verifier])
        checkpoint = parse_checkpoint(note.text)
    except Exception as exc:
        raise BackupError("备份时的检查点无法用本平台日志公钥核验") from exc
    if checkpoint.size != size or checkpoint.root.hex() != manifest["ledger"]["root"]:
        raise BackupError("备份清单中的存证日志大小或根哈希与签名检查点不符")
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            hasher = hasher_for(verifier)  # the backed-up log's, whatever this process runs
            root = _leaf_root(db, size, hasher).hex()
            tree = ledger.root_at(db, size, hasher).hex() if size else root
    finally:
        engine.dispose()
    if root != manifest["ledger"]["root"] or tree != root:
        raise BackupError(f"恢复后的存证日志在大小 {size} 处的根哈希与备份时不同")
    return root


def _copy_files(path: Path, manifest: dict[str, Any], data_dir: Path) -> int:
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"目标数据目录 {data_dir} 不是空的：只能恢复到新的目录")
    root = data_dir.resolve()
    for entry in manifest["files"]:
        source = _inside(path, entry["path"], "files")
        target = _inside(data_dir, entry["path"].split("/", 1)[1])
        if not target.resolve().is_relative_to(root):
            raise BackupError(f"备份清单中的文件路径不合规：{entry['path'][:200]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_checked(source, target, entry["sha256"])
    return len(manifest["files"])


def restore(path: Path, log_key: str, database_url: str, data_dir: Path) -> Checked:
    """Restore the backup at ``path`` into the empty database at ``database_url`` and the
    empty (or absent) folder ``data_dir``, after checking it; the ledger checked after."""
    manifest = read_manifest(path, log_key)
    if data_dir.exists() and any(data_dir.iterdir()):
        raise BackupError(f"目标数据目录 {data_dir} 不是空的：只能恢复到新的目录")
    _restore_database(path, manifest, database_url)
    root = _check_ledger(database_url, manifest, log_key)
    files = _copy_files(path, manifest, data_dir)
    return Checked(manifest, files, int(manifest["ledger"]["size"]), root)


@contextmanager
def _scratch(settings: Settings) -> Iterator[str]:
    """A scratch database of the configured kind, dropped afterwards."""
    if settings.database_url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="jcjg-verify-") as folder:
            yield f"sqlite:///{folder}/scratch.db"
        return
    base = make_url(settings.database_url)
    name = f"jcjg_verify_{secrets.token_hex(6)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        create_database(admin, name)
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def verify(path: Path, settings: Settings, log_key: str) -> Checked:
    """Check the backup at ``path`` as a restore would, into a scratch database: signature,
    hashes, the database restored, the ledger's root at the manifest's size."""
    manifest = read_manifest(path, log_key)
    with _scratch(settings) as url:
        _restore_database(path, manifest, url)
        root = _check_ledger(url, manifest, log_key)
    return Checked(manifest, len(manifest["files"]), int(manifest["ledger"]["size"]), root)


def last_success(db: Session) -> Backup | None:
    return db.scalars(
        select(Backup).where(Backup.status == "succeeded").order_by(Backup.id.desc()).limit(1)
    ).first()
