"""Editions of region boundaries: the shapes the region view draws its map with.

A boundary edition is a GeoJSON FeatureCollection (RFC 7946, WGS-84 longitude/latitude) with
one more member, ``edition``, naming it::

    {"type": "FeatureCollection",
     "edition": {"code": "jx-2026", "title": "江西省行政区划边界", "published": "2026-05-01",
                 "source": "江西省测绘地理信息局", "approval": "赣S(2026)001号"},
     "features": [{"type": "Feature", "id": "360400", "properties": {},
                   "geometry": {"type": "MultiPolygon", "coordinates": [...]}}, ...]}

Each feature is the shape of one region, its GB/T 2260 code in ``id`` (or ``properties.code``),
a Polygon or MultiPolygon within China's extent. ``approval`` is the map's approval number
(审图号): a map drawn from an edition without one is marked as schematic and internal
(docs/maps.md). Editions load like the other reference data (``core.editions``): once, never
rewritten, refused whole with every reason when anything is wrong. No edition ships with the
platform: a deployment loads its approved one with ``jcjg db load-boundaries``; the demo loads
its schematic one (``jcjg.demo``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jcjg.core import editions
from jcjg.core.editions import EditionError, Header, Loaded
from jcjg.core.regioncodes import is_valid_code
from jcjg.regions.models import Region, RegionBoundary

KIND = "boundaries"
MAX_BYTES = 64 * 1024 * 1024  # a province's counties at full detail are ~12 MB
MAX_POINTS = 4_000_000
MAX_FEATURES = 5_000
APPROVAL_MAX = 64
# China's extent with a margin: a shape outside it has its axes swapped or is not in degrees
LON = (70.0, 140.0)
LAT = (0.0, 56.0)


@dataclass(frozen=True)
class Shape:
    code: str
    geometry: dict[str, Any]
    label: tuple[float, float]  # longitude, latitude


@dataclass(frozen=True)
class BoundaryFile:
    header: Header
    approval: str
    shapes: dict[str, Shape]

    def content(self) -> list[Any]:
        """What the digest covers: the approval number and every shape, in code order."""
        return [self.approval, [[s.code, s.geometry] for _, s in sorted(self.shapes.items())]]


def _ring_problems(ring: Any, where: str) -> tuple[list[str], int]:
    if not isinstance(ring, list) or len(ring) < 4:
        return [f"{where}：环应至少有 4 个点"], 0
    for point in ring:
        if (
            not isinstance(point, list)
            or len(point) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point[:2])
            or not all(math.isfinite(v) for v in point[:2])
        ):
            return [f"{where}：点应为 [经度, 纬度] 两个数"], 0
        lon, lat = point[0], point[1]
        if not (LON[0] <= lon <= LON[1] and LAT[0] <= lat <= LAT[1]):
            return [f"{where}：点 [{lon}, {lat}] 不在中国范围内（经纬度是否颠倒？）"], 0
    if ring[0][:2] != ring[-1][:2]:
        return [f"{where}：环的首尾两点应相同（闭合）"], 0
    return [], len(ring)


def _polygons(geometry: Any, where: str) -> tuple[list[Any], list[str]]:
    """The polygons of a Polygon or MultiPolygon (each a list of rings), or the problems."""
    if not isinstance(geometry, dict) or geometry.get("type") not in {"Polygon", "MultiPolygon"}:
        return [], [f"{where}：geometry 应为 Polygon 或 MultiPolygon"]
    coords = geometry.get("coordinates")
    polygons = [coords] if geometry["type"] == "Polygon" else coords
    if not isinstance(polygons, list) or not polygons:
        return [], [f"{where}：coordinates 为空"]
    if not all(isinstance(p, list) and p for p in polygons):
        return [], [f"{where}：coordinates 的结构不符合 {geometry['type']}"]
    return polygons, []


def _area_and_centroid(ring: list[list[float]]) -> tuple[float, float, float]:
    """The shoelace area (degrees²) and centroid of a closed ring."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(
        (p[:2] for p in ring[:-1]), (p[:2] for p in ring[1:]), strict=True
    ):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(area) < 1e-12:
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        return 0.0, sum(xs) / len(xs), sum(ys) / len(ys)
    return abs(area) / 2, cx / (3 * area), cy / (3 * area)


