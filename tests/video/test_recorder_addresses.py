"""The recorder against real ffmpeg runs: a name resolved again right before each start, ffmpeg
given the checked address (and records through it), a name rebound elsewhere refused without
connecting; and what a camera's page says of a failure does not tell an open port from a
closed one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jcjg.config import Settings
from jcjg.video import addresses
from jcjg.video import recorder as recorder_module
from jcjg.video.capture import CANNOT_CONNECT
from jcjg.video.credentials import seal_password
from jcjg.video.models import Camera, Outage
from jcjg.video.recorder import Recorder
from tests.factories import Factory
from tests.servers import closed_port, listening_socket, port_of
from tests.video.rtsp import RtspCamera, camera_clip, rtsp_camera  # noqa: F401
from tests.video.test_recorder import count, until

pytestmark = [pytest.mark.xdist_group("video-recorder")]


@pytest.fixture
def video_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "video_segment_seconds": 1,
            "video_offline_after_seconds": 5,
            "video_lease_seconds": 3,
        }
    )


@pytest.fixture
def recorder(
    video_settings: Settings, session_factory: sessionmaker[Session]
) -> Iterator[Recorder]:
    made = Recorder(video_settings, session_factory, holder="rec-net", capacity=4)
    yield made
    made.abandon()


@pytest.fixture
def resolve(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], list[str]]:
    """``cam.lab.example`` resolves to what the test last said; the names asked for, kept."""
    answer: list[str] = []
    asked: list[str] = []

    def resolver(host: str) -> list[str]:
        if host != "cam.lab.example":
            raise OSError("does not resolve")  # the platform's own names, looked up too
        asked.append(host)
        if not answer:
            raise OSError("does not resolve")
        return list(answer)

    def say(addresses_now: list[str]) -> list[str]:
        answer[:] = addresses_now
        return asked

    monkeypatch.setattr(addresses, "resolve_host", resolver)
    addresses.forget()
    return say


def make_camera(db: Session, factory: Factory, settings: Settings, url: str, **more: str) -> Camera:
    institution = factory.institution()
    camera = Camera(
        institution_id=institution.id, region_code=institution.region_code,
        code=f"CAM-{port_or(url)}", name="力学室球机", place_kind="mechanical", stream_url=url,
        username=more.get("user", ""),
    )  # fmt: skip
    db.add(camera)
    db.flush()
    seal_password(settings, camera, more.get("password", ""))
    db.commit()
    return camera


def port_or(url: str) -> str:
    return url.rsplit(":", 1)[-1].split("/")[0]


def test_a_name_is_resolved_when_connecting_and_ffmpeg_gets_the_address(
    db: Session,
    factory: Factory,
    video_settings: Settings,
    rtsp_camera: RtspCamera,  # noqa: F811
    recorder: Recorder,
    resolve,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registered with a name; the recorder resolves it, checks it, and ffmpeg connects to
    the address (user name and password kept) and records."""
    started: list[str] = []
    original = recorder_module.Capture

    def capture(ffmpeg: str, address: str, *args: object) -> object:
        started.append(address)
        return original(ffmpeg, address, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(recorder_module, "Capture", capture)
    asked = resolve(["127.0.0.1"])
    url = f"rtsp://cam.lab.example:{rtsp_camera.port}/cam0"
    camera = make_camera(
        db, factory, video_settings, url, user=rtsp_camera.user, password=rtsp_camera.password
    )
    until(lambda: count(db, camera) >= 2, recorder.tick, 20)
    assert asked == ["cam.lab.example"]
    assert started == [f"rtsp://cam:p%40ss%3Aw%2Frd@127.0.0.1:{rtsp_camera.port}/cam0"]
    db.refresh(camera)
    assert camera.status == "online"


def test_a_name_rebound_elsewhere_is_not_connected(
    db: Session,
    factory: Factory,
    video_settings: Settings,
    recorder: Recorder,
    resolve,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name passed at submission (an address on the internet) and answers
    a private address when the recorder connects: no ffmpeg is started, the log and the
    camera's outage say why, and the next start asks again."""
    resolve(["203.0.113.9"])
    url = "rtsp://cam.lab.example:554/cam0"
    assert addresses.refusal(video_settings, url) is None
    camera = make_camera(db, factory, video_settings, url)
    started: list[str] = []
    monkeypatch.setattr(recorder_module, "Capture", lambda *a: started.append(a[1]))
    asked = resolve(["10.0.0.7"])
    until(lambda: _outage(db, camera) is not None, recorder.tick, 15)
    assert started == []
    outage = _outage(db, camera)
    assert outage is not None
    assert outage.reason.startswith("视频流地址的主机名解析到内网地址")
    assert "10.0.0.7" not in outage.reason
    assert len(asked) >= 2  # asked again at every try, never an answer kept
    db.refresh(camera)
    assert camera.status == "offline"


def _outage(db: Session, camera: Camera) -> Outage | None:
    db.expire_all()
    return db.scalars(select(Outage).where(Outage.camera_id == camera.id)).first()


@contextmanager
def answering(reply: bytes | None) -> Iterator[int]:
    """A loopback port that accepts connections and answers ``reply`` and hangs up, or
    (None) says nothing and keeps the connection open."""
    server = listening_socket()
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            if reply is None:
                held.append(conn)
                continue
            try:
                conn.recv(4096)
                conn.sendall(reply)
            except OSError:
                pass
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port_of(server)
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def test_a_closed_port_and_an_open_one_read_the_same(
    db: Session, factory: Factory, video_settings: Settings, recorder: Recorder
) -> None:
    """A port that refuses, one that answers something else than RTSP, one that answers an
    RTSP 401 and one that accepts and stays silent: the camera's page says the same of each
    (ffmpeg's own words go to the server's log)."""
    with (
        closed_port() as closed,
        answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as web,
        answering(b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n") as rtsp,
        answering(None) as silent,
    ):
        cameras = [
            make_camera(db, factory, video_settings, f"rtsp://127.0.0.1:{port}/cam0")
            for port in (closed, web, rtsp, silent)
        ]
        until(lambda: all(_outage(db, c) for c in cameras), recorder.tick, 20)
        reasons = {c.code: _outage(db, c).reason for c in cameras}  # type: ignore[union-attr]
    assert set(reasons.values()) == {CANNOT_CONNECT}, reasons
