"""Test cameras: a short pre-encoded H.264 clip with a burnt-in clock, served over RTSP on
loopback by gst-rtsp-server (tests/video/rtsp_server.py, run by the system Python, which has
GStreamer's bindings) without re-encoding.

Fixtures (import them into a test module, or into a conftest)::

    from tests.video.rtsp import rtsp_camera, camera_clip  # noqa: F401

- ``camera_clip``: the clip (Path), made once per session under pytest's tmp folder: 320x180,
  25 fps, a keyframe every second, ``CLIP_SECONDS`` long.
- ``rtsp_camera``: an :class:`RtspCamera` serving it, started (``.url``, ``.address(user,
  password)``, ``.stop()``, ``.start()`` again on the same port), stopped after the test.

``make_clip(path, seconds=..., size=..., bitrate=...)`` and :class:`RtspCamera` serve the
benchmark too (bench/video.py: 1080p, many mounts).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CLIP_SECONDS = 90


def available() -> str | None:
    """Why test cameras cannot run here (None: they can)."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg is not installed (make sysdeps)"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return "gst-rtsp-server for the system Python is not installed (make sysdeps)"
    return None


def make_clip(
    path: Path, *, seconds: int = CLIP_SECONDS, size: str = "320x180", bitrate: str = "300k"
) -> Path:
    """An H.264 MP4 of ``testsrc2`` with the clip's clock burnt in, a keyframe each second."""
    if path.exists():
        return path
    text = "%{pts\\:hms}"
    font = 16 if size == "320x180" else 48
    draw = f"drawtext=fontfile={FONT}:text='{text}':fontsize={font}:fontcolor=white:x=8:y=8"
    partial = path.with_suffix(".part.mp4")
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25",
            "-t", str(seconds),
            "-vf", draw,
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate,
            "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
            str(partial),
        ],
        check=True,
    )  # fmt: skip
    partial.rename(path)
    return path


class RtspCamera:
    """gst-rtsp-server serving ``clip`` on ``mounts`` mounts (``/cam0`` …) of one port."""

    def __init__(
        self, clip: Path, *, mounts: int = 1, user: str = "", password: str = "", port: int = 0
    ) -> None:
        self.clip = clip
        self.mounts = mounts
        self.user = user
        self.password = password
        self.port = port  # 0: the server's choice, known once it started
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, mount: int = 0) -> str:
        """The stream address without credentials."""
        return f"rtsp://127.0.0.1:{self.port}/cam{mount}"

    def start(self, timeout: float = 10.0) -> RtspCamera:
        args = [SYSTEM_PYTHON, str(SERVER), str(self.clip), "--port", str(self.port)]
        args += ["--mounts", str(self.mounts)]
        if self.user:
            args += ["--user", self.user, "--password", self.password]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ}
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline().decode() if ready else ""
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"RTSP test camera did not start: {line!r}")
        self.port = int(line.split()[1])  # again on this port when started again
        self._wait_listening(deadline)
        return self

    def _wait_listening(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("RTSP test camera not listening")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = available()
    if why:
        pytest.skip(why)
    return make_clip(tmp_path_factory.getbasetemp() / "video-test-clip.mp4")


@pytest.fixture
def rtsp_camera(camera_clip: Path) -> Iterator[RtspCamera]:
    camera = RtspCamera(camera_clip, user="cam", password="p@ss:w/rd")
    camera.start()
    try:
        yield camera
    finally:
        camera.stop()
