"""Posted forms are read before the endpoint, so endpoints that write run in the thread pool.

An ``async def`` endpoint that waits on the database stops the event loop; a request holding
the awaited lock then cannot commit (PostgreSQL: one connection "idle in transaction", one
waiting). The simulator's parallel phones hit exactly that before endpoints became plain
functions; the test below keeps new async endpoints from bringing it back.
"""

from __future__ import annotations

import inspect

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from jcjg.core.forms import Posted, PostedFile, PostedForm
from tests.factories import all_routes

# Async endpoints that do their database work through run_in_threadpool, by design: they
# stream or read large bodies (tus chunks, files, signed messages) first.
ASYNC_ALLOWED = {
    "/exchange/v1/messages/{message_type}",
    # the rate limit awaits its shared store on the loop; the database reads go to a thread
    "/exchange/v1/messages/{message_type}/{message_id}",
    "/exchange/v1/status",
    "/exchange/v1/blobs/{sha256}",
    "/exchange/v1/forwards",
    "/exchange/v1/platform-applications",
    "/exchange/v1/uploads/",
    "/exchange/v1/uploads/{token}",
    # a consumer's signed application: its body read before the signature is checked, the
    # database work in a thread
    "/exchange/v1/sharing/data-sets/{code}/applications",
    "/registry/{kind}/import",
}


def test_endpoints_that_touch_the_database_are_not_coroutines(app: FastAPI) -> None:
    async_routes = {
        route.path
        for route in all_routes(app.routes)
        if isinstance(route, APIRoute) and inspect.iscoroutinefunction(route.endpoint)
    }
    assert async_routes <= ASYNC_ALLOWED, sorted(async_routes - ASYNC_ALLOWED)


def test_posted_keeps_fields_in_order_and_reads_files() -> None:
    form = Posted(
        fields=[("csrf_token", "t"), ("name", " 张三 "), ("tag", "a"), ("tag", "b")],
        files={"photo": PostedFile("p.jpg", "image/jpeg", b"\xff\xd8")},
    )
    assert form.values() == {"name": "张三", "tag": "b"}
    assert form.getlist("tag") == ["a", "b"]
    assert form.get("tag") == "b"
    assert form.get("missing", "x") == "x"
    assert "name" in form
    assert "photo" not in form  # files are not text fields
    assert form.file("photo") == b"\xff\xd8"
    assert form.file("other") is None
    assert dict(form.items())["csrf_token"] == "t"


def test_read_posted_reads_multipart_and_urlencoded() -> None:
    app = FastAPI()

    @app.post("/echo")
    def echo(form: PostedForm) -> dict[str, object]:
        return {
            "values": form.values(),
            "files": {k: [f.filename, f.content_type, len(f.data)] for k, f in form.files.items()},
        }

    with TestClient(app) as client:
        multipart = client.post(
            "/echo",
            data={"a": "1", "csrf_token": "x"},
            files={"f": ("f.bin", b"12345", "application/octet-stream"), "empty": ("", b"")},
        )
        assert multipart.json() == {
            "values": {"a": "1", "empty": ""},  # no file chosen: an empty text field
            "files": {"f": ["f.bin", "application/octet-stream", 5]},
        }
        plain = client.post("/echo", data={"b": " 2 "})
        assert plain.json() == {"values": {"b": "2"}, "files": {}}
