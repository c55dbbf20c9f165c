"""Fault test (001 5.5: after a fault, incomplete data is re-sent): the client's outbox sends
messages while the platform's server (accepting them and applying them behind) is killed with
SIGKILL and restarted, and its private PostgreSQL (initdb in a temporary folder) is restarted
in immediate mode. Afterwards every acknowledged message is stored exactly once and applied
exactly once, in order, every receipt verifies and its leaf is in the log (the inclusion proof
checked by the client against the signed checkpoint), and the outbox is empty.

`make test` runs a short version (120 messages); `make bench` runs the full one with
``JCJG_FAULT_MESSAGES=3000`` (marked slow).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from jcjg.client import Client, Outbox, Sender
from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Message
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from jcjg.refdata import upgrade
from jcjg.registry.models import Lab
from tests.conftest import require
from tests.factories import Factory, catalogue
from tests.servers import answering, free_port

SECRET = "fault-test-secret-key-0123456789abcdef"


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own, so that restarting it disturbs nobody else."""

    bin: Path
    data: Path
    port: int

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.data.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.data.parent, "postgres")
            shutil.chown(self.data, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "log"),
                  "-w", "start")  # fmt: skip

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


class Server:
    """The platform as a real process (uvicorn), killed and restarted at will."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "JCJG_ENV": "test",
            "JCJG_SECRET_KEY": SECRET,
            "JCJG_DATABASE_URL": url,
            "JCJG_DATA_DIR": str(data_dir),
            "JCJG_BASE_URL": self.base,
            "JCJG_EMBEDDED_WORKER": "false",
            "JCJG_EXCHANGE_RATE_LIMIT_PER_MINUTE": "1000000",
            # a killed server's lanes are taken over by the next one after this long
            "JCJG_EXCHANGE_APPLY_LEASE_SECONDS": "3",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "jcjg.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        answering(self.base, self.process, "the server")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Shut down as an operator would (SIGTERM), so that the process ends normally."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    pg_bin = _pg_bin()
    if pg_bin is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        if require("JCJG_REQUIRE_POSTGRES"):
            pytest.fail("the fault test needs PostgreSQL's server binaries (initdb, pg_ctl)")
        pytest.skip("PostgreSQL server binaries not installed")
    # Not under pytest's tmp_path: its parents are private to us, and postgres must enter.
    folder = Path(tempfile.mkdtemp(prefix="jcjg-fault-"))
    cluster = PrivatePostgres(pg_bin, folder / "pg", free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _messages() -> int:
    return int(os.environ.get("JCJG_FAULT_MESSAGES", "120"))  # make bench: 3000


@pytest.mark.slow
@pytest.mark.migrations  # a cluster of its own, migrated
def test_every_message_stored_once_through_server_kills_and_a_database_restart(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    if os.environ.get("JCJG_TEST_DATABASE", "sqlite") != "postgresql":
        pytest.skip("runs once, in the PostgreSQL run (it brings its own cluster)")
    total = _messages()
    url = private_postgres.url
    upgrade(url)
    engine = make_engine(url)
    factory_ = make_sessionmaker(engine)
    settings = Settings(env="test", secret_key=SECRET, database_url=url, data_dir=tmp_path)
    key = Ed25519PrivateKey.generate()
    code, key_id = _institution_with_a_client(factory_, settings, key)
    outbox = tmp_path / "outbox.sqlite3"
    _fill_outbox(outbox, code, total)

    server = Server(url, tmp_path / "data")
    server.start()
    _send_through_faults(server, private_postgres, outbox, key_id, key, total)

    with factory_() as db:  # the ledger's job, which the server here does not run
        while ledger.integrate(db):
            db.commit()
        db.commit()
    server.start()
    try:
        _followed_into_the_log(server, outbox, key_id, key, total)
    finally:
        server.stop()
    with Outbox(outbox) as box:
        assert box.pending() == []
        assert box.failed() == []
        assert box.rejected() == []
        receipts = box.sent()
    assert len(receipts) == total
    with factory_() as db:
        leaves = _stored_and_applied_once_each(db, total)
    for item in receipts:
        item.receipt.verify(item.payload, key_id=key_id, message_type="registry.labs")
        assert item.outcome == "applied"
        assert item.ledger_index is not None
        assert leaves[item.ledger_index] == item.receipt.leaf_hash
    engine.dispose()


def _followed_into_the_log(
    server: Server, outbox: Path, key_id: str, key: Ed25519PrivateKey, total: int
) -> None:
    """The outbox follows every message until its inclusion proof checks out."""
    with (
        Outbox(outbox) as box,
        Client(server.base, key_id, key, alg="ed25519", timeout=5) as lims,
    ):
        sender = Sender(lims, box)
        deadline = time.monotonic() + 120
        while box.following() and time.monotonic() < deadline:
            sender.follow_once()
        assert box.following() == []


def _institution_with_a_client(factory_, settings: Settings, key: Ed25519PrivateKey):
    """An institution with an active client and an Ed25519 key; its code and the key's id."""
    with factory_() as db:
        catalogue(db, "01")
        institution = Factory(db, settings).institution()
        client_row = clients.create_client(
            db, name="LIMS", institution=institution, status=ClientStatus.ACTIVE
        )
        issued = clients.issue_key(
            db, client_row, settings, alg="ed25519",
            public_key=key.public_key().public_bytes_raw(),
        )  # fmt: skip
        db.commit()
        return institution.code, issued.key.key_id


