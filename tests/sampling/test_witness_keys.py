# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""Revoking a witness's seal key (a lost phone): by the witness on the phone's key page, or by
an officer of the scope on the witness's key page. The key seals nothing more; the seals made
before stay valid; the revocation is audited and notarised (``witness_key:revoke``)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core.errors import ValidationFailed
from jcjg.ledger.models import LedgerLeaf
from jcjg.sampling import service
from jcjg.sampling.models import SampleSeal, WitnessKey
from tests.factories import login, page_csrf
from tests.sampling.conftest import Chain, principal_of
from tests.sampling.test_api import _auth

HTML = {"accept": "text/html"}


def _last_change(db, key: WitnessKey) -> AuditLog:
    """The change log's last row of the key."""
    return db.scalar(
        select(AuditLog)
        .where(AuditLog.object_type == "witness_key", AuditLog.object_id == str(key.id))
        .order_by(AuditLog.id.desc())
    )


@pytest.mark.sqlite
def test_the_witness_revokes_their_own_key_and_it_seals_nothing_more(
    browser_client, chain: Chain, db
):
    sealed = chain.seal(chain.register())
    later = chain.register(seed=2)
    at = later.sampled_at + dt.timedelta(minutes=10)
    statement = chain.statement(later, at=at)  # prepared before the phone was lost
    db.commit()
    login(browser_client, chain.witness.username)
    page = browser_client.get("/m/keys", headers=HTML).text
    assert f'data-testid="revoke-{chain.key_id[:16]}"' in page
    token = page_csrf(browser_client, "/m/keys")
    done = browser_client.post(
        f"/m/keys/{chain.key_id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    page = browser_client.get(done.headers["location"], headers=HTML).text
    assert "已吊销" in page and f"revoke-{chain.key_id[:16]}" not in page

    db.expire_all()
    key = db.scalar(select(WitnessKey).where(WitnessKey.key_id == chain.key_id))
    assert key.revoked_at is not None
    leaf = db.scalar(select(LedgerLeaf).where(LedgerLeaf.entry_type == "witness_key:revoke"))
    data = json.loads(leaf.entry)["data"]
    assert data["key_id"] == chain.key_id
    assert base64.b64decode(data["public_key"]) == key.public_key
    change = _last_change(db, key)
    assert change.user_id == chain.witness.id and change.after.get("revoked_at")

    # again: 409; a key that is not the witness's: 404
    again = browser_client.post(f"/m/keys/{chain.key_id}/revoke", data={"csrf_token": token})
    assert again.status_code == 409
    unknown = browser_client.post(f"/m/keys/{'0' * 64}/revoke", data={"csrf_token": token})
    assert unknown.status_code == 404
    # the seal made before stays valid; a seal with the revoked key is refused
    assert service.verify_seal(db, db.get(SampleSeal, sealed.id)) == []
    with pytest.raises(ValidationFailed) as refused:
        service.seal_sample(
            db=db, settings=chain.settings, principal=principal_of(chain.witness),
            code=later.sample_code, statement_b64=base64.b64encode(statement).decode(),
            signature_b64=base64.b64encode(chain.key.sign(statement)).decode(), now=at,
        )  # fmt: skip
    assert refused.value.errors[0].message == "封志密钥未登记或已吊销"


@pytest.mark.sqlite
def test_an_officer_of_the_scope_revokes_a_witness_key(browser_client, chain: Chain, factory, db):
    sample = chain.register()
    chain.seal(sample)
    elsewhere = factory.user(Role.STATION, region_code="360100", commit=False)
    db.commit()
    keys = f"/witnesses/{chain.witness.id}/keys"
    login(browser_client, chain.station.username)
    desk = browser_client.get(f"/samples/{sample.sample_code}", headers=HTML).text
    assert f'href="{keys}"' in desk
    page = browser_client.get(keys, headers=HTML).text
    assert chain.witness.display_name in page and "有效" in page
    token = page_csrf(browser_client, keys)
    revoke = f"{keys}/{chain.key_id}/revoke"
    done = browser_client.post(revoke, data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = browser_client.get(done.headers["location"], headers=HTML).text
    assert "已吊销" in page and f"revoke-{chain.key_id[:16]}" not in page
    assert browser_client.post(revoke, data={"csrf_token": token}).status_code == 409
    # not a witness (the sampler), nobody, a key not the witness's: 404
    for path in (f"/witnesses/{chain.sampler.id}/keys", "/witnesses/999999/keys"):
        assert browser_client.get(path, headers=HTML).status_code == 404, path
    other = f"{keys}/{'0' * 64}/revoke"
    assert browser_client.post(other, data={"csrf_token": token}).status_code == 404
    db.expire_all()
    key = db.scalar(select(WitnessKey).where(WitnessKey.key_id == chain.key_id))
    change = _last_change(db, key)
    assert change.user_id == chain.station.id

    # a station of another city does not find the witness; the witness cannot open the page
    browser_client.cookies.clear()
    login(browser_client, elsewhere.username)
    assert browser_client.get(keys, headers=HTML).status_code == 404
    browser_client.cookies.clear()
    login(browser_client, chain.witness.username)
    assert browser_client.get(keys, headers=HTML).status_code == 403


@pytest.mark.sqlite
def test_a_key_is_revoked_over_the_api_by_its_witness_or_an_officer(client, chain: Chain, db):
    second = service.register_key(
        db=db, principal=principal_of(chain.witness), device="备用手机",
        public_key_b64=base64.b64encode(
            Ed25519PrivateKey.generate().public_key().public_bytes_raw()
        ).decode(),
    )  # fmt: skip
    db.commit()
    witness, station = _auth(chain.factory, chain.witness), _auth(chain.factory, chain.station)
    own = f"/api/v1/witness-keys/{chain.key_id}/revoke"
    done = client.post(own, headers=witness)
    assert done.status_code == 200, done.text
    assert done.json()["key_id"] == chain.key_id and done.json()["revoked_at"]
    again = client.post(own, headers=witness)
    assert again.status_code == 409 and again.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert "已吊销" in again.json()["detail"]
    assert (
        client.post(f"/api/v1/witness-keys/{'0' * 64}/revoke", headers=witness).status_code == 404
    )
    bad = client.post("/api/v1/witness-keys/XYZ/revoke", headers=witness)
    assert bad.status_code == 400 and "key_id" in bad.text  # a malformed path: 400, as all
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert client.post(own, headers=station).status_code == 403  # the officer's is the other
    # the officer of the scope revokes the witness's other key; the witness may not use it
    theirs = f"/api/v1/witnesses/{chain.witness.id}/keys/{second.key_id}/revoke"
    assert client.post(theirs, headers=witness).status_code == 403
    done = client.post(theirs, headers=station)
    assert done.status_code == 200, done.text
    assert (
        client.post(
            f"/api/v1/witnesses/{chain.sampler.id}/keys/{second.key_id}/revoke", headers=station
        ).status_code
        == 404
    )  # not a witness
    db.expire_all()
    revoked = db.scalars(select(WitnessKey.key_id).where(WitnessKey.revoked_at.is_not(None)))
    assert set(revoked) == {chain.key_id, second.key_id}
    leaves = db.scalars(
        select(LedgerLeaf)
        .where(LedgerLeaf.entry_type == "witness_key:revoke")
        .order_by(LedgerLeaf.leaf_index)
    )
    assert [json.loads(x.entry)["data"]["key_id"] for x in leaves] == [chain.key_id, second.key_id]
