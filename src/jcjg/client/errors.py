"""What can go wrong when talking to the platform, sorted by what the caller should do next.

The split follows the platform's promise that a message is idempotent under its ``message_id``:

- :class:`TransientError`: nothing is known to have failed for good (the network, a 5xx, 408,
  429). Sending the *same* message again later is safe and is the right thing to do; the
  outbox does it with backoff, honouring ``retry_after`` when the server gave one.
- :class:`FilesMissing`: the message is fine but refers (by SHA-256) to files this client has
  not uploaded yet. Upload them and send again right away; no waiting helps.
- :class:`PermanentError`: the server refused the message itself (schema, signature, another
  institution, a conflicting body under the same id...). Sending it again will fail the same
  way, so a person has to look; the problem document (RFC 9457) says why.
- :class:`ReceiptMismatch`: the server answered 200 but its receipt does not notarise what was
  sent. That is worse than a refusal, since the lab cannot prove what it reported; it is
  permanent and kept for a person.
"""

from __future__ import annotations

from typing import Any

FILES_MISSING_TYPE = "/problems/exchange-files-missing"


class ClientError(Exception):
    """Any failure of a request to the platform; ``problem`` is the RFC 9457 document (the
    server's, or one the client made up for a local cause) and ``status`` the HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        problem: dict[str, Any] | None = None,
        status: int | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.problem: dict[str, Any] = problem if problem is not None else {}
        self.status = status
        self.message_id = message_id

    @property
    def type(self) -> str | None:
        """The problem's stable ``type`` (``/problems/exchange-...``), the part to branch on."""
        value = self.problem.get("type")
        return value if isinstance(value, str) else None


class TransientError(ClientError):
    """Try again later: a network failure, a timeout, 408, 429 or 5xx. ``retry_after`` is the
    server's Retry-After in seconds, when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        problem: dict[str, Any] | None = None,
        status: int | None = None,
        message_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, problem=problem, status=status, message_id=message_id)
        self.retry_after = retry_after


class PermanentError(ClientError):
    """The server refused for a reason that sending again will not change."""


class FilesMissing(ClientError):
    """422 ``exchange-files-missing``: upload the files in ``missing`` (SHA-256 hex), then send
    the same message again."""

    def __init__(
        self,
        missing: list[str],
        *,
        problem: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(
            f"{len(missing)} referenced file(s) not uploaded yet: {', '.join(missing)}",
            problem=problem,
            status=422,
            message_id=message_id,
        )
        self.missing = missing


class ReceiptMismatch(PermanentError):
    """A receipt that does not notarise the message that was sent (or is not a receipt)."""

    def __init__(
        self,
        reason: str,
        *,
        receipt: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(
            f"receipt does not match the message: {reason}",
            problem={
                "type": "urn:jcjg:client:receipt-mismatch",
                "title": "回执与所发消息不符",
                "detail": reason,
                "receipt": receipt,
            },
            status=None,
            message_id=message_id,
        )
        self.reason = reason
        self.receipt = receipt


class MessageRejected(PermanentError):
    """The platform accepted the message but refused it when applying it (a commission that
    does not exist, a record that may not be overwritten): ``problem`` says why. Sending it
    again gives the same answer; a corrected message needs a new ``message_id``."""
