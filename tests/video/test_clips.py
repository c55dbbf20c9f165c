"""Clip export: the covering segments joined without re-encoding into an MP4 (its duration
checked with ffprobe), kept in the blob store with a manifest signed by the ledger's key and
notarised; downloads; limits; who may."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.core.db import utcnow
from jcjg.ledger import service as ledger
from jcjg.ledger.note import Verifier, open_note
from jcjg.video.clips import manifest_digest
from jcjg.video.models import Clip
from tests.factories import login, page_csrf
from tests.video.conftest import make_site
from tests.video.media import probe_duration


def _local(moment: dt.datetime) -> str:
    return moment.isoformat()


def test_export_a_clip(browser_client, db, settings, site, recorder, pieces, tmp_path):
    start = (utcnow() - dt.timedelta(minutes=5)).replace(microsecond=0)
    segments = recorder.record(site.camera, pieces[:5], start)
    db.commit()
    login(browser_client, site.admin.username)
    token = page_csrf(browser_client, f"/video/cameras/{site.camera.id}")
    answer = browser_client.post(
        f"/video/cameras/{site.camera.id}/clips",
        data={
            "csrf_token": token,
            "start": _local(start + dt.timedelta(seconds=1)),
            "end": _local(start + dt.timedelta(seconds=7)),
        },
    )
    assert answer.status_code == 303, answer.text[:500]
    clip = db.scalars(select(Clip)).one()
    assert [s["sequence"] for s in clip.manifest["segments"]] == [1, 2, 3, 4]
    assert clip.manifest["segments"][0]["sha256"] == segments[0].sha256
    assert clip.manifest["segments"][3]["chain"] == segments[3].chain
    page = browser_client.get(answer.headers["location"])
    assert "录像剪辑已导出" in page.text
    assert f"/video/clips/{clip.id}.mp4" in page.text
    mp4 = browser_client.get(f"/video/clips/{clip.id}.mp4")
    assert mp4.status_code == 200
    assert mp4.headers["content-type"] == "video/mp4"
    assert hashlib.sha256(mp4.content).hexdigest() == clip.manifest["clip_sha256"]
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4.content)
    assert abs(probe_duration(path) - 8.0) < 0.3
    document = browser_client.get(f"/video/clips/{clip.id}/manifest.json").json()
    assert document["manifest_sha256"] == manifest_digest(document["manifest"])
    note = open_note(document["signature"], [Verifier(document["public_key"])])
    assert document["manifest_sha256"] in note.text
    assert document["public_key"] == ledger.log_identity().vkey
    assert document["ledger_index"] is not None
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "camera:export")).all()
    assert len(audit) == 1
    assert "导出录像剪辑" in audit[0].detail
    assert json.dumps(document, ensure_ascii=False)


def test_clip_limits_and_scope(browser_client, db, factory, site, recorder, pieces):
    start = (utcnow() - dt.timedelta(hours=1)).replace(microsecond=0)
    recorder.record(site.camera, pieces[:2], start)
    db.commit()
    login(browser_client, site.admin.username)
    token = page_csrf(browser_client, f"/video/cameras/{site.camera.id}")
    url = f"/video/cameras/{site.camera.id}/clips"
    for start_at, end_at, status in (
        (start, start + dt.timedelta(minutes=31), 422),  # too long
        (start + dt.timedelta(seconds=9), start, 422),  # backwards
        (start - dt.timedelta(hours=3), start - dt.timedelta(hours=2, minutes=50), 422),  # none
    ):
        data = {"csrf_token": token, "start": _local(start_at), "end": _local(end_at)}
        assert browser_client.post(url, data=data).status_code == status
    assert (
        browser_client.post(url, data={"csrf_token": token, "start": "x", "end": "y"}).status_code
        == 400
    )
    assert db.scalars(select(Clip)).first() is None
    other = make_site(factory, code="CAM-Y")
    browser_client.cookies.clear()
    login(browser_client, other.admin.username)
    token = page_csrf(browser_client, "/")
    data = {
        "csrf_token": token,
        "start": _local(start),
        "end": _local(start + dt.timedelta(seconds=3)),
    }
    assert browser_client.post(url, data=data).status_code == 404
    browser_client.cookies.clear()
    login(browser_client, site.staff.username)  # staff may watch, not export
    token = page_csrf(browser_client, "/")
    assert browser_client.post(url, data=data | {"csrf_token": token}).status_code == 403
