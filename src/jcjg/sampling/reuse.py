"""``photo_reuse``: one photo uploaded for two samples or records (issue 25 item 4).

Every photo the chain takes (the sample, its tag and its sampler at registration; the sealed
sample and the witness at the seal; the lab's receipt photo; an on-site record's photos) is
entered in :class:`~jcjg.sampling.models.PhotoPrint` by its SHA-256 and, for the specimen
photos (sample, receipt), by its perceptual hash (dHash, 64 bits) cut into four 16-bit bands.
Two hashes within 3 bits share at least one band, so a new photo's near copies are the rows
sharing its content or a band: indexed, as the curve fingerprints are. A photo taken for one
sample is never the photo of another: the same file, or the same picture re-encoded, resized
or lightly cropped (a few bits of dHash; two photos of different specimens differ in about
half), under another sample or record is a photo re-used instead of taken there.

Live photos of people (the sampler, the witness) are compared with the same role's only: a
portrait is taken anew at each sample, so the same file twice means the person was not there.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from PIL import Image, ImageOps
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.core.workdays import BEIJING
from jcjg.documents.photos import hamming
from jcjg.sampling.models import PhotoPrint

KINDS = {
    "sample": "样品照片",
    "tag": "样品标识照片",
    "sampler": "取样人现场照片",
    "seal": "封样照片",
    "witness": "见证人现场照片",
    "receipt": "收样照片",
    "onsite": "现场检测照片",
}
# what a photo may be a copy of: the scene photos among themselves, each portrait with its role
FAMILY = {"sampler": "sampler", "witness": "witness", "tag": "tag"}
SUBJECTS = {"sample": "样品", "onsite_record": "现场检测记录"}
BAND_BITS = 16
CHUNK = 500
# a dHash with at most this many bits 0 or 1 is a flat frame
FLAT_BITS = 4
# a photo is compared with at most this many earlier photos of each of its file and bands (the
# latest): a file uploaded under a thousand samples, or a band many photos share, costs each
# later photo this many looks, not a thousand
SOUGHT = 100


def family(kind: str) -> str:
    return FAMILY.get(kind, "scene")


def informative(phash: str | None) -> bool:
    """Whether a dHash says anything of a picture: a flat one (a blank, dark or burnt-out
    frame, a plain wall) has almost every bit 0 (or 1), and is as near to every other flat
    frame as to its own copies. Only its file is compared."""
    if not phash:
        return False
    ones = int(phash, 16).bit_count()
    return FLAT_BITS < ones < 64 - FLAT_BITS


def bands(phash: str | None) -> tuple[int | None, int | None, int | None, int | None]:
    """The four 16-bit bands of a 64-bit dHash written as 16 hex digits (none for a hash
    that is not :func:`informative`)."""
    if not phash or not informative(phash):
        return None, None, None, None
    value = int(phash, 16)
    mask = (1 << BAND_BITS) - 1
    b0, b1, b2, b3 = ((value >> (BAND_BITS * i)) & mask for i in range(4))
    return b0, b1, b2, b3


def add_prints(
    db: Session,
    *,
    subject_type: str,
    subject_id: int,
    label: str,
    region_code: str,
    taken_at: dt.datetime,
    photos: Iterable[tuple[str, str, str | None]],
    project_id: int | None = None,
    institution_id: int | None = None,
) -> None:
    """Enter a subject's photos ((kind, sha256, dHash or None)) in the index."""
    for kind, sha256, phash in photos:
        if not sha256:
            continue
        b0, b1, b2, b3 = bands(phash)
        db.add(
            PhotoPrint(
                kind=kind, subject_type=subject_type, subject_id=subject_id,
                subject_label=label[:64], project_id=project_id, institution_id=institution_id,
                region_code=region_code, sha256=sha256, phash=phash, band0=b0, band1=b1,
                band2=b2, band3=b3, taken_at=taken_at,
            )
        )  # fmt: skip


