"""HLS playlists of a camera's recording (RFC 8216): the live one (the latest segments, no end)
and the replay of a time range (an ended playlist, a discontinuity across every gap). Each
segment carries its wall-clock start (``EXT-X-PROGRAM-DATE-TIME``), which the player shows.
Segments whose file retention removed are left out."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.video.models import Segment
from jcjg.video.segments import as_utc

LIVE_SEGMENTS = 6
MAX_REPLAY = dt.timedelta(hours=2)
GAP_S = 0.5  # a jump between segments larger than this is a discontinuity


def program_time(moment: dt.datetime) -> str:
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _lines(segments: Sequence[Segment]) -> list[str]:
    out: list[str] = []
    previous: Segment | None = None
    for seg in segments:
        if previous is not None:
            jump = (as_utc(seg.started_at) - as_utc(previous.ended_at)).total_seconds()
            if abs(jump) > GAP_S or seg.sequence != previous.sequence + 1:
                out.append("#EXT-X-DISCONTINUITY")
        out.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_time(seg.started_at)}")
        out.append(f"#EXTINF:{seg.duration_s:.3f},")
        out.append(f"/video/segments/{seg.id}.ts")
        previous = seg
    return out


def _header(segments: Sequence[Segment], target_s: float) -> list[str]:
    longest = max((s.duration_s for s in segments), default=target_s)
    return [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest))}",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0].sequence if segments else 0}",
    ]


def live_segments(db: Session, camera_id: int, count: int = LIVE_SEGMENTS) -> list[Segment]:
    rows = db.scalars(
        select(Segment)
        .where(Segment.camera_id == camera_id, Segment.removed_at.is_(None))
        .order_by(Segment.sequence.desc())
        .limit(count)
    ).all()
    return list(reversed(rows))


def live_playlist(segments: Sequence[Segment], target_s: float) -> str:
    """The live playlist: the latest segments, numbered by their sequence, never ended."""
    return "\n".join([*_header(segments, target_s), *_lines(segments)]) + "\n"


def replay_segments(
    db: Session, camera_id: int, start: dt.datetime, end: dt.datetime
) -> list[Segment]:
    """The kept segments that overlap ``start``–``end``, in order."""
    return list(
        db.scalars(
            select(Segment)
            .where(
                Segment.camera_id == camera_id,
                Segment.removed_at.is_(None),
                Segment.started_at < end,
                Segment.ended_at > start,
            )
            .order_by(Segment.sequence)
        )
    )


def replay_playlist(segments: Sequence[Segment], target_s: float) -> str:
    """A replay (VOD) playlist: ended, with a discontinuity across each gap."""
    lines = [
        *_header(segments, target_s),
        "#EXT-X-PLAYLIST-TYPE:VOD",
        *_lines(segments),
        "#EXT-X-ENDLIST",
    ]
    return "\n".join(lines) + "\n"
