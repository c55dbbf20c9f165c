"""A real SMTP server (aiosmtpd) on a free port, and settings that send e-mail to it."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from tests.servers import free_port


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"


@pytest.fixture
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, box
    controller.stop()


@pytest.fixture
def mail_settings(settings, smtp):
    controller, _ = smtp
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": controller.port, "smtp_security": "none",
                "smtp_from": "jcjg@jianguan.example", "notify_digest_minutes": 10}
    )  # fmt: skip
