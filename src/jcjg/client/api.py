"""The lab's HTTP client for the platform's exchange API: signed messages, verified receipts,
and files by PUT or resumable tus upload.

Every request is signed (RFC 9421, :mod:`jcjg.client.signing`) over the exact URL string that
is sent, so the client builds each URL once, normalised the way httpx sends it (lower-case
host, no default port), and signs and sends that same string.

Messages go out as their RFC 8785 canonical JSON. The platform hashes the canonical form of
what it parses, so sending canonical bytes means the lab's hash, the platform's hash and the
bytes on the wire are one and the same, and every receipt can be checked here before it is
believed (:meth:`Receipt.verify`).
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import functools
import hashlib
import mimetypes
import os
import re
import ssl
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg import __version__
from jcjg.client.errors import (
    FILES_MISSING_TYPE,
    ClientError,
    FilesMissing,
    MessageRejected,
    PermanentError,
    ReceiptMismatch,
    TransientError,
)
from jcjg.client.receipt import Receipt, Status, normal_message_id
from jcjg.client.signing import infer_alg, load_key, signed_headers
from jcjg.ledger.canonical import canonical_json

DEFAULT_TIMEOUT = 30.0
DEFAULT_PUT_THRESHOLD = 8 * 1024 * 1024
"""Files up to this size go in one PUT; larger ones by tus, so a cut connection costs a chunk."""
DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
TUS_VERSION = "1.0.0"
OFFSET_MEDIA = "application/offset+octet-stream"
MESSAGES_PATH = "/exchange/v1/messages/"
STATUS_PATH = "/exchange/v1/status"
BLOBS_PATH = "/exchange/v1/blobs/"
UPLOADS_PATH = "/exchange/v1/uploads/"
_MESSAGE_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_RESYNC_LIMIT = 3
"""How often one upload call re-reads the offset after a 409 before giving up (transiently)."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The trust httpx would build for each client (certifi's roots, or SSL_CERT_FILE and
    SSL_CERT_DIR), built once per process: building it reads the whole bundle, 30-80 ms, which
    a sender opening a client per batch or per session paid every time."""
    return httpx.create_ssl_context()


class UploadUrls(Protocol):
    """Where the client remembers the tus upload URL of each file (by SHA-256) until the upload
    completes, so that an interrupted upload resumes instead of starting over."""

    def get(self, sha256: str) -> str | None: ...

    def set(self, sha256: str, url: str) -> None: ...

    def delete(self, sha256: str) -> None: ...


class MemoryUploadUrls:
    """Upload URLs kept for the life of the process (the outbox keeps them in its file)."""

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}

    def get(self, sha256: str) -> str | None:
        return self._urls.get(sha256)

    def set(self, sha256: str, url: str) -> None:
        self._urls[sha256] = url

    def delete(self, sha256: str) -> None:
        self._urls.pop(sha256, None)


def with_message_id(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` with a fresh UUID as ``message_id`` when it has none.

    The id is what makes a resend safe (the platform answers ``duplicate`` for the same id and
    body), so a caller who may resend after a network error should take the id from here, or
    from the error's ``message_id``, and keep it. An id that is not a UUID raises ValueError
    now rather than 422 later.
    """
    message = dict(payload)
    value = message.get("message_id")
    if value is None:
        message["message_id"] = str(uuid.uuid4())
    elif isinstance(value, uuid.UUID):
        message["message_id"] = str(value)  # JSON has no UUIDs: send its usual text
    else:
        normal_message_id(value)
    return message


def file_sha256(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The hex SHA-256 and size of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP date; None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The response's RFC 9457 problem document, or one built from its status line."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    return {
        "type": "about:blank",
        "title": response.reason_phrase,
        "status": response.status_code,
        "detail": response.text[:500] if response.content else None,
    }


