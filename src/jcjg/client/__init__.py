"""The lab's client for the platform's exchange API (needs only httpx and cryptography).

- :class:`Client`: signed requests (RFC 9421), ``send`` with receipt (v2) verification and,
  with ``wait``, following the message until it is applied; ``status``/``statuses``; and
  ``put_file`` (PUT, or resumable tus uploads for large files);
- :class:`Outbox` and :class:`Sender`: a durable SQLite outbox sent with retries, backoff and
  file uploads on demand, across restarts, each message followed to its final status;
- the ``jcjg-client`` command (:mod:`jcjg.client.cli`).

It imports nothing of the platform but the framework-free wire modules
(:mod:`jcjg.exchange.signatures`, :mod:`jcjg.exchange.digest`, :mod:`jcjg.ledger.canonical`,
:mod:`jcjg.ledger.merkle`), so a lab installs it without the server's dependencies.
"""

from jcjg.client.api import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_PUT_THRESHOLD,
    Client,
    MemoryUploadUrls,
    UploadUrls,
    file_sha256,
    with_message_id,
)
from jcjg.client.errors import (
    ClientError,
    FilesMissing,
    MessageRejected,
    PermanentError,
    ReceiptMismatch,
    TransientError,
)
from jcjg.client.outbox import (
    Outbox,
    OutboxMessage,
    Sender,
    SendReport,
    SentMessage,
    backoff_delay,
)
from jcjg.client.receipt import Inclusion, Receipt, Status, expected_entry, message_sha256

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_PUT_THRESHOLD",
    "Client",
    "ClientError",
    "FilesMissing",
    "Inclusion",
    "MemoryUploadUrls",
    "MessageRejected",
    "Outbox",
    "OutboxMessage",
    "PermanentError",
    "Receipt",
    "ReceiptMismatch",
    "SendReport",
    "Sender",
    "SentMessage",
    "Status",
    "TransientError",
    "UploadUrls",
    "backoff_delay",
    "expected_entry",
    "file_sha256",
    "message_sha256",
    "with_message_id",
]
