"""Demo operator alerts for ``make run`` (000 8.2.4), each on data the platform keeps, so the
operations page (/ops) and the administrators' inbox show them:

- ops_backup_stale: the last backup succeeded three days ago;
- ops_job_failing: sending the notifications failed three times in the last hours (the mail
  server refused);
- ops_disk_low: the video recorder's disk (another host) is 98% full;
- ops_apply_lag: the exchange's apply lag read 21 minutes when the demo was loaded (the watch
  job's next reading, once ``jcjg worker`` or the embedded worker runs, clears it as it would
  a real one).

Idempotent: nothing is planted twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.jobs import JobRun, JobSchedule
from jcjg.operations.models import Backup, Reading
from jcjg.operations.rules import APPLY_LAG, BACKLOG, DISK

RECORDER = "video-rec-01"
VIDEO = "/srv/jcjg/video"
GB = 1024**3
SMTP_ERROR = "smtplib.SMTPConnectError: (421, '连接邮件服务器 smtp.example.invalid:465 被拒绝')"


def load(db: Session, now: dt.datetime) -> None:
    if db.scalar(select(Backup.id).limit(1)) is None:
        three_days = now - dt.timedelta(days=3, hours=2)
        db.add(Backup(
            started_at=three_days, finished_at=three_days + dt.timedelta(minutes=6),
            status="succeeded", kind="postgresql",
            path="/srv/jcjg/backups/jcjg-" + three_days.strftime("%Y%m%dT%H%M%SZ"),
            size_bytes=int(3.4 * GB), files=18_240, ledger_size=48_100,
        ))  # fmt: skip
    if db.scalar(select(JobRun.id).where(JobRun.name == "notify.deliver").limit(1)) is None:
        if db.get(JobSchedule, "notify.deliver") is None:
            db.add(JobSchedule(name="notify.deliver", next_run_at=now))
            db.flush()
        for hours in (5, 3, 1):
            start = now - dt.timedelta(hours=hours)
            db.add(JobRun(name="notify.deliver", started_at=start, status="failed",
                          finished_at=start + dt.timedelta(seconds=31),
                          log=f"Traceback (most recent call last):\n{SMTP_ERROR}\n"))  # fmt: skip
    readings = (
        (RECORDER, f"{DISK}{VIDEO}", "视频录像", 38.0 * GB, 2048.0 * GB),
        ("", APPLY_LAG, "最早一条待处理消息已等待（秒）", 1_260.0, None),
        ("", BACKLOG, "待处理的报送消息（条）", 3_412.0, None),
    )
    for host, name, label, value, total in readings:
        if db.scalar(select(Reading.id).where(Reading.host == host, Reading.name == name)):
            continue
        db.add(Reading(host=host, name=name, label=label, value=value, total=total,
                       read_at=now - dt.timedelta(minutes=1)))  # fmt: skip
    db.flush()
