"""Files: PUT /exchange/v1/blobs/{sha256} and the tus 1.0 server under /exchange/v1/uploads/.

The interoperability with the official tuspy client, and a resume after a cut connection, are in
test_tus_interop.py; here each protocol rule is checked on its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.client.signing import load_key, signed_headers
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.exchange.models import ExchangeFile, SeenNonce, Upload
from jcjg.exchange.uploads import parse_metadata, remove_expired
from tests.client.live import Lab, LiveExchange, running_exchange
from tests.exchange.conftest import Lims, make_lims
from tests.factories import Factory

TUS = {"Tus-Resumable": "1.0.0"}
UPLOADS = "/exchange/v1/uploads/"


def files(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(ExchangeFile)) or 0


def put(client: TestClient, lims: Lims, data: bytes, digest: str | None = None) -> Any:
    digest = digest or hashlib.sha256(data).hexdigest()
    path = f"/exchange/v1/blobs/{digest}"
    headers = lims.headers("PUT", path, data, content_type="application/octet-stream")
    return client.put(path, content=data, headers=headers)


# --- PUT blobs ----------------------------------------------------------------------------------


def test_put_is_content_addressed_and_idempotent(
    client: TestClient, db: Session, lims: Lims, settings: Settings
) -> None:
    data = b"photo bytes \x00\x01"
    first = put(client, lims, data)
    assert first.status_code == 201
    assert first.json() == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": 14,
        "status": "stored",
    }
    again = put(client, lims, data)
    assert again.status_code == 200
    assert again.json()["status"] == "exists"
    assert files(db) == 1
    assert blob_store(settings).get(hashlib.sha256(data).hexdigest()) == data
    path = f"/exchange/v1/blobs/{hashlib.sha256(data).hexdigest()}"
    assert client.head(path, headers=lims.headers("HEAD", path)).status_code == 200


def test_put_with_a_hash_that_is_not_the_content_is_422(
    client: TestClient, db: Session, lims: Lims
) -> None:
    response = put(client, lims, b"abc", digest="0" * 64)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/exchange-blob-mismatch"
    assert files(db) == 0


def test_put_bad_address_too_large_and_unsigned(
    client: TestClient, db: Session, lims: Lims, settings: Settings
) -> None:
    path = "/exchange/v1/blobs/NOT-A-HASH"
    assert (
        client.put(
            path, content=b"x", headers=lims.headers("PUT", path, b"x", content_type="a/b")
        ).status_code
        == 404
    )
    big = b"x" * (settings.exchange_max_blob_bytes + 1)
    assert put(client, lims, big).status_code == 413
    unsigned = client.put(f"/exchange/v1/blobs/{hashlib.sha256(b'x').hexdigest()}", content=b"x")
    assert unsigned.status_code == 401
    assert files(db) == 0


def test_head_blob_is_per_client(
    client: TestClient, db: Session, settings: Settings, factory: Factory, lims: Lims
) -> None:
    data = b"certificate"
    put(client, lims, data)
    other = make_lims(db, settings, factory)
    path = f"/exchange/v1/blobs/{hashlib.sha256(data).hexdigest()}"
    assert client.head(path, headers=other.headers("HEAD", path)).status_code == 404


# --- tus ----------------------------------------------------------------------------------------


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def create(client: TestClient, lims: Lims, length: int, **meta: str) -> Any:
    headers = {**TUS, "Upload-Length": str(length)}
    if meta:
        headers["Upload-Metadata"] = _meta(**meta)
    return client.post(UPLOADS, headers=lims.headers("POST", UPLOADS, headers=headers))


def patch(
    client: TestClient, lims: Lims, location: str, offset: int, chunk: bytes, **extra: str
) -> Any:
    path = location.removeprefix("http://testserver")
    headers = {**TUS, "Upload-Offset": str(offset), **extra}
    signed = lims.headers(
        "PATCH", path, chunk, content_type="application/offset+octet-stream", headers=headers
    )
    return client.patch(path, content=chunk, headers=signed)


def head(client: TestClient, lims: Lims, location: str) -> Any:
    path = location.removeprefix("http://testserver")
    return client.head(path, headers=lims.headers("HEAD", path, headers=TUS))


def test_options_advertises_the_protocol(client: TestClient) -> None:
    response = client.options(UPLOADS)
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    extensions = set(response.headers["tus-extension"].split(","))
    assert extensions == {"creation", "checksum", "termination", "expiration"}
    assert "sha1" in response.headers["tus-checksum-algorithm"].split(",")


def test_upload_in_chunks_with_checksums_completes_into_a_file(
    client: TestClient, db: Session, lims: Lims, settings: Settings
) -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes
    digest = hashlib.sha256(data).hexdigest()
    created = create(client, lims, len(data), filename="curve.bin", sha256=digest)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location.startswith("http://testserver/exchange/v1/uploads/")
    assert created.headers["tus-resumable"] == "1.0.0"
    assert "GMT" in created.headers["upload-expires"]
    offset = 0
    for start in range(0, len(data), 100_000):
        chunk = data[start : start + 100_000]
        checksum = "sha1 " + base64.b64encode(hashlib.sha1(chunk).digest()).decode()  # noqa: S324
        response = patch(client, lims, location, offset, chunk, **{"Upload-Checksum": checksum})
        assert response.status_code == 204, response.text
        offset = int(response.headers["upload-offset"])
        assert offset == start + len(chunk)
    assert response.headers["upload-sha256"] == digest
    probe = head(client, lims, location)
    assert probe.headers["upload-offset"] == probe.headers["upload-length"] == str(len(data))
    assert probe.headers["cache-control"] == "no-store"
    assert parse_metadata(probe.headers["upload-metadata"])["filename"] == "curve.bin"
    row = db.scalars(select(ExchangeFile)).one()
    assert (row.sha256, row.size, row.filename) == (digest, len(data), "curve.bin")
    assert blob_store(settings).get(digest) == data


def test_checksum_mismatch_keeps_nothing(client: TestClient, lims: Lims) -> None:
    location = create(client, lims, 10).headers["location"]
    wrong = "sha256 " + base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    response = patch(client, lims, location, 0, b"0123456789", **{"Upload-Checksum": wrong})
    assert response.status_code == 460
    assert response.json()["type"] == "/problems/exchange-checksum-mismatch"
    assert head(client, lims, location).headers["upload-offset"] == "0"


def test_wrong_offset_is_409_and_bad_media_type_415(client: TestClient, lims: Lims) -> None:
    location = create(client, lims, 10).headers["location"]
    assert patch(client, lims, location, 0, b"01234").status_code == 204
    conflict = patch(client, lims, location, 0, b"01234")
    assert conflict.status_code == 409
    assert conflict.json()["type"] == "/problems/exchange-upload-offset"
    path = location.removeprefix("http://testserver")
    headers = lims.headers(
        "PATCH",
        path,
        b"56789",
        content_type="application/json",
        headers={**TUS, "Upload-Offset": "5"},
    )
    assert client.patch(path, content=b"56789", headers=headers).status_code == 415
    assert head(client, lims, location).headers["upload-offset"] == "5"


def test_more_than_the_length_is_413(client: TestClient, lims: Lims) -> None:
    location = create(client, lims, 4).headers["location"]
    assert patch(client, lims, location, 0, b"12345").status_code == 413


def test_declared_sha256_must_match_the_file(client: TestClient, db: Session, lims: Lims) -> None:
    location = create(client, lims, 3, sha256="0" * 64).headers["location"]
    response = patch(client, lims, location, 0, b"abc")
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/exchange-blob-mismatch"
    assert files(db) == 0


def test_version_length_and_signature_are_required(
    client: TestClient, lims: Lims, settings: Settings
) -> None:
    no_version = client.post(
        UPLOADS, headers=lims.headers("POST", UPLOADS, headers={"Upload-Length": "3"})
    )
    assert no_version.status_code == 412
    assert no_version.headers["tus-version"] == "1.0.0"
    no_length = client.post(UPLOADS, headers=lims.headers("POST", UPLOADS, headers=TUS))
    assert no_length.status_code == 400
    too_big = create(client, lims, settings.exchange_max_upload_bytes + 1)
    assert too_big.status_code == 413
    unsigned = client.post(UPLOADS, headers={**TUS, "Upload-Length": "3"})
    assert unsigned.status_code == 401


def test_another_clients_upload_is_404(
    client: TestClient, db: Session, settings: Settings, factory: Factory, lims: Lims
) -> None:
    location = create(client, lims, 3).headers["location"]
    other = make_lims(db, settings, factory)
    assert head(client, other, location).status_code == 404
    assert patch(client, other, location, 0, b"abc").status_code == 404
    assert head(client, lims, location).headers["upload-offset"] == "0"


def test_termination_and_expiration(
    client: TestClient, db: Session, lims: Lims, settings: Settings
) -> None:
    location = create(client, lims, 3).headers["location"]
    path = location.removeprefix("http://testserver")
    token = path.rsplit("/", 1)[1]
    assert (settings.upload_dir / token).exists()
    deleted = client.delete(path, headers=lims.headers("DELETE", path, headers=TUS))
    assert deleted.status_code == 204
    assert head(client, lims, location).status_code == 404
    assert not (settings.upload_dir / token).exists()
    # Expired: refused with 410, and the cleanup removes the row and its bytes.
    location = create(client, lims, 3).headers["location"]
    upload = db.scalars(select(Upload)).one()
    upload.expires_at = utcnow() - dt.timedelta(seconds=1)
    db.commit()
    gone = head(client, lims, location)
    assert gone.status_code == 410
    assert remove_expired(db, settings) == 1
    assert db.scalar(select(func.count()).select_from(Upload)) == 0


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("k", {"k": ""}),
        ("k dmFsdWU=", {"k": "value"}),
        ("a dmFs,b", {"a": "val", "b": ""}),
        ("filename 5Yqb5a2m5a6k", {"filename": "力学室"}),
    ],
)
def test_metadata_parsing(value: str, parsed: dict[str, str]) -> None:
    assert parse_metadata(value) == parsed


def test_bad_metadata_is_400(client: TestClient, lims: Lims) -> None:
    headers = {**TUS, "Upload-Length": "3", "Upload-Metadata": "name !!notbase64"}
    response = client.post(UPLOADS, headers=lims.headers("POST", UPLOADS, headers=headers))
    assert response.status_code == 400


def test_tus_headers_must_be_signed(client: TestClient, lims: Lims) -> None:
    """Upload-Offset on PATCH and Upload-Length on POST are what the platform acts on."""
    location = create(client, lims, 10).headers["location"]
    assert patch(client, lims, location, 0, b"01234").status_code == 204
    # A signed PATCH for offset 5 whose Upload-Offset is then changed in transit.
    path = location.removeprefix("http://testserver")
    headers = lims.headers(
        "PATCH", path, b"56789", content_type="application/offset+octet-stream",
        headers={**TUS, "Upload-Offset": "5"},
    )  # fmt: skip
    assert "upload-offset" in headers["Signature-Input"]
    headers["Upload-Offset"] = "0"
    assert client.patch(path, content=b"56789", headers=headers).status_code == 401
    # A signature that leaves the offset out is refused as incomplete.
    from jcjg.exchange.digest import content_digest
    from jcjg.exchange.signatures import Request, sign_request

    plain = {
        **TUS,
        "Upload-Offset": "5",
        "Content-Type": "application/offset+octet-stream",
        "Content-Digest": content_digest(b"56789"),
    }
    plain |= sign_request(
        Request("PATCH", "http://testserver" + path, list(plain.items())),
        key_id=lims.key_id,
        alg=lims.key.alg,
        key=lims.key,
        covered=("@method", "@target-uri", "content-digest", "content-type"),
        created=int(time.time()),
        nonce="no-offset",
    )
    response = client.patch(path, content=b"56789", headers=plain)
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/exchange-signature-incomplete"
    assert head(client, lims, location).headers["upload-offset"] == "5"


def test_an_unsigned_patch_writes_nothing_to_disk(
    client: TestClient, lims: Lims, settings: Settings
) -> None:
    location = create(client, lims, 1_000_000).headers["location"]
    path = location.removeprefix("http://testserver")
    before = {p.name for p in settings.upload_dir.iterdir()}
    headers = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    response = client.patch(path, content=b"x" * 500_000, headers=headers)
    assert response.status_code == 401
    assert {p.name for p in settings.upload_dir.iterdir()} == before
    token = path.rsplit("/", 1)[1]
    assert (settings.upload_dir / token).stat().st_size == 0


def test_open_uploads_per_client_are_limited(
    client: TestClient, lims: Lims, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jcjg.exchange import uploads

    monkeypatch.setattr(uploads, "MAX_OPEN_UPLOADS", 2)
    assert create(client, lims, 3).status_code == 201
    assert create(client, lims, 3).status_code == 201
    refused = create(client, lims, 3)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"


# --- concurrent chunks --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveExchange]:
    with running_exchange(tmp_path_factory.mktemp("tus-race")) as exchange:
        yield exchange


def _nonces(live: LiveExchange, lab: Lab) -> int:
    with live.sessions() as db:
        count = db.scalar(
            select(func.count()).select_from(SeenNonce).where(SeenNonce.key_id == lab.key_id)
        )
        db.commit()  # ends the read (SQLite: releases the lock)
    return count or 0


def _chunk_held_back(live: LiveExchange, lab: Lab, path: str, chunk: bytes) -> HTTPConnection:
    """A signed PATCH at offset 0 sent whole but for its last byte: the platform has checked
    its signature and offset and waits for the rest of the chunk."""
    host, port = live.url.removeprefix("http://").split(":")
    headers = signed_headers(
        "PATCH", live.url + path, key_id=lab.key_id, key=load_key(lab.alg, lab.material),
        body=chunk, content_type="application/offset+octet-stream",
        headers={**TUS, "Upload-Offset": "0"},
    )  # fmt: skip
    conn = HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("PATCH", path, skip_accept_encoding=True)
    for name, value in {**headers, "Content-Length": str(len(chunk))}.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(chunk[:-1])
    return conn


def test_concurrent_chunks_at_one_offset_only_one_wins(live: LiveExchange) -> None:
    """Six PATCHes at offset 0 of one upload, each with other bytes that would complete it,
    all past the offset check before any chunk is whole, then finished at once: one is
    appended (204), the others are refused as at a stale offset (409), and the file is the
    winner's bytes."""
    lab = live.lab()
    key = load_key(lab.alg, lab.material)
    size, n = 64 * 1024, 6
    url = live.url + UPLOADS
    headers = signed_headers(
        "POST", url, key_id=lab.key_id, key=key, headers={**TUS, "Upload-Length": str(size)}
    )
    created = httpx.post(url, headers=headers)
    assert created.status_code == 201, created.text
    path = created.headers["location"].removeprefix(live.url)
    chunks = [bytes([i + 1]) * size for i in range(n)]
    conns = [_chunk_held_back(live, lab, path, chunk) for chunk in chunks]
    deadline = time.monotonic() + 20
    while _nonces(live, lab) < 1 + n:  # each PATCH's nonce is committed after its offset check
        assert time.monotonic() < deadline, "the PATCHes did not all reach the platform"
        time.sleep(0.02)
    barrier = threading.Barrier(n)
    answers: list[tuple[int, int]] = []

    def finish(i: int) -> None:
        barrier.wait()
        conns[i].send(chunks[i][-1:])
        response = conns[i].getresponse()
        response.read()
        answers.append((response.status, i))
        conns[i].close()

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [204] + [409] * (n - 1), answers
    winner = chunks[next(i for status, i in answers if status == 204)]
    digest = hashlib.sha256(winner).hexdigest()
    assert blob_store(live.settings).get(digest) == winner
    with live.sessions() as db:
        upload = db.scalars(select(Upload).where(Upload.client_id == lab.client_id)).one()
        stored = db.scalars(select(ExchangeFile).where(ExchangeFile.client_id == lab.client_id))
        assert (upload.offset, upload.completed_sha256) == (size, digest)
        assert [f.sha256 for f in stored] == [digest]
        db.commit()


