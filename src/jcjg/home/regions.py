"""The region view of a regulator's scope (/regions/overview, ``?code=`` a region within it):
institutions, projects and open alerts counted by city and county, drawn as treemaps and, where
the region's boundaries are loaded (``regions.boundaries``), as a map of the next level down
with the projects' sites and the alerts on them; a click on an area goes down to it. Without
boundaries, the sites are drawn on a plain longitude/latitude plot. The map says which
boundary edition it is drawn on and its approval number (审图号), or that it is schematic
(docs/maps.md). Nothing is loaded from outside.

Every count goes through ``restrict``: a reader sees only the regions of its scope."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import AlertStatus
from jcjg.alerts.models import Alert
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.regioncodes import RegionLevel, in_subtree, level_of, scope_prefix
from jcjg.core.templating import render
from jcjg.projects.models import Project
from jcjg.regions import boundaries
from jcjg.regions import service as regions
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)

OWN = "本级"  # what is registered at the code of the area above it
CODE_PATTERN = r"^[0-9]{6}$"


@dataclass
class Area:
    """A region of the breakdown with what lies in it; ``children`` one level down."""

    code: str
    name: str
    institutions: int = 0
    projects: int = 0
    children: dict[str, Area] = field(default_factory=dict)

    def tree(self, measure: str) -> dict[str, Any]:
        """The ECharts treemap node of ``measure`` ("institutions" or "projects")."""
        node: dict[str, Any] = {"name": self.name, "value": getattr(self, measure)}
        kids = [c.tree(measure) for c in self.children.values() if getattr(c, measure)]
        if kids:
            node["children"] = kids
        return node


@dataclass(frozen=True)
class Site:
    project_id: int
    name: str
    region: str
    longitude: float
    latitude: float


@dataclass(frozen=True)
class Spot:
    """An open alert drawn at its project's site."""

    alert_id: int
    title: str
    longitude: float
    latitude: float


@dataclass
class Overview:
    root: Area
    leaves: list[tuple[str, Area]]  # (the path's names, "九江市 › 濂溪区"; the area)
    sites: list[Site]
    without_site: int  # projects with no coordinates recorded
    counts_institutions: bool
    trail: list[tuple[str, str]] = field(default_factory=list)  # (code, name) from the top
    alerts: Counter[str] = field(default_factory=Counter)  # open alerts by region code
    spots: list[Spot] = field(default_factory=list)
    counts_alerts: bool = False
    # (id, name, region code) of the institutions counted, for their marks on the map
    labs: list[tuple[int, str, str]] = field(default_factory=list)


def _path(code: str, top: str) -> list[str]:
    """The codes of the breakdown's two levels below ``top`` (the reader's region as a code
    prefix, "" for the whole country) that ``code`` lies in: province and city for the
    country, city and county for a province, the county for a city; what is registered at
    the reader's own code is its own area (本级)."""
    chain = [code[:2] + "0000", code[:4] + "00", code]  # 360400: 360000, 360400, 360400
    below = [c for c in chain if len(c.rstrip("0")) > len(top)]
    return below[:2] or [code]


def area_of(db: Session, principal: Principal, code: str | None) -> str:
    """The region the page is about: ``code`` when it lies within the reader's scope (404
    otherwise, as for a record of another region), else the reader's own ("" the nation)."""
    own = principal.region_code or ""
    if not code or code == own:
        return own
    if (own and not in_subtree(code, own)) or db.get(Region, code) is None:
        raise NotFound("没有这个行政区划，或它不在本账号的数据范围内")
    return code


