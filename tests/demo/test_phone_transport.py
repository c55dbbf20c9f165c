"""The simulator's phones ask once more, as a browser does, when the server closed a kept-alive
connection as the request went out; a server that drops the request again is still a failure."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from jcjg.demo.simulator.sampling import AskAgain

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@contextmanager
def _server(dropped: int) -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server that reads each request, closes the first ``dropped`` connections
    without a word, then answers 200; the requests it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        for _ in range(dropped + 1):
            conn, _ = listener.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                while len(body) < length:
                    body += conn.recv(65536)
                seen.append(body)
                if len(seen) > dropped:
                    conn.sendall(OK)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        listener.close()
        thread.join(5)


def test_a_request_the_server_dropped_is_sent_once_more_with_its_body() -> None:
    with (
        _server(dropped=1) as (url, seen),
        httpx.Client(base_url=url, transport=AskAgain(), timeout=5) as http,
    ):
        answer = http.post("/m/samples", data={"code": "S1"})
    assert (answer.status_code, answer.text) == (200, "ok")
    assert seen == [b"code=S1", b"code=S1"]


def test_dropped_twice_is_a_failure() -> None:
    with _server(dropped=2) as (url, seen):
        with (
            httpx.Client(base_url=url, transport=AskAgain(), timeout=5) as http,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            http.post("/m/samples", data={"code": "S1"})
        with httpx.Client(base_url=url, timeout=5) as http:  # the third is answered
            assert http.get("/").status_code == 200
    assert len(seen) == 3


def test_without_it_the_first_drop_fails() -> None:
    with _server(dropped=1) as (url, _), httpx.Client(base_url=url, timeout=5) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/")
        assert http.get("/").status_code == 200
