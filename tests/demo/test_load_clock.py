"""When the demo load runs: a load that began in the last hour still shows what it planted in
that hour. Not marked ``sqlite``: the clock, not the database, is what it tests, so it runs once
(in the PostgreSQL run when there is one), not a second full load in the SQLite run."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.core.db import utcnow
from jcjg.demo import load as demo


def test_a_load_across_the_hour_still_shows_the_lims_error_spike(db, settings, monkeypatch):
    """The LIMS's error spike is counted in the hour the load began; a sweep in the next hour
    no longer sees it (the rule's window is the current hour), so ``run`` judges it at the
    load's time: a CI run at 01:59 once lost the alert."""
    an_hour_ago = utcnow() - dt.timedelta(hours=1)
    monkeypatch.setattr(demo, "utcnow", lambda: an_hour_ago)  # the load began last hour
    demo.run(db, settings)
    opened = select(Alert.rule_id).where(Alert.status == "open")
    assert "client_error_spike" in set(db.scalars(opened))
