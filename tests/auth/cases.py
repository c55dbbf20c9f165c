"""The auth domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.auth.models import ApiToken, RoleGrant, User
from jcjg.auth.sessions import create_api_token
from tests.factories import Factory
from tests.generic import Change, Make, ScopeCase, region_outsiders


def _user_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    user = f.user(Role.INSTITUTION_STAFF, institution=inst)
    return user.id, {"inst": inst}


def _token_obj(f: Factory) -> tuple[int, dict]:
    owner = f.user(Role.CITY_AUTHORITY, region_code="360400")
    f.token(owner)
    token = f.db.scalars(select(ApiToken).where(ApiToken.user_id == owner.id)).one()
    return token.id, {"owner": owner}


def _token(f: Factory) -> ApiToken:
    _, row = create_api_token(db=f.db, settings=f.settings, user=f.user(commit=False), name="脚本")
    return row


def _grant(f: Factory) -> RoleGrant:
    grant = RoleGrant(role=Role.EXPERT.value, permission="institution:read", granted=True)
    f.db.add(grant)
    f.db.flush()
    return grant


SCOPED: dict[type, ScopeCase] = {
    User: ScopeCase(
        _user_obj,
        "/api/v1/users/{id}",
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
    ),
    ApiToken: ScopeCase(
        _token_obj,
        "/api/v1/tokens/{id}",
        lambda f, i: [f.user(Role.CITY_AUTHORITY, region_code="360400"), f.user(Role.WITNESS)],
        lambda f, i: i["owner"],
        method="DELETE",
    ),
}

WRITES: dict[type, tuple[Make, Change]] = {
    User: (
        lambda f: f.user(Role.STATION, commit=False),
        lambda u: setattr(u, "display_name", "新名称"),
    ),
    ApiToken: (lambda f: _token(f), lambda t: setattr(t, "name", "改名")),
    RoleGrant: (lambda f: _grant(f), lambda g: setattr(g, "granted", False)),
}