def overview(*, db: Session, principal: Principal, code: str = "") -> Overview:
    """The counts of ``code``'s area (the reader's own region when empty) within the
    reader's scope."""
    top = scope_prefix(code) if code else ""  # 360400 -> "3604"; the nation: every code
    inside = (lambda c: c.startswith(top)) if top else (lambda c: True)
    root = Area(code=code, name="")
    counts_institutions = principal.can("institution:read")
    found: list[tuple[str, str]] = []  # (region code, measure)
    if counts_institutions:
        stmt = restrict(select(Institution.id, Institution.name, Institution.region_code),
                        principal, "read")  # fmt: skip
        labs = [(i, n, c) for i, n, c in db.execute(stmt) if inside(c)]
        found += [(c, "institutions") for _, _, c in labs]
    else:
        labs = []
    projects = [
        p
        for p in db.execute(
            restrict(
                select(Project.id, Project.name, Project.region_code, Project.site_longitude,
                       Project.site_latitude),
                principal,
                "read",
            )
        ).all()
        if inside(p.region_code)
    ]  # fmt: skip
    found += [(p.region_code, "projects") for p in projects]
    for region_code, measure in found:
        area = root
        setattr(area, measure, getattr(area, measure) + 1)
        for step in _path(region_code, top):
            area = area.children.setdefault(step, Area(code=step, name=""))
            setattr(area, measure, getattr(area, measure) + 1)
    names = _names(db, root)
    _name(root, names)
    root.name = regions.display_name(db=db, code=root.code) if root.code else "全国"
    leaves = [(path, area) for path, area in _leaves(root, [])]
    sites = [
        Site(p.id, p.name, names.get(p.region_code, p.region_code), p.site_longitude,
             p.site_latitude)
        for p in projects
        if p.site_longitude is not None and p.site_latitude is not None
    ]  # fmt: skip
    found_overview = Overview(
        root, leaves, sites, len(projects) - len(sites), counts_institutions,
        trail=_trail(db, principal, code), labs=labs,
    )  # fmt: skip
    if principal.can("alert:read"):
        _open_alerts(db, principal, found_overview, inside, {s.project_id: s for s in sites})
    return found_overview


def _open_alerts(
    db: Session, principal: Principal, found: Overview, inside: Any, sites: dict[int, Site]
) -> None:
    """The reader's open alerts by region, and at their project's site where it has one."""
    found.counts_alerts = True
    rows = db.execute(
        restrict(select(Alert.id, Alert.region_code, Alert.project_id, Alert.subject_repr),
                 principal, "read")
        .where(Alert.status == AlertStatus.OPEN.value, Alert.region_code.is_not(None))
    ).all()  # fmt: skip
    for row in rows:
        if not inside(row.region_code):
            continue
        found.alerts[row.region_code] += 1
        site = sites.get(row.project_id) if row.project_id is not None else None
        if site is not None and len(found.spots) < 500:
            found.spots.append(Spot(row.id, row.subject_repr, site.longitude, site.latitude))


def _trail(db: Session, principal: Principal, code: str) -> list[tuple[str, str]]:
    """The regions from the reader's own down to ``code``, for the links back up."""
    own = principal.region_code or ""
    chain = [c for c in dict.fromkeys([code[:2] + "0000", code[:4] + "00", code]) if code]
    chain = [c for c in chain if not own or (in_subtree(c, own) and c != own)]
    found = [c for c in chain if db.get(Region, c) is not None]
    rows = db.execute(select(Region.code, Region.name).where(Region.code.in_([own, *found])))
    names: dict[str, str] = {code: name for code, name in rows}
    top = [(own, names.get(own, own))] if own else [("", "全国")]
    return top + [(c, names[c]) for c in found]


def _names(db: Session, root: Area) -> dict[str, str]:
    codes: set[str] = set()
    stack = [root]
    while stack:
        area = stack.pop()
        codes.update(area.children)
        stack.extend(area.children.values())
    rows = db.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    return {code: name for code, name in rows}


def _name(area: Area, names: dict[str, str]) -> None:
    for code, child in area.children.items():
        child.name = OWN if code == area.code else names.get(code, code)
        _name(child, names)


def _leaves(area: Area, path: list[str]) -> list[tuple[str, Area]]:
    if not area.children:
        return [(" › ".join(path), area)] if path else []
    out: list[tuple[str, Area]] = []
    for child in area.children.values():
        out += _leaves(child, [*path, child.name])
    return out


@dataclass(frozen=True)
class MapArea:
    code: str
    name: str
    institutions: int
    projects: int
    alerts: int
    drawn: bool  # whether its shape is loaded


@dataclass
class Map:
    """The next level down of the page's region, as shapes with their counts; ``drawn``: the
    shapes and the editions (approval numbers, titles) they come from."""

    areas: list[MapArea]
    geojson: dict[str, Any]
    drawn: boundaries.Drawn
    marks: list[list[Any]] = field(default_factory=list)  # the institutions: lon, lat, name, href

    @property
    def missing(self) -> list[str]:
        """The areas with something in them that the map cannot draw (no shape loaded)."""
        return [
            a.name for a in self.areas if not a.drawn and (a.institutions or a.projects or a.alerts)
        ]


