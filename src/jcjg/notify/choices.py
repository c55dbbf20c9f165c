"""Channels and delivery outcomes of notifications."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"

    @property
    def label(self) -> str:
        return {Channel.EMAIL: "电子邮件", Channel.SMS: "短信"}[self]


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # failed so far; tried again at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # given up after the last attempt

    @property
    def label(self) -> str:
        return {
            DeliveryStatus.PENDING: "待重试",
            DeliveryStatus.SENT: "已发送",
            DeliveryStatus.FAILED: "发送失败",
        }[self]
