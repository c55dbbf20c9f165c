"""The sampling chain by API (issue 40 item 5): a site app registers pours and samples with the
sampler's token, a witness app enrols its key and seals with the witness's token; and the bad
requests of each call."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.sampling.models import ConcretePour, Sample
from tests.factories import photo


def _auth(factory, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def _pour(**extra) -> dict:
    now = utcnow()
    return {
        "structure_part": "3 层梁板",
        "grade": "C30",
        "volume_m3": 120.5,
        "started_at": (now - dt.timedelta(hours=3)).isoformat(),
        "ended_at": (now - dt.timedelta(minutes=20)).isoformat(),
    } | extra


def _sample_fields(code: str, **extra) -> dict[str, str]:
    return {
        "sample_code": code,
        "material": "混凝土试块",
        "specification": "C30",
        "specimen_count": "3",
        "prepared_at": (utcnow() - dt.timedelta(minutes=30)).isoformat(),
        "latitude": "29.7112",
        "longitude": "116.0021",
    } | extra


def _photos(seed: int = 1) -> dict[str, tuple[str, bytes, str]]:
    return {
        "photo_sample": ("sample.jpg", photo(seed), "image/jpeg"),
        "photo_tag": ("tag.jpg", photo(seed + 500), "image/jpeg"),
        "photo_sampler": ("me.jpg", photo(1001), "image/jpeg"),
    }


def test_a_site_app_and_a_witness_app_run_the_chain_by_api(client, db, chain):
    factory, project = chain.factory, chain.project
    sampler, witness = _auth(factory, chain.sampler), _auth(factory, chain.witness)
    [mine] = client.get("/api/v1/sampling/projects", headers=sampler).json()
    assert (mine["id"], mine["roles"]) == (project.id, ["sampler"])
    assert client.get("/api/v1/sampling/projects", headers=witness).json()[0]["roles"] == [
        "witness"
    ]
    # the pour, then a standard-cured sample cast from it
    pour = client.post(f"/api/v1/projects/{project.id}/pours", json=_pour(), headers=sampler)
    assert pour.status_code == 201, pour.text
    assert pour.json()["needs"] == [
        {"curing": "standard", "label": "标准养护", "needed": 2, "found": 0, "short": 2,
         "basis": "每 100 m³ 一组；每工作班至少一组（1 个工作班）"},
    ]  # fmt: skip
    code = chain.next_code()
    fields = _sample_fields(code, curing="standard", pour_id=str(pour.json()["id"]))
    registered = client.post(
        f"/api/v1/projects/{project.id}/samples", data=fields, files=_photos(), headers=sampler
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert (body["sample_code"], body["status"], body["seal"]) == (code, "sampled", None)
    assert body["pour_id"] == pour.json()["id"]
    assert len(body["photos"]["sample"]) == 64
    # the witness app enrols its own key and seals
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    enrolled = client.post(
        "/api/v1/witness-keys", json={"public_key": public, "device": "见证 App"}, headers=witness
    )
    assert enrolled.status_code == 201, enrolled.text
    key_id = enrolled.json()["key_id"]
    keys = client.get("/api/v1/witness-keys", headers=witness).json()
    assert key_id in [k["key_id"] for k in keys]
    prepared = client.post(
        f"/api/v1/samples/{code}/seal/statement",
        data={"key_id": key_id, "latitude": "29.7112", "longitude": "116.0021"},
        files={
            "photo_seal": ("seal.jpg", photo(99, 1), "image/jpeg"),
            "photo_witness": ("me.jpg", photo(1002), "image/jpeg"),
        },
        headers=witness,
    )
    assert prepared.status_code == 200, prepared.text
    statement = base64.b64decode(prepared.json()["statement"])
    assert code in prepared.json()["text"]
    signature = base64.b64encode(key.sign(statement)).decode()
    sealed = client.post(
        f"/api/v1/samples/{code}/seal",
        json={"statement": prepared.json()["statement"], "signature": signature},
        headers=witness,
    )
    assert sealed.status_code == 200, sealed.text
    assert sealed.json()["status"] == "sealed"
    assert sealed.json()["seal"]["key_id"] == key_id
    assert sealed.json()["seal"]["witness_record"].startswith("http")
    # the sampler sees it sealed; the pour's standard group is found
    again = client.get(f"/api/v1/samples/{code}", headers=sampler).json()
    assert again["status"] == "sealed"
    [listed] = client.get(f"/api/v1/projects/{project.id}/pours", headers=sampler).json()
    assert listed["needs"][0]["found"] == 1
    # a second seal of the same sample: 409
    twice = client.post(
        f"/api/v1/samples/{code}/seal/statement",
        data={"key_id": key_id},
        files={
            "photo_seal": ("seal.jpg", photo(98, 1), "image/jpeg"),
            "photo_witness": ("me.jpg", photo(1002), "image/jpeg"),
        },
        headers=witness,
    )
    assert twice.status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"grade": "C33"}, "grade"),
        ({"grade": 30}, "grade"),
        ({"structure_part": ""}, "structure_part"),
        ({"structure_part": "梁\x00板"}, "structure_part"),
        ({"volume_m3": 0}, "volume_m3"),
        ({"volume_m3": "很多"}, "volume_m3"),
        ({"impermeability": "P7"}, "impermeability"),
        ({"started_at": "2026-11-25T08:00:00"}, "started_at"),  # no offset
        ({"unknown": 1}, "unknown"),
    ],
)
def test_a_bad_pour_is_refused_naming_its_field(client, db, chain, change, field):
    before = db.scalar(select(func.count(ConcretePour.id)))
    answer = client.post(
        f"/api/v1/projects/{chain.project.id}/pours",
        json=_pour(**change),
        headers=_auth(chain.factory, chain.sampler),
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"].removeprefix("body.") for e in answer.json()["errors"]]
    assert db.scalar(select(func.count(ConcretePour.id))) == before


def test_the_services_own_pour_checks_answer_under_the_api_names(client, chain):
    now = utcnow()
    late = _pour(
        started_at=(now - dt.timedelta(hours=1)).isoformat(),
        ended_at=(now - dt.timedelta(hours=2)).isoformat(),
    )
    answer = client.post(
        f"/api/v1/projects/{chain.project.id}/pours",
        json=late,
        headers=_auth(chain.factory, chain.sampler),
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "ended_at", "message": "结束时间不能早于开始时间", "code": "invalid"}
    ]


def test_bad_registrations_are_refused_and_nothing_is_kept(client, db, chain):
    sampler = _auth(chain.factory, chain.sampler)
    url = f"/api/v1/projects/{chain.project.id}/samples"
    code = chain.next_code()
    cases = [
        (_sample_fields(code), {}, "photo_sample"),  # no photos
        (_sample_fields("360402269999999X"), _photos(), "sample_code"),  # never issued
        (_sample_fields(code, specimen_count="0"), _photos(), "specimen_count"),
        (_sample_fields(code, prepared_at="昨天"), _photos(), "prepared_at"),
        (_sample_fields(code, curing="steam"), _photos(), "curing"),
        (_sample_fields(code, latitude="91"), _photos(), "latitude"),
        (_sample_fields(code, material="砼\u202e"), _photos(), "material"),
        (_sample_fields(code, colour="grey"), _photos(), "colour"),
    ]
    for fields, files, field in cases:
        answer = client.post(url, data=fields, files=files or None, headers=sampler)
        assert answer.status_code == 422, (field, answer.text)
        assert field in [e["field"] for e in answer.json()["errors"]], (field, answer.json())
    assert db.scalar(select(func.count(Sample.id))) == 0


def test_who_may_call_what(client, chain, factory):
    project = chain.project
    fields, files = _sample_fields(chain.next_code()), _photos()
    url = f"/api/v1/projects/{project.id}/samples"
    assert client.post(url, data=fields, files=files).status_code == 401
    # a witness does not register samples, a sampler does not seal
    witness = _auth(factory, chain.witness)
    assert client.post(url, data=fields, files=files, headers=witness).status_code == 403
    sampler = _auth(factory, chain.sampler)
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    assert (
        client.post("/api/v1/witness-keys", json={"public_key": public}, headers=sampler)
    ).status_code == 403
    # a sampler of another project sees nothing of this one
    other = factory.project()
    stranger = factory.user(Role.SAMPLER, project_ids=(other.id,))
    theirs = _auth(factory, stranger)
    assert client.post(url, data=fields, files=files, headers=theirs).status_code == 404
    pours = f"/api/v1/projects/{project.id}/pours"
    assert client.get(pours, headers=theirs).status_code == 404
    assert client.post(pours, json=_pour(), headers=theirs).status_code == 404
    assert client.get(f"/api/v1/projects/{2**31}/pours", headers=sampler).status_code == 404
    assert client.get("/api/v1/samples/NOPE", headers=sampler).status_code in (404, 422)


def test_a_forged_signature_is_refused(client, chain):
    sample = chain.register()
    chain.db.commit()
    witness = _auth(chain.factory, chain.witness)
    prepared = client.post(
        f"/api/v1/samples/{sample.sample_code}/seal/statement",
        data={"key_id": chain.key_id},
        files={
            "photo_seal": ("seal.jpg", photo(99, 1), "image/jpeg"),
            "photo_witness": ("me.jpg", photo(1002), "image/jpeg"),
        },
        headers=witness,
    )
    assert prepared.status_code == 200, prepared.text
    forged = base64.b64encode(Ed25519PrivateKey.generate().sign(b"x")).decode()
    answer = client.post(
        f"/api/v1/samples/{sample.sample_code}/seal",
        json={"statement": prepared.json()["statement"], "signature": forged},
        headers=witness,
    )
    assert answer.status_code == 422
    assert (
        client.get(f"/api/v1/samples/{sample.sample_code}", headers=witness).json()["status"]
        == "sampled"
    )


def test_the_api_is_documented(client):
    spec = client.get("/api/v1/openapi.json").json()
    register = spec["paths"]["/api/v1/projects/{project_id}/samples"]["post"]
    form = register["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"sample_code", "prepared_at", "photo_sample", "photo_tag", "photo_sampler"} <= set(
        form["required"]
    )
    assert form["properties"]["photo_sample"]["format"] == "binary"
    assert "409" in spec["paths"]["/api/v1/samples/{code}/seal"]["post"]["responses"]
    for path in ("/api/v1/witness-keys", "/api/v1/projects/{project_id}/pours"):
        assert "post" in spec["paths"][path]


def test_the_rules_fire_on_what_an_app_sends(client, db, chain):
    """A registration 45 minutes after making (sampling_window) and a seal 6 km from the site
    (witness_off_site), both sent by API, are found as the phone's would be; an on-time one
    sealed on site is not."""
    from jcjg.alerts.engine import run_rule
    from jcjg.alerts.models import Alert

    sampler, witness = _auth(chain.factory, chain.sampler), _auth(chain.factory, chain.witness)
    url = f"/api/v1/projects/{chain.project.id}/samples"
    late_at = (utcnow() - dt.timedelta(minutes=45)).isoformat()
    on_time, late = chain.next_code(), chain.next_code()
    soon_at = (utcnow() - dt.timedelta(minutes=5)).isoformat()
    for code, seed, made in ((on_time, 61, soon_at), (late, 62, late_at)):
        fields = _sample_fields(code) | {"prepared_at": made}
        answer = client.post(url, data=fields, files=_photos(seed), headers=sampler)
        assert answer.status_code == 201, answer.text
    for code, where in ((on_time, ("29.7112", "116.0021")), (late, ("29.76", "116.05"))):
        prepared = client.post(
            f"/api/v1/samples/{code}/seal/statement",
            data={"key_id": chain.key_id, "latitude": where[0], "longitude": where[1]},
            files={
                "photo_seal": ("s.jpg", photo(90 + len(code), 1), "image/jpeg"),
                "photo_witness": ("w.jpg", photo(1002), "image/jpeg"),
            },
            headers=witness,
        ).json()
        signature = chain.key.sign(base64.b64decode(prepared["statement"]))
        sealed = client.post(
            f"/api/v1/samples/{code}/seal",
            json={
                "statement": prepared["statement"],
                "signature": base64.b64encode(signature).decode(),
            },
            headers=witness,
        )
        assert sealed.status_code == 200, sealed.text
    for rule in ("sampling_window", "witness_off_site"):
        run_rule(db, rule, project_ids=[chain.project.id])
    db.expire_all()
    found = {
        (a.rule_id, a.subject_id)
        for a in db.scalars(select(Alert).where(Alert.status == "open"))
        if a.rule_id in ("sampling_window", "witness_off_site")
    }
    assert ("witness_off_site", late) in found
    assert ("witness_off_site", on_time) not in found
    assert ("sampling_window", late) in found
    assert ("sampling_window", on_time) not in found
