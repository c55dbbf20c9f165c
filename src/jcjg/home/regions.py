"""The region view of a regulator's scope (/regions/overview): institutions and projects counted
by city and county, drawn as a treemap, and the projects' sites on a plain longitude/latitude
plot. No boundary map: maps published in China must follow the approved standard map (审图号)
and no approved source ships with the platform (docs/maps.md). Nothing is loaded from outside.

Every count goes through ``restrict``: a reader sees only the regions of its scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.templating import render
from jcjg.projects.models import Project
from jcjg.regions import service as regions
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)

OWN = "本级"  # what is registered at the code of the area above it


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


@dataclass
class Overview:
    root: Area
    leaves: list[tuple[str, Area]]  # (the path's names, "九江市 › 濂溪区"; the area)
    sites: list[Site]
    without_site: int  # projects with no coordinates recorded
    counts_institutions: bool


def _path(code: str, top: str) -> list[str]:
    """The codes of the breakdown's two levels below ``top`` (the reader's region as a code
    prefix, "" for the whole country) that ``code`` lies in: province and city for the
    country, city and county for a province, the county for a city; what is registered at
    the reader's own code is its own area (本级)."""
    chain = [code[:2] + "0000", code[:4] + "00", code]  # 360400: 360000, 360400, 360400
    below = [c for c in chain if len(c.rstrip("0")) > len(top)]
    return below[:2] or [code]


def overview(*, db: Session, principal: Principal) -> Overview:
    top = (principal.region_code or "").rstrip("0")
    if len(top) % 2:
        top += "0"  # 360400 -> "3604"; a province 360000 -> "36"
    root = Area(code=principal.region_code or "", name="")
    counts_institutions = principal.can("institution:read")
    found: list[tuple[str, str]] = []  # (region code, measure)
    if counts_institutions:
        stmt = restrict(select(Institution.region_code), principal, "read")
        found += [(c, "institutions") for c in db.scalars(stmt)]
    projects = db.execute(
        restrict(
            select(Project.id, Project.name, Project.region_code, Project.site_longitude,
                   Project.site_latitude),
            principal,
            "read",
        )
    ).all()  # fmt: skip
    found += [(p.region_code, "projects") for p in projects]
    for code, measure in found:
        area = root
        setattr(area, measure, getattr(area, measure) + 1)
        for step in _path(code, top):
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
    return Overview(root, leaves, sites, len(projects) - len(sites), counts_institutions)


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


def charts(found: Overview) -> dict[str, Any]:
    """What static/js/regions.js draws: two treemaps and the sites' scatter plot."""
    return {
        "institutions": found.root.tree("institutions")["children"]
        if found.root.institutions
        else [],
        "projects": found.root.tree("projects")["children"] if found.root.projects else [],
        "sites": [
            [s.longitude, s.latitude, s.name, f"/projects/{s.project_id}"] for s in found.sites
        ],
    }


@router.get("/regions/overview", response_class=HTMLResponse)
def regions_overview(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("project:read"))],
) -> Response:
    found = overview(db=db, principal=principal)
    return render(request, "home/regions.html", {"found": found, "charts": charts(found)})
