"""The SMTP server of the notification tests."""

from tests.notify.conftest import mail_settings, smtp  # noqa: F401  (fixtures)
