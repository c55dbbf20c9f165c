"""The blob store: files kept by the SHA-256 of their content.

Content addressing means a file is never changed in place (DESIGN.md decision 2) and a stored
file can always be checked against its name. ``LocalBlobStore`` keeps files under a folder;
``S3BlobStore`` keeps them in an S3-compatible bucket (MinIO, Ceph, cloud object storage).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from jcjg.config import Settings

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(KeyError):
    """No blob with that digest."""


class BlobCorrupted(ValueError):
    """A stored blob no longer matches its digest."""


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise ValueError("blob digest must be 64 lowercase hex characters (SHA-256)")
    return digest


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; return its SHA-256 hex digest. Storing twice is harmless."""

    def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``, verified; :class:`BlobNotFound` if absent."""

    def put_file(self, path: Path, digest: str) -> str:
        """Store the file at ``path`` whose SHA-256 the caller computed (large files, by moving
        or streaming, never read into memory); the file may be moved away."""
        ...

    def exists(self, digest: str) -> bool: ...

    def size(self, digest: str) -> int: ...


class LocalBlobStore:
    """Blobs in a folder, fanned out as ``ab/cd/abcd…``; writes are atomic renames."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_file(self, path: Path, digest: str) -> str:
        target = self._path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(digest) from None
        if digest_of(data) != digest:
            raise BlobCorrupted(f"blob {digest} does not match its content")
        return data

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def size(self, digest: str) -> int:
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest) from None


class S3BlobStore:
    """Blobs in an S3-compatible bucket under ``sha256/<digest>`` (needs the ``s3`` extra)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key,
            aws_secret_access_key=settings.s3_secret_key,
        )
        return cls(client, settings.s3_bucket)

    def _key(self, digest: str) -> str:
        return "sha256/" + check_digest(digest)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        if not self.exists(digest):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(digest),
                Body=data,
                ChecksumAlgorithm="SHA256",
            )
        return digest

    def put_file(self, path: Path, digest: str) -> str:
        if not self.exists(digest):
            self.client.upload_file(
                str(path),
                self.bucket,
                self._key(digest),
                ExtraArgs={"ChecksumAlgorithm": "SHA256"},
            )
        return digest

    def get(self, digest: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(digest))
        except self.client.exceptions.NoSuchKey:
            raise BlobNotFound(digest) from None
        data: bytes = obj["Body"].read()
        if digest_of(data) != digest:
            raise BlobCorrupted(f"blob {digest} does not match its content")
        return data

    def exists(self, digest: str) -> bool:
        return self._head(digest) is not None

    def size(self, digest: str) -> int:
        head = self._head(digest)
        if head is None:
            raise BlobNotFound(digest)
        return int(head["ContentLength"])

    def _head(self, digest: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.client.head_object(
                Bucket=self.bucket, Key=self._key(digest)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return head


def blob_store(settings: Settings) -> BlobStore:
    """The configured store."""
    if settings.blob_backend == "s3":
        return S3BlobStore.from_settings(settings)
    return LocalBlobStore(settings.blob_dir)