def _count_below(found: Overview, code: str, measure: str) -> int:
    if measure == "alerts":
        return sum(n for c, n in found.alerts.items() if in_subtree(c, code))
    area = found.root.children.get(code)
    return getattr(area, measure) if area is not None else 0


def area_map(db: Session, found: Overview) -> Map | None:
    """The map of ``found``'s region one level down, or None when fewer than half of that
    level's shapes are loaded (or the region is a county: nothing below it to draw)."""
    code = found.root.code
    if code and level_of(code) is RegionLevel.COUNTY:
        return None
    below = regions.children(db=db, code=code or None)
    drawn = boundaries.latest_shapes(db, [r.code for r in below])
    if 2 * len(drawn.shapes) < len(below) or not drawn.shapes:
        return None  # a map of a few areas of many (one province of the nation) misleads
    areas = [
        MapArea(r.code, r.name, _count_below(found, r.code, "institutions"),
                _count_below(found, r.code, "projects"), _count_below(found, r.code, "alerts"),
                r.code in drawn.shapes)
        for r in below
    ]  # fmt: skip
    features = [
        {"type": "Feature", "id": a.code,
         "properties": {"name": a.name, "code": a.code},
         "geometry": drawn.shapes[a.code].geometry}
        for a in areas
        if a.drawn
    ]  # fmt: skip
    geojson = {"type": "FeatureCollection", "features": features}
    return Map(areas, geojson, drawn, _marks(db, found))


MARK_RING = 0.03  # degrees: institutions of one county drawn on a small ring round its label


def _marks(db: Session, found: Overview) -> list[list[Any]]:
    """Each institution at its county's label point (its city's where the county has no
    shape), several of one place spread on a small ring: [lon, lat, name, dossier]."""
    codes = {c for _, _, c in found.labs} | {c[:4] + "00" for _, _, c in found.labs}
    points = boundaries.label_points(db, sorted(codes))
    by_place: dict[str, list[tuple[int, str]]] = {}
    for inst_id, name, code in sorted(found.labs):
        place = code if code in points else code[:4] + "00"
        if place in points:
            by_place.setdefault(place, []).append((inst_id, name))
    marks: list[list[Any]] = []
    for place, labs in by_place.items():
        lon, lat = points[place]
        for k, (inst_id, name) in enumerate(labs):
            turn = 2 * math.pi * k / len(labs)
            ring = MARK_RING if len(labs) > 1 else 0.0
            x, y = lon + ring * math.cos(turn), lat + ring * math.sin(turn)
            marks.append([round(x, 4), round(y, 4), name, f"/institutions/{inst_id}"])
    return marks


def charts(found: Overview, drawn: Map | None = None) -> dict[str, Any]:
    """What static/js/regions.js draws: two treemaps, the map (or the sites' scatter plot)."""
    out: dict[str, Any] = {
        "institutions": found.root.tree("institutions")["children"]
        if found.root.institutions
        else [],
        "projects": found.root.tree("projects")["children"] if found.root.projects else [],
        "sites": [
            [s.longitude, s.latitude, s.name, f"/projects/{s.project_id}"] for s in found.sites
        ],
    }
    if drawn is not None:
        out["map"] = {
            "name": f"area-{found.root.code or 'nation'}",
            "geojson": drawn.geojson,
            "areas": [
                {"code": a.code, "name": a.name, "institutions": a.institutions,
                 "projects": a.projects, "alerts": a.alerts,
                 "href": f"/regions/overview?code={a.code}"}
                for a in drawn.areas
                if a.drawn
            ],
            # [key, label] in the buttons' order (a JSON object's keys would come sorted)
            "measures": [
                m
                for m in (["institutions", "检测机构"], ["projects", "工程项目"],
                          ["alerts", "未处理预警"])
                if (m[0] != "institutions" or found.counts_institutions)
                and (m[0] != "alerts" or found.counts_alerts)
            ],
            "spots": [[s.longitude, s.latitude, s.title, f"/alerts/{s.alert_id}"]
                      for s in found.spots],
            "labs": drawn.marks,
        }  # fmt: skip
    return out


@router.get("/regions/overview", response_class=HTMLResponse)
def regions_overview(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("project:read"))],
    code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
) -> Response:
    area = area_of(db, principal, code)
    found = overview(db=db, principal=principal, code=area)
    drawn = area_map(db, found)
    context = {"found": found, "map": drawn, "charts": charts(found, drawn)}
    return render(request, "home/regions.html", context)
