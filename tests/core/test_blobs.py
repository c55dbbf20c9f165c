"""The content-addressed blob store, on a local folder and on a real (local) S3 server."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from jcjg.config import Settings
from jcjg.core.blobs import (
    BlobCorrupted,
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    blob_store,
    check_digest,
    digest_of,
)

pytestmark = pytest.mark.once  # no database: the same on both databases

CONTENT = "检测报告 PDF 的内容".encode() + bytes(range(256))
DIGEST = hashlib.sha256(CONTENT).hexdigest()
MISSING = hashlib.sha256(b"never stored").hexdigest()
MALFORMED = ["", "abc", DIGEST.upper(), DIGEST[:-1], DIGEST + "0", "g" * 64, "../" + DIGEST[3:]]

# Dummy credentials for the local moto server; no request ever leaves 127.0.0.1.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


@dataclass
class Store:
    """A store under test and a way to overwrite a stored blob behind its back."""

    store: BlobStore
    corrupt: Callable[[str, bytes], None]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    # moto's server needs Flask (the ``moto[server]`` extra); without it moto warns on import.
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str) -> Iterator[Any]:
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    yield client
    client.close()


@pytest.fixture
def bucket(s3_client: Any) -> str:
    """A fresh bucket per test: the moto server keeps its state for the whole module."""
    name = f"jcjg-test-{secrets.token_hex(4)}"
    s3_client.create_bucket(Bucket=name)
    return name


def _local(tmp_path: Path) -> Store:
    store = LocalBlobStore(tmp_path / "blobs")

    def corrupt(digest: str, data: bytes) -> None:
        (tmp_path / "blobs" / digest[:2] / digest[2:4] / digest).write_bytes(data)

    return Store(store, corrupt)


def _s3(client: Any, bucket: str) -> Store:
    def corrupt(digest: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=f"sha256/{digest}", Body=data)

    return Store(S3BlobStore(client, bucket), corrupt)


@pytest.fixture(params=["local", "s3"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return _local(tmp_path)
    return _s3(request.getfixturevalue("s3_client"), request.getfixturevalue("bucket"))


# --- digests -----------------------------------------------------------------------------------


def test_digest_is_sha256_hex() -> None:
    assert digest_of(b"abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert check_digest(DIGEST) == DIGEST


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_digest_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        check_digest(bad)


# --- behaviour shared by both stores -----------------------------------------------------------


def test_put_returns_the_sha256_and_get_returns_the_bytes(subject: Store) -> None:
    assert subject.store.put(CONTENT) == DIGEST
    assert subject.store.get(DIGEST) == CONTENT
    assert subject.store.exists(DIGEST) is True
    assert subject.store.size(DIGEST) == len(CONTENT)


def test_put_twice_is_harmless(subject: Store) -> None:
    assert subject.store.put(CONTENT) == DIGEST
    assert subject.store.put(CONTENT) == DIGEST
    assert subject.store.get(DIGEST) == CONTENT
    assert subject.store.size(DIGEST) == len(CONTENT)


def test_empty_blob(subject: Store) -> None:
    digest = subject.store.put(b"")
    assert digest == hashlib.sha256(b"").hexdigest()
    assert subject.store.get(digest) == b""
    assert subject.store.size(digest) == 0


def test_distinct_contents_are_distinct_blobs(subject: Store) -> None:
    first = subject.store.put(b"first")
    second = subject.store.put(b"second")
    assert first != second
    assert subject.store.get(first) == b"first"
    assert subject.store.get(second) == b"second"


def test_missing_blob(subject: Store) -> None:
    assert subject.store.exists(MISSING) is False
    with pytest.raises(BlobNotFound):
        subject.store.get(MISSING)
    with pytest.raises(BlobNotFound):
        subject.store.size(MISSING)


@pytest.mark.parametrize("bad", [DIGEST.upper(), "abc", "../" + DIGEST[3:]])
def test_malformed_digest_is_refused_by_the_store(subject: Store, bad: str) -> None:
    subject.store.put(CONTENT)
    for operation in (subject.store.get, subject.store.exists, subject.store.size):
        with pytest.raises(ValueError, match="64 lowercase hex"):
            operation(bad)


def test_corrupted_blob_is_detected(subject: Store) -> None:
    subject.store.put(CONTENT)
    subject.corrupt(DIGEST, CONTENT[:-1] + b"\x00")
    with pytest.raises(BlobCorrupted, match=DIGEST):
        subject.store.get(DIGEST)


def test_corrupted_blob_is_not_repaired_by_a_put_of_other_content(subject: Store) -> None:
    subject.store.put(CONTENT)
    subject.corrupt(DIGEST, b"tampered")
    assert subject.store.put(b"other") != DIGEST
    with pytest.raises(BlobCorrupted):
        subject.store.get(DIGEST)


# --- store specifics ---------------------------------------------------------------------------


def test_local_store_fans_out_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put(CONTENT)
    store.put(CONTENT)
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert files == [tmp_path / "blobs" / DIGEST[:2] / DIGEST[2:4] / DIGEST]


def test_s3_store_keeps_blobs_under_sha256_prefix(s3_client: Any, bucket: str) -> None:
    S3BlobStore(s3_client, bucket).put(CONTENT)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"sha256/{DIGEST}"]


def test_s3_store_reports_other_errors(s3_client: Any) -> None:
    from botocore.exceptions import ClientError

    store = S3BlobStore(s3_client, f"no-such-bucket-{secrets.token_hex(4)}")
    with pytest.raises(ClientError):
        store.put(CONTENT)


def test_blob_store_from_settings_local(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_backend="local")
    store = blob_store(settings)
    assert isinstance(store, LocalBlobStore)
    store.put(CONTENT)
    assert (tmp_path / "blobs" / DIGEST[:2] / DIGEST[2:4] / DIGEST).read_bytes() == CONTENT


def test_blob_store_from_settings_s3(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    settings = Settings(
        blob_backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=bucket,
        s3_region=REGION,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
    )
    store = blob_store(settings)
    assert isinstance(store, S3BlobStore)
    try:
        assert store.put(CONTENT) == DIGEST
    finally:
        store.client.close()
    body = s3_client.get_object(Bucket=bucket, Key=f"sha256/{DIGEST}")["Body"].read()
    assert body == CONTENT
