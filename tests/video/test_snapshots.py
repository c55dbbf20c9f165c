"""Snapshots: the job takes the start and break photos of a recent force test from the
recording (JPEG in the blob store, at the start and at the curve's peak), once; records with
no recording, or not force tests, get none; the replay page and the record page show them."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import event, select

from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.video import snapshots as video_snapshots
from jcjg.video.models import Snapshot
from jcjg.video.snapshots import snapshots, take_pending
from tests.factories import login
from tests.video.conftest import make_record


def test_start_and_break_photos(browser_client, db, settings, site, recorder, pieces, monkeypatch):
    start = (utcnow() - dt.timedelta(minutes=3)).replace(microsecond=0)
    recorder.record(site.camera, pieces[:6], start)
    record = make_record(db, settings, site, start + dt.timedelta(seconds=1), peak_at=6.5)
    other = make_record(db, settings, site, start + dt.timedelta(seconds=1), number="JL-OTHER")
    other.kind = "other"
    far = make_record(db, settings, site, start - dt.timedelta(hours=1), number="JL-FAR")
    db.commit()
    monkeypatch.setattr("jcjg.video.snapshots.get_settings", lambda: settings)
    open_, cut_while = [False], []  # ffmpeg cuts with no transaction open (issue 47)
    event.listen(db, "after_begin", lambda *_: open_.__setitem__(0, True))
    event.listen(db, "after_commit", lambda *_: open_.__setitem__(0, False))
    extract = video_snapshots.extract_frame
    monkeypatch.setattr(video_snapshots, "extract_frame",
                        lambda *a: cut_while.append(open_[0]) or extract(*a))  # fmt: skip
    snapshots.func(db, logging.getLogger("test"))
    assert cut_while == [False, False]
    rows = db.scalars(select(Snapshot).order_by(Snapshot.moment.desc())).all()
    assert [(r.test_record_id, r.moment) for r in rows] == [
        (record.id, "start"),
        (record.id, "break"),
    ]
    start_row, break_row = rows
    assert start_row.taken_at == record.started_at.replace(tzinfo=start_row.taken_at.tzinfo)
    assert (break_row.taken_at - start_row.taken_at).total_seconds() == 6.5
    data = blob_store(settings).get(break_row.blob_digest)
    assert data[:2] == b"\xff\xd8"
    assert (break_row.width, break_row.height) == (320, 180)
    assert take_pending(db, settings, utcnow()) == 0  # taken once
    assert not db.scalars(
        select(Snapshot).where(Snapshot.test_record_id.in_([other.id, far.id]))
    ).all()
    login(browser_client, site.staff.username)
    replay = browser_client.get(f"/video/replay/test-records/{record.id}")
    assert "采集开始照片" in replay.text
    assert f"/video/snapshots/{break_row.id}.jpg" in replay.text
    assert "采集破型照片" in browser_client.get(f"/testing/records/{record.id}").text
    image = browser_client.get(f"/video/snapshots/{break_row.id}.jpg")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert browser_client.get("/video/snapshots/2147483648.jpg").status_code == 404
