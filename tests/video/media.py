"""Recorded segments without the recorder: a short H.264 clip with a burnt-in clock made by
ffmpeg (lavfi testsrc2 + drawtext), cut with ``-c copy -f segment -segment_format mpegts``,
then each piece copied into the media folder and entered by ``jcjg.video.segments.ingest`` with
real start times."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.video.models import Camera, Segment
from jcjg.video.segments import file_sha256, ingest
from tests.video.rtsp import make_clip

SEGMENT_S = 2.0


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def make_pieces(folder: Path, seconds: int = 12) -> list[Path]:
    """``seconds`` of the test cameras' clip (320x180, a key frame each second, the time drawn
    on it; ``tests.video.rtsp.make_clip``) cut into 2-second MPEG-TS pieces."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = make_clip(folder / "clip.mp4", seconds=seconds)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(clip),
         "-c", "copy", "-f", "segment", "-segment_time", str(SEGMENT_S),
         "-segment_format", "mpegts", str(folder / "seg%03d.ts")],
        check=True, timeout=60,
    )  # fmt: skip
    return sorted(folder.glob("seg*.ts"))


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(path)],
        check=True, capture_output=True, timeout=30, text=True,
    )  # fmt: skip
    return float(out.stdout.strip())


@dataclass
class Recorder:
    """Puts pieces into a camera's recording as the recorder would."""

    db: Session
    settings: Settings

    def add(self, camera: Camera, piece: Path, started_at: dt.datetime) -> Segment:
        relative = f"{camera.institution_id}/{camera.id}/{started_at:%Y%m%dT%H%M%S%f}.ts"
        target = self.settings.media_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(piece, target)
        digest, size = file_sha256(target)
        return ingest(
            self.db, camera=camera, relative_path=relative, started_at=started_at,
            duration_s=SEGMENT_S, sha256=digest, size_bytes=size,
        )  # fmt: skip

    def record(self, camera: Camera, pieces: list[Path], start: dt.datetime) -> list[Segment]:
        """The pieces one after another from ``start``."""
        return [
            self.add(camera, piece, start + dt.timedelta(seconds=SEGMENT_S * n))
            for n, piece in enumerate(pieces)
        ]
