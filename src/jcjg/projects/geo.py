"""Distances on the earth for the site geofence: WGS-84 coordinates as phones report them.

A project's site is a circle (centre and radius) or a polygon of ``[longitude, latitude]``
pairs. :func:`distance_outside` is how far a position lies outside the site (0 inside): the
haversine distance for circles; for polygons an equirectangular projection around the point,
accurate to well under a metre at site scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _project(lat0: float, lon: float, lat: float, lon0: float) -> tuple[float, float]:
    x = math.radians(lon - lon0) * math.cos(math.radians(lat0)) * EARTH_RADIUS_M
    y = math.radians(lat - lat0) * EARTH_RADIUS_M
    return x, y


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def distance_outside_polygon(lat: float, lon: float, polygon: Sequence[Sequence[float]]) -> float:
    """Metres from (lat, lon) to the polygon (0 inside or on its edge)."""
    points = [_project(lat, p[0], p[1], lon) for p in polygon]
    if len(points) < 3:
        raise ValueError("a polygon needs at least 3 points")
    inside = False
    n = len(points)
    for i in range(n):  # ray casting from the point (the origin of the projection)
        (ax, ay), (bx, by) = points[i], points[(i + 1) % n]
        if (ay > 0) != (by > 0) and ax + (0 - ay) * (bx - ax) / (by - ay) > 0:
            inside = not inside
    if inside:
        return 0.0
    return min(_segment_distance(0.0, 0.0, *points[i], *points[(i + 1) % n]) for i in range(n))


def valid_position(lat: float | None, lon: float | None) -> bool:
    return (
        lat is not None
        and lon is not None
        and math.isfinite(lat)
        and math.isfinite(lon)
        and -90 <= lat <= 90
        and -180 <= lon <= 180
    )


def distance_outside(
    lat: float,
    lon: float,
    *,
    centre: tuple[float, float] | None,
    radius_m: float,
    polygon: Sequence[Sequence[float]] | None,
) -> float | None:
    """Metres the position lies outside the site; None when the site has no geofence."""
    if polygon:
        return distance_outside_polygon(lat, lon, polygon)
    if centre is None:
        return None
    return max(0.0, haversine_m(lat, lon, centre[0], centre[1]) - radius_m)
