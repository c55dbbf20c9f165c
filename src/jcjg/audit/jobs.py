"""Periodic work of the audit domain: background exports of lists are removed a day after they
were last written (their files hold scoped data; the audit row of each export stays)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.core.listing import remove_old_exports


@job("audit.exports_cleanup", title="清理过期的列表导出文件", every=dt.timedelta(hours=1))
def exports_cleanup(db: Session, log: logging.Logger) -> None:
    removed = remove_old_exports(get_settings(), utcnow())
    log.info("removed %d background exports", removed)
