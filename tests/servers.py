"""Loopback ports and in-process servers for tests that run beside other test processes.

The suite runs on several pytest-xdist workers, and the SQLite and PostgreSQL runs (or two
engineers' runs) may share the machine. A port found free and closed again can be taken by any
of them before a server binds it, and a port "nobody listens on" can get a listener. So a
server run in this process gets its socket already bound and listening, and a refused
connection goes to a port held bound (but not listening) for as long as the test needs it.
Only what binds its own port in another process (a uvicorn or PostgreSQL child, aiosmtpd) is
given a bare number from :func:`free_port`.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from jcjg.config import Settings

HOST = "127.0.0.1"


def free_port() -> int:
    """A port free now, for a server that binds it itself."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def listening_socket() -> socket.socket:
    """A loopback socket bound to a port of its own and listening, for :func:`serving`."""
    sock = socket.create_server((HOST, 0))
    sock.set_inheritable(False)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def answering(base: str, process: subprocess.Popen[Any], what: str, timeout: float = 120) -> None:
    """Wait until the platform ``process`` serves ``base``/healthz; raise ``RuntimeError``
    naming ``what`` when it died or ``timeout`` passed. A process importing the whole platform
    under coverage took over 60 s to answer with both database runs and other engineers' runs
    on two cores (load average 14-18): wait long, but not for a process that died."""
    deadline = time.monotonic() + timeout
    # one client for the whole wait: each httpx.get() makes a client, and with it a TLS context
    # that loads the CA bundle (20 ms of CPU, ten times a second, beside the starting server)
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{base}/healthz").status_code == 200:
                    return
            time.sleep(0.1)
    state = "exited" if process.poll() is not None else f"no answer in {timeout:.0f} s"
    raise RuntimeError(f"{what} did not start ({state})")


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port where connections are refused while the block runs: bound here, so
    that no other process can listen on it, and never listening."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        yield int(s.getsockname()[1])


@contextmanager
def serving(app: ASGIApp, sock: socket.socket, timeout: float = 15, **config: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on ``sock``; its URL while the block runs.
    ``config``: more of uvicorn's settings (``forwarded_allow_ips`` ...)."""
    # kept-alive connections live as `jcjg serve` keeps them (a test's client idle for 5 s, as
    # a busy CI machine leaves one, had its next request reset by uvicorn's default)
    config.setdefault("timeout_keep_alive", Settings.model_fields["keep_alive_seconds"].default)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            sock.close()
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{port_of(sock)}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
