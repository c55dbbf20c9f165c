"""Operator alerts (docs/operations/monitoring.md, 运维预警): the job ``operations.watch`` reads
this host's disks and the apply lag, runs the rules ``ops_*`` (each: a case that fires and one
that does not), tells the platform's administrators of a new alert, which reaches one by e-mail
(a real SMTP server); the operations page shows the parts and sets the thresholds."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import JobRun, JobSchedule
from jcjg.notify import service as notify_service
from jcjg.notify.channels import SmtpSender
from jcjg.notify.models import Notification
from jcjg.operations import watch
from jcjg.operations.models import Backup, Reading, Threshold
from jcjg.operations.rules import DISK
from tests.exchange.conftest import make_lims
from tests.factories import Factory, login, page_csrf

pytestmark = pytest.mark.sqlite
LAB = {
    "name": "力学室",
    "address": "九江市长虹大道 1 号",
    "area_m2": "100.00",
    "specialties": ["01"],
}


def _open(db: Session, rule_id: str) -> list[Alert]:
    db.expire_all()
    return list(db.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open")))


def test_an_apply_lag_is_read_alerted_and_mailed_to_the_operators(
    client: TestClient, db: Session, settings: Settings, factory: Factory, smtp
) -> None:
    controller, box = smtp
    admin = factory.user(Role.PLATFORM_ADMIN)
    admin.email = "ops@jianguan.example"
    factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")  # not an operator
    lims = make_lims(db, settings, factory)
    now = utcnow()
    db.add(Backup(started_at=now, finished_at=now, status="succeeded", kind="sqlite"))
    db.commit()
    assert watch.run(db, settings, now) == []
    assert _open(db, "ops_apply_lag") == []

    sent = lims.post_raw(client, "registry.labs", lims.message(labs=[LAB]))
    assert sent.status_code == 202, sent.text
    later = now + dt.timedelta(minutes=2)
    assert watch.run(db, settings, later) == []  # 2 minutes: within the 5
    lag = db.scalar(select(Reading).where(Reading.name == "exchange:apply_lag"))
    assert lag is not None
    assert lag.value >= 100

    much_later = now + dt.timedelta(minutes=8)
    (raised,) = watch.run(db, settings, much_later)
    assert raised.rule_id == "ops_apply_lag"
    assert raised.facts["待处理条数"] == 1
    told = db.scalars(select(Notification).where(Notification.kind == "ops")).all()
    assert [n.user_id for n in told] == [admin.id]
    assert told[0].title == "运维预警：报送数据处理滞后"
    assert watch.run(db, settings, much_later + dt.timedelta(minutes=1)) == []  # told once

    mail = settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": controller.port, "smtp_security": "none",
        "smtp_from": "jcjg@jianguan.example"})  # fmt: skip
    result = notify_service.deliver(db, mail, much_later, email=SmtpSender(mail), sms=None)
    db.commit()
    assert result.sent == 1
    ((to, message),) = box.messages
    assert to == ["ops@jianguan.example"]
    assert "运维预警 1 条" in message["Subject"]
    assert "报送数据处理滞后" in message.get_content()

    from tests.exchange.conftest import apply_waiting

    apply_waiting(client)
    watch.run(db, settings, much_later + dt.timedelta(minutes=2))
    assert _open(db, "ops_apply_lag") == []  # applied: the alert closes


def test_a_job_failing_again_and_again(db: Session) -> None:
    now = utcnow()
    db.add(JobSchedule(name="notify.deliver", next_run_at=now))
    db.flush()
    for hours in (30, 5, 3):  # one outside the 24 hours
        db.add(JobRun(name="notify.deliver", started_at=now - dt.timedelta(hours=hours),
                      status="failed", log="smtplib.SMTPConnectError: 421"))  # fmt: skip
    db.flush()
    run_rule(db, "ops_job_failing", now=now)
    assert _open(db, "ops_job_failing") == []
    db.add(JobRun(name="notify.deliver", started_at=now - dt.timedelta(hours=1), status="failed",
                  log="Traceback\nsmtplib.SMTPConnectError: 421 拒绝"))  # fmt: skip
    db.flush()
    run_rule(db, "ops_job_failing", now=now)
    (alert,) = _open(db, "ops_job_failing")
    assert alert.subject_repr == "定时任务：发送通知（邮件、短信）"
    assert alert.facts["最近的错误"] == "smtplib.SMTPConnectError: 421 拒绝"


def test_a_disk_low_on_any_host_and_its_threshold_as_data(db: Session) -> None:
    now = utcnow()
    gb = 1024.0**3
    db.add(Reading(host="video-rec-01", name=f"{DISK}/srv/video", label="视频录像",
                   value=300 * gb, total=2048 * gb, read_at=now))  # fmt: skip
    db.flush()
    run_rule(db, "ops_disk_low", now=now)  # 14.6% free
    assert _open(db, "ops_disk_low") == []
    db.add(Threshold(rule_id="ops_disk_low", key="free_percent", value=20))
    db.flush()
    run_rule(db, "ops_disk_low", now=now)
    (alert,) = _open(db, "ops_disk_low")
    assert alert.subject_repr == "视频录像（video-rec-01：/srv/video）"
    assert alert.facts["总容量"] == "2.0 TB"


def test_a_backup_never_made_or_too_old(db: Session) -> None:
    now = utcnow()
    run_rule(db, "ops_backup_stale", now=now)
    (alert,) = _open(db, "ops_backup_stale")
    assert alert.facts["最近一次成功备份"] == "从未"
    db.add(Backup(started_at=now - dt.timedelta(hours=2), finished_at=now - dt.timedelta(hours=2),
                  status="succeeded", kind="sqlite"))  # fmt: skip
    db.flush()
    run_rule(db, "ops_backup_stale", now=now)
    assert _open(db, "ops_backup_stale") == []
    run_rule(db, "ops_backup_stale", now=now + dt.timedelta(hours=27))
    (late,) = _open(db, "ops_backup_stale")
    assert late.facts["最近一次成功备份"] != "从未"


def _main(html: str) -> str:
    found = re.search(r"<main\b.*?</main>", html, re.S)
    assert found
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[0]))


def test_the_operations_page_shows_the_parts_and_sets_the_thresholds(
    browser_client: TestClient, db: Session, settings: Settings, factory: Factory
) -> None:
    http = browser_client
    watch.run(db, settings, utcnow())
    db.commit()
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(http, admin.username)
    csrf = page_csrf(http)
    page = http.get("/ops")
    assert page.status_code == 200
    text = _main(page.text)
    for shown in (
        "运维预警",
        "备份过期",
        "从未成功备份",
        "数据目录",
        "定时任务",
        "可用空间百分比下限",
    ):
        assert shown in text, shown
    assert not re.search(r"ops_|free_percent|apply_lag|succeeded|failed", text)
    assert re.search(r'<table class="[^"]*\blist-cards\b', page.text)  # cards on a phone

    fields = {f"{rule}.{key}": "1" for rule, key in (
        ("ops_apply_lag", "minutes"), ("ops_backup_stale", "hours"),
        ("ops_disk_low", "free_percent"), ("ops_job_failing", "failures"),
        ("ops_job_failing", "hours"))}  # fmt: skip
    bad = http.post("/ops/thresholds", data={"csrf_token": csrf, **fields,
                                             "ops_disk_low.free_percent": "十"})  # fmt: skip
    assert bad.status_code == 422
    assert "可用空间百分比下限：请填写数字" in bad.text
    assert db.scalars(select(Threshold)).all() == []
    done = http.post("/ops/thresholds", data={"csrf_token": csrf, **fields,
                                              "ops_disk_low.free_percent": "15"},
                     follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    db.expire_all()
    saved = {(t.rule_id, t.key): t.value for t in db.scalars(select(Threshold))}
    assert saved[("ops_disk_low", "free_percent")] == 15
    assert 'value="15"' in http.get("/ops").text

    http.cookies.clear()
    login(http, factory.user(Role.AUDITOR).username)
    csrf = page_csrf(http)
    assert http.get("/ops").status_code == 200
    refused = http.post("/ops/thresholds", data={"csrf_token": csrf, **fields})
    assert refused.status_code == 403
    http.cookies.clear()
    login(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    assert http.get("/ops").status_code == 403


def test_an_alert_the_daily_sweep_opened_is_told_by_the_next_watch(
    db: Session, settings: Settings, factory: Factory
) -> None:
    admin = factory.user(Role.PLATFORM_ADMIN)
    now = utcnow()
    run_rule(db, "ops_backup_stale", now=now - dt.timedelta(minutes=3))  # as alerts.sweep would
    (raised,) = watch.run(db, settings, now)
    assert raised.rule_id == "ops_backup_stale"
    told = db.scalars(select(Notification).where(Notification.kind == "ops")).all()
    assert [(n.user_id, n.link) for n in told] == [(admin.id, f"/alerts/{raised.id}")]
    assert watch.run(db, settings, now + dt.timedelta(minutes=1)) == []


def test_a_disk_no_longer_watched_is_forgotten(db: Session, settings: Settings) -> None:
    host = watch.host_name()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db.add(Reading(host=host, name=f"{DISK}/mnt/old-backups", label="备份目录", value=1.0,
                   total=100.0, read_at=utcnow()))  # fmt: skip
    db.flush()
    watch.run(db, settings, utcnow())
    names = db.scalars(select(Reading.name).where(Reading.host == host)).all()
    assert f"{DISK}/mnt/old-backups" not in names
    assert any(name.startswith(DISK) for name in names)  # the data folder's disk
    assert all("/mnt/old-backups" not in a.subject_repr for a in _open(db, "ops_disk_low"))
