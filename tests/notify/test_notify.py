"""Notifications: a case's steps reach the right people's inboxes at once and their mailboxes
as one digest per period (a real SMTP server, aiosmtpd); preferences, quiet hours, failures
tried again; the SMS gateway's contract, against a gateway that checks it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from sqlalchemy import event, select

from jcjg.alerts import cases
from jcjg.alerts.choices import CaseAction
from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.core.db import utcnow
from jcjg.core.masking import mask_email, mask_phone
from jcjg.core.workdays import beijing_date
from jcjg.notify import service
from jcjg.notify.channels import DeliveryError, HttpSmsGateway, SmtpSender
from jcjg.notify.models import Delivery, Notification, NotifyPreference
from tests.factories import login, page_csrf
from tests.lists import sheet
from tests.servers import free_port

HTML = {"accept": "text/html"}


@pytest.fixture
def world(db, factory):
    lab = factory.institution(region_code="360403", name="九江通知测试检测站")
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab, email="lab@lab.example",
                         phone="13907920001")  # fmt: skip
    station = factory.user(Role.STATION, region_code="360400", email="zhan@jj.example")
    county = factory.user(Role.STATION, region_code="360403", email="qu@jj.example")
    elsewhere = factory.user(Role.STATION, region_code="360100", email="nc@nc.example")
    alert = factory.alert(lab, severity="warning")
    db.commit()
    return {"lab": lab, "staff": staff, "station": station, "county": county,
            "elsewhere": elsewhere, "alert": alert}  # fmt: skip


def _act(db, settings, user, alert, action, now, **extra):
    principal = principal_for(db=db, user=user, settings=settings)
    return cases.act(db=db, settings=settings, principal=principal, alert=alert, action=action,
                     now=now, **extra)  # fmt: skip


def _inbox(db, user) -> list[str]:
    db.expire_all()
    stmt = select(Notification.title).where(Notification.user_id == user.id)
    return list(db.scalars(stmt.order_by(Notification.id)))


def test_steps_reach_the_right_inboxes(db, settings, world):
    now = utcnow()
    alert, staff, station, county = (
        world["alert"],
        world["staff"],
        world["station"],
        world["county"],
    )
    _act(db, settings, station, alert, CaseAction.REQUIRE, now,
         deadline=beijing_date(now) + dt.timedelta(days=5),
         responsible=cases.responsible_choices(db, alert)[0])  # fmt: skip
    (told,) = _inbox(db, staff)
    assert told.startswith("整改要求：")
    assert "压力试验机 YAW-2000" in told
    assert _inbox(db, station) == []
    lab_staff = world["staff"]
    _act(db, settings, lab_staff, alert, CaseAction.RECTIFY, now, note="已送检",
         evidence=[cases.Upload("证书.pdf", b"%PDF-1.7\n%%EOF\n")])  # fmt: skip
    assert [t.split("：")[0] for t in _inbox(db, station)] == ["整改结果待复核"]
    assert [t.split("：")[0] for t in _inbox(db, county)] == ["整改结果待复核"]
    assert _inbox(db, world["elsewhere"]) == []
    # returned with a deadline that then lapses: escalated to the city, told there and the lab
    _act(db, settings, station, alert, CaseAction.RETURN, now, note="证书不全",
         deadline=beijing_date(now) + dt.timedelta(days=1))  # fmt: skip
    cases.escalate_overdue(db, now + dt.timedelta(days=3))
    escalated = "整改逾期，已升级督办"
    assert [t.split("：")[0] for t in _inbox(db, station)][-1] == escalated
    assert [t.split("：")[0] for t in _inbox(db, staff)][-1] == escalated
    assert escalated not in {t.split("：")[0] for t in _inbox(db, county)}  # not its region
    assert _inbox(db, world["elsewhere"]) == []


def test_the_job_sends_with_no_transaction_open(db, mail_settings, world):
    """The digest is stored (due now) and committed before the mail server is asked: no
    database transaction, on SQLite no write lock, waits for the network (issue 47)."""
    now = utcnow()
    for n in range(2):
        service.notify(db, [world["staff"]], kind="rectification", title=f"整改要求 {n}",
                       body="整改期限 2026-12-01", link="/alerts", now=now)  # fmt: skip
    db.commit()
    open_: list[bool] = [False]
    event.listen(db, "after_begin", lambda *_: open_.__setitem__(0, True))  # a connection's
    event.listen(db, "after_commit", lambda *_: open_.__setitem__(0, False))
    seen: list[bool] = []

    class Sender:
        def send(self, to: str, subject: str, body: str) -> str:
            seen.append(open_[0])
            return "<sent@test>"

    result = service.deliver(db, mail_settings, now, email=Sender(), sms=None,
                             before_sending=db.commit)  # fmt: skip
    db.commit()
    assert result.sent == 1
    assert seen == [False]
    delivery = db.scalars(select(Delivery)).one()
    assert (delivery.status, delivery.next_attempt_at) == ("sent", None)
    without: list[bool] = []
    Sender.send = lambda self, *a: without.append(open_[0]) or "<x>"  # type: ignore[method-assign]
    service.notify(db, [world["staff"]], kind="rectification", title="又一条", body="b",
                   link="/alerts", now=now + dt.timedelta(hours=1))  # fmt: skip
    service.deliver(db, mail_settings, now + dt.timedelta(hours=1), email=Sender(), sms=None)
    assert without == [True]  # (the check sees a transaction when there is one)


def test_one_digest_email_per_period(db, mail_settings, smtp, world):
    _, box = smtp
    now = utcnow()
    staff = world["staff"]
    for n in range(3):
        service.notify(db, [staff], kind="rectification", title=f"整改要求 {n}",
                       body="整改期限 2026-12-01", link=f"/alerts/{world['alert'].id}#case",
                       now=now)  # fmt: skip
    sender = SmtpSender(mail_settings)
    result = service.deliver(db, mail_settings, now, email=sender, sms=None)
    db.commit()
    assert result.sent == 1
    ((to, message),) = box.messages
    assert to == ["lab@lab.example"]
    assert "3 条新通知" in message["Subject"]
    assert "整改要求 3 条" in message["Subject"]
    text = message.get_content()
    assert "整改要求 0" in text
    assert "整改要求 2" in text
    assert f"http://testserver/alerts/{world['alert'].id}#case" in text
    assert "请登录平台查看和处理" in text
    delivery = db.scalars(select(Delivery)).one()
    assert delivery.status == "sent"
    assert len(delivery.notification_ids) == 3
    # within the period a new one waits; after it, it goes
    service.notify(db, [staff], kind="case", title="预警已办结", now=now + dt.timedelta(minutes=1))
    later = service.deliver(
        db, mail_settings, now + dt.timedelta(minutes=2), email=sender, sms=None
    )
    assert (later.sent, later.waiting) == (0, 1)
    after = service.deliver(db, mail_settings, now + dt.timedelta(minutes=11), email=sender,
                            sms=None)  # fmt: skip
    assert after.sent == 1
    assert len(box.messages) == 2
    assert "预警处理 1 条" in box.messages[1][1]["Subject"]
    # nothing is sent twice
    assert service.deliver(db, mail_settings, now + dt.timedelta(hours=1), email=sender,
                           sms=None).sent == 0  # fmt: skip


def test_preferences_and_quiet_hours(db, mail_settings, smtp, world):
    _, box = smtp
    staff, now = world["staff"], utcnow()
    sender = SmtpSender(mail_settings)
    pref = NotifyPreference(user_id=staff.id, email_on=True, rules=["report_late"],
                            quiet_start=dt.time(0, 0), quiet_end=dt.time(23, 59, 59))  # fmt: skip
    db.add(pref)
    db.flush()
    service.notify(db, [staff], kind="case", title="别的规则", rule_id="calibration_expired",
                   now=now)  # fmt: skip
    service.notify(db, [staff], kind="case", title="迟报", rule_id="report_late", now=now)
    result = service.deliver(db, mail_settings, now, email=sender, sms=None)
    assert (result.sent, result.waiting) == (0, 1)  # quiet hours: the wanted one waits
    service.notify(db, [staff], kind="escalation", title="升级督办", rule_id="report_late",
                   severity="critical", now=now)  # fmt: skip
    assert service.deliver(db, mail_settings, now, email=sender, sms=None).sent == 1
    subject = box.messages[0][1]["Subject"]
    assert "2 条新通知" in subject  # the critical one and the waiting one, not the other rule
    pref.email_on = False
    service.notify(db, [staff], kind="case", title="不发邮件", rule_id="report_late", now=now)
    later = now + dt.timedelta(hours=1)
    assert service.deliver(db, mail_settings, later, email=sender, sms=None).sent == 0
    assert len(box.messages) == 1
    assert all(n.emailed_at for n in db.scalars(select(Notification)))  # none left waiting


@pytest.mark.parametrize(
    ("start", "end", "at", "quiet"),
    [("22:00", "07:00", "23:30", True), ("22:00", "07:00", "06:59", True),
     ("22:00", "07:00", "07:00", False), ("12:00", "13:00", "12:30", True),
     ("12:00", "13:00", "14:00", False)],
)  # fmt: skip
def test_quiet_hours_in_beijing_time(start, end, at, quiet):
    pref = NotifyPreference(quiet_start=dt.time.fromisoformat(start),
                            quiet_end=dt.time.fromisoformat(end))  # fmt: skip
    beijing = dt.datetime.combine(dt.date(2026, 11, 21), dt.time.fromisoformat(at),
                                  tzinfo=dt.timezone(dt.timedelta(hours=8)))  # fmt: skip
    assert service.in_quiet_hours(pref, beijing.astimezone(dt.UTC)) is quiet


def test_failures_are_tried_again_then_given_up(db, mail_settings, smtp, world, refused_port):
    _, box = smtp
    staff, now = world["staff"], utcnow()
    down = SmtpSender(mail_settings.model_copy(update={"smtp_port": refused_port,
                                                       "smtp_timeout_seconds": 2}))  # fmt: skip
    service.notify(db, [staff], kind="case", title="一条通知", now=now)
    first = service.deliver(db, mail_settings, now, email=down, sms=None)
    assert first.failed == 1
    delivery = db.scalars(select(Delivery)).one()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == now + dt.timedelta(minutes=1)
    assert "SMTP" in delivery.last_error
    # not yet due: untouched; due: sent by the server that is back
    assert service.deliver(db, mail_settings, now, email=down, sms=None).failed == 0
    up = SmtpSender(mail_settings)
    assert service.deliver(db, mail_settings, now + dt.timedelta(minutes=2), email=up,
                           sms=None).sent == 1  # fmt: skip
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(box.messages) == 1
    # a message that never goes through is given up after the last retry
    service.notify(db, [staff], kind="case", title="另一条", now=now + dt.timedelta(hours=1))
    moment = now + dt.timedelta(hours=1)
    service.deliver(db, mail_settings, moment, email=down, sms=None)
    last = db.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
    for wait in service.RETRY_MINUTES:
        moment += dt.timedelta(minutes=wait)
        service.deliver(db, mail_settings, moment, email=down, sms=None)
    assert (last.status, last.attempts, last.next_attempt_at) == ("failed", 5, None)


class Refusing:
    """An SMTP server that knows no such user: the refusal names the recipient."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return f"550 5.1.1 <{address}>: no such user here"


