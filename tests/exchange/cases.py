"""The exchange domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.exchange import clients as exchange_clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Client, ClientKey, ExchangeFile, Message
from tests.factories import Factory
from tests.generic import (
    AU,
    IA,
    NO_AUTH,
    SIGNED,
    A,
    C,
    Change,
    Make,
    P,
    Routes,
    ScopeCase,
    region_outsiders,
)


def _exchange_client(f: Factory) -> tuple[Client, dict]:
    inst = f.institution(region_code="360403")
    client = exchange_clients.create_client(
        f.db, name="九江 LIMS", institution=inst, status=ClientStatus.ACTIVE
    )
    return client, {"inst": inst}


def _client_obj(f: Factory) -> tuple[int, dict]:
    client, info = _exchange_client(f)
    f.db.commit()
    return client.id, info


def _client_key_obj(f: Factory) -> tuple[str, dict]:
    client, info = _exchange_client(f)
    issued = exchange_clients.issue_key(f.db, client, f.settings, alg="hmac-sha256")
    f.db.commit()
    return issued.key.key_id, info


def _message_obj(f: Factory) -> tuple[int, dict]:
    import datetime as dt

    client, info = _exchange_client(f)
    message = Message(
        client_id=client.id,
        key_id="c1-000000000000",
        institution_id=client.institution_id,
        region_code=client.region_code,
        message_type="registry.staff",
        message_id="00000000-0000-4000-8000-000000000000",
        body=b"{}",
        content_sha256="0" * 64,
        signature_input="sig1=()",
        signature="sig1=::",
        received_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        receipt={"status": "accepted"},
        lane=f"i{client.institution_id}",
        leaf_hash=bytes(32),
    )
    f.db.add(message)
    f.db.commit()
    return message.id, info


def _file_obj(f: Factory) -> tuple[int, dict]:
    client, info = _exchange_client(f)
    row = ExchangeFile(
        sha256="0" * 64,
        size=1,
        client_id=client.id,
        institution_id=client.institution_id,
        region_code=client.region_code,
    )
    f.db.add(row)
    f.db.commit()
    return row.id, info


SCOPED: dict[type, ScopeCase] = {
    Client: ScopeCase(
        _client_obj,
        "/exchange/clients/{id}",
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
        session=True,
    ),
    ClientKey: ScopeCase(
        _client_key_obj,
        "/exchange/keys/{id}",
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
        session=True,
    ),
    # What clients sent: no page shows single messages or files yet, the scope clause does.
    Message: ScopeCase(
        _message_obj,
        None,
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_ADMIN, institution=i["inst"]),
    ),
    ExchangeFile: ScopeCase(
        _file_obj,
        None,
        region_outsiders,
        lambda f, i: f.user(Role.CITY_AUTHORITY, region_code="360400"),
    ),
}


def _issued_key(f: Factory) -> object:
    client = _exchange_client(f)[0]
    return exchange_clients.issue_key(f.db, client, f.settings, alg="hmac-sha256").key


WRITES: dict[type, tuple[Make, Change]] = {
    Client: (
        lambda f: _exchange_client(f)[0],
        lambda c: setattr(c, "status", ClientStatus.SUSPENDED.value),
    ),
    ClientKey: (
        lambda f: (
            exchange_clients.issue_key(
                f.db, _exchange_client(f)[0], f.settings, alg="hmac-sha256"
            ).key
        ),
        lambda k: setattr(k, "revoke_reason", "私钥泄露"),
    ),
}


def SIGNED_REQUESTS(factory: Factory) -> dict[tuple[str, str], tuple[str, dict[str, str], bytes]]:
    """For each signed route, an unsigned request that passes every check made before the
    signature's (content type, size, address, tus version, an existing upload)."""
    import datetime as dt
    import hashlib

    from jcjg.core.db import utcnow
    from jcjg.exchange.choices import ClientStatus
    from jcjg.exchange.clients import create_client
    from jcjg.exchange.models import Upload

    owner = create_client(
        factory.db, name="LIMS", institution=factory.institution(), status=ClientStatus.ACTIVE
    )
    upload = Upload(
        token="a1" * 16,
        client_id=owner.id,
        length=10,
        offset=0,
        metadata_={},
        expires_at=utcnow() + dt.timedelta(hours=1),
    )
    factory.db.add(upload)
    factory.db.commit()
    sha = hashlib.sha256(b"x").hexdigest()
    tus = {"Tus-Resumable": "1.0.0"}
    chunk = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    return {
        ("POST", "/exchange/v1/messages/{message_type}"): (
            "/exchange/v1/messages/registry.staff",
            {"Content-Type": "application/json"},
            b"{}",
        ),
        ("GET", "/exchange/v1/messages/{message_type}/{message_id}"): (
            "/exchange/v1/messages/registry.staff/00000000-0000-4000-8000-000000000000",
            {},
            b"",
        ),
        ("POST", "/exchange/v1/status"): (
            "/exchange/v1/status",
            {"Content-Type": "application/json"},
            b'{"message_ids": ["00000000-0000-4000-8000-000000000000"]}',
        ),
        ("PUT", "/exchange/v1/blobs/{sha256}"): (f"/exchange/v1/blobs/{sha}", {}, b"x"),
        ("HEAD", "/exchange/v1/blobs/{sha256}"): (f"/exchange/v1/blobs/{sha}", {}, b""),
        ("POST", "/exchange/v1/uploads/"): (
            "/exchange/v1/uploads/",
            {**tus, "Upload-Length": "10"},
            b"",
        ),
        ("HEAD", "/exchange/v1/uploads/{token}"): (
            f"/exchange/v1/uploads/{upload.token}",
            tus,
            b"",
        ),
        ("PATCH", "/exchange/v1/uploads/{token}"): (
            f"/exchange/v1/uploads/{upload.token}",
            chunk,
            b"abc",
        ),
        ("DELETE", "/exchange/v1/uploads/{token}"): (
            f"/exchange/v1/uploads/{upload.token}",
            tus,
            b"",
        ),
    }


