"""``uvicorn`` with TCP_NODELAY on its connections when it binds the socket itself (--workers N).

uvicorn's ``Config.bind_socket`` creates the listening socket with ``proto`` 0; accepted
sockets inherit it and asyncio only sets TCP_NODELAY when ``proto`` is IPPROTO_TCP, so with
``--workers 2`` Nagle's algorithm meets the client's delayed ACK and every keep-alive request
after the first waits ~40 ms (https://github.com/Kludex/uvicorn/issues/3149; ``--workers 1``
lets asyncio bind and is unaffected). bench/exchange.py serves both apps through this module
unless ``--stock-uvicorn``; a deployment running ``--workers`` needs the same fix.

    python bench/_uvicorn.py <uvicorn arguments>
"""

from __future__ import annotations

import socket

import uvicorn.config
from uvicorn.main import main

_bind_socket = uvicorn.config.Config.bind_socket


def bind_socket(self: uvicorn.config.Config) -> socket.socket:
    sock = _bind_socket(self)
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    return sock


uvicorn.config.Config.bind_socket = bind_socket  # type: ignore[method-assign]

if __name__ == "__main__":  # the workers import this module too (multiprocessing spawn)
    main()
