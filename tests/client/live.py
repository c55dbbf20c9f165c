"""A live platform for the client tests (uvicorn on a loopback port, its own database), labs
with approved keys on it, and a TCP proxy that can cut a connection mid-request.

The client is tested over real sockets because what it must get right lives there: the URL it
signs is the URL the server rebuilds from the Host header, tus chunks arrive (or not) over a
connection that can break half-way, and the outbox must cope with a port nobody listens on.
"""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jcjg.client import Client
from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import ExchangeFile
from jcjg.exchange.signatures import SM2SigningKey
from jcjg.ledger.note import Signer, generate_signer, sign_note
from jcjg.main import create_app
from tests.conftest import upgraded_database_url
from tests.factories import Factory, catalogue
from tests.servers import listening_socket, port_of, serving


@dataclass
class Lab:
    """An institution with an approved LIMS client and one key (the material as issued)."""

    institution_code: str
    client_id: int
    key_id: str
    alg: str
    material: Ed25519PrivateKey | str | bytes

    def client(self, url: str, **kwargs: Any) -> Client:
        return Client(url, self.key_id, self.material, alg=kwargs.pop("alg", None), **kwargs)

    def labs_message(self, name: str = "力学室", **extra: Any) -> dict[str, Any]:
        """The simplest valid message (registry.labs)."""
        record = {"name": name, "address": "九江市濂溪区测试路1号", "area_m2": "100.00"}
        return {
            "institution_code": self.institution_code,
            "labs": [{**record, "specialties": ["01"]}],
            **extra,
        }

    def equipment_message(self, certificate_sha256: str, asset: str = "LX-001") -> dict[str, Any]:
        """registry.equipment naming a calibration certificate file by its SHA-256."""
        return {
            "institution_code": self.institution_code,
            "equipment": [
                {
                    "asset_number": asset,
                    "name": "微机控制电液伺服万能试验机",
                    "calibration_certificate_sha256": certificate_sha256,
                }
            ],
        }


@dataclass
class LiveExchange:
    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    counter: list[int] = field(default_factory=lambda: [0])
    """Shared by every Factory, so that institutions get distinct credit codes."""
    app: Any = None
    """The served app (its exchange counters are flushed hourly: a test flushes them itself)."""

    def flush_counters(self) -> None:
        """Write the exchange's request tally (and last-seen times) to the database now."""
        self.app.state.exchange_recorder.flush(self.sessions)

    def lab(self, alg: str = "ed25519") -> Lab:
        """A new institution and approved client with a key of ``alg`` (committed at once, so
        the server sees it; no transaction stays open to block the server's SQLite writes)."""
        with self.sessions() as db:
            factory = Factory(db, self.settings, self.counter)
            institution = factory.institution()
            client = clients.create_client(
                db,
                name=f"{institution.name} LIMS",
                institution=institution,
                status=ClientStatus.ACTIVE,
            )
            material: Ed25519PrivateKey | str | bytes
            if alg == "sm2-sm3":
                sm2 = SM2SigningKey.generate()
                public = sm2.verifying_key().public_pem()
                issued = clients.issue_key(db, client, self.settings, alg=alg, public_key=public)
                material = sm2.private_pem()
            elif alg == "ed25519":
                private = Ed25519PrivateKey.generate()
                public = base64.b64encode(private.public_key().public_bytes_raw())
                issued = clients.issue_key(db, client, self.settings, alg=alg, public_key=public)
                material = private
            else:
                issued = clients.issue_key(db, client, self.settings, alg=alg)
                assert issued.secret is not None
                material = base64.b64encode(issued.secret).decode()
            lab = Lab(institution.code, client.id, issued.key.key_id, alg, material)
            db.commit()
        return lab

    def stored_file(self, lab: Lab, sha256: str) -> ExchangeFile | None:
        with self.sessions() as db:
            row = db.scalar(
                select(ExchangeFile).where(
                    ExchangeFile.client_id == lab.client_id, ExchangeFile.sha256 == sha256
                )
            )
            db.commit()  # ends the read (SQLite: releases the lock); objects stay loaded
        return row