def error_for(response: httpx.Response, *, message_id: str | None = None) -> ClientError:
    """The exception for an unsuccessful response: transient for 408, 429 (with Retry-After)
    and 5xx, FilesMissing for 422 ``exchange-files-missing``, permanent for the rest."""
    status = response.status_code
    problem = problem_of(response)
    text = problem.get("detail") or problem.get("title") or response.reason_phrase
    summary = f"{response.request.method} {response.request.url}: {status} {text}"
    if status in (408, 429) or status >= 500:
        return TransientError(
            summary,
            problem=problem,
            status=status,
            message_id=message_id,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if status == 422 and problem.get("type") == FILES_MISSING_TYPE:
        missing = problem.get("missing")
        if isinstance(missing, list) and all(isinstance(m, str) for m in missing):
            return FilesMissing([str(m) for m in missing], problem=problem, message_id=message_id)
    return PermanentError(summary, problem=problem, status=status, message_id=message_id)


def local_problem(slug: str, title: str, detail: str) -> dict[str, Any]:
    """A problem document for a failure found on the lab's side (not sent by the server)."""
    return {"type": f"urn:jcjg:client:{slug}", "title": title, "detail": detail}


class Client:
    """A signing client for one key of one lab system.

    ``private_key_or_secret`` is what the platform issued: an ``Ed25519PrivateKey`` or its
    PEM (``ed25519``), or the HMAC secret as bytes or as the base64 text ``jcjg clients
    create`` prints (``hmac-sha256``). Without ``alg`` the algorithm is inferred from that
    (:func:`jcjg.client.signing.infer_alg`); 32 raw bytes could be either kind, so they need
    ``alg``, as does the base64 of an Ed25519 seed. ``transport`` is handed to httpx (tests
    pass an ``httpx.MockTransport``). ``log_key`` is the ledger's verifier key (the text of
    ``GET /ledger/key``, obtained once out of band): with it each receipt's note signature is
    verified, so that nothing answering in the platform's place can forge a receipt.
    """

    def __init__(
        self,
        base_url: str,
        key_id: str,
        private_key_or_secret: str | bytes | Ed25519PrivateKey,
        *,
        alg: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        put_threshold: int = DEFAULT_PUT_THRESHOLD,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        upload_urls: UploadUrls | None = None,
        log_key: str | None = None,
    ) -> None:
        if chunk_size < 1 or put_threshold < 0:
            raise ValueError("chunk_size must be positive and put_threshold not negative")
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.log_key = log_key
        self.alg = alg or infer_alg(private_key_or_secret)
        self._key = load_key(self.alg, private_key_or_secret)
        self.put_threshold = put_threshold
        self.chunk_size = chunk_size
        self.upload_urls: UploadUrls = upload_urls or MemoryUploadUrls()
        self._http = httpx.Client(
            transport=transport,
            verify=tls_context(),
            timeout=timeout,
            headers={"User-Agent": f"jcjg-client/{__version__}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- requests ----------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """The absolute URL, as httpx will send it (and so as it must be signed)."""
        if "://" not in path_or_url:
            path_or_url = self.base_url + path_or_url
        return str(httpx.URL(path_or_url))

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        message_id: str | None = None,
    ) -> httpx.Response:
        """Send one signed request; network failures raise TransientError. The response is
        returned whatever its status (callers decide what is an error)."""
        url = self.url(path_or_url)
        signed = signed_headers(
            method,
            url,
            key_id=self.key_id,
            key=self._key,
            body=body,
            content_type=content_type,
            headers=headers,
        )
        try:
            return self._http.request(method, url, content=body, headers=signed)
        except httpx.TransportError as exc:
            raise TransientError(
                f"{method} {url}: {type(exc).__name__}: {exc}", message_id=message_id
            ) from exc

    # --- messages ----------------------------------------------------------------------------

    def send(
        self,
        message_type: str,
        payload: Mapping[str, Any],
        *,
        wait: float = 0,
        poll: float = 0.2,
    ) -> Receipt:
        """Send one message and return its verified receipt (v2).

        The payload is sent as its canonical JSON; a payload without ``message_id`` is sent
        with a fresh one (see :func:`with_message_id`). Raises TransientError (send the same
        message again later), FilesMissing (upload ``missing``, then send again),
        PermanentError, or ReceiptMismatch when the receipt does not notarise this message.

        The platform applies a message after answering. With ``wait`` (seconds) the client
        follows it until it is applied (the receipt's ``outcome`` then holds the status with
        its ``results`` and ``warnings``) or rejected (MessageRejected with the problem); when
        the wait ends first, ``outcome`` is the status as it stands (``accepted``).
        """
        check_message_type(message_type)
        message = with_message_id(payload)
        body = canonical_json(message)
        message_id = normal_message_id(message["message_id"])
        response = self.request(
            "POST",
            MESSAGES_PATH + message_type,
            body=body,
            content_type="application/json",
            message_id=message_id,
        )
        if not response.is_success:
            raise error_for(response, message_id=message_id)
        try:
            data = response.json()
        except ValueError as exc:
            raise ReceiptMismatch("the answer is not JSON", message_id=message_id) from exc
        receipt = Receipt.from_json(data)
        receipt.verify(message, key_id=self.key_id, message_type=message_type, log_key=self.log_key)
        if wait <= 0:
            return receipt
        return self.follow(receipt, wait=wait, poll=poll)

    def follow(self, receipt: Receipt, *, wait: float, poll: float = 0.2) -> Receipt:
        """Poll the message's status until it is final or ``wait`` seconds have passed; the
        receipt with that status as its ``outcome``. MessageRejected when it was rejected."""
        deadline = time.monotonic() + wait
        delay = min(poll, 0.05)
        while True:
            status = self.status(receipt.message_type, receipt.message_id)
            if status.final or time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, poll)
        if status.status == "rejected":
            problem = status.problem or {}
            raise MessageRejected(
                f"{receipt.message_type} {receipt.message_id} rejected: "
                f"{problem.get('title', '')} {problem.get('detail', '')}".strip(),
                problem=problem,
                status=problem.get("status") if isinstance(problem.get("status"), int) else None,
                message_id=receipt.message_id,
            )
        return dataclasses.replace(receipt, outcome=status)

    def status(self, message_type: str, message_id: str) -> Status:
        """The status of one message this client sent (signed GET); its receipt re-checked
        against the one the status carries is up to the caller (the outbox does)."""
        check_message_type(message_type)
        message_id = normal_message_id(message_id)
        response = self.request(
            "GET", f"{MESSAGES_PATH}{message_type}/{message_id}", message_id=message_id
        )
        if not response.is_success:
            raise error_for(response, message_id=message_id)
        try:
            return Status.from_json(response.json())
        except ValueError as exc:
            raise ReceiptMismatch("the status is not JSON", message_id=message_id) from exc

    def statuses(self, message_ids: list[str]) -> list[Status]:
        """The statuses of up to 100 messages this client sent, in one signed request; ids the
        platform does not know are left out."""
        body = canonical_json({"message_ids": [normal_message_id(m) for m in message_ids]})
        response = self.request("POST", STATUS_PATH, body=body, content_type="application/json")
        if not response.is_success:
            raise error_for(response)
        try:
            data = response.json()
        except ValueError as exc:
            raise ReceiptMismatch("the statuses are not JSON") from exc
        found = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(found, list):
            raise ReceiptMismatch("the answer carries no statuses", receipt=data)
        return [Status.from_json(item) for item in found]

    # --- files -------------------------------------------------------------------------------

    def has_file(self, sha256: str) -> bool:
        """Whether the platform holds this file for this client (signed HEAD)."""
        response = self.request("HEAD", BLOBS_PATH + _check_sha256(sha256))
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise error_for(response)

    def put_file(
        self,
        path: str | os.PathLike[str],
        *,
        expected_sha256: str | None = None,
        content_type: str | None = None,
        upload_urls: UploadUrls | None = None,
    ) -> str:
        """Upload a file unless the platform has it already; return its SHA-256.

        Files up to ``put_threshold`` bytes go in one PUT, larger ones by tus in
        ``chunk_size`` chunks. An interrupted tus upload (TransientError) is remembered in
        ``upload_urls`` (default: this client's, in memory) and the next call for the same
        content continues from the offset the server reports. With ``expected_sha256``, a file
        whose content no longer has that hash raises PermanentError before anything is sent.
        """
        path = Path(path)
        sha256, size = file_sha256(path)
        if expected_sha256 is not None and sha256 != expected_sha256.lower():
            raise PermanentError(
                f"{path}: SHA-256 is {sha256}, the message refers to {expected_sha256}",
                problem=local_problem(
                    "file-changed",
                    "本地文件已变化",
                    f"{path} 的 SHA-256 为 {sha256}，消息引用的是 {expected_sha256}",
                ),
            )
        store = upload_urls if upload_urls is not None else self.upload_urls
        if self.has_file(sha256):
            store.delete(sha256)  # an upload whose completing answer was lost: nothing to resume
            return sha256
        content_type = content_type or mimetypes.guess_type(path.name)[0]
        if size <= self.put_threshold:
            self._put_blob(path, sha256, content_type)
        else:
            self._tus_upload(path, sha256, size, content_type, store)
        return sha256

    def _put_blob(self, path: Path, sha256: str, content_type: str | None) -> None:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise TransientError(f"{path} changed while it was being uploaded")
        response = self.request(
            "PUT",
            BLOBS_PATH + sha256,
            body=data,
            content_type=content_type or "application/octet-stream",
        )
        if response.status_code not in (200, 201):
            raise error_for(response)

    def _tus_upload(
        self, path: Path, sha256: str, size: int, content_type: str | None, store: UploadUrls
    ) -> None:
        """tus 1.0.0: resume the remembered upload of this content, or create one, then PATCH
        chunk by chunk. The server keeps a chunk only when all of it arrived, so after a cut
        the offset it reports is where to continue."""
        tus = {"Tus-Resumable": TUS_VERSION}
        url = store.get(sha256)
        offset = self._tus_offset(url, size, tus) if url else None
        if url is None or offset is None:
            url = self._tus_create(path, sha256, size, content_type, tus)
            store.set(sha256, url)
            offset = 0
        completed: str | None = None
        resyncs = 0
        restarted = False
        with open(path, "rb") as handle:
            while offset < size:
                handle.seek(offset)
                chunk = handle.read(min(self.chunk_size, size - offset))
                if not chunk:
                    raise TransientError(f"{path} became shorter while it was being uploaded")
                response = self._tus_patch(url, offset, chunk, tus)
                if response.status_code == 204:
                    offset = int(response.headers.get("upload-offset", offset + len(chunk)))
                    completed = response.headers.get("upload-sha256") or completed
                    continue
                if response.status_code in (404, 410):
                    store.delete(sha256)
                    if restarted:
                        raise TransientError(f"upload {url} is gone again")
                    restarted = True  # expired or terminated under us: start over, once
                    url = self._tus_create(path, sha256, size, content_type, tus)
                    store.set(sha256, url)
                    offset = 0
                    continue
                if response.status_code == 409 and resyncs < _RESYNC_LIMIT:
                    resyncs += 1  # another writer or a lost answer: ask where the server is
                    offset = self._tus_resync(url, size, tus, sha256, store)
                    continue
                if response.status_code == 460:
                    raise TransientError(f"chunk at {offset} arrived damaged (checksum)")
                error = error_for(response)
                if isinstance(error, PermanentError):
                    store.delete(sha256)  # e.g. the content no longer hashes as declared
                raise error
        self._tus_check_stored(url, sha256, completed, store)

    def _tus_patch(
        self, url: str, offset: int, chunk: bytes, tus: dict[str, str]
    ) -> httpx.Response:
        """Send one chunk at ``offset`` with its SHA-256 checksum."""
        checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
        return self.request(
            "PATCH",
            url,
            body=chunk,
            content_type=OFFSET_MEDIA,
            headers={
                **tus,
                "Upload-Offset": str(offset),
                "Upload-Checksum": f"sha256 {checksum}",
            },
        )

    def _tus_resync(
        self, url: str, size: int, tus: dict[str, str], sha256: str, store: UploadUrls
    ) -> int:
        """Where the server is with an upload after a conflict; the upload forgotten and the
        attempt given up (to start anew next time) when it is gone."""
        known = self._tus_offset(url, size, tus)
        if known is None:
            store.delete(sha256)
            raise TransientError(f"upload {url} is gone; the next attempt starts anew")
        return known

    def _tus_check_stored(
        self, url: str, sha256: str, completed: str | None, store: UploadUrls
    ) -> None:
        """After the last chunk: the platform must hold exactly this content. The upload is
        forgotten either way."""
        if completed is None:
            # Nothing was left to send: the completing answer of an earlier run was lost.
            if not self.has_file(sha256):
                store.delete(sha256)
                raise TransientError(f"upload {url} ended without the file being stored")
        elif completed != sha256:
            store.delete(sha256)
            raise PermanentError(
                f"the platform stored {completed}, not {sha256}",
                problem=local_problem(
                    "upload-mismatch", "上传结果不符", f"平台保存的文件为 {completed}"
                ),
            )
        store.delete(sha256)

    def _tus_offset(self, url: str, size: int, tus: dict[str, str]) -> int | None:
        """The server's offset for an upload, or None when the upload is gone (404/410) or is
        not this file's (another length): then a new one is created."""
        response = self.request("HEAD", url, headers=tus)
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise error_for(response)
        try:
            offset = int(response.headers["upload-offset"])
            length = int(response.headers.get("upload-length", size))
        except (KeyError, ValueError) as exc:
            raise TransientError(f"HEAD {url} gave no usable Upload-Offset") from exc
        if length != size or not 0 <= offset <= size:
            return None
        return offset

    def _tus_create(
        self, path: Path, sha256: str, size: int, content_type: str | None, tus: dict[str, str]
    ) -> str:
        meta = {"sha256": sha256, "filename": path.name}
        if content_type:
            meta["filetype"] = content_type
        encoded = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())
        response = self.request(
            "POST",
            UPLOADS_PATH,
            headers={**tus, "Upload-Length": str(size), "Upload-Metadata": encoded},
        )
        location = response.headers.get("location")
        if response.status_code != 201 or not location:
            raise error_for(response)
        return urljoin(self.url(UPLOADS_PATH), str(location))


def check_message_type(name: str) -> str:
    """A message type name, refused (ValueError) unless it is a plain path segment: it goes
    into the signed URL unescaped, so it must not need escaping."""
    if not _MESSAGE_TYPE.match(name):
        raise ValueError(f"not a message type: {name!r}")
    return name


def _check_sha256(value: str) -> str:
    if not _SHA256_HEX.match(value):
        raise ValueError(f"not a lower-case hex SHA-256: {value!r}")
    return value
