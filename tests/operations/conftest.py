"""A real SMTP server (aiosmtpd) for the operator alerts' e-mail: the notify tests' fixture."""

from tests.notify.conftest import smtp  # noqa: F401 (a fixture, registered by being here)
