"""``uvicorn`` as the benchmarks serve: TCP_NODELAY on accepted connections, and with
``--workers N`` each worker listening on a port of its own (``BENCH_WORKER_PORTS``; without
it, a socket of its own on the same port, ``SO_REUSEPORT``).

TCP_NODELAY: uvicorn's ``Config.bind_socket`` creates the listening socket with ``proto`` 0;
accepted sockets inherit it and asyncio only sets TCP_NODELAY when ``proto`` is IPPROTO_TCP, so
with ``--workers 2`` Nagle's algorithm meets the client's delayed ACK and every keep-alive
request after the first waits ~40 ms (https://github.com/Kludex/uvicorn/issues/3149;
``--workers 1`` lets asyncio bind and is unaffected). A deployment running ``--workers`` needs
the same fix.

A port per worker: uvicorn's workers share the parent's listening socket, and the worker whose
event loop wakes first accepts every connection waiting (the loop accepts until none is left).
A benchmark's keep-alive connections, opened together, then stay where that race put them: 32
connections of bench/pages.py were split 32/0, 28/4, 24/8, 22/10 and 17/15 between two workers
in runs minutes apart, and a worker's answers wait in proportion to its connections, so the
p99 said which worker won the race more than what a page costs (docs/development/
performance.md, *Twenty-third pass*). A socket per worker bound with ``SO_REUSEPORT`` (as
``gunicorn --reuse-port`` does) left the split to a hash of the connections' addresses: still
random, up to 23/9 and 12/4. The documented deployment (docs/operations/deployment.md) runs
several ``jcjg serve`` processes behind nginx, which sends each request to the next process.
So with ``BENCH_WORKER_PORTS`` (the ports, comma-separated, as ``bench.exchange.Server`` sets
it) each worker listens on a port of its own, the first of those still free, and the load
generators give their connections the ports in turn (``Server.ports``): an even split, as
the proxy's. The parent's socket is bound to a port of the system's choosing, never listened
on. Without it each worker binds the same address with ``SO_REUSEPORT``. Both the app and the
bare baseline are served this way.

    python bench/_uvicorn.py <uvicorn arguments>
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import uvicorn.config
import uvicorn.server
from uvicorn.main import main

_bind_socket = uvicorn.config.Config.bind_socket
_startup = uvicorn.server.Server.startup
_INET = (socket.AF_INET, socket.AF_INET6)
PORTS = "BENCH_WORKER_PORTS"


def _ports() -> list[int]:
    return [int(port) for port in os.environ.get(PORTS, "").split(",") if port]


def _tcp_socket(family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    """A TCP socket (``proto`` IPPROTO_TCP) bound to ``address`` with SO_REUSEPORT."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


def _own_port(family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    """A TCP socket bound to the first of :data:`PORTS` no other worker took (a bind without
    ``SO_REUSEADDR`` fails on a port taken: the workers cannot take the same one)."""
    for port in _ports():
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind((address[0], port, *address[2:]))
        except OSError as error:
            sock.close()
            if error.errno == errno.EADDRINUSE:
                continue
            raise
        sock.set_inheritable(True)
        return sock
    raise RuntimeError(f"every port of {PORTS} is taken: more workers than ports")


def bind_socket(self: uvicorn.config.Config) -> socket.socket:
    sock = _bind_socket(self)
    if sock.family not in _INET:
        return sock
    # bound again with SO_REUSEPORT (before binding), so that each worker may bind its own;
    # with a port per worker, the parent's is any free one (the workers' own are theirs)
    family, address = sock.family, sock.getsockname()  # (IPv6: with its flow and scope)
    sock.close()
    ports = _ports()
    if self.workers > 1 and ports:
        # a port of the system's choosing: never one of the workers' (free_port released them
        # into the same pool, and a bound socket there would turn a worker away)
        while True:
            sock = _tcp_socket(family, (address[0], 0, *address[2:]))
            if sock.getsockname()[1] not in ports:
                return sock
            sock.close()
    return _tcp_socket(family, address)


async def startup(self: uvicorn.server.Server, sockets: list[socket.socket] | None = None) -> None:
    if sockets is not None:  # a worker of --workers N: a listening socket of its own
        bind = _own_port if _ports() else _tcp_socket
        sockets = [
            bind(sock.family, sock.getsockname()) if sock.family in _INET else sock
            for sock in sockets
        ]
    await _startup(self, sockets=sockets)


uvicorn.config.Config.bind_socket = bind_socket  # type: ignore[method-assign]
uvicorn.server.Server.startup = startup  # type: ignore[method-assign]

if __name__ == "__main__":  # the workers import this module too (multiprocessing spawn)
    main()
