"""How messages leave the platform: e-mail over SMTP (the standard library's ``smtplib``, plain,
STARTTLS or TLS, with login when configured) and SMS through an HTTP gateway behind
:class:`SmsGateway`, so a province's own SMS service can replace :class:`HttpSmsGateway`.

The HTTP gateway's contract (``docs/notify.md``): ``POST {JCJG_SMS_GATEWAY_URL}`` with JSON
``{"message_id", "phone", "text"}``, headers ``Content-Type: application/json`` and
``X-JCJG-Signature: sha256=<hex HMAC-SHA256 of the body with JCJG_SMS_GATEWAY_KEY>``; a 2xx
answer with JSON ``{"accepted": true}`` is sent; anything else is a failure tried again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol

import httpx

from jcjg.config import Settings


class DeliveryError(Exception):
    """A channel could not send (worth trying again later)."""


class EmailSender(Protocol):
    def send(self, to: str, subject: str, body: str) -> str: ...  # returns a message id


class SmsGateway(Protocol):
    def send(self, message_id: str, phone: str, text: str) -> None: ...


class SmtpSender:
    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("JCJG_SMTP_HOST is not set")
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> str:
        s = self.settings
        message = EmailMessage()
        message["From"] = formataddr((s.platform_name, s.smtp_from))
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=s.smtp_from.rpartition("@")[2] or None)
        message.set_content(body, charset="utf-8")
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if s.smtp_security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_seconds, context=context
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_seconds)
            with smtp:
                if s.smtp_security == "starttls":
                    smtp.starttls(context=context)
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP: {exc}"[:500]) from exc
        return str(message["Message-ID"])


class HttpSmsGateway:
    def __init__(self, url: str, key: str, timeout: float = 10.0) -> None:
        self.url = url
        self.key = key.encode()
        self.timeout = timeout

    def signature(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.key, body, hashlib.sha256).hexdigest()

    def send(self, message_id: str, phone: str, text: str) -> None:
        body = json.dumps(
            {"message_id": message_id, "phone": phone, "text": text}, ensure_ascii=False
        ).encode()
        headers = {"Content-Type": "application/json", "X-JCJG-Signature": self.signature(body)}
        try:
            answer = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"短信网关不可达：{exc}"[:500]) from exc
        if not answer.is_success:
            raise DeliveryError(f"短信网关答复 {answer.status_code}：{answer.text[:200]}")
        try:
            accepted = answer.json().get("accepted") is True
        except ValueError:
            accepted = False
        if not accepted:
            raise DeliveryError(f"短信网关未受理：{answer.text[:200]}")


def email_sender(settings: Settings) -> EmailSender | None:
    return SmtpSender(settings) if settings.smtp_host else None


def sms_gateway(settings: Settings) -> SmsGateway | None:
    if not settings.sms_gateway_url:
        return None
    return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_key or "")
