"""Live preview and replay: the live playlist (latest segments, their numbers and wall-clock
times, no end), the replay of a range (ended, a discontinuity across a gap, removed segments
left out), the segment files (content type, private cache, scope), the watch page (one audit
entry per opening), a test record's replay with its button on the record page, and the sample
receipt's link to the receiving room."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.core.db import utcnow
from jcjg.core.templating import Column, contributions
from jcjg.sampling.choices import RECEIPT_COLUMNS
from jcjg.sampling.models import SampleReceipt
from jcjg.video.models import Camera
from tests.factories import login
from tests.video.conftest import make_record, make_site


def _start(seconds_ago: float = 60) -> dt.datetime:
    return (utcnow() - dt.timedelta(seconds=seconds_ago)).replace(microsecond=0)


def _watch_audits(db, camera_id: int) -> list[AuditLog]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditLog).where(
                AuditLog.action == "camera:watch", AuditLog.object_id == str(camera_id)
            )
        )
    )


def test_live_playlist_and_segments(browser_client, db, site, recorder, pieces):
    start = _start()
    segments = recorder.record(site.camera, pieces[:5], start)
    db.commit()
    login(browser_client, site.staff.username)
    live = browser_client.get(f"/video/cameras/{site.camera.id}/live.m3u8")
    assert live.status_code == 200
    assert live.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "private" in live.headers["cache-control"]
    text = live.text
    assert text.startswith("#EXTM3U")
    assert "#EXT-X-ENDLIST" not in text
    assert "#EXT-X-MEDIA-SEQUENCE:1" in text
    assert text.count("#EXT-X-PROGRAM-DATE-TIME:") == 5
    assert f"#EXT-X-PROGRAM-DATE-TIME:{start.isoformat(timespec='milliseconds')[:19]}" in text
    first = browser_client.get(f"/video/segments/{segments[0].id}.ts")
    assert first.status_code == 200
    assert first.headers["content-type"] == "video/mp2t"
    assert "private" in first.headers["cache-control"]
    assert first.content == pieces[0].read_bytes()
    more = recorder.record(site.camera, pieces[5:6], start + dt.timedelta(seconds=10))
    more[0].removed_at = None
    segments[0].removed_at = utcnow()  # retention took it
    db.commit()
    later = browser_client.get(f"/video/cameras/{site.camera.id}/live.m3u8").text
    assert "#EXT-X-MEDIA-SEQUENCE:2" in later
    assert f"/video/segments/{more[0].id}.ts" in later
    assert browser_client.get(f"/video/segments/{segments[0].id}.ts").status_code == 404


def test_replay_playlist_with_a_gap(browser_client, db, site, recorder, pieces):
    start = _start(120)
    recorder.record(site.camera, pieces[:2], start)
    recorder.record(site.camera, pieces[2:4], start + dt.timedelta(seconds=30))  # a gap
    db.commit()
    login(browser_client, site.staff.username)
    base = f"/video/cameras/{site.camera.id}/replay.m3u8"
    a, b = start.isoformat(), (start + dt.timedelta(minutes=2)).isoformat()
    replay = browser_client.get(base, params={"start": a, "end": b})
    assert replay.status_code == 200
    text = replay.text
    assert "#EXT-X-ENDLIST" in text
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert text.count("#EXT-X-DISCONTINUITY") == 1
    assert text.count("#EXTINF:") == 4
    assert text.index("#EXT-X-DISCONTINUITY") > text.index("#EXTINF:")
    for bad in (
        {"start": "yesterday", "end": b},
        {"start": b, "end": a},
        {"start": a, "end": (start + dt.timedelta(hours=3)).isoformat()},
        {"start": a},
        {"start": a + "\x00", "end": b},
    ):
        assert browser_client.get(base, params=bad).status_code in (400, 422), bad


def test_watch_page_writes_one_audit_entry(browser_client, db, site, recorder, pieces):
    start = _start()
    recorder.record(site.camera, pieces[:3], start)
    db.commit()
    login(browser_client, site.staff.username)
    page = browser_client.get(f"/video/cameras/{site.camera.id}/watch")
    assert page.status_code == 200
    assert "实时预览" in page.text
    assert 'data-source="/video/cameras/' in page.text
    assert "video-player.js" in page.text
    for _ in range(3):
        browser_client.get(f"/video/cameras/{site.camera.id}/live.m3u8")
    rows = _watch_audits(db, site.camera.id)
    assert len(rows) == 1
    assert "实时预览" in rows[0].detail
    moment = (start + dt.timedelta(seconds=3)).isoformat()
    replay = browser_client.get(f"/video/cameras/{site.camera.id}/watch", params={"at": moment})
    assert replay.status_code == 200
    assert "录像回放" in replay.text
    assert "replay.m3u8" in replay.text
    rows = _watch_audits(db, site.camera.id)
    assert len(rows) == 2
    assert any("录像回放" in r.detail and "至" in r.detail for r in rows)
    assert (
        browser_client.get(
            f"/video/cameras/{site.camera.id}/watch", params={"at": "not a time"}
        ).status_code
        == 400
    )


def test_who_may_watch(browser_client, db, factory, site, recorder, pieces):
    segment = recorder.record(site.camera, pieces[:1], _start())[0]
    db.commit()
    other = make_site(factory, region_code="360102", code="CAM-NC")
    login(browser_client, other.staff.username)
    for path in (
        f"/video/cameras/{site.camera.id}/watch",
        f"/video/cameras/{site.camera.id}/live.m3u8",
        f"/video/segments/{segment.id}.ts",
        "/video/segments/2147483648.ts",
    ):
        assert browser_client.get(path).status_code == 404, path
    browser_client.cookies.clear()
    assert browser_client.get(f"/video/segments/{segment.id}.ts").status_code in (401, 303)
    witness = factory.user(Role.WITNESS)
    login(browser_client, witness.username)
    assert browser_client.get(f"/video/segments/{segment.id}.ts").status_code == 403


def test_record_replay_and_its_button(browser_client, db, settings, site, recorder, pieces):
    start = _start(120)
    recorder.record(site.camera, pieces[:6], start)
    record = make_record(db, settings, site, start + dt.timedelta(seconds=2))
    bare = make_record(db, settings, site, start - dt.timedelta(hours=2), number="JL-NONE")
    db.commit()
    login(browser_client, site.staff.username)
    page = browser_client.get(f"/testing/records/{record.id}")
    assert page.status_code == 200
    assert "回放试验过程" in page.text
    assert f"/video/replay/test-records/{record.id}" in page.text
    assert "回放试验过程" not in browser_client.get(f"/testing/records/{bare.id}").text
    replay = browser_client.get(f"/video/replay/test-records/{record.id}")
    assert replay.status_code == 200
    assert "data-curve=" in replay.text
    assert "echarts.min.js" in replay.text
    assert site.camera.name in replay.text
    assert len(_watch_audits(db, site.camera.id)) == 1
    assert browser_client.get(f"/video/replay/test-records/{bare.id}").status_code == 404
    assert browser_client.get("/video/replay/test-records/2147483648").status_code == 404


def test_receipt_links_to_the_receiving_room(db, settings, factory, site, recorder, pieces):
    inst = site.institution
    room = Camera(
        institution_id=inst.id, region_code=inst.region_code, code="CAM-RX", name="收样室",
        place_kind="receiving", stream_url="rtsp://127.0.0.1/rx", status="online",
    )  # fmt: skip
    db.add(room)
    db.flush()
    start = _start(90)
    recorder.record(room, pieces[:3], start)
    project = factory.project()
    receipt = SampleReceipt(
        sample_code="SC-VIDEO-1", project_id=project.id, institution_id=inst.id,
        region_code=inst.region_code, accepted=True, checked_at=start + dt.timedelta(seconds=3),
        via="page",
    )  # fmt: skip
    db.add(receipt)
    db.commit()
    staff = principal_for(db=db, user=site.staff, settings=settings)
    (column,) = contributions(RECEIPT_COLUMNS, Column, db, staff, [receipt])
    assert column.title == "收样视频"
    assert f"/video/cameras/{room.id}/watch?at=" in str(column.cells[receipt.id])
    outsider = principal_for(db=db, user=make_site(factory, code="CAM-O").staff, settings=settings)
    (hidden,) = contributions(RECEIPT_COLUMNS, Column, db, outsider, [receipt])
    assert not hidden.cells