def _candidates(db: Session, prints: Sequence[PhotoPrint], since: dt.datetime) -> list[PhotoPrint]:
    """The index's rows sharing a file or a band with any of ``prints``."""
    found: dict[int, PhotoPrint] = {}
    for start in range(0, len(prints), CHUNK):
        part = prints[start : start + CHUNK]
        shas = sorted({p.sha256 for p in part})
        conditions: list[Any] = [PhotoPrint.sha256.in_(shas)]
        for column, name in (
            (PhotoPrint.band0, "band0"),
            (PhotoPrint.band1, "band1"),
            (PhotoPrint.band2, "band2"),
            (PhotoPrint.band3, "band3"),
        ):
            values = sorted({v for p in part if (v := getattr(p, name)) is not None})
            if values:
                conditions.append(column.in_(values))
        stmt = select(PhotoPrint).where(PhotoPrint.taken_at >= since, or_(*conditions))
        for row in db.scalars(stmt):
            found[row.id] = row
    return list(found.values())


def same_picture(a: PhotoPrint, b: PhotoPrint, max_distance: int) -> int | None:
    """Bits of dHash between two photos of one family that are one picture (0 for the same
    file), or None."""
    if family(a.kind) != family(b.kind):
        return None
    if a.sha256 == b.sha256:
        return 0
    if a.phash and b.phash and informative(a.phash) and informative(b.phash):
        distance = hamming(a.phash, b.phash)
        if distance <= max_distance:
            return distance
    return None


PANEL_HEIGHT = 360


