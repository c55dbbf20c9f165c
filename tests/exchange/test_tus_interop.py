"""tus interoperability: the official Python tus client (tuspy) uploads to the platform, and
resumes after the connection is cut mid-chunk; so does our own client.

tuspy knows nothing of request signatures and has no per-request hook, so the test subclasses
its uploader and request minimally: each of the three requests it makes (POST to create, HEAD
for the offset, PATCH per chunk) gets the RFC 9421 headers for its method, URL and body, as
any vendor's tus client would have to. The tus protocol itself is tuspy's, untouched.

The cut is made by a TCP proxy between client and platform that closes both sockets after a
number of PATCH bytes: the platform must keep only the chunks that arrived whole, and a new
uploader must continue from the offset the platform reports, not from zero.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.request import TusRequest
from tusclient.uploader import Uploader

from jcjg.client import TransientError
from jcjg.client.signing import load_key, signed_headers
from tests.client.live import CuttingProxy, Lab, LiveExchange, running_exchange

CHUNK = 64 * 1024
Signer = Callable[[str, str, dict[str, str], bytes | None], dict[str, str]]


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveExchange]:
    with running_exchange(tmp_path_factory.mktemp("tus")) as live:
        yield live


@pytest.fixture
def lab(exchange: LiveExchange) -> Lab:
    return exchange.lab("ed25519")


@pytest.fixture
def exit_stack() -> Iterator[ExitStack]:
    """tuspy given a path opens a new file object per request and never closes them, which
    the suite's warnings-as-errors would fail on; given a stream it reuses that one."""
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def proxy(exchange: LiveExchange) -> Iterator[CuttingProxy]:
    port = int(exchange.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port)
    yield proxy
    proxy.close()


