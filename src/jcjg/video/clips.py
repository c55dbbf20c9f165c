"""Clip export: the segments covering a time range joined without re-encoding (ffmpeg's concat
demuxer, ``-c copy``) into an MP4 in the blob store, with a manifest of the segments (number,
start, duration, SHA-256, chain value, the ledger index of their notarised batch) signed by the
ledger's key and notarised, so a holder of the clip can check it against the platform's public
key (``/ledger/key``) and the segments against the chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import canonical_json
from jcjg.ledger.note import sign_note
from jcjg.tenancy.models import Institution
from jcjg.video.models import Camera, Clip, Segment, SegmentBatch
from jcjg.video.playback import replay_segments
from jcjg.video.segments import as_utc, file_sha256, media_path

log = logging.getLogger(__name__)
MAX_CLIP = dt.timedelta(minutes=30)
NOTE_HEADER = "jcjg-video-clip/v1"
FFMPEG_TIMEOUT_S = 300


class ClipError(ValidationFailed):
    pass


def check_range(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise ClipError(errors=[FieldError("end", "结束时间须晚于开始时间")])
    if end - start > MAX_CLIP:
        raise ClipError(errors=[FieldError("end", "一次最多导出 30 分钟的录像")])


def _ts(moment: dt.datetime) -> str:
    return ledger.timestamp(moment)


def _batches(db: Session, segments: Sequence[Segment]) -> dict[int, int | None]:
    ids = {s.batch_id for s in segments if s.batch_id is not None}
    if not ids:
        return {}
    rows = db.execute(
        select(SegmentBatch.id, SegmentBatch.ledger_index).where(SegmentBatch.id.in_(ids))
    )
    return {row.id: row.ledger_index for row in rows}


def manifest_of(
    db: Session,
    camera: Camera,
    segments: Sequence[Segment],
    *,
    requested: tuple[dt.datetime, dt.datetime],
    clip_sha256: str,
    duration_s: float,
) -> dict[str, Any]:
    institution = db.get(Institution, camera.institution_id)
    batches = _batches(db, segments)
    return {
        "manifest_version": 1,
        "camera_code": camera.code,
        "camera_name": camera.name,
        "institution_code": institution.code if institution else "",
        "institution_name": institution.name if institution else "",
        "requested_start": _ts(requested[0]),
        "requested_end": _ts(requested[1]),
        "start": _ts(segments[0].started_at),
        "end": _ts(segments[-1].ended_at),
        "duration_s": round(duration_s, 3),
        "segments": [
            {
                "sequence": s.sequence,
                "started_at": _ts(s.started_at),
                "duration_s": s.duration_s,
                "sha256": s.sha256,
                "chain": s.chain,
                "ledger_index": batches.get(s.batch_id) if s.batch_id else None,
            }
            for s in segments
        ],
        "clip_sha256": clip_sha256,
    }


def manifest_digest(manifest: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(manifest)).hexdigest()


def sign_manifest(manifest: dict[str, Any]) -> str:
    """A signed note (C2SP) over the manifest's SHA-256 (RFC 8785 canonical JSON), signed by the
    ledger's Ed25519 key."""
    log = ledger.log_identity()
    text = f"{NOTE_HEADER}\n{log.origin}\n{manifest_digest(manifest)}\n"
    return sign_note(text, log.signer).decode()


def concat(settings: Settings, segments: Sequence[Segment], out: Path) -> None:
    """Join the segments' files into an MP4 without re-encoding."""
    listing = out.with_suffix(".txt")
    lines = []
    for seg in segments:
        path = media_path(settings, seg.path)
        lines.append("file '" + str(path).replace("'", "'\\''") + "'")
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    command = [
        settings.video_ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-c", "copy", "-movflags", "+faststart", "-y", str(out),
    ]  # fmt: skip
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own paths
        command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False
    )
    if result.returncode != 0 or not out.exists():
        log.warning("ffmpeg concat failed: %s", result.stderr.decode("utf-8", "replace")[-500:])
        raise ClipError("录像剪辑生成失败", errors=[FieldError("start", "录像剪辑生成失败")])


def _covering(
    db: Session, settings: Settings, camera: Camera, start: dt.datetime, end: dt.datetime
) -> list[Segment]:
    segments = [
        s for s in replay_segments(db, camera.id, start, end)
        if media_path(settings, s.path).exists()
    ]  # fmt: skip
    if not segments:
        raise ClipError(errors=[FieldError("start", "这段时间没有录像")])
    return segments


def export_clip(
    db: Session,
    settings: Settings,
    *,
    camera: Camera,
    start: dt.datetime,
    end: dt.datetime,
    user_id: int | None,
) -> Clip:
    """Make, store, sign and notarise the clip of ``start``–``end``; flushes, never commits."""
    start, end = as_utc(start), as_utc(end)
    check_range(start, end)
    segments = _covering(db, settings, camera, start, end)
    with tempfile.TemporaryDirectory(prefix="jcjg-clip-") as tmp:
        out = Path(tmp) / "clip.mp4"
        concat(settings, segments, out)
        digest, size = file_sha256(out)
        blob_store(settings).put_file(out, digest)
    duration = sum(s.duration_s for s in segments)
    manifest = manifest_of(
        db, camera, segments, requested=(start, end), clip_sha256=digest, duration_s=duration
    )
    clip = Clip(
        camera_id=camera.id,
        institution_id=camera.institution_id,
        region_code=camera.region_code,
        project_id=camera.project_id,
        started_at=as_utc(segments[0].started_at),
        ended_at=as_utc(segments[-1].ended_at),
        duration_s=round(duration, 3),
        blob_digest=digest,
        size_bytes=size,
        manifest=manifest,
        signature=sign_manifest(manifest),
        requested_by=user_id,
    )
    receipt = ledger.notarise(
        db,
        "video_clip:export",
        {
            "camera_code": camera.code,
            "institution_code": manifest["institution_code"],
            "manifest_sha256": manifest_digest(manifest),
            "clip_sha256": digest,
        },
    )
    clip.ledger_index = receipt.index
    db.add(clip)
    db.flush()
    return clip


def manifest_document(clip: Clip) -> dict[str, Any]:
    """What the manifest download holds: the manifest, its digest, the signed note and where
    it is in the ledger."""
    return {
        "manifest": clip.manifest,
        "manifest_sha256": manifest_digest(clip.manifest),
        "signature": clip.signature,
        "ledger_index": clip.ledger_index,
        "public_key": ledger.log_identity().vkey,
    }
