"""One ffmpeg child recording one camera: the stream copied without re-encoding into MPEG-TS
segments in a work folder, each listed (name, start, end in stream seconds) in a CSV file as
soon as it is finished.

A finished segment's real start is anchored on the wall clock: ffmpeg closes a segment when
the first packet of the next one arrives, so the file's modification time minus the segment's
end in stream time is the moment stream time 0 was live, plus the delivery delay. The smallest
such value seen during the run (the least delayed) is the anchor.
"""

from __future__ import annotations

import signal
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from jcjg.video.credentials import redact

LIST_NAME = "segments.csv"
LOG_NAME = "ffmpeg.log"
_PATTERN = "seg%09d.ts"


@dataclass(frozen=True)
class Finished:
    """A finished segment file: its path, start and end in stream seconds, its real start
    (seconds since the epoch) and duration."""

    path: Path
    start_s: float
    end_s: float
    started_epoch: float

    @property
    def duration_s(self) -> float:
        return max(self.end_s - self.start_s, 0.0)


def command(ffmpeg: str, address: str, workdir: Path, segment_seconds: int) -> list[str]:
    """The ffmpeg command line: RTSP over TCP, copy the video, cut into MPEG-TS segments."""
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "warning",
        "-rtsp_transport",
        "tcp",
        "-timeout",
        "5000000",  # socket I/O timeout (µs): a camera that goes silent ends the run
        "-i",
        address,
        "-map",
        "0:v",
        "-c",
        "copy",
        "-f",
        "segment",
        "-segment_time",
        str(segment_seconds),
        "-segment_format",
        "mpegts",
        "-reset_timestamps",
        "1",
        "-segment_list",
        str(workdir / LIST_NAME),
        "-segment_list_type",
        "csv",
        str(workdir / _PATTERN),
    ]


class Capture:
    """An ffmpeg run for one camera in ``workdir`` (emptied on start)."""

    def __init__(self, ffmpeg: str, address: str, workdir: Path, segment_seconds: int) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        for leftover in workdir.iterdir():
            if leftover.is_file():
                leftover.unlink()
        self._offset = 0
        self._pending = b""
        self.anchor: float | None = None
        self._interrupted = False
        self._log = (workdir / LOG_NAME).open("wb")
        self.process = subprocess.Popen(  # noqa: S603 (the configured ffmpeg, our arguments)
            command(ffmpeg, address, workdir, segment_seconds),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,  # a terminal's Ctrl-C reaches the recorder, not each child
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def finished(self) -> list[Finished]:
        """Segments finished since the last call (complete lines of the list only)."""
        path = self.workdir / LIST_NAME
        try:
            with path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()
        out: list[Finished] = []
        for line in lines:
            found = self._entry(line.decode("utf-8", "replace").strip())
            if found is not None:
                out.append(found)
        return out

    def _entry(self, line: str) -> Finished | None:
        try:
            name, start, end = line.rsplit(",", 2)
            start_s, end_s = float(start), float(end)
        except ValueError:
            return None
        file = self.workdir / Path(name).name
        try:
            closed = file.stat().st_mtime
        except FileNotFoundError:
            return None
        anchor = closed - end_s
        self.anchor = anchor if self.anchor is None else min(self.anchor, anchor)
        return Finished(file, start_s, end_s, self.anchor + start_s)

    def interrupt(self) -> None:
        """Ask ffmpeg to finish (it lists its last segment); :meth:`stop` waits for it. Once
        only: a second SIGINT makes ffmpeg exit at once, its last segment unlisted."""
        if self.running() and not self._interrupted:
            self._interrupted = True
            self.process.send_signal(signal.SIGINT)

    def stop(self, timeout: float = 5.0) -> None:
        """End the run: ffmpeg finishes and lists its last segment on SIGINT; killed if it
        does not end within ``timeout``."""
        if self.running():
            self.interrupt()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def kill(self) -> None:
        """End the run at once (nothing more is listed)."""
        if self.running():
            self.process.kill()
            self.process.wait()
        self._log.close()

    def stderr_tail(self, lines: int = 5) -> str:
        """The last lines ffmpeg wrote, credentials removed."""
        try:
            text = (self.workdir / LOG_NAME).read_bytes()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""
        return redact("\n".join(deque(text.splitlines(), maxlen=lines)))


# What a camera's page says when ffmpeg ends or stalls. Until an address has delivered video
# (``proven``), every failure is the one neutral text: "connection refused", a timeout, "no route"
# or a protocol error (a 401 or 404 from whatever answers, "invalid data") would tell a lab what
# listens where the recorder reaches, a port scan through the platform. The server's log keeps
# ffmpeg's own words (:func:`detail`).
CANNOT_CONNECT = "无法连接摄像机视频流"
NOT_STARTED = "录像服务无法启动录像程序"
STALLED = "视频流停滞（长时间未生成新片段）"
_REASONS = (
    ("401", "用户名或密码错误"),
    ("Unauthorized", "用户名或密码错误"),
    ("404", "视频流地址不存在"),
    ("Connection refused", "无法连接摄像机（连接被拒绝）"),
    ("No route to host", "无法连接摄像机（网络不可达）"),
    ("Network is unreachable", "无法连接摄像机（网络不可达）"),
    ("timed out", "连接摄像机超时"),
    ("End of file", "视频流中断"),
    ("Invalid data", "视频流数据无效"),
)


def reason(tail: str, returncode: int | None, *, proven: bool = False) -> str:
    """What the camera's page says of why ffmpeg ended (``returncode``) or stalled (None):
    :data:`CANNOT_CONNECT` unless the address it connected to delivered video before in this
    recorder (``proven``: telling a closed port from an open one then tells nothing new);
    then ffmpeg's last words (``tail``) read into a reason a person can act on (Chinese, at
    most 200 characters)."""
    if not proven:
        return CANNOT_CONNECT
    for needle, words in _REASONS:
        if needle in tail:
            return words
    if returncode is None:
        return STALLED
    return f"视频流中断（录像进程退出，代码 {returncode}）"


def detail(tail: str, returncode: int | None) -> str:
    """ffmpeg's last line (credentials removed) and how it ended, for the server's log only."""
    last = redact(tail.strip().splitlines()[-1]) if tail.strip() else ""
    ended = "stalled" if returncode is None else f"exit {returncode}"
    return f"{ended}: {last}"[:300] if last else ended
