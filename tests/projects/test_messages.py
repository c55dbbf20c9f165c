"""The ``project`` message: projects from another platform, through the signed exchange API."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.client.signing import load_key
from jcjg.config import Settings
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientKind, ClientStatus
from jcjg.exchange.models import Message
from jcjg.ledger.models import LedgerLeaf
from jcjg.projects.messages import _EXAMPLE
from jcjg.projects.models import Project
from tests.exchange.conftest import Lims, make_lims
from tests.factories import Factory


class Peer(Lims):
    """Another platform: its messages name a region, not an institution."""

    def project(self, **fields: Any) -> dict[str, Any]:
        return {**copy.deepcopy(_EXAMPLE), "message_id": str(uuid.uuid4()), **fields}


def make_peer(db: Session, settings: Settings, factory: Factory, region: str = "360400") -> Peer:
    peer = clients.create_client(
        db,
        name=f"平台 {region}",
        institution=None,
        region_code=region,
        kind=ClientKind.PLATFORM,
        status=ClientStatus.ACTIVE,
    )
    issued = clients.issue_key(db, peer, settings, alg="hmac-sha256")
    db.commit()
    assert issued.secret is not None
    key = load_key("hmac-sha256", issued.secret)
    # Lims.message is not used: a peer's messages carry no institution.
    return Peer(factory.institution(), peer, issued.key.key_id, key)


@pytest.fixture
def peer(db: Session, settings: Settings, factory: Factory) -> Peer:
    return make_peer(db, settings, factory)


def counts(db: Session) -> tuple[int, int, int]:
    db.expire_all()
    return (
        db.scalar(select(func.count()).select_from(Project)) or 0,
        # a rejected message is kept as received but writes nothing
        db.scalar(select(func.count()).select_from(Message).where(Message.status == "applied"))
        or 0,
        db.scalar(select(func.count()).select_from(LedgerLeaf)) or 0,
    )


def problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("/" + kind)
    return body


def test_a_platform_sends_a_project_then_an_update(
    client: TestClient, db: Session, peer: Peer
) -> None:
    first = peer.project()
    response = peer.post(client, "project", first)
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["results"] == {
        "project_code": "XM360402-2026-017",
        "created": True,
        "changed": [],
    }
    assert receipt["entry"]["region_code"] == "360402"
    assert "institution_code" not in receipt["entry"]
    db.expire_all()
    project = db.scalars(select(Project).where(Project.code == "XM360402-2026-017")).one()
    assert project.region_code == "360402"
    assert project.origin == "360400"  # the sending platform's region
    assert project.site_radius_m == 250
    message = db.scalars(select(Message).where(Message.message_id == first["message_id"])).one()
    assert message.institution_id is None
    assert message.region_code == "360402"

    # the same message again: the same receipt, nothing new
    before = counts(db)
    again = peer.post(client, "project", first)
    assert again.json()["status"] == "duplicate"
    assert again.json()["leaf_hash"] == receipt["leaf_hash"]
    assert counts(db) == before

    update = peer.project(status="suspended", site_radius_m=400)
    response = peer.post(client, "project", update)
    assert response.status_code == 200, response.text
    assert response.json()["results"] == {
        "project_code": "XM360402-2026-017",
        "created": False,
        "changed": ["site_radius_m", "status"],
    }
    db.expire_all()
    assert (project.status, project.site_radius_m) == ("suspended", 400)


def test_a_lab_system_may_not_send_projects(
    client: TestClient, db: Session, settings: Settings, factory: Factory
) -> None:
    lims = make_lims(db, settings, factory)
    before = counts(db)
    payload = {**copy.deepcopy(_EXAMPLE), "message_id": str(uuid.uuid4())}
    body = problem(lims.post(client, "project", payload), 403, "exchange-wrong-sender")
    assert "其他监管平台" in body["detail"]
    assert counts(db) == before


def test_a_platform_sends_only_its_own_region(
    client: TestClient, db: Session, settings: Settings, factory: Factory, peer: Peer
) -> None:
    before = counts(db)
    outside = peer.project(region_code="360102", code="XM-NC-1")
    problem(peer.post(client, "project", outside), 403, "exchange-wrong-sender")
    unknown = peer.project(region_code="360499", code="XM-NC-2")
    body = problem(peer.post(client, "project", unknown), 422, "validation")
    assert body["errors"][0]["field"] == "region_code"
    assert counts(db) == before


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"site_longitude": None}, "site_latitude"),  # a centre needs both
        ({"site_polygon": [[116.0, 29.7], [116.1, 29.7]]}, "site_polygon"),
        ({"site_polygon": [[216.0, 29.7], [116.1, 29.7], [116.1, 29.8]]}, "site_polygon"),
        ({"site_radius_m": "三百米"}, "site_radius_m"),
        ({"site_radius_m": 5}, "site_radius_m"),
        ({"status": "demolished"}, "status"),
        ({"code": "XM 360402/017"}, "code"),
        ({"name": ""}, "name"),
        ({"institution_code": "JC360400-0001"}, "institution_code"),
    ],
)
def test_bad_projects_are_refused_with_nothing_written(
    client: TestClient, db: Session, peer: Peer, fields: dict[str, Any], field: str
) -> None:
    before = counts(db)
    body = problem(peer.post(client, "project", peer.project(**fields)), 422, "validation")
    assert field in {e["field"].split(".")[0].split("[")[0] for e in body["errors"]}, body
    assert counts(db) == before


def test_a_project_held_elsewhere_is_not_overwritten(
    client: TestClient, db: Session, settings: Settings, factory: Factory, peer: Peer
) -> None:
    station_project = factory.project(region_code="360402")
    db.commit()
    before = counts(db)
    body = problem(
        peer.post(client, "project", peer.project(code=station_project.code)), 422, "validation"
    )
    assert "本平台监督站录入" in json.dumps(body, ensure_ascii=False)

    # another platform whose region also covers the project's
    assert peer.post(client, "project", peer.project()).status_code == 200
    province = make_peer(db, settings, factory, region="360000")
    body = problem(province.post(client, "project", province.project()), 422, "validation")
    assert "其他平台报送" in json.dumps(body, ensure_ascii=False)
    # and the sender itself cannot move a project to another county
    moved = peer.project(region_code="360403")
    body = problem(peer.post(client, "project", moved), 422, "validation")
    assert body["errors"][0]["field"] == "region_code"
    assert counts(db)[0] == before[0] + 1


def test_the_sites_curing_room_is_kept_unless_the_sender_states_it(
    client: TestClient, db: Session, peer: Peer
) -> None:
    response = peer.post(client, "project", peer.project())
    assert response.status_code == 200, response.text
    project = db.scalars(select(Project).where(Project.code == "XM360402-2026-017")).one()
    assert (project.curing_room, project.cube_molds) == ("", 0)
    project.curing_room, project.cube_molds = "2 号楼东侧标准养护室", 36  # the station's record
    db.commit()
    # a platform that knows nothing of the room updates the project: the room stays
    response = peer.post(client, "project", peer.project(status="suspended"))
    assert response.json()["results"]["changed"] == ["status"]
    db.expire_all()
    assert (project.curing_room, project.cube_molds) == ("2 号楼东侧标准养护室", 36)
    # one that states them sets them
    response = peer.post(client, "project", peer.project(curing_room="", cube_molds=12))
    assert response.json()["results"]["changed"] == ["cube_molds", "curing_room", "status"]
    db.expire_all()
    assert (project.curing_room, project.cube_molds) == ("", 12)