def _fill_outbox(path: Path, code: str, total: int) -> None:
    outbox = Outbox(path)
    for n in range(total):
        # Twenty labs updated over and over, as a LIMS keeps its data current: each message
        # is different (its area), the domain stays small, so the run measures the faults.
        labs = [
            {"name": f"室{n % 20:02d}", "address": "九江市长虹大道 1 号", "area_m2": f"{n + 1}.00"}
        ]
        outbox.enqueue("registry.labs", {"institution_code": code, "labs": labs})
    outbox.close()


def _send_through_faults(
    server: Server,
    postgres: PrivatePostgres,
    outbox: Path,
    key_id: str,
    key: Ed25519PrivateKey,
    total: int,
) -> None:
    """Drain the outbox in a thread while the server is killed at a fifth of the messages,
    PostgreSQL restarted at 45 %, the server killed again at 70 %."""
    done = threading.Event()
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with (
                Outbox(outbox) as box,
                Client(server.base, key_id, key, alg="ed25519", timeout=5) as lims,
            ):
                Sender(lims, box, backoff_base=0.05, backoff_cap=0.5).drain(
                    until_empty=True, timeout=600, poll_interval=0.2
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    sender = threading.Thread(target=send, name="outbox-sender")
    sender.start()

    def sent() -> int:
        with Outbox(outbox) as box:
            return total - len(box.pending())

    faults = [
        (0.2, "kill the server", lambda: (server.kill(), time.sleep(0.3), server.start())),
        (0.45, "restart PostgreSQL", postgres.restart),
        (0.7, "kill the server again", lambda: (server.kill(), server.start())),
    ]
    try:
        for share, _what, fault in faults:
            while sent() < share * total and not done.is_set():
                time.sleep(0.05)
            fault()
        sender.join(timeout=900)
    finally:
        server.stop()  # the faults are over; a normal end lets the server write its coverage
    assert not errors, errors
    assert not sender.is_alive()


def _stored_and_applied_once_each(db, total: int) -> dict[int, str]:
    """Every message once, applied, the last one's value kept; the log's leaves by index."""
    assert db.scalar(select(func.count()).select_from(Message)) == total
    assert db.scalar(select(func.count(func.distinct(Message.message_id)))) == total
    assert db.scalar(select(func.count()).where(Message.status == "applied")) == total
    assert db.scalar(select(func.count()).select_from(Lab)) == min(total, 20)
    last = db.scalar(select(Lab.area_m2).where(Lab.name == f"室{(total - 1) % 20:02d}"))
    assert last == total  # the last message's value won: nothing replayed after it
    leaves = {
        row.leaf_index: row.leaf_hash.hex()
        for row in db.scalars(
            select(LedgerLeaf).where(LedgerLeaf.entry_type == "message:registry.labs")
        )
    }
    assert len(leaves) == total
    return leaves