def label_point(polygons: list[Any]) -> tuple[float, float]:
    """Where a region's label goes: the centroid of its largest polygon's outer ring (an
    island does not pull it into the sea), rounded to 0.0001°."""
    best = max((_area_and_centroid(p[0]) for p in polygons), key=lambda t: t[0])
    return round(best[1], 4), round(best[2], 4)


def _feature(number: int, feature: Any) -> tuple[Shape | None, list[str], int]:
    where = f"第 {number} 个 feature"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [f"{where}：应为 type 为 Feature 的对象"], 0
    props = feature.get("properties") or {}
    code = feature.get("id", props.get("code") if isinstance(props, dict) else None)
    code = str(code) if isinstance(code, str | int) and not isinstance(code, bool) else ""
    if not is_valid_code(code):
        return None, [f"{where}：id（或 properties.code）应为 6 位 GB/T 2260 行政区划代码"], 0
    where = f"{where}（{code}）"
    polygons, problems = _polygons(feature.get("geometry"), where)
    points = 0
    for polygon in polygons:
        for ring in polygon:
            found, n = _ring_problems(ring, where)
            problems += found
            points += n
            if found:
                return None, problems, points
    if problems:
        return None, problems, points
    geometry = {
        "type": feature["geometry"]["type"],
        "coordinates": feature["geometry"]["coordinates"],
    }
    return Shape(code, geometry, label_point(polygons)), [], points


def _header(meta: Any, source: str | None) -> tuple[Header, str, list[str]]:
    if not isinstance(meta, dict) or not str(meta.get("code") or "").strip():
        missing = "缺少版本：文件应有 edition 对象，至少含 code（版本代码）"
        return Header(code="", title=""), "", [missing]
    problems = []
    published = None
    if meta.get("published"):
        try:
            published = editions.parse_date(str(meta["published"]), "发布日期")
        except EditionError as error:
            problems += error.problems
    code = str(meta["code"]).strip()
    approval = str(meta.get("approval") or "").strip()
    if len(approval) > APPROVAL_MAX or any(ord(c) < 32 for c in approval):
        problems.append(f"审图号应为不超过 {APPROVAL_MAX} 个字符的一行文字")
    header = Header(
        code=code,
        title=str(meta.get("title") or f"行政区划边界（{code}）"),
        published_date=published,
        source=str(meta.get("source") or "") or source,
    )
    return header, approval, problems + header.problems()


def parse(text: str, *, source: str | None = None) -> BoundaryFile:
    """Read a boundary edition; every problem is reported at once (:class:`EditionError`)."""
    if len(text) > MAX_BYTES:
        raise EditionError([f"文件超过 {MAX_BYTES // 1024 // 1024} MB：请先简化边界"])
    try:
        body = json.loads(text.lstrip("\ufeff"))
    except ValueError as error:
        raise EditionError([f"不是有效的 JSON：{error}"]) from None
    if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
        raise EditionError(["应为 GeoJSON FeatureCollection（type 为 FeatureCollection 的对象）"])
    header, approval, problems = _header(body.get("edition"), source)
    features = body.get("features")
    if not isinstance(features, list) or not features:
        raise EditionError([*problems, "features 应为非空数组"])
    if len(features) > MAX_FEATURES:
        raise EditionError([*problems, f"features 超过 {MAX_FEATURES} 个"])
    shapes: dict[str, Shape] = {}
    points = 0
    for number, feature in enumerate(features, start=1):
        shape, found, n = _feature(number, feature)
        problems += found
        points += n
        if shape is None:
            continue
        if shape.code in shapes:
            problems.append(f"第 {number} 个 feature：代码 {shape.code} 重复")
        shapes[shape.code] = shape
    if points > MAX_POINTS:
        problems.append(f"共 {points} 个点，超过 {MAX_POINTS}：请先简化边界")
    if problems:
        raise EditionError(problems)
    return BoundaryFile(header=header, approval=approval, shapes=shapes)