@contextmanager
def running_exchange(tmp_path: Path, **overrides: Any) -> Iterator[LiveExchange]:
    """A platform served by uvicorn in a thread, on a fresh database of the backend under
    test, with the catalogue specialty ``01`` the messages refer to (``overrides``: more
    settings)."""
    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        catalogue(db, "01")
        db.commit()
    sock = listening_socket()
    settings = Settings(
        env="test",
        secret_key="client-test-" + secrets.token_hex(16),
        database_url=url,
        data_dir=tmp_path / "data",
        base_url=f"http://127.0.0.1:{port_of(sock)}",
        embedded_worker=False,
        exchange_stats_flush_seconds=3600,
        **overrides,
    )
    app = create_app(settings, engine=engine, session_factory=sessions)
    try:
        with serving(app, sock) as base_url:
            yield LiveExchange(base_url, settings, sessions, app=app)
    finally:
        engine.dispose()
        drop()


class CuttingProxy:
    """A TCP proxy to ``target`` that, once armed with :meth:`cut_after`, counts the bytes
    clients send from the first tus PATCH on, and after ``n`` of them closes both sides of
    that connection, as a network failure in the middle of a chunk would.

    ``patch_bytes`` counts every byte sent upstream from the first PATCH on (headers
    included), so a test can tell a resumed upload from one that started again from zero.
    """

    MARK = b"PATCH /exchange/v1/uploads/"

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = int(self._server.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.patch_bytes = 0
        self.cuts = 0
        self._cut_at: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def cut_after(self, n: int) -> None:
        with self._lock:
            self._cut_at = self.patch_bytes + n

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                downstream, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                downstream.close()
                continue
            pair = (downstream, upstream)
            with self._lock:
                self._sockets += pair
            state = {"patching": False}
            for args in ((downstream, upstream, pair, state), (upstream, downstream, pair, None)):
                thread = threading.Thread(target=self._pump, args=args, daemon=True)
                self._threads.append(thread)
                thread.start()

    @staticmethod
    def _kill(pair: tuple[socket.socket, socket.socket]) -> None:
        for s in pair:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        pair: tuple[socket.socket, socket.socket],
        state: dict[str, bool] | None,
    ) -> None:
        try:
            while data := source.recv(65536):
                if state is not None:
                    if not state["patching"] and self.MARK in data:
                        state["patching"] = True
                        data_from = data.index(self.MARK)
                    else:
                        data_from = 0
                    if state["patching"]:
                        with self._lock:
                            counted = len(data) - data_from
                            cut = self._cut_at is not None and (
                                self.patch_bytes + counted >= self._cut_at
                            )
                            if cut:
                                assert self._cut_at is not None
                                keep = data_from + (self._cut_at - self.patch_bytes)
                                data = data[:keep]
                                self.patch_bytes = self._cut_at
                                self._cut_at = None
                                self.cuts += 1
                            else:
                                self.patch_bytes += counted
                        if cut:
                            sink.sendall(data)
                            time.sleep(0.05)  # let the server read what did arrive
                            self._kill(pair)
                            return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._kill(pair)

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        self._server.close()
        with self._lock:
            sockets = list(self._sockets)
        for s in sockets:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        for s in sockets:
            s.close()


# A ledger signer for receipts made up by mock transports (an honest platform's notes).
LOG_SKEY, LOG_VKEY = generate_signer("mock.example/ledger")


def signed_promise(leaf_hex: str, moment: str, skey: str = LOG_SKEY, delay: int = 60) -> str:
    """The signed promise the platform's ledger would give for this leaf."""
    text = (
        f"jcjg-ledger-promise/v1\nmock.example/ledger\n"
        f"{base64.b64encode(bytes.fromhex(leaf_hex)).decode()}\n{moment}\n{delay}\n"
    )
    return sign_note(text, Signer(skey)).decode()
