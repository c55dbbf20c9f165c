"""The networking domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models, signed requests)."""

from __future__ import annotations

from typing import Any

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.networking.models import Application, Child, Forwarded
from jcjg.networking.service import register_child
from tests.factories import Factory
from tests.generic import AU, SIGNED, A, C, P, Routes, ScopeCase
from tests.networking.helpers import CITY, ChildLog


def _child(f: Factory) -> Child:
    return register_child(
        f.db, f.settings, name="九江市检测监管平台", region_code="360400", base_url=CITY,
        log_key=ChildLog().vkey,
    ).child  # fmt: skip


def _child_obj(f: Factory) -> tuple[int, dict[str, Any]]:
    child = _child(f)
    f.db.commit()
    return child.id, {}


def _forwarded_obj(f: Factory) -> tuple[int, dict[str, Any]]:
    import datetime as dt

    child = _child(f)
    row = Forwarded(
        child_id=child.id, region_code=child.region_code, origin_index=0, leaf_hash=bytes(32),
        entry_type="institution:register", entry=b"{}", outcome="recorded",
        notarised_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )  # fmt: skip
    f.db.add(row)
    f.db.commit()
    return row.id, {}


def _outsiders(f: Factory, info: dict[str, Any]) -> list[User]:
    return [
        f.user(Role.CITY_AUTHORITY, region_code="360100"),  # Nanchang, not Jiujiang
        f.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),  # another province
        f.user(Role.AUDITOR, region_code="440000"),
    ]


def _application(f: Factory) -> Application:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    row = Application(
        reference=f"r{f._next():023d}", name="景德镇市检测监管平台", region_code="360200",
        base_url="https://jcjg.jdz.example.cn", log_key=ChildLog().vkey,
        log_origin="jcjg.jdz.example.cn/ledger", public_key=public, contact_name="王工",
        contact_phone="13907981234",
    )  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _application_obj(f: Factory) -> tuple[int, dict[str, Any]]:
    row = _application(f)
    f.db.commit()
    return row.id, {}


SCOPED: dict[type, ScopeCase] = {
    Child: ScopeCase(
        _child_obj,
        "/network/children/{id}",
        _outsiders,
        lambda f, i: f.user(Role.CITY_AUTHORITY, region_code="360400"),
        session=True,
    ),
    Application: ScopeCase(
        _application_obj,
        "/network/applications/{id}",
        _outsiders,
        lambda f, i: f.user(Role.CITY_AUTHORITY, region_code="360200"),
        session=True,
    ),
    Forwarded: ScopeCase(
        _forwarded_obj,
        None,
        _outsiders,
        lambda f, i: f.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"),
    ),
}


WRITES = {
    Child: (_child, lambda c: setattr(c, "base_url", "https://jcjg.jj.example.cn")),
    Application: (_application, lambda a: setattr(a, "reason", "地址未备案")),
}


def SIGNED_REQUESTS(factory: Factory) -> dict[tuple[str, str], tuple[str, dict[str, str], bytes]]:
    return {
        ("POST", "/exchange/v1/forwards"): (
            "/exchange/v1/forwards",
            {"Content-Type": "application/json"},
            b"{}",
        ),
        ("POST", "/exchange/v1/platform-applications"): (
            "/exchange/v1/platform-applications",
            {"Content-Type": "application/json"},
            b"{}",
        ),
        ("GET", "/exchange/v1/platform-applications/{reference}"): (
            "/exchange/v1/platform-applications/" + "A" * 24,
            {},
            b"",
        ),
    }


ROUTES: Routes = {
    ("GET", "/network"): "network_child:read",
    ("GET", "/network/children/{child_id}"): "network_child:read",
    ("GET", "/network/children/register"): "network_child:manage",
    ("POST", "/network/children/register"): "network_child:manage",
    ("POST", "/network/children/{child_id}/resume"): "network_child:manage",
    ("POST", "/network/children/{child_id}/log-keys"): "network_child:manage",
    ("POST", "/exchange/v1/forwards"): SIGNED,
    ("GET", "/network/applications"): "network_child:read",
    ("GET", "/network/applications/{application_id}"): "network_child:read",
    ("POST", "/network/applications/{application_id}/decision"): "network_child:manage",
    # a platform applying for access signs with the key it applies with (no client yet)
    ("POST", "/exchange/v1/platform-applications"): SIGNED,
    ("GET", "/exchange/v1/platform-applications/{reference}"): SIGNED,
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS = {
    "network_child:read": frozenset({P, A, C, AU}),
    "network_child:manage": frozenset({P, A}),
}