def side_by_side(left: bytes, right: bytes | None) -> bytes:
    """Two photos next to each other at one height, a white gap between (JPEG); without the
    right one, a grey panel of the left's size in its place."""
    first = ImageOps.exif_transpose(Image.open(io.BytesIO(left))).convert("RGB")
    first = first.resize((max(1, first.width * PANEL_HEIGHT // first.height), PANEL_HEIGHT))
    if right is not None:
        second = ImageOps.exif_transpose(Image.open(io.BytesIO(right))).convert("RGB")
        second = second.resize((max(1, second.width * PANEL_HEIGHT // second.height), PANEL_HEIGHT))
    else:
        second = Image.new("RGB", first.size, (200, 200, 200))
    gap = 12
    canvas = Image.new("RGB", (first.width + gap + second.width, PANEL_HEIGHT), (255, 255, 255))
    canvas.paste(first, (0, 0))
    canvas.paste(second, (first.width + gap, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()


def _when(at: dt.datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


@rule(
    "photo_reuse",
    title="同一张照片用于不同的样品或检测记录",
    clause="jz57 第十八条；001 7.1.2（取样、见证现场拍照上传）；002 第十七条（一）；003 三（四）",
    severity=Severity.CRITICAL,
    subject_type="sample",
    defaults={"max_distance": 3, "window_days": 365},
    labels={
        "max_distance": "视为同一张照片的感知哈希最大差异（位，共 64 位）",
        "window_days": "比对最近多少天的照片（天）",
        "figure": "左：本样品的照片；右：另一样品的同一张照片"
        "（另一样品不在您的查看范围内时显示为灰色）。",
    },
    triggers=(PhotoPrint,),
    scope="project",
    description="一个样品或现场检测记录的照片（样品、标识、封样、收样、现场检测照片，取样人和见证人的"
    "现场照片）与另一个样品或记录的照片是同一张：文件完全相同，或样品、收样照片的感知哈希（dHash）"
    "只差几位（重新压缩、缩放、轻微裁剪的同一张照片）。照片应在每个样品、每次检测现场拍摄，同一张照片"
    "出现在两处说明有一处没有到现场。人员照片只与同一角色的照片比对。后上传的一方预警，列出相同的照片、"
    "所在样品或记录和时间。",
)
def photo_reuse(ctx: RuleContext) -> Iterator[Finding]:
    # as far back as the longest window of any region; each photo then within its region's
    since = ctx.now - dt.timedelta(days=max(ctx.widest("window_days"), 1.0))
    stmt = select(PhotoPrint).where(PhotoPrint.taken_at >= since)
    prints = list(ctx.db.scalars(ctx.narrow_projects(stmt, PhotoPrint.project_id)))
    if not prints:
        return
    pool = _candidates(ctx.db, prints, since) if ctx.project_ids is not None else prints
    found_in = _Buckets(pool)
    matches: dict[tuple[str, int], list[tuple[PhotoPrint, PhotoPrint, int]]] = {}
    firsts: dict[tuple[str, int], PhotoPrint] = {}
    cut: set[tuple[str, int]] = set()
    for row in prints:
        limits = ctx.thresholds(row.region_code)
        own = ctx.now - dt.timedelta(days=max(float(limits["window_days"]), 1.0))
        if row.taken_at < own:
            continue
        mine = (row.subject_type, row.subject_id)
        earlier, complete = found_in.earlier(row, own)
        if not complete:
            cut.add(mine)
        for other in earlier:
            distance = same_picture(row, other, int(limits["max_distance"]))
            if distance is not None:
                matches.setdefault(mine, []).append((row, other, distance))
                firsts.setdefault(mine, row)
    for subject, found in matches.items():
        row = firsts[subject]
        yield Finding(
            key=f"{row.subject_type}:{row.subject_id}",
            subject_type=row.subject_type,
            subject_id=str(row.subject_id),
            subject_repr=f"{SUBJECTS.get(row.subject_type, '')} {row.subject_label}",
            subject_number=row.subject_label,
            institution_id=row.institution_id,
            region_code=row.region_code,
            project_id=row.project_id,
            facts={
                "相同的照片": [_line(mine, other, d) for mine, other, d in found[:20]],
                # at least as many when a search stopped at its latest SOUGHT photos
                "相同照片数": len(found) if subject not in cut else f"{len(found)} 以上",
                **_figure(found),
            },
        )


class _Buckets:
    """A pool of photos by family, and within it by file (-1) and by band (0-3), each the
    earliest first."""

    def __init__(self, pool: Iterable[PhotoPrint]) -> None:
        self.rows: dict[tuple[str, int, Any], list[PhotoPrint]] = {}
        for row in pool:
            for key in _keys(row):
                self.rows.setdefault(key, []).append(row)
        for bucket in self.rows.values():
            bucket.sort(key=_taken)

    def earlier(self, row: PhotoPrint, since: dt.datetime) -> tuple[list[PhotoPrint], bool]:
        """The photos of other subjects sharing ``row``'s file or a band, taken before it (the
        later photo's subject carries a finding) and not before ``since``: the latest first,
        at most :data:`SOUGHT` of each file and band; and whether that was all of them."""
        mine = (row.subject_type, row.subject_id)
        seen: set[int] = set()
        out: list[PhotoPrint] = []
        complete = True
        for key in _keys(row):
            bucket = self.rows[key]
            end = bisect.bisect_left(bucket, _taken(row), key=_taken)
            if end > SOUGHT and bucket[end - SOUGHT - 1].taken_at >= since:
                complete = False  # earlier photos within the window not looked at
            for other in reversed(bucket[max(0, end - SOUGHT) : end]):
                if other.taken_at < since:
                    break  # the latest first: the rest are older still
                if other.id not in seen and (other.subject_type, other.subject_id) != mine:
                    seen.add(other.id)
                    out.append(other)
        return out, complete


def _taken(row: PhotoPrint) -> tuple[dt.datetime, int]:
    return row.taken_at, row.id


def _keys(row: PhotoPrint) -> list[tuple[str, int, Any]]:
    """Where a photo's copies are: among its family's photos (only those can be the same
    picture: :func:`same_picture`), its file (-1) and its dHash's bands (0-3)."""
    kin = family(row.kind)
    return [(kin, -1, row.sha256)] + [
        (kin, i, v) for i, v in enumerate(bands(row.phash)) if v is not None
    ]


def _figure(found: list[tuple[PhotoPrint, PhotoPrint, int]]) -> dict[str, str]:
    """The first pair of a sample's photos of things, drawn side by side (portraits never)."""
    for mine, other, _ in found:
        if mine.subject_type == other.subject_type == "sample" and family(mine.kind) not in (
            "sampler",
            "witness",
        ):
            return {"figure": f"/photo-prints/{mine.id}/compare/{other.id}"}
    return {}


def _line(mine: PhotoPrint, other: PhotoPrint, distance: int) -> str:
    if mine.sha256 == other.sha256:
        how = "文件完全相同"
    elif distance == 0:
        how = "文件不同（另存或压缩过），感知哈希相同"
    else:
        how = f"文件不同，感知哈希相差 {distance} 位"
    return (
        f"本{SUBJECTS.get(mine.subject_type, '')}的{KINDS.get(mine.kind, mine.kind)}"
        f"（{_when(mine.taken_at)}）与{SUBJECTS.get(other.subject_type, '')} "
        f"{other.subject_label} 的{KINDS.get(other.kind, other.kind)}（{_when(other.taken_at)}）"
        f"是同一张照片：{how}"
    )
