"""The production layout of docs/operations/deployment.md ("Several processes"), run on loopback
under ``JCJG_ENV=prod`` (issue 42 item 4):

- nginx from Debian terminating TLS with ``deploy/nginx-jcjg.conf`` as it is (only its
  addresses and certificate paths replaced), in front of two ``jcjg serve`` processes;
- two ``jcjg worker`` processes (jobs, and applying accepted messages in lanes), the apps
  applying nothing (``JCJG_EMBEDDED_WORKER=false``, ``JCJG_EXCHANGE_APPLY_WORKERS=0``);
- PostgreSQL; Redis for the shared rate limits; an S3-compatible server (moto) for files;
- provisioned with ``jcjg`` commands only (``institutions create``, ``clients create``).

Two labs' systems send through nginx over HTTPS; one app process and one worker are killed
(SIGKILL) mid-stream. Every message is kept once and applied once, each once in the log; the
file a lab uploaded is in the bucket; the ledger's rate limit holds across the two apps.
``JCJG_SCALE_MESSAGES`` (per lab; 20 in `make test`, more in `make e2e`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from jcjg.client import Client
from jcjg.client.errors import TransientError
from jcjg.core.db import make_engine
from jcjg.exchange.models import Message
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from tests.conftest import BACKEND, command_line_on, redis_url, upgraded_database_url
from tests.servers import answering, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]
ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx-jcjg.conf"
SECRET = "scale-out-test-secret-" + "k" * 24
S3_KEYS = {"JCJG_S3_ACCESS_KEY": "testing", "JCJG_S3_SECRET_KEY": "testing"}


def _messages() -> int:
    return int(os.environ.get("JCJG_SCALE_MESSAGES", "20"))


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the test's CA is the certificate itself)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return chain, private


class Layout:
    """The processes of the layout and what they share."""

    def __init__(self, tmp: Path, database: str, s3: str, redis_url: str) -> None:
        self.tmp = tmp
        self.https_port = free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"
        self.app_ports = [free_port(), free_port()]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("JCJG_")},
            "JCJG_ENV": "prod",
            "JCJG_SECRET_KEY": SECRET,
            "JCJG_DATABASE_URL": database,
            "JCJG_DATA_DIR": str(tmp / "data"),
            "JCJG_BASE_URL": self.base,
            "JCJG_LEDGER_ORIGIN": "scale.test/ledger",
            "JCJG_EMBEDDED_WORKER": "false",
            "JCJG_EXCHANGE_APPLY_WORKERS": "0",
            "JCJG_EXCHANGE_APPLY_POLL_SECONDS": "0.2",
            "JCJG_EXCHANGE_APPLY_LEASE_SECONDS": "3",  # a killed worker's lanes taken over
            "JCJG_BLOB_BACKEND": "s3",
            "JCJG_S3_ENDPOINT_URL": s3,
            "JCJG_S3_BUCKET": "jcjg-scale",
            **S3_KEYS,
            "JCJG_REDIS_URL": redis_url,
            "JCJG_REDIS_PREFIX": f"jcjg-scale-{secrets.token_hex(4)}",
            "JCJG_LEDGER_RATE_LIMIT_PER_MINUTE": "5",
        }
        self.apps: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.nginx: subprocess.Popen[bytes] | None = None
        self.logs: list[Any] = []

    def _spawn(self, *args: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        self.logs.append(log)
        return subprocess.Popen([str(Path(sys.executable).with_name("jcjg")), *args],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

    def start(self) -> None:
        """The first app alone (it makes the ledger's key in the shared data folder), then the
        second app and the two workers at once, then nginx."""
        self.apps.append(self._spawn("serve", "--port", str(self.app_ports[0]), name="app0"))
        self._healthy(0)
        self.apps.append(self._spawn("serve", "--port", str(self.app_ports[1]), name="app1"))
        for n in range(2):
            self.workers.append(self._spawn("worker", "--apply-workers", "2", "--poll", "1",
                                            name=f"worker{n}"))  # fmt: skip
        self._healthy(1)
        self._nginx()

    def _healthy(self, n: int) -> None:
        """Wait for app ``n`` to answer (servers.answering); failing, say what its log says
        (it stopped waiting as soon as the process died)."""
        try:
            answering(f"http://127.0.0.1:{self.app_ports[n]}", self.apps[n], f"app{n}", 90)
        except RuntimeError as error:
            raise AssertionError(f"{error}: {self.tail(f'app{n}')}") from error

    def _nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        chain, private = _certificate(self.tmp)
        site = NGINX_CONF.read_text()
        for old, new in (
            ("127.0.0.1:8001", f"127.0.0.1:{self.app_ports[0]}"),
            ("127.0.0.1:8002", f"127.0.0.1:{self.app_ports[1]}"),
            ("listen 443 ssl;", f"listen 127.0.0.1:{self.https_port} ssl;"),
            ("listen 80;", f"listen 127.0.0.1:{free_port()};"),
            ("/etc/ssl/jcjg/fullchain.pem", str(chain)),
            ("/etc/ssl/jcjg/privkey.pem", str(private)),
        ):
            assert old in site, old
            site = site.replace(old, new)
        (self.tmp / "jcjg.conf").write_text(site)
        temp = self.tmp / "nginx"
        temp.mkdir()
        (self.tmp / "nginx.conf").write_text(
            f"daemon off;\nworker_processes 1;\npid {temp}/nginx.pid;\n"
            f"error_log {temp}/error.log warn;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
            f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
            f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
            f"  include {self.tmp / 'jcjg.conf'};\n}}\n"
        )
        self.nginx = subprocess.Popen(
            [nginx, "-p", str(temp), "-c", str(self.tmp / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if self.get("/healthz").status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError("nginx did not start: " + (temp / "error.log").read_text())

    def trust(self) -> ssl.SSLContext:
        """The client's trust in the test's certificate (its own CA)."""
        return ssl.create_default_context(cafile=str(self.tmp / "fullchain.pem"))

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, verify=self.trust(), timeout=10)

    def tail(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        for process in [*self.apps, *self.workers, self.nginx]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.apps, *self.workers, self.nginx]:
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        for log in self.logs:
            log.close()


@pytest.fixture
def s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _redis_keys(url: str, prefix: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sorted(key.decode() for key in client.scan_iter(f"{prefix}:*"))
    finally:
        client.close()


def _provision(layout: Layout, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Any]]:
    """Two labs, each an institution and an Ed25519 client, with ``jcjg`` commands."""
    from jcjg.cli import main
    from jcjg.registry.codes import check_character

    command_line_on(monkeypatch, layout.env["JCJG_DATABASE_URL"], Path(layout.env["JCJG_DATA_DIR"]),
                    env="prod", secret_key=SECRET, base_url=layout.base,
                    ledger_origin="scale.test/ledger")  # fmt: skip
    monkeypatch.setattr(ledger, "_identity", ledger.log_identity())  # the run's, kept
    runner = CliRunner()
    labs = []
    for n, region in enumerate(("360402", "360102")):
        first17 = f"9136{region[2:]}MA38B5YT{n}"[:17]
        credit = first17 + check_character(first17)
        made = runner.invoke(main, ["institutions", "create", "--name", f"检测中心{n}",
                                    "--credit-code", credit, "--region", region])  # fmt: skip
        assert made.exit_code == 0, made.output
        code = json.loads(made.output)["code"]
        key = Ed25519PrivateKey.generate()
        public = layout.tmp / f"lab{n}.pub"
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        public.write_bytes(pem)
        client = runner.invoke(main, ["clients", "create", "--institution", code,
                                      "--alg", "ed25519", "--public-key", str(public)])  # fmt: skip
        assert client.exit_code == 0, client.output
        labs.append((code, json.loads(client.output)["key_id"], key))
    return labs


def _leaves(engine: Any) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(LedgerLeaf)
        return int(conn.scalar(query.where(LedgerLeaf.entry_type == "message:registry.labs")) or 0)


def _send_all(layout: Layout, lab: tuple[str, str, Any], count: int, sent: list[str],
              halfway: threading.Event) -> None:  # fmt: skip
    """A lab's system: ``count`` messages, each sent again until the platform answers (the
    exchange is idempotent by message_id)."""
    code, key_id, key = lab
    trusted = httpx.HTTPTransport(verify=layout.trust())  # the test's CA
    with Client(layout.base, key_id, key, alg="ed25519", timeout=10, transport=trusted) as lims:
        for n in range(count):
            if n == count // 2:
                halfway.set()
            payload = {"message_id": str(uuid.uuid4()), "institution_code": code,
                       "labs": [{"name": f"室{n % 3}", "address": "九江市长虹大道 1 号",
                                 "area_m2": f"{n + 1}.00", "specialties": ["01"]}]}  # fmt: skip
            deadline = time.monotonic() + 60
            while True:
                try:
                    lims.send("registry.labs", payload)
                    break
                except TransientError:  # a 502 from the killed process, a refused connection
                    assert time.monotonic() < deadline, "the platform did not answer again"
                    time.sleep(0.2)
            sent.append(payload["message_id"])
        blob = layout.tmp / f"{code}.pdf"
        blob.write_bytes(b"%PDF-1.4 scale-out " + code.encode() + secrets.token_bytes(64))
        sent.append("blob:" + lims.put_file(blob))


def _all_applied(engine: Any, ids: list[str], layout: Layout) -> list[Any]:
    """The labs' messages once every one is applied (or rejected), and once the ledger's job
    has put each in the log once."""
    deadline = time.monotonic() + 120
    while True:
        with engine.connect() as conn:
            rows = conn.execute(select(Message.message_id, Message.status).where(
                Message.institution_id.isnot(None))).all()  # fmt: skip
        if len(rows) >= len(ids) and all(status != "accepted" for _, status in rows):
            break
        assert time.monotonic() < deadline, (len(rows), layout.tail("worker1"))
        time.sleep(0.5)
    while (leaves := _leaves(engine)) < len(ids):
        assert time.monotonic() < deadline, (leaves, layout.tail("worker1"))
        time.sleep(0.5)
    assert leaves == len(ids)  # notarised once each
    return list(rows)


def test_the_documented_layout_loses_and_doubles_nothing_when_processes_die(
    tmp_path: Path, s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if BACKEND != "postgresql":
        pytest.skip("runs in the PostgreSQL run: the layout's database is PostgreSQL")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.fail("nginx is not installed (make sysdeps installs it)")
    import boto3

    redis_at = redis_url()
    database, drop = upgraded_database_url(tmp_path)
    s3_client = boto3.client(
        "s3", endpoint_url=s3, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    s3_client.create_bucket(Bucket="jcjg-scale")  # the operator's step
    layout = Layout(tmp_path, database, s3, redis_at)
    engine = make_engine(database)
    try:
        labs = _provision(layout, monkeypatch)
        layout.start()
        # the ledger's 5 a minute per address hold whichever app nginx picks
        answers = [layout.get("/ledger/key").status_code for _ in range(8)]
        assert answers == [200] * 5 + [429] * 3, answers
        assert _redis_keys(redis_at, layout.env["JCJG_REDIS_PREFIX"]) == [
            f"{layout.env['JCJG_REDIS_PREFIX']}:rate:ledger:127.0.0.1"
        ]  # kept on Redis, as configured
        count = _messages()
        sent: list[list[str]] = [[], []]
        halfway = [threading.Event(), threading.Event()]
        threads = [
            threading.Thread(target=_send_all, args=(layout, lab, count, sent[n], halfway[n]))
            for n, lab in enumerate(labs)
        ]
        for thread in threads:
            thread.start()
        assert halfway[0].wait(120)
        layout.apps[0].send_signal(signal.SIGKILL)  # mid-stream: one app and one worker
        layout.workers[0].send_signal(signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=600)
            assert not thread.is_alive()
        assert layout.apps[0].poll() == layout.workers[0].poll() == -signal.SIGKILL
        # nginx found the killed process gone (a reset answer, a refused connection) and sent
        # the rest to the other
        assert (
            f'upstream: "http://127.0.0.1:{layout.app_ports[0]}/'
            in (tmp_path / "nginx" / "error.log").read_text()
        )
        ids = [m for lab in sent for m in lab if not m.startswith("blob:")]
        assert len(ids) == 2 * count
        rows = _all_applied(engine, ids, layout)
        assert sorted(str(m) for m, _ in rows) == sorted(ids)  # each once
        assert {status for _, status in rows} == {"applied"}
        for lab in sent:
            digest = lab[-1].removeprefix("blob:")
            head = s3_client.head_object(Bucket="jcjg-scale", Key=f"sha256/{digest}")
            assert head["ContentLength"] > 64
        # the survivors still answer through nginx
        assert layout.get("/healthz").status_code == 200
    finally:
        layout.stop()
        engine.dispose()
        drop()
