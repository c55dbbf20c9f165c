"""Exchange fixtures: an institution with an approved LIMS client and keys of both kinds."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jcjg.client.signing import load_key, signed_headers
from jcjg.config import Settings
from jcjg.exchange import apply, clients
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

    def post_raw(
        self, http: TestClient, message_type: str, payload: dict[str, Any], **kwargs: Any
    ) -> httpx.Response:
        """POST the message: the request's own answer (202 receipt, 200 duplicate, refusal)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        path = f"/exchange/v1/messages/{message_type}"
        return http.post(path, content=body, headers=self.headers("POST", path, body, **kwargs))

    def status(self, http: TestClient, message_type: str, message_id: str) -> httpx.Response:
        """The signed GET of a message's status."""
        path = f"/exchange/v1/messages/{message_type}/{message_id}"
        return http.get(path, headers=self.headers("GET", path))

    def post(
        self, http: TestClient, message_type: str, payload: dict[str, Any], **kwargs: Any
    ) -> Answer:
        """The final answer to a message, wherever it was decided: POST it, apply what waits
        (the app's workers do it behind; here the test does it at once), read its status."""
        response = self.post_raw(http, message_type, payload, **kwargs)
        if response.status_code not in (200, 202):
            return Answer(response.status_code, response.json(), response)
        apply_waiting(http)
        receipt = response.json()
        status = self.status(http, message_type, receipt["message_id"])
        assert status.status_code == 200, status.text
        doc = status.json()
        if doc["status"] == "rejected":
            return Answer(doc["problem"]["status"], doc["problem"], response, doc)
        assert doc["status"] == "applied", doc
        return Answer(200, {**receipt, **doc, "status": receipt["status"]}, response, doc)


@dataclass
class Answer:
    """What a message came to: ``status_code`` 200 and the receipt's fields with the status
    document's (``results``, ``warnings``; ``status`` the receipt's: ``accepted`` or
    ``duplicate``) when applied; the problem and its status when refused in the request or
    rejected when applied (``rejected`` says which)."""

    status_code: int
    body: dict[str, Any]
    response: httpx.Response
    """The POST's own answer (its receipt, or the refusal)."""
    final: dict[str, Any] | None = None
    """The message's status document once applied or rejected."""

    def json(self) -> dict[str, Any]:
        return self.body

    @property
    def headers(self) -> httpx.Headers:
        """The POST's headers; for a rejected message, those its problem document would be
        served with on its own (it comes embedded in the status)."""
        if self.rejected:
            return httpx.Headers({"content-type": "application/problem+json"})
        return self.response.headers

    @property
    def text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False)

    @property
    def rejected(self) -> bool:
        return self.final is not None and self.final["status"] == "rejected"


def apply_waiting(http: TestClient) -> int:
    """Apply every accepted message now, as the app's apply workers would."""
    state = http.app.state  # type: ignore[attr-defined]
    return apply.drain(state.sessionmaker, state.settings)


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