def test_an_error_is_kept_with_the_address_masked(db, mail_settings, world):
    """A refused recipient comes back in the server's answer; the delivery log, which other
    users read, keeps it masked."""
    from aiosmtpd.controller import Controller

    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sender = SmtpSender(mail_settings.model_copy(update={"smtp_port": controller.port}))
        service.notify(db, [world["staff"]], kind="case", title="一条通知", now=utcnow())
        assert service.deliver(db, mail_settings, utcnow(), email=sender, sms=None).failed == 1
    finally:
        controller.stop()
    delivery = db.scalars(select(Delivery)).one()
    assert "550" in delivery.last_error
    assert "lab@lab.example" not in delivery.last_error
    assert mask_email("lab@lab.example") in delivery.last_error
    assert service.scrub("网关：13907920001 不是有效号码", "13907920001") == (
        f"网关：{mask_phone('13907920001')} 不是有效号码"
    )


class Gateway(BaseHTTPRequestHandler):
    """A stand-in SMS gateway that holds the platform to the documented contract."""

    key = b""
    received: ClassVar[list] = []
    fail_with = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(self.key, body, hashlib.sha256).hexdigest()
        if self.headers.get("X-JCJG-Signature") != expected:
            return self._answer(401, {"accepted": False, "error": "bad signature"})
        if self.headers.get("Content-Type") != "application/json":
            return self._answer(415, {"accepted": False})
        data = json.loads(body)
        if set(data) != {"message_id", "phone", "text"} or not data["phone"].isdigit():
            return self._answer(400, {"accepted": False})
        if Gateway.fail_with:
            return self._answer(Gateway.fail_with, {"accepted": False})
        Gateway.received.append(data)
        return self._answer(200, {"accepted": True})

    def _answer(self, status, payload):
        out = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def gateway():
    Gateway.key, Gateway.received, Gateway.fail_with = b"gateway-key", [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/sms"
    server.shutdown()
    server.server_close()


def test_the_sms_gateway_contract(gateway, refused_port):
    good = HttpSmsGateway(gateway, "gateway-key")
    good.send("jcjg-1", "13907920001", "【平台】您有1条新通知")
    assert Gateway.received == [
        {"message_id": "jcjg-1", "phone": "13907920001", "text": "【平台】您有1条新通知"}
    ]
    with pytest.raises(DeliveryError, match="401"):
        HttpSmsGateway(gateway, "wrong-key").send("jcjg-2", "13907920001", "x")
    Gateway.fail_with = 503
    with pytest.raises(DeliveryError, match="503"):
        good.send("jcjg-3", "13907920001", "x")
    with pytest.raises(DeliveryError, match="不可达"):
        HttpSmsGateway(f"http://127.0.0.1:{refused_port}/sms", "k", timeout=2).send("a", "1", "x")


def test_a_digest_by_sms(db, settings, gateway, world):
    staff, now = world["staff"], utcnow()
    db.add(NotifyPreference(user_id=staff.id, email_on=False, sms_on=True))
    db.flush()
    for title in ("整改要求：甲", "整改要求：乙", "预警已办结：丙"):
        kind = "case" if "办结" in title else "rectification"
        service.notify(db, [staff], kind=kind, title=title, now=now)
    result = service.deliver(db, settings, now, email=None,
                             sms=HttpSmsGateway(gateway, "gateway-key"))  # fmt: skip
    assert result.sent == 1
    (sms,) = Gateway.received
    assert sms["phone"] == "13907920001"
    assert "3条新通知" in sms["text"]
    assert "整改要求 2 条" in sms["text"]
    assert sms["text"].endswith("/inbox")


def test_inbox_and_settings_pages(browser_client, db, factory, world):
    staff = world["staff"]
    now = utcnow()
    service.notify(db, [staff], kind="rectification", title="整改要求：压力试验机",
                   link=f"/alerts/{world['alert'].id}#case", now=now)  # fmt: skip
    service.notify(db, [world["station"]], kind="case", title="别人的通知", now=now)
    db.add(Delivery(user_id=staff.id, channel="email", address="lab@lab.example",
                    subject="【平台】1 条新通知", body="…", status="sent",
                    created_at=now))  # fmt: skip
    db.commit()
    login(browser_client, staff.username)
    page = browser_client.get("/inbox", headers=HTML).text
    assert "整改要求：压力试验机" in page
    assert "别人的通知" not in page
    assert "1 条未读" in page
    # a list as the others: by kind and state, exported with its filters, only one's own
    assert "整改要求：压力试验机" not in browser_client.get("/inbox?kind=case").text
    assert "整改要求：压力试验机" not in browser_client.get("/inbox?state=read").text
    assert "整改要求：压力试验机" in browser_client.get("/inbox?state=unread").text
    assert browser_client.get("/inbox?kind=no_such", headers=HTML).status_code == 422
    assert browser_client.get("/inbox?state=all", headers=HTML).status_code in (400, 422)
    rows = sheet(browser_client.get("/inbox?kind=rectification&format=xlsx"))
    assert rows[0] == ["时间", "类别", "通知", "说明", "状态"]
    assert [r[2] for r in rows[1:]] == ["整改要求：压力试验机"]
    assert rows[1][4] == "未读"
    assert len(sheet(browser_client.get("/inbox?kind=case&format=xlsx"))) == 1  # header only
    token = page_csrf(browser_client, "/inbox")
    assert browser_client.post("/inbox/read", data={"csrf_token": token},
                               follow_redirects=False).status_code == 303  # fmt: skip
    assert "条未读" not in browser_client.get("/inbox", headers=HTML).text
    assert browser_client.post("/inbox/read", data={"csrf_token": token, "id": "x1"},
                               headers=HTML).status_code == 422  # fmt: skip
    settings_page = browser_client.get("/account/notifications", headers=HTML).text
    assert mask_email("lab@lab.example") in settings_page  # the account's and the log's
    assert "lab@lab.example" not in settings_page
    assert mask_phone("13907920001") in settings_page
    assert "13907920001" not in settings_page
    token = page_csrf(browser_client, "/account/notifications")
    bad = browser_client.post("/account/notifications", headers=HTML, data={
        "csrf_token": token, "email_on": "1", "quiet_start": "25:00",
        "quiet_end": "07:00"})  # fmt: skip
    assert bad.status_code == 422
    assert "时间应为" in bad.text
    saved = browser_client.post("/account/notifications", follow_redirects=False, data={
        "csrf_token": token, "sms_on": "1", "rules": ["report_late", "calibration_expired"],
        "quiet_start": "22:00", "quiet_end": "07:00"})  # fmt: skip
    assert saved.status_code == 303
    db.expire_all()
    pref = db.scalars(select(NotifyPreference).where(NotifyPreference.user_id == staff.id)).one()
    assert (pref.email_on, pref.sms_on) == (False, True)
    assert pref.rules == ["calibration_expired", "report_late"]
    assert (pref.quiet_start, pref.quiet_end) == (dt.time(22, 0), dt.time(7, 0))
    unknown = browser_client.post("/account/notifications", headers=HTML, data={
        "csrf_token": token, "rules": ["no_such_rule"]})  # fmt: skip
    assert unknown.status_code == 422


def test_the_delivery_log_for_administrators(browser_client, db, factory, world):
    """Platform administrators and auditors read every message sent within their scope, with
    its outcome; addresses are masked; filters and counts agree; others may not read it."""
    now = utcnow()
    rows = [
        (world["staff"], "email", "lab@lab.example", "sent", 1, ""),
        (world["staff"], "sms", "13907920001", "pending", 2, "网关无应答"),
        (world["station"], "email", "zhan@jj.example", "failed", 5, "550 mailbox unavailable"),
        (world["elsewhere"], "email", "nc@nc.example", "sent", 1, ""),
    ]
    for user, channel, address, status, attempts, error in rows:
        db.add(Delivery(user_id=user.id, channel=channel, address=address, subject="【平台】新通知",
                        body="…", status=status, attempts=attempts, last_error=error,
                        created_at=now, next_attempt_at=now if status == "pending" else None,
                        sent_at=now if status == "sent" else None))  # fmt: skip
    db.commit()

    def counts(page: str) -> dict[str, int]:
        return {s: int(page.split(f'data-testid="count-{s}" data-count="')[1].split('"')[0])
                for s in ("sent", "pending", "failed")}  # fmt: skip

    admin = factory.user(Role.PLATFORM_ADMIN)
    login(browser_client, admin.username)
    page = browser_client.get("/admin/deliveries", headers=HTML)
    assert page.status_code == 200
    assert counts(page.text) == {"sent": 2, "pending": 1, "failed": 1}
    assert "共 4 条" in page.text.split('data-testid="deliveries"')[1]
    for _, channel, address, *_ in rows:
        assert address not in page.text
        masked = mask_email(address) if channel == "email" else mask_phone(address)
        assert masked in page.text
    assert "550 mailbox unavailable" in page.text
    assert "（第 5 次）" in page.text
    failed = browser_client.get("/admin/deliveries?status=failed", headers=HTML).text
    assert "共 1 条" in failed.split('data-testid="deliveries"')[1]
    assert mask_email("zhan@jj.example") in failed
    assert mask_email("lab@lab.example") not in failed
    sms = browser_client.get("/admin/deliveries?channel=sms", headers=HTML).text
    assert counts(sms) == {"sent": 0, "pending": 1, "failed": 0}
    by_user = browser_client.get(f"/admin/deliveries?q={world['elsewhere'].username.upper()}").text
    assert "共 1 条" in by_user.split('data-testid="deliveries"')[1]
    assert mask_email("nc@nc.example") in by_user
    assert browser_client.get("/admin/deliveries?status=lost").status_code == 400
    assert "共 0 条" in browser_client.get("/admin/deliveries?q=%25").text  # no wildcard

    browser_client.cookies.clear()
    auditor = factory.user(Role.AUDITOR, region_code="360400")  # Jiujiang: not Nanchang's
    login(browser_client, auditor.username)
    page = browser_client.get("/admin/deliveries", headers=HTML).text
    assert counts(page) == {"sent": 1, "pending": 1, "failed": 1}
    assert mask_email("nc@nc.example") not in page

    browser_client.cookies.clear()
    login(browser_client, world["station"].username)
    assert browser_client.get("/admin/deliveries", headers=HTML).status_code == 403