def test_the_offset_moves_by_compare_and_set(client: TestClient, db: Session, lims: Lims) -> None:
    """Whatever the session holds, a chunk moves the offset only from where the row has it:
    a chunk claimed at an offset another one already moved is a 409 and moves nothing."""
    from sqlalchemy import update

    from jcjg.exchange.problems import ExchangeError
    from jcjg.exchange.uploads import _claim

    create(client, lims, 10)
    upload = db.scalars(select(Upload)).one()
    assert upload.offset == 0
    db.execute(update(Upload).values(offset=5).execution_options(synchronize_session=False))
    assert upload.offset == 0  # the object this session holds: stale
    with pytest.raises(ExchangeError) as refused:
        _claim(db, upload, 0, 5)
    assert refused.value.status == 409
    assert "已收到 5 字节" in refused.value.detail
    _claim(db, upload, 5, 5)
    assert upload.offset == 10
    db.expire_all()
    assert db.scalars(select(Upload)).one().offset == 10


@pytest.mark.parametrize("value", [b"\xb2", b"-1", b"1e3", b" ", b"12345678901234567890"])
def test_a_length_that_is_no_whole_number_is_400(value: bytes) -> None:
    """'²' is a digit to str.isdigit() and no number to int(): refused, not a server error."""
    from starlette.requests import Request

    from jcjg.core.errors import BadRequest
    from jcjg.exchange.uploads import _int_header

    request = Request({"type": "http", "headers": [(b"upload-length", value)]})
    with pytest.raises(BadRequest):
        _int_header(request, "Upload-Length")