def signer_for(lab: Lab) -> Signer:
    key = load_key(lab.alg, lab.material)

    def sign(method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        content_type = headers.get("Content-Type") if body else None
        return signed_headers(
            method, url, key_id=lab.key_id, key=key, body=body, content_type=content_type,
            headers=headers,
        )  # fmt: skip

    return sign


class SignedTusRequest(TusRequest):
    """tuspy's PATCH, with the chunk signed (Content-Digest over exactly the bytes sent)."""

    def __init__(self, uploader: SignedUploader) -> None:
        super().__init__(uploader)
        self._sign = uploader.sign

    def perform(self) -> None:
        try:
            chunk = self.file.read(self._content_length)
            self.add_checksum(chunk)
            headers = self._sign("PATCH", self._url, self._request_headers, chunk)
            resp = requests.patch(self._url, data=chunk, headers=headers, timeout=30)
            self.status_code = resp.status_code
            self.response_content = resp.content
            self.response_headers = {k.lower(): v for k, v in resp.headers.items()}
        except requests.exceptions.RequestException as error:
            raise TusUploadFailed(error) from error


class SignedUploader(Uploader):
    """tuspy's uploader with its POST and HEAD signed and its PATCH made by SignedTusRequest."""

    def __init__(self, *args: Any, sign: Signer, **kwargs: Any) -> None:
        self.sign = sign  # before super(): resuming from a URL asks the offset right away
        super().__init__(*args, **kwargs)

    def get_url_creation_headers(self) -> dict[str, str]:
        headers: dict[str, str] = super().get_url_creation_headers()
        return self.sign("POST", self.client.url, headers, None)

    def get_offset(self) -> int:
        headers = self.sign("HEAD", self.url, self.get_headers(), None)
        try:
            resp = requests.head(self.url, headers=headers, timeout=30)
        except requests.exceptions.RequestException as error:
            raise TusCommunicationError(error) from error
        offset = resp.headers.get("upload-offset")
        if offset is None:
            raise TusCommunicationError(f"no offset: {resp.status_code}", resp.status_code)
        return int(offset)

    def _do_request(self) -> None:
        self.request = SignedTusRequest(self)
        try:
            self.request.perform()
            if not 200 <= self.request.status_code < 300:
                raise TusUploadFailed("", self.request.status_code, self.request.response_content)
        except TusUploadFailed as error:
            self._retry_or_cry(error)


def _random_file(folder: Path, size: int) -> tuple[Path, str]:
    path = folder / f"upload-{size}.bin"
    path.write_bytes(os.urandom(size))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_tuspy_uploads_with_checksums(
    exchange: LiveExchange, lab: Lab, tmp_path: Path, exit_stack: ExitStack
) -> None:
    path, sha256 = _random_file(tmp_path, 3 * CHUNK + 1000)
    tus = TusClient(exchange.url + "/exchange/v1/uploads/")
    stream = exit_stack.enter_context(path.open("rb"))
    uploader = SignedUploader(
        file_stream=stream,
        client=tus,
        chunk_size=CHUNK,
        upload_checksum=True,
        metadata={"sha256": sha256, "filename": path.name, "filetype": "application/x-test"},
        sign=signer_for(lab),
    )
    uploader.upload()
    assert uploader.offset == path.stat().st_size
    assert uploader.request is not None
    assert uploader.request.response_headers["upload-sha256"] == sha256
    stored = exchange.stored_file(lab, sha256)
    assert stored is not None
    assert (stored.size, stored.filename, stored.content_type) == (
        3 * CHUNK + 1000,
        path.name,
        "application/x-test",
    )
    with lab.client(exchange.url) as client:
        assert client.has_file(sha256)


def test_tuspy_resumes_after_a_cut(
    exchange: LiveExchange, lab: Lab, proxy: CuttingProxy, tmp_path: Path, exit_stack: ExitStack
) -> None:
    size = 5 * CHUNK + 123
    path, sha256 = _random_file(tmp_path, size)
    tus = TusClient(proxy.url + "/exchange/v1/uploads/")
    sign = signer_for(lab)
    proxy.cut_after(2 * CHUNK + CHUNK // 2)  # in the middle of the third chunk
    stream = exit_stack.enter_context(path.open("rb"))
    first = SignedUploader(
        file_stream=stream, client=tus, chunk_size=CHUNK, upload_checksum=True, sign=sign,
        metadata={"sha256": sha256, "filename": path.name},
    )  # fmt: skip
    with pytest.raises(TusUploadFailed):
        first.upload()
    assert proxy.cuts == 1
    assert first.url is not None
    assert exchange.stored_file(lab, sha256) is None

    sent_before = proxy.patch_bytes
    resumed = SignedUploader(
        file_stream=stream,
        client=tus,
        url=first.url,
        chunk_size=CHUNK,
        upload_checksum=True,
        sign=sign,
    )
    # The platform kept the two whole chunks and nothing of the cut one.
    assert resumed.offset == 2 * CHUNK
    resumed.upload()
    assert resumed.offset == size
    resent = proxy.patch_bytes - sent_before
    assert size - 2 * CHUNK <= resent < size - 2 * CHUNK + 8192  # the rest, plus headers
    stored = exchange.stored_file(lab, sha256)
    assert stored is not None
    assert stored.size == size
    with lab.client(exchange.url) as client:
        assert client.has_file(sha256)


def test_our_client_resumes_after_a_cut(
    exchange: LiveExchange, lab: Lab, proxy: CuttingProxy, tmp_path: Path
) -> None:
    size = 6 * CHUNK + 7
    path, sha256 = _random_file(tmp_path, size)
    client = lab.client(proxy.url, put_threshold=CHUNK, chunk_size=CHUNK)
    with client:
        proxy.cut_after(3 * CHUNK + 100)
        with pytest.raises(TransientError):
            client.put_file(path)
        url = client.upload_urls.get(sha256)
        assert url is not None
        assert url.startswith(proxy.url)
        with lab.client(exchange.url) as direct:
            head = direct.request("HEAD", url, headers={"Tus-Resumable": "1.0.0"})
        offset = int(head.headers["upload-offset"])
        assert 0 < offset < size
        assert offset % CHUNK == 0
        sent_before = proxy.patch_bytes
        assert client.put_file(path) == sha256
    resent = proxy.patch_bytes - sent_before
    assert size - offset <= resent < size - offset + 8192
    assert client.upload_urls.get(sha256) is None
    stored = exchange.stored_file(lab, sha256)
    assert stored is not None
    assert stored.size == size


def test_a_gone_upload_starts_anew(exchange: LiveExchange, lab: Lab, tmp_path: Path) -> None:
    path, sha256 = _random_file(tmp_path, 2 * CHUNK)
    with lab.client(exchange.url, put_threshold=CHUNK, chunk_size=CHUNK) as client:
        client.upload_urls.set(sha256, exchange.url + "/exchange/v1/uploads/" + "0" * 32)
        assert client.put_file(path) == sha256
    assert exchange.stored_file(lab, sha256) is not None
