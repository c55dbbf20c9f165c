"""Generic tests every scoped or change-logged model gets for free (STYLE.md habits 2 and 3).

Each domain keeps its cases in its own test folder (``tests/<domain>/cases.py``, see
``tests/generic.py``): a new scoped model needs a ``SCOPED`` case there, a new change-logged
model a ``WRITES`` case; a new form nothing at all: every unsafe page route is tried without
its CSRF token.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.scopes import get_scoped
from jcjg.auth.sessions import principal_for
from jcjg.core.db import Base
from jcjg.core.errors import NotFound
from jcjg.core.mixins import ChangeLogged
from tests.factories import all_routes, login
from tests.generic import cases, merged, models_of

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

SCOPED = merged("scoped")
WRITES = merged("writes")


def _name(model: type) -> str:
    return f"{model.__module__.split('.')[1]}.{model.__name__}"


# --- every model has its cases, in its domain's folder ----------------------------------------


def test_every_model_belongs_to_a_domain():
    owned = {m for c in cases() for m in models_of(c.domain)}
    loose = {m.class_.__name__ for m in Base.registry.mappers} - {m.__name__ for m in owned}
    core = {"JobRun", "JobSchedule", "RateBucket"}  # jcjg.core's own tables (jobs, rate limits)
    assert loose <= core, f"list these models' modules in a DOMAIN: {loose}"


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.domain.name)
def test_every_scoped_model_has_a_case_in_its_domain(case):
    scoped = {m for m in models_of(case.domain) if getattr(m, "__scope_columns__", None)}
    missing = sorted(m.__name__ for m in scoped - set(case.scoped))
    assert not missing, f"add SCOPED cases for {missing} to {case.path()}"
    foreign = sorted(m.__name__ for m in set(case.scoped) - set(models_of(case.domain)))
    assert not foreign, f"{case.path()} has SCOPED cases for other domains' models: {foreign}"


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.domain.name)
def test_every_change_logged_model_has_a_case_in_its_domain(case):
    logged = {m for m in models_of(case.domain) if issubclass(m, ChangeLogged)}
    missing = sorted(m.__name__ for m in logged - set(case.writes))
    assert not missing, f"add WRITES cases for {missing} to {case.path()}"
    foreign = sorted(m.__name__ for m in set(case.writes) - set(models_of(case.domain)))
    assert not foreign, f"{case.path()} has WRITES cases for other domains' models: {foreign}"


# --- 404 outside scope -------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(SCOPED), ids=_name)
def test_outside_scope_answers_404(client, factory, model):
    case = SCOPED[model]
    obj_id, info = case.make(factory)
    if case.url is None:
        for outsider in case.outsiders(factory, info):
            principal = principal_for(db=factory.db, user=outsider, settings=factory.settings)
            with pytest.raises(NotFound):
                get_scoped(factory.db, model, obj_id, principal, "read")
        insider = case.insider(factory, info)
        principal = principal_for(db=factory.db, user=insider, settings=factory.settings)
        assert get_scoped(factory.db, model, obj_id, principal, "read").id == obj_id
        return
    url = case.url.format(id=obj_id)

    def call(user: User):
        if case.session:
            client.cookies.clear()
            login(client, user.username)
            return client.request(case.method, url)
        return client.request(
            case.method, url, headers={"Authorization": f"Bearer {factory.token(user)}"}
        )

    for outsider in case.outsiders(factory, info):
        response = call(outsider)
        assert response.status_code == 404, (outsider.role, outsider.region_code, response.text)
        assert response.json()["type"] == "/problems/not-found"
    response = call(case.insider(factory, info))
    assert response.status_code in (200, 204), response.text


def test_outside_scope_page_is_404(browser_client, factory):
    target = factory.user(Role.INSTITUTION_STAFF, institution=factory.institution("360403"))
    outsider = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    login(browser_client, outsider.username)
    page = browser_client.get(f"/admin/users/{target.id}")
    assert page.status_code == 404
    assert "未找到" in page.text


# --- one change row per write ------------------------------------------------------------------


def _change_rows(db, obj) -> int:
    return db.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.object_type == obj.__tablename__, AuditLog.object_id == str(obj.id))
    )


@pytest.mark.parametrize("model", list(WRITES), ids=_name)
def test_each_write_makes_one_change_row(db, factory, model):
    make, change = WRITES[model]
    obj = make(factory)
    db.flush()
    assert _change_rows(db, obj) == 1, "create"
    created = db.scalars(
        select(AuditLog)
        .where(AuditLog.object_type == obj.__tablename__)
        .order_by(AuditLog.id.desc())
    ).first()
    assert created.action == "create"
    assert created.after

    change(obj)
    db.flush()
    assert _change_rows(db, obj) == 2, "update"
    update = db.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert update.action == "update"
    assert update.before != update.after

    db.flush()  # a flush with no change writes nothing
    assert _change_rows(db, obj) == 2

    obj_id = obj.id
    db.delete(obj)
    db.flush()
    deleted = db.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert (deleted.action, deleted.object_id) == ("delete", str(obj_id))
    assert deleted.before


def test_change_rows_hide_secrets_and_mask_personal_data(db, factory):
    user = factory.user(Role.STATION, commit=False, phone="13812345678", email="zhang@example.com")
    row = db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "user_account", AuditLog.object_id == str(user.id)
        )
    ).one()
    assert "password_hash" not in row.after
    assert row.after["phone"] == "138****5678"
    assert row.after["email"] == "z***@example.com"
    user.password_hash = "changed"
    db.flush()
    update = db.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert update.after == {"password_hash": "（已修改，内容不记录）"}


# --- forms reject a missing CSRF token ---------------------------------------------------------


def _resolves_principal(dependant) -> bool:
    from jcjg.auth.deps import Requires

    return isinstance(dependant.call, Requires) or any(
        _resolves_principal(d) for d in dependant.dependencies
    )


def _signed(route: APIRoute) -> bool:
    """A route of the signed exchange API: no principal, so no cookie is honoured and there is
    no CSRF to check (tests/test_route_matrix.py proves a session cookie opens nothing there)."""
    return route.path.startswith("/exchange/v1/") and not _resolves_principal(route.dependant)


def _unsafe_page_routes(app) -> list[tuple[str, str]]:
    out = []
    for route in all_routes(app.routes):
        if (
            isinstance(route, APIRoute)
            and not route.path.startswith("/api/")
            and not _signed(route)
        ):
            for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
                out.append((method, route.path))
    return sorted(out)


def test_every_form_rejects_a_missing_csrf_token(app, browser_client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    target = factory.user(Role.STATION)
    routes = _unsafe_page_routes(app)
    assert ("POST", "/admin/users") in routes
    anonymous_forms = {"/login", "/login/totp"}
    for path in anonymous_forms:
        response = browser_client.post(path, data={"username": "x", "code": "123456"})
        assert response.status_code == 403, path
    login(browser_client, admin.username)
    for method, path in routes:
        if path in anonymous_forms:
            continue
        path_ = path.replace("{kind}", "people").replace(":int}", "}")
        url = re.sub(r"\{\w+\}", str(target.id), path_)
        response = browser_client.request(method, url, data={"name": "x", "csrf_token": "wrong"})
        assert response.status_code == 403, (method, path, response.status_code)
        assert "表单已失效" in response.text
        response = browser_client.request(method, url, data={"name": "x"})
        assert response.status_code == 403, (method, path)
    # and the session still works: nothing was done, the user is unchanged and logged in
    assert browser_client.get("/").status_code == 200


def test_api_with_session_cookie_needs_csrf_header(client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(client, admin.username)
    body = {"name": "脚本"}
    refused = client.post("/api/v1/tokens", json=body)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/csrf"
    from tests.factories import page_csrf

    ok = client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": page_csrf(client)})
    assert ok.status_code == 201
    assert ok.json()["token"].startswith("jcjg_")


def test_csrf_failures_and_denials_are_audited(client, db, factory):
    staff = factory.user(Role.INSTITUTION_STAFF)
    token = factory.token(staff)
    response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    denial = db.scalars(
        select(AuditLog).where(AuditLog.action == "denied").order_by(AuditLog.id.desc())
    ).first()
    assert denial is not None
    assert denial.username == staff.username
    assert "/api/v1/users" in denial.detail


def test_every_route_that_resolves_a_principal_commits_its_transaction(app):
    """A route that opens the request's session without TransactionalRoute would leave it
    open (on SQLite holding the write lock): every route with ``requires`` must be one."""
    from jcjg.core.deps import TransactionalRoute

    offenders = [
        route.path
        for route in all_routes(app.routes)
        if isinstance(route, APIRoute)
        and _resolves_principal(route.dependant)
        and not isinstance(route, TransactionalRoute)
    ]
    assert offenders == []


def test_a_non_ascii_csrf_token_is_refused_not_a_crash(client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(client, admin.username)
    headers = {"X-CSRF-Token": "令牌".encode()}
    response = client.post("/api/v1/tokens", json={"name": "x"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/csrf"
    form = client.post("/login", data={"csrf_token": "令牌", "username": "a", "password": "b"})
    assert form.status_code == 403
