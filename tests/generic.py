"""The generic cases every domain keeps in its own test folder, and how the generic tests find
them: for each installed domain (``jcjg.domains``), the module ``tests.<domain>.cases``.

A domain's ``cases`` module may define (each optional, each about the domain's own things):

- ``ROUTES``: ``{(method, path): decision}`` for every route of its routers: the permission the
  route requires, or ``PUBLIC`` (anyone), ``NO_AUTH`` (no principal is resolved) or ``SIGNED``
  (the exchange API, a client's key); ``tests/test_route_matrix.py`` checks each role on each;
- ``SESSION_ONLY``: API routes a bearer token may not call;
- ``GRANTS``: ``{permission: roles}`` for every permission it declares: who holds it by default;
- ``SCOPED``: ``{model: ScopeCase}`` for every scoped model it defines (404 outside scope);
- ``WRITES``: ``{model: (make, change)}`` for every change-logged model it defines (one change
  row per write);
- ``SIGNED_REQUESTS``: ``factory -> {(method, path): (url, headers, body)}``, an unsigned request
  for each signed route, passing every check made before the signature's.

``tests/test_generic.py`` and ``tests/test_route_matrix.py`` read them through :func:`cases`
and fail, naming the file to edit, when a route, permission or model has no case.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.routing import APIRoute

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.core import domains
from jcjg.core.db import Base
from jcjg.core.domains import Domain
from tests.factories import Factory

PUBLIC = "public"  # anyone, logged in or not, reaches the route
NO_AUTH = "no-auth"  # probes and the schema: no principal is even resolved
# The exchange API: no principal either (a cookie or token opens nothing), each request signed
# by a client's key (RFC 9421); only routes under SIGNED_PREFIX may be so.
SIGNED = "signed"
SIGNED_PREFIX = "/exchange/v1/"

P, A, C, S = Role.PLATFORM_ADMIN, Role.PROVINCIAL_AUTHORITY, Role.CITY_AUTHORITY, Role.STATION
IA, IS_, PU, W = Role.INSTITUTION_ADMIN, Role.INSTITUTION_STAFF, Role.PARTY_UNIT, Role.WITNESS
SA, E, AU = Role.SAMPLER, Role.EXPERT, Role.AUDITOR
AS = Role.ASSOCIATION
EVERYONE = frozenset(Role)

Routes = dict[tuple[str, str], str]
Make = Callable[[Factory], object]
SignedRequests = Callable[[Factory], dict[tuple[str, str], tuple[str, dict[str, str], bytes]]]
Change = Callable[[Any], None]


@dataclass
class ScopeCase:
    """How to make an object of a scoped model, where to read it, and who is outside."""

    make: Callable[[Factory], tuple[int | str, dict[str, Any]]]  # -> (object id in the URL, info)
    url: str | None  # with {id}; None: no route reads it yet, get_scoped is asked directly
    outsiders: Callable[[Factory, dict[str, Any]], list[User]]
    insider: Callable[[Factory, dict[str, Any]], User]
    method: str = "GET"
    session: bool = False  # a page: call it logged in, not with a token


def region_outsiders(f: Factory, info: dict[str, Any]) -> list[User]:
    """Accounts outside a 九江 institution's data: another city, province and institution."""
    other_inst = f.institution(region_code="360102")
    return [
        f.user(Role.CITY_AUTHORITY, region_code="360100"),  # Nanchang, not Jiujiang
        f.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),  # another province
        f.user(Role.INSTITUTION_ADMIN, institution=other_inst),  # another institution
        f.user(Role.AUDITOR, region_code="440000"),
    ]


def with_station_elsewhere(f: Factory, info: dict[str, Any]) -> list[User]:
    """The region outsiders and a station of 南昌."""
    return [*region_outsiders(f, info), f.user(Role.STATION, region_code="360100")]


@dataclass(frozen=True)
class Cases:
    """One domain's generic cases (empty where its module defines none)."""

    domain: Domain
    module: str  # where they live: "tests/<domain>/cases.py"
    routes: Routes = field(default_factory=dict)
    session_only: frozenset[tuple[str, str]] = frozenset()
    grants: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    scoped: Mapping[type, ScopeCase] = field(default_factory=dict)
    writes: Mapping[type, tuple[Make, Change]] = field(default_factory=dict)
    signed_requests: SignedRequests | None = None

    def path(self) -> str:
        return f"tests/{self.domain.name}/cases.py"


def _load(domain: Domain) -> Cases:
    name = f"tests.{domain.name}.cases"
    if importlib.util.find_spec(f"tests.{domain.name}") is None:
        return Cases(domain, name)
    if importlib.util.find_spec(name) is None:
        return Cases(domain, name)
    module = importlib.import_module(name)
    return Cases(
        domain,
        name,
        routes=dict(getattr(module, "ROUTES", {})),
        session_only=frozenset(getattr(module, "SESSION_ONLY", ())),
        grants=dict(getattr(module, "GRANTS", {})),
        scoped=dict(getattr(module, "SCOPED", {})),
        writes=dict(getattr(module, "WRITES", {})),
        signed_requests=getattr(module, "SIGNED_REQUESTS", None),
    )


def cases() -> list[Cases]:
    """The generic cases of every installed domain, in the domains' order; a key claimed by two
    domains is refused."""
    found = [_load(d) for d in domains.installed()]
    for attr in ("routes", "grants", "scoped", "writes"):
        seen: dict[Any, str] = {}
        for c in found:
            for key in getattr(c, attr):
                if key in seen:
                    raise AssertionError(f"{attr} {key!r} in {seen[key]} and {c.path()}")
                seen[key] = c.path()
    return found


def merged(attr: str) -> dict[Any, Any]:
    """One of the tables of every domain, merged: ``merged("routes")``."""
    out: dict[Any, Any] = {}
    for c in cases():
        out.update(getattr(c, attr))
    return out


def routes_of(domain: Domain) -> Iterator[tuple[str, str, APIRoute]]:
    """(method, path, route) of every route of the domain's routers (HEAD left out where it
    comes with GET, kept where it is the route's own method)."""
    for router in domain.routes():
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in sorted(route.methods - {"HEAD"} or route.methods):
                    yield method, route.path, route


def models_of(domain: Domain) -> list[type]:
    """The mapped classes the domain's models modules define."""
    modules = {m.__name__ for m in domain.models}
    return [m.class_ for m in Base.registry.mappers if m.class_.__module__ in modules]
