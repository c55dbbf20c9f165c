"""Sending the digests: every minute, what each user's period and quiet hours allow."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import job


@job("notify.deliver", title="发送通知（邮件、短信）", every=dt.timedelta(minutes=1))
def deliver(db: Session, log: logging.Logger) -> None:
    from jcjg.notify import channels, service

    settings = get_settings()
    result = service.deliver(
        db, settings, utcnow(),
        email=channels.email_sender(settings), sms=channels.sms_gateway(settings),
        before_sending=db.commit,  # no transaction (no lock on SQLite) waits for the network
    )  # fmt: skip
    log.info("%d sent, %d failed, %d waiting", result.sent, result.failed, result.waiting)
    db.commit()
