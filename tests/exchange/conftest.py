"""Exchange fixtures: an institution with an approved LIMS client and keys of both kinds."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jcjg.client.signing import load_key, signed_headers
from jcjg.config import Settings
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Client
from jcjg.exchange.signatures import SigningKey
from jcjg.tenancy.models import Institution
from tests.factories import Factory

BASE = "http://testserver"


@dataclass
class Lims:
    """A signing LIMS: its institution, client row, key id and signing key."""

    institution: Institution
    client: Client
    key_id: str
    key: SigningKey

    def headers(
        self, method: str, path: str, body: bytes | None = None, **kwargs: Any
    ) -> dict[str, str]:
        content_type = kwargs.pop("content_type", "application/json" if body else None)
        return signed_headers(
            method,
            BASE + path,
            key_id=self.key_id,
            key=self.key,
            body=body,
            content_type=content_type,
            **kwargs,
        )

    def message(self, **fields: Any) -> dict[str, Any]:
        return {
            "message_id": str(uuid.uuid4()),
            "institution_code": self.institution.code,
            **fields,
        }

    def post(self, http: TestClient, message_type: str, payload: dict[str, Any], **kwargs: Any):
        body = json.dumps(payload, ensure_ascii=False).encode()
        path = f"/exchange/v1/messages/{message_type}"
        return http.post(path, content=body, headers=self.headers("POST", path, body, **kwargs))


def make_lims(
    db: Session,
    settings: Settings,
    factory: Factory,
    alg: str = "ed25519",
    institution: Institution | None = None,
) -> Lims:
    institution = institution or factory.institution()
    client = clients.create_client(
        db, name=f"{institution.name} LIMS", institution=institution, status=ClientStatus.ACTIVE
    )
    if alg == "ed25519":
        private = Ed25519PrivateKey.generate()
        issued = clients.issue_key(
            db,
            client,
            settings,
            alg=alg,
            public_key=base64.b64encode(private.public_key().public_bytes_raw()),
        )
        key = load_key(alg, private)
    else:
        issued = clients.issue_key(db, client, settings, alg=alg)
        assert issued.secret is not None
        key = load_key(alg, issued.secret)
    db.commit()
    return Lims(institution, client, issued.key.key_id, key)


@pytest.fixture
def lims(db: Session, settings: Settings, factory: Factory) -> Lims:
    return make_lims(db, settings, factory)


@pytest.fixture
def hmac_lims(db: Session, settings: Settings, factory: Factory) -> Lims:
    return make_lims(db, settings, factory, alg="hmac-sha256")