ROUTES: Routes = {
    ("GET", "/exchange/clients"): "exchange_client:read",
    ("GET", "/exchange/clients/{client_id}"): "exchange_client:read",
    ("GET", "/exchange/keys/{key_id}"): "exchange_client:read",
    ("GET", "/exchange/monitor"): "exchange_client:read",
    ("GET", "/exchange/clients/apply"): "exchange_client:apply",
    ("POST", "/exchange/clients/apply"): "exchange_client:apply",
    ("POST", "/exchange/clients/{client_id}/keys"): "exchange_client:apply",
    ("POST", "/exchange/clients/{client_id}/keys/rotate"): "exchange_client:apply",
    ("GET", "/exchange/clients/register"): "exchange_client:approve",
    ("POST", "/exchange/clients/register"): "exchange_client:approve",
    ("POST", "/exchange/clients/{client_id}/decision"): "exchange_client:approve",
    ("POST", "/exchange/clients/{client_id}/rate-limit"): "exchange_client:approve",
    ("POST", "/exchange/clients/{client_id}/suspend"): "exchange_client:approve",
    ("POST", "/exchange/clients/{client_id}/resume"): "exchange_client:approve",
    ("POST", "/exchange/keys/{key_id}/revoke"): "exchange_client:approve",
    # the exchange API: its schemas and the tus discovery are public, the rest is signed
    ("GET", "/exchange/v1/schemas"): NO_AUTH,
    ("GET", "/exchange/v1/schemas/{message_type}"): NO_AUTH,
    ("OPTIONS", "/exchange/v1/uploads/"): NO_AUTH,
    ("OPTIONS", "/exchange/v1/uploads/{token}"): NO_AUTH,
    ("POST", "/exchange/v1/messages/{message_type}"): SIGNED,
    ("GET", "/exchange/v1/messages/{message_type}/{message_id}"): SIGNED,
    ("POST", "/exchange/v1/status"): SIGNED,
    ("PUT", "/exchange/v1/blobs/{sha256}"): SIGNED,
    ("HEAD", "/exchange/v1/blobs/{sha256}"): SIGNED,
    ("POST", "/exchange/v1/uploads/"): SIGNED,
    ("HEAD", "/exchange/v1/uploads/{token}"): SIGNED,
    ("PATCH", "/exchange/v1/uploads/{token}"): SIGNED,
    ("DELETE", "/exchange/v1/uploads/{token}"): SIGNED,
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "exchange_client:read": frozenset({P, A, C, IA, AU}),
    "exchange_client:apply": frozenset({P, IA}),
    "exchange_client:approve": frozenset({P, A, C}),
}
