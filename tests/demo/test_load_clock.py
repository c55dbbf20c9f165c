"""The demo load under the conditions a new user's machine may give it, in one load (a full
demo load is one of the suite's costliest steps): a load that began in the last hour still
shows what it planted in that hour, and a machine without ffmpeg still gets the cameras'
recordings as rows, without files, and says why. Not marked ``sqlite``: the clock and the
missing program, not the database, are what it tests, so it runs once (in the PostgreSQL run
when there is one), not a second full load in the SQLite run."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.core.db import utcnow
from jcjg.demo import load as demo
from jcjg.demo.testing import FIRST
from jcjg.testing.models import TestRecord
from jcjg.video import segments
from tests.video.test_coverage_demo import cameras


def test_a_load_across_the_hour_without_ffmpeg(db, settings, monkeypatch, caplog):
    """The LIMS's error spike is counted in the hour the load began; a sweep in the next hour
    no longer sees it (the rule's window is the current hour), so ``run`` judges it at the
    load's time: a CI run at 01:59 once lost the alert. Without ffmpeg the demo's cameras are
    planted, the press camera's recording over the first test record has no segment with a
    file, and the log says ffmpeg was not found."""
    an_hour_ago = utcnow() - dt.timedelta(hours=1)
    monkeypatch.setattr(demo, "utcnow", lambda: an_hour_ago)  # the load began last hour
    quiet = settings.model_copy(update={"video_ffmpeg": "no-such-ffmpeg"})
    with caplog.at_level(logging.WARNING):
        demo.run(db, quiet)
    opened = select(Alert.rule_id).where(Alert.status == "open")
    assert "client_error_spike" in set(db.scalars(opened))

    press = cameras(db, "JZ-CAM-")["JZ-CAM-01"]
    first = db.scalars(select(TestRecord).where(TestRecord.number == FIRST)).one()
    assert segments.covering(db, [press.id], first.started_at, first.ended_at) == []
    assert not (quiet.media_dir / f"demo/{press.id}").exists()
    assert "没有找到 ffmpeg" in caplog.text
