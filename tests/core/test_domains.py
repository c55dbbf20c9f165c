"""A domain registers itself: a throwaway domain, declared the way every package declares its
own, brings its route, job, permission, grants and menu entry with no other module edited."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import types
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

import jcjg.domains
from jcjg.auth.choices import Role
from jcjg.auth.deps import requires
from jcjg.auth.permissions import by_permission, default_grants, permissions
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core import domains, jobs
from jcjg.core.deps import TransactionalRoute
from jcjg.core.domains import Domain, DomainConflict, NavEntry
from jcjg.core.jobs import Job, run_due
from jcjg.main import create_app
from tests.factories import Factory, login

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("zz_probe:read"))]
_ran: list[str] = []


@router.get("/zz-probe")
def probe(principal: Reader) -> dict[str, str]:
    return {"who": principal.username or ""}


@jobs.job("zz_probe.tick", title="试验任务", every=dt.timedelta(hours=1))
def tick(db: Session, log: logging.Logger) -> None:
    _ran.append("tick")
    log.info("试验任务运行")


PROBE = Domain(
    name="zz_probe",
    title="试验领域",
    routers=(router,),
    jobs=(tick,),
    permissions={"zz_probe:read": "查看试验数据"},
    grants=by_permission({"zz_probe:read": (Role.STATION,)}),
    nav=(NavEntry(title="试验页面", href="/zz-probe", group="工程与检测",
                  permission="zz_probe:read"),),
)  # fmt: skip


@pytest.fixture
def with_probe() -> Iterator[None]:
    with domains.installed_with(PROBE):
        yield


def test_a_domain_brings_its_route_job_permission_and_menu_entry(
    with_probe: None,
    settings: Settings,
    engine: object,
    session_factory: sessionmaker[Session],
    factory: Factory,
) -> None:
    app = create_app(settings, engine=engine, session_factory=session_factory)  # type: ignore[arg-type]
    station = factory.user(Role.STATION, region_code="360400")
    staff = factory.user(Role.INSTITUTION_STAFF, institution=factory.institution())
    factory.db.commit()

    # the permission and its default grant
    assert permissions()["zz_probe:read"] == "查看试验数据"
    assert "zz_probe:read" in default_grants()[Role.STATION]
    assert "zz_probe:read" in default_grants()[Role.PLATFORM_ADMIN]  # holds every permission
    assert "zz_probe:read" not in default_grants()[Role.INSTITUTION_STAFF]

    with TestClient(app, headers={"accept": "text/html"}) as client:
        login(client, station.username)
        assert client.get("/zz-probe").json() == {"who": station.username}
        home = client.get("/").text
        assert 'href="/zz-probe">试验页面</a>' in home  # the menu entry, for those who may
        roles = client.get("/admin/roles")
    with TestClient(app, headers={"accept": "text/html"}) as client:
        login(client, staff.username)
        assert client.get("/zz-probe").status_code == 403
        assert "试验页面" not in client.get("/").text

    admin = factory.user(Role.PLATFORM_ADMIN)
    factory.db.commit()
    with TestClient(app, headers={"accept": "text/html"}) as client:
        login(client, admin.username)
        assert "查看试验数据" in client.get("/admin/roles").text  # the role x permission table
    assert roles.status_code == 403  # a station does not read the table

    # the job: the worker knows it and runs it when due
    assert jobs.registered()["zz_probe.tick"] is tick
    _ran.clear()
    runs = run_due(session_factory, dt.datetime.now(dt.UTC) + dt.timedelta(days=400))
    assert "zz_probe.tick" in [r.name for r in runs]
    assert _ran == ["tick"]


def test_without_the_domain_nothing_of_it_remains(settings: Settings, engine: object) -> None:
    app = create_app(settings, engine=engine)  # type: ignore[arg-type]
    assert "zz_probe:read" not in permissions()
    assert "zz_probe.tick" not in jobs.registered()
    with TestClient(app) as client:
        assert client.get("/zz-probe").status_code == 404


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (Domain(name="registry", title="重名"), "domain 'registry'"),
        (Domain(name="zz", title="重复权限", permissions={"alert:read": "又一个"}), "permission"),
        (Domain(name="zz", title="未知授权", grants={"station": ("zz:nothing",)}), "unknown"),
        (
            Domain(
                name="zz",
                title="菜单",
                nav=(NavEntry(title="无", href="/", group="工作台", permission="zz:nothing"),),
            ),
            "unknown permission",
        ),
        (Domain(name="zz", title="重复任务", jobs=(Job("alerts.sweep", "重复", dt.timedelta(1),
                                                      lambda db, log: None),)), "job"),
    ],
)  # fmt: skip
def test_a_domain_that_claims_what_another_declares_is_refused(extra: Domain, message: str) -> None:
    with pytest.raises(DomainConflict, match=message):
        domains.check([*domains.installed(), extra])


def test_asking_before_the_domains_are_installed_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domains, "_installed", None)
    with pytest.raises(domains.DomainsNotInstalled, match=r"jcjg\.domains\.install"):
        domains.installed()


def test_the_menu_groups_entries_in_order_and_narrows_by_role() -> None:
    every = domains.nav_for(Role.PLATFORM_ADMIN.value, lambda _permission: True)
    groups = [group for group, _ in every]
    assert groups == [g for g in domains.NAV_GROUPS if g in groups]  # the groups' own order
    hrefs = {e.href for _, entries in every for e in entries}
    assert {"/", "/registry", "/alerts", "/audit", "/account/password"} <= hrefs
    assert "/m" not in hrefs  # the phone pages are for witnesses and samplers
    witness = domains.nav_for(Role.WITNESS.value, lambda p: p in default_grants()[Role.WITNESS])
    assert "/m" in {e.href for _, entries in witness for e in entries}
    assert domains.nav_for(None, lambda _p: True) == []  # the public: no menu


def test_field_roles_land_on_their_phone_work() -> None:
    """An entry marked ``landing`` is where the roles it names land after logging in."""
    for role in (Role.WITNESS, Role.SAMPLER):
        landing = domains.landing_for(role.value)
        assert landing is not None
        assert (landing.href, landing.title) == ("/m", "取样见证")
    assert domains.landing_for(Role.STATION.value) is None  # the home
    assert domains.landing_for(None) is None


def test_the_generic_tests_read_a_domains_cases_from_its_own_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The generic tests find a domain's cases as tests/<domain>/cases.py: without them the
    throwaway domain's route and permission are undecided; with them, decided."""
    from tests import generic

    with domains.installed_with(PROBE):
        [bare] = [c for c in generic.cases() if c.domain is PROBE]
        assert {(m, p) for m, p, _ in generic.routes_of(PROBE)} - set(bare.routes) == {
            ("GET", "/zz-probe")
        }
        assert set(PROBE.permissions) - set(bare.grants) == {"zz_probe:read"}

        package = types.ModuleType("tests.zz_probe")
        package.__spec__ = ModuleSpec("tests.zz_probe", None, is_package=True)
        module = types.ModuleType("tests.zz_probe.cases")
        module.__spec__ = ModuleSpec("tests.zz_probe.cases", None)
        module.ROUTES = {("GET", "/zz-probe"): "zz_probe:read"}  # type: ignore[attr-defined]
        module.GRANTS = {"zz_probe:read": frozenset({Role.PLATFORM_ADMIN, Role.STATION})}  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "tests.zz_probe", package)
        monkeypatch.setitem(sys.modules, "tests.zz_probe.cases", module)
        [decided] = [c for c in generic.cases() if c.domain is PROBE]
        assert decided.path() == "tests/zz_probe/cases.py"
        assert set(decided.routes) == {(m, p) for m, p, _ in generic.routes_of(PROBE)}
        assert set(decided.grants) == set(PROBE.permissions)


def test_a_command_imports_no_page_and_an_app_finds_every_router() -> None:
    """Installing the domains (what every command and worker does) builds no page or API
    router: a domain names its routers by where they are found, imported when an app is built
    (they were ~40 % of a process's start). A fresh interpreter, so nothing else imported them."""
    probe = (
        "import json, sys, jcjg.domains\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('jcjg.') and "
        "(m.endswith(('pages', '.api', '.views'))))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    # the lab client's (no router), and the exchange's upload helpers its cleanup job calls
    assert json.loads(done.stdout) == ["jcjg.client.api", "jcjg.exchange.api"]
    for domain in jcjg.domains.DOMAINS:
        for router in domain.routes():
            assert isinstance(router, APIRouter), (domain.name, router)