def read(path: Path) -> BoundaryFile:
    if path.stat().st_size > MAX_BYTES:
        raise EditionError([f"文件超过 {MAX_BYTES // 1024 // 1024} MB：请先简化边界"])
    return editions.read(path, parse)


def shipped() -> list[BoundaryFile]:
    """None: approved boundaries come from the deployment (docs/maps.md)."""
    return []


def describe(code: str, summary: dict[str, Any]) -> str:
    """``行政区划边界 jx-2026 版：111 个区划（审图号 …）`` from an edition's summary."""
    approval = summary.get("approval") or ""
    said = f"审图号 {approval}" if approval else "未注明审图号，仅作内部示意"
    return f"行政区划边界 {code} 版：{summary.get('total', 0)} 个区划（{said}）"


def load(db: Session, file: BoundaryFile) -> Loaded:
    """Load ``file`` as a new edition (flushed, not committed). Idempotent; refuses, writing
    nothing, an edition whose codes are not in the region table."""
    edition_code, content_digest = file.header.code, editions.digest(file.content())
    if editions.check(db, KIND, file.header, content_digest):
        return Loaded(
            edition_code, True, f"行政区划边界 {edition_code} 版此前已加载，内容相同，未作改动"
        )
    known = set(db.scalars(select(Region.code).where(Region.code.in_(list(file.shapes)))))
    unknown = sorted(set(file.shapes) - known)
    if unknown:
        shown = "、".join(unknown[:20]) + ("等" if len(unknown) > 20 else "")
        raise EditionError([f"代码 {shown} 不在已加载的行政区划中：请先加载相应版本的行政区划代码"])
    edition = editions.record(db, KIND, file.header, content_digest)
    rows = [
        {"edition_id": edition.id, "code": s.code, "geometry": s.geometry,
         "label_lon": s.label[0], "label_lat": s.label[1]}
        for _, s in sorted(file.shapes.items())
    ]  # fmt: skip
    db.execute(insert(RegionBoundary), rows)
    edition.summary = {"total": len(rows), "approval": file.approval}
    db.flush()
    return Loaded(edition_code, False, describe(edition_code, edition.summary))


@dataclass(frozen=True)
class Drawn:
    """The shapes of some regions as the latest editions hold them, and whether every one
    of those editions carries an approval number (and which)."""

    shapes: dict[str, RegionBoundary]
    approvals: tuple[str, ...]
    titles: tuple[str, ...]

    @property
    def approved(self) -> bool:
        return bool(self.shapes) and all(self.approvals)


def latest_shapes(db: Session, codes: list[str]) -> Drawn:
    """Each of ``codes``' shape in the latest boundary edition that has it."""
    if not codes:
        return Drawn({}, (), ())
    rows = db.scalars(
        select(RegionBoundary)
        .where(RegionBoundary.code.in_(codes))
        .order_by(RegionBoundary.edition_id.desc())
    )
    shapes: dict[str, RegionBoundary] = {}
    for row in rows:
        shapes.setdefault(row.code, row)
    used = {row.edition_id for row in shapes.values()}
    found = [e for e in editions.editions(db, KIND) if e.id in used]
    return Drawn(
        shapes,
        tuple(str(e.summary.get("approval") or "") for e in found),
        tuple(e.title for e in found),
    )


def label_points(db: Session, codes: list[str]) -> dict[str, tuple[float, float]]:
    """Each of ``codes``' label point (longitude, latitude) in the latest edition that has its
    shape; the shapes themselves are not read."""
    rows = db.execute(
        select(RegionBoundary.code, RegionBoundary.label_lon, RegionBoundary.label_lat)
        .where(RegionBoundary.code.in_(codes))
        .order_by(RegionBoundary.edition_id.desc())
    )
    points: dict[str, tuple[float, float]] = {}
    for code, lon, lat in rows:
        points.setdefault(code, (lon, lat))
    return points
