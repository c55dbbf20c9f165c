"""Permissions and the default grants of each role, as the installed domains declare them.

A permission is ``"<entity>:<action>"``. Each domain declares its own permissions and which roles
hold them by default (``DOMAIN.permissions`` and ``DOMAIN.grants``, the product's decision); the
platform administrator holds every permission. The administrator may add or withdraw grants per
role, stored in ``role_grant`` rows and applied on top of these defaults (NetBox's
permissions-as-data, without its complexity). Every route names the permission it needs; the
role x route matrix test holds the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jcjg.auth.choices import Role
from jcjg.core import domains

# Every role but the platform administrator, who holds every permission anyway.
EVERY_ROLE: tuple[Role, ...] = tuple(r for r in Role if r is not Role.PLATFORM_ADMIN)
AUTHORITIES: tuple[Role, ...] = (Role.PROVINCIAL_AUTHORITY, Role.CITY_AUTHORITY)
INSTITUTION: tuple[Role, ...] = (Role.INSTITUTION_ADMIN, Role.INSTITUTION_STAFF)
# Who may hold an administrative enforcement card (行政执法证) and be drawn to check (双随机).
OFFICERS: tuple[Role, ...] = (*AUTHORITIES, Role.STATION)
# Who reads the test data and what is made of it (records, reports, contracts).
TEST_READERS: tuple[Role, ...] = (
    *AUTHORITIES,
    Role.STATION,
    *INSTITUTION,
    Role.PARTY_UNIT,
    Role.AUDITOR,
)


def by_permission(holders: Mapping[str, Iterable[Role]]) -> dict[str, frozenset[str]]:
    """A domain's grants written permission by permission (``{"sample:seal": (Role.WITNESS,)}``),
    turned into the role -> permissions form a :class:`~jcjg.core.domains.Domain` takes."""
    grants: dict[str, set[str]] = {}
    for permission, roles in holders.items():
        for role in roles:
            grants.setdefault(Role(role).value, set()).add(permission)
    return {role: frozenset(perms) for role, perms in grants.items()}


_cache: tuple[int, dict[str, str], dict[Role, frozenset[str]]] = (-1, {}, {})


def _load() -> tuple[dict[str, str], dict[Role, frozenset[str]]]:
    global _cache
    generation = domains.generation()
    if _cache[0] != generation:
        table = {p: t for d in domains.installed() for p, t in d.permissions.items()}
        granted: dict[Role, set[str]] = {role: set() for role in Role}
        for domain in domains.installed():
            for role, perms in domain.grants.items():
                granted[Role(role)].update(perms)
        granted[Role.PLATFORM_ADMIN] = set(table)
        _cache = (generation, table, {r: frozenset(p) for r, p in granted.items()})
    return _cache[1], _cache[2]


def permissions() -> dict[str, str]:
    """Every permission of the installed domains and its Chinese description."""
    return dict(_load()[0])


def default_grants() -> dict[Role, frozenset[str]]:
    """What each role holds unless the administrator changed it."""
    return dict(_load()[1])


# Which roles a user administrator may give: never its own level or above, so no account can
# create an account more powerful than itself.
ASSIGNABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.PLATFORM_ADMIN: frozenset(Role),
    Role.PROVINCIAL_AUTHORITY: frozenset(
        {
            Role.CITY_AUTHORITY,
            Role.STATION,
            Role.INSTITUTION_ADMIN,
            Role.INSTITUTION_STAFF,
            Role.PARTY_UNIT,
            Role.WITNESS,
            Role.SAMPLER,
            Role.EXPERT,
            Role.AUDITOR,
            Role.ASSOCIATION,
        }
    ),
    Role.CITY_AUTHORITY: frozenset(
        {
            Role.STATION,
            Role.INSTITUTION_ADMIN,
            Role.INSTITUTION_STAFF,
            Role.PARTY_UNIT,
            Role.WITNESS,
            Role.SAMPLER,
            Role.EXPERT,
        }
    ),
    Role.INSTITUTION_ADMIN: frozenset({Role.INSTITUTION_STAFF}),
}
