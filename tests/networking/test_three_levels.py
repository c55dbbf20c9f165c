"""Three real platforms on loopback, nation <- province <- city, each its own process and
database (the province's on PostgreSQL, the others SQLite files), a lab posting through the city:

- every lab message reaches the province and the nation once, in order, each copy verified end
  to end against the lab's own Ed25519 signature (attestation ``lab_signature``);
- the city is killed mid-stream and restarted: nothing lost, nothing doubled;
- the province's and the nation's ``/v/<code>`` verify the report the city issued, with the
  city's code and token;
- the province cosigns the city's checkpoint, which the city then serves with both signatures;
- a message the city altered after the lab signed it is refused by the province;
- the city's log truncated and re-appended raises ``child_log_inconsistent`` on the province,
  which halts the city's forwards.

`make test` runs a short version (``JCJG_NETWORK_MESSAGES`` = 12 messages); `make bench` more.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from jcjg.alerts.engine import run_rule
from jcjg.client import Client
from jcjg.client.errors import TransientError
from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker, utcnow
from jcjg.core.workdays import beijing_date
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Message
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerCheckpoint, LedgerCounter, LedgerHead, LedgerLeaf, LedgerNode
from jcjg.ledger.note import generate_signer
from jcjg.networking.models import Child, Forwarded
from jcjg.networking.service import register_child
from jcjg.networking.wire import RELAYED, b64
from jcjg.penalties import service as penalty_service
from jcjg.penalties.models import Penalty
from jcjg.refdata import upgrade
from jcjg.tenancy import facts as tenancy_facts
from jcjg.tenancy.models import Institution
from tests.conftest import BACKEND, upgraded_database_url
from tests.factories import Factory
from tests.servers import answering, free_port

SECRET = "network-test-secret-key-0123456789abcdef"
LAB_CODE = "JC360403-0001"
PENALTY = "浔建罚字〔2026〕第 7 号"


def _messages() -> int:
    return int(os.environ.get("JCJG_NETWORK_MESSAGES", "12"))


class Platform:
    """One platform: its database, its log's keys, its forward key, and its server process."""

    def __init__(self, name: str, url: str, data_dir: Path) -> None:
        self.name = name
        self.url = url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.origin = f"{name}.test/ledger"
        self.skey, self.vkey = generate_signer(self.origin)
        self.forward_key = Ed25519PrivateKey.generate()
        self.settings = Settings(
            env="test", secret_key=SECRET, database_url=url, data_dir=data_dir,
            base_url=self.base, ledger_origin=self.origin, ledger_signing_key=self.skey,
        )  # fmt: skip
        self.env = {
            **os.environ,
            "JCJG_ENV": "test",
            "JCJG_SECRET_KEY": SECRET,
            "JCJG_DATABASE_URL": url,
            "JCJG_DATA_DIR": str(data_dir),
            "JCJG_BASE_URL": self.base,
            "JCJG_LEDGER_ORIGIN": self.origin,
            "JCJG_LEDGER_SIGNING_KEY": self.skey,
            "JCJG_EMBEDDED_WORKER": "false",
            "JCJG_EXCHANGE_RATE_LIMIT_PER_MINUTE": "1000000",
            "JCJG_EXCHANGE_APPLY_POLL_SECONDS": "0.1",
            "JCJG_UPSTREAM_POLL_SECONDS": "0.1",
            # a killed process's lanes and cursor are taken over after this long
            "JCJG_EXCHANGE_APPLY_LEASE_SECONDS": "3",
            "JCJG_UPSTREAM_LEASE_SECONDS": "3",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.forwarder: subprocess.Popen[bytes] | None = None
        if url.startswith("sqlite"):
            upgrade(url)  # the others are copies of the run's upgraded database
        self.engine = make_engine(url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)

    def upstream(self, parent: Platform, key_id: str) -> None:
        pem = self.forward_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        self.env.update(
            JCJG_UPSTREAM_URL=parent.base,
            JCJG_UPSTREAM_KEY_ID=key_id,
            JCJG_UPSTREAM_KEY=pem.decode(),
            JCJG_UPSTREAM_LOG_KEY=parent.vkey,
        )

    def adopt(self, child: Platform, region_code: str) -> None:
        """Register ``child`` below this platform and configure it to forward here."""
        with self.sessions() as db:
            made = register_child(
                db, self.settings, name=f"{child.name} 平台", region_code=region_code,
                base_url=child.base, log_key=child.vkey,
                public_key=b64(child.forward_key.public_key().public_bytes_raw()).encode(),
            )  # fmt: skip
            db.commit()
            child.upstream(self, made.key.key.key_id)

    def start(self, **env: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "jcjg.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            env={**self.env, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        answering(self.base, self.process, f"the {self.name} platform")

    def forward(self) -> None:
        """Forward upstream from a process of its own (``jcjg network forward``: a worker)."""
        self.forwarder = subprocess.Popen(
            [str(Path(sys.executable).with_name("jcjg")), "network", "forward"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        for process in (self.process, self.forwarder):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)

    def stop(self, process: subprocess.Popen[bytes] | None = None) -> None:
        for one in (process,) if process is not None else (self.process, self.forwarder):
            if one is not None and one.poll() is None:
                one.send_signal(signal.SIGTERM)
                try:
                    one.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    one.send_signal(signal.SIGKILL)
                    one.wait(timeout=10)

    @contextlib.contextmanager
    def acting(self) -> Iterator[None]:
        """Run this platform's own work in the test process (its log signs as this platform)."""
        previous = ledger.log_identity()
        ledger.configure(self.settings)
        try:
            yield
        finally:
            ledger._identity = previous  # the run's own

    def integrate(self) -> None:
        with self.acting(), self.sessions() as db:
            while ledger.integrate(db):
                db.commit()
            db.commit()

    def check_children(self) -> None:
        from jcjg.networking.jobs import RULES
        from jcjg.networking.logs import check_all

        with self.acting(), self.sessions() as db:
            check_all(db)
            for rule_id in RULES:
                run_rule(db, rule_id)
            db.commit()


def _lab_at_the_city(city: Platform) -> None:
    """The lab's institution registered at the city, notarised as its pages do: the province
    rebuilds it from the city's leaf, and the nation from the province's relay of it."""
    with city.sessions() as db:
        inst = Factory(db, city.settings).institution(region_code="360403", name="九江检测")
        inst.code = LAB_CODE
        db.flush()
        with city.acting():
            tenancy_facts.notarise_registered(db, inst)
            # a penalty decided at the city: its facts and names go up beside the leaf only
            today = beijing_date(utcnow())
            penalty = Penalty(
                number=PENALTY, institution_id=inst.id, region_code="360403",
                issuer_region_code="360400", issuer="九江市住房和城乡建设局", person_ids=[],
                person_names=["李四"], basis_code="jz57", basis_article="第三十条",
                facts="出具虚假检测报告。", kind="fine", amount=Decimal("30000.00"),
                decided_on=today, public_from=today, public_until=today + dt.timedelta(days=90),
            )  # fmt: skip
            db.add(penalty)
            db.flush()
            ledger.notarise(
                db, penalty_service.DECIDE_TYPE, penalty_service.ledger_entry(db, penalty)
            )
        db.commit()


def _lims(city: Platform, key: Ed25519PrivateKey) -> str:
    with city.sessions() as db:
        inst = db.scalars(select(Institution).where(Institution.code == LAB_CODE)).one()
        row = clients.create_client(db, name="LIMS", institution=inst, status=ClientStatus.ACTIVE)
        issued = clients.issue_key(db, row, city.settings, alg="ed25519",
                                   public_key=key.public_key().public_bytes_raw())  # fmt: skip
        db.commit()
        return issued.key.key_id


def _send(lims: Client, message_type: str, payload: dict) -> str:
    """Send until the city answers (it may be down for a moment); the message id."""
    payload = {"message_id": str(uuid.uuid4()), "institution_code": LAB_CODE, **payload}
    deadline = time.monotonic() + 60
    while True:
        try:
            lims.send(message_type, payload)
            return payload["message_id"]
        except TransientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _until(what: Callable[[], bool], timeout: float = 90, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {message}")
        time.sleep(0.2)


def _lab_rows(platform: Platform) -> list[Message]:
    with platform.sessions() as db:
        return list(
            db.scalars(
                select(Message).where(Message.institution_id.isnot(None)).order_by(Message.id)
            )
        )


def _applied(platform: Platform, count: int) -> Callable[[], bool]:
    def done() -> bool:
        rows = _lab_rows(platform)
        return len(rows) >= count and all(r.status != "accepted" for r in rows)

    return done


@pytest.mark.slow
@pytest.mark.migrations  # databases of their own, migrated
def test_a_lab_message_reaches_province_and_nation_once_in_order_verified(
    tmp_path: Path,
) -> None:
    if BACKEND != "postgresql":
        pytest.skip("runs once, in the PostgreSQL run (the province's database is PostgreSQL)")
    nation_db, drop_nation = upgraded_database_url(tmp_path)
    province_db, drop_province = upgraded_database_url(tmp_path)
    nation = Platform("nation", nation_db, tmp_path / "nation")
    province = Platform("province", province_db, tmp_path / "province")
    city = Platform("city", f"sqlite:///{tmp_path / 'city.db'}", tmp_path / "city")
    city2_db, drop_city2 = upgraded_database_url(tmp_path)
    city2 = Platform("city2", city2_db, tmp_path / "city2")  # forwards from its app process
    levels = [nation, province, city, city2]
    _lab_at_the_city(city)
    city.integrate()  # its checkpoint covers them: the province relays them with its proof
    nation.adopt(province, "360000")
    province.adopt(city, "360400")
    province.adopt(city2, "360100")
    lab_key = Ed25519PrivateKey.generate()
    key_id = _lims(city, lab_key)
    try:
        for platform in levels:
            platform.start(JCJG_UPSTREAM_FORWARDER="false" if platform is city else "true")
        city.forward()
        total = _messages()
        sent = _through_a_city_restart(city, key_id, lab_key, total)
        _until(_applied(nation, len(sent)), message="every message at the nation")
        _once_in_order_verified(city, province, nation, sent)
        _codes_verify_upstream(city, province, nation)
        _the_citys_registration_relayed(city, province, nation)
        _a_province_with_two_cities(province, city, city2)
        _cosigned(city, province)
        _an_altered_message_is_refused(city, province, key_id, lab_key)
        _a_rewritten_log_halts_the_city(city, province)
    finally:
        for platform in levels:
            platform.stop()
            platform.engine.dispose()
        drop_nation()
        drop_province()
        drop_city2()


def _through_a_city_restart(
    city: Platform, key_id: str, lab_key: Ed25519PrivateKey, total: int
) -> list[str]:
    """``total`` registry messages and a report, the city killed halfway (SIGKILL) and
    restarted while the lab keeps sending."""
    sent: list[str] = []
    with Client(city.base, key_id, lab_key, alg="ed25519", timeout=5) as lims:
        for n in range(total):
            if n == total // 2:  # the city's server and its forwarder killed mid-stream
                city.kill()
                city.start(JCJG_UPSTREAM_FORWARDER="false")
                city.forward()
            labs = [
                {"name": f"室{n % 5}", "address": "九江市长虹大道 1 号", "area_m2": f"{n + 1}.00"}
            ]
            sent.append(_send(lims, "registry.labs", {"labs": labs}))
        report = {
            "number": "BG-2026-0001", "sequence": 1, "items": ["0108"], "judgement": "conforming",
            "signatories": [{"name": "王检测"}], "issued_on": utcnow().date().isoformat(),
        }  # fmt: skip
        sent.append(_send(lims, "report", report))
    return sent


def _once_in_order_verified(
    city: Platform, province: Platform, nation: Platform, sent: list[str]
) -> None:
    on_city = [r.message_id for r in _lab_rows(city)]
    assert on_city == sent
    for level in (province, nation):
        rows = _lab_rows(level)
        assert [r.message_id for r in rows] == sent, level.name  # once each, in order
        assert {r.status for r in rows} == {"applied"}, [r.problem for r in rows if r.problem]
        assert {r.origin["attestation"] for r in rows} == {"lab_signature"}
    # the province's copies name the city's leaves; the nation's the province's
    with city.sessions() as db:
        leaves = {r.leaf_hash.hex() for r in db.scalars(select(Message))}
    assert {r.origin["leaf_hash"] for r in _lab_rows(province)} == leaves
    assert {r.origin["platform"] for r in _lab_rows(nation)} == {province.origin}


def _the_citys_registration_relayed(city: Platform, province: Platform, nation: Platform) -> None:
    """The nation holds the lab as the city registered it, rebuilt once from the province's
    relay, whose leaf names the city's: city leaf -> province leaf -> nation."""
    with city.sessions() as db:
        first = db.scalars(
            select(LedgerLeaf).where(LedgerLeaf.entry_type == tenancy_facts.REGISTER)
        ).one()
    with province.sessions() as db:
        relay = db.scalars(
            select(LedgerLeaf).where(LedgerLeaf.entry_type == tenancy_facts.REGISTER)
        ).one()
        named = json.loads(relay.entry)["data"][RELAYED]
        assert (named["platform"], named["index"], named["leaf_hash"]) == (
            city.origin, first.leaf_index, first.leaf_hash.hex(),
        )  # fmt: skip
    with nation.sessions() as db:
        row = db.scalars(
            select(Forwarded).where(Forwarded.entry_type == tenancy_facts.REGISTER)
        ).one()
        assert (row.origin_index, row.leaf_hash, row.outcome) == (
            relay.leaf_index, relay.leaf_hash, "rebuilt",
        )  # fmt: skip
        assert (row.source_origin, row.source_index) == (city.origin, first.leaf_index)
        inst = db.scalars(select(Institution).where(Institution.code == LAB_CODE)).one()
        assert inst.region_code == "360403"
        # the city's penalty, with the facts only its content carried, through the province
        penalty = db.scalars(select(Penalty).where(Penalty.number == PENALTY)).one()
        assert (penalty.origin, penalty.facts, penalty.person_names) == (
            "city 平台", "出具虚假检测报告。", ["李四"],
        )  # fmt: skip


def _codes_verify_upstream(city: Platform, province: Platform, nation: Platform) -> None:
    (report,) = [r for r in _lab_rows(city) if r.message_type == "report"]
    code, token = report.results["supervision_code"], report.results["token"]
    for level in (city, province, nation):
        found = httpx.get(f"{level.base}/v/{code}.json", params={"t": token}, timeout=10).json()
        assert found["outcome"] == "genuine", (level.name, found)
        assert found["report_number"] == "BG-2026-0001"


def _a_province_with_two_cities(province: Platform, city: Platform, city2: Platform) -> None:
    """``jcjg simulate --city …`` against the running platforms: each city's labs send to their
    city, and the province (the command's database) has everything each city accepted."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("jcjg")), "simulate", "--institutions", "1",
         "--days", "1", "--violations", "0", "--wait", "60",
         "--city", f"360400,{city.base},{city.url}", "--city", f"360100,{city2.base},{city2.url}"],
        env=province.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if "省平台已收到" in line]
    assert len(lines) == 2, done.stdout
    assert all("拒收 0 条" in line for line in lines), lines


def _cosigned(city: Platform, province: Platform) -> None:
    city.integrate()
    province.check_children()
    with province.sessions() as db:
        child = db.scalars(select(Child).where(Child.log_origin == city.origin)).one()
        assert child.status == "active", child.last_check_error
        assert child.cosigned_at is not None, child.last_check_error
        size = child.checked_size
    note = httpx.get(f"{city.base}/ledger/checkpoint", timeout=10).text
    assert f"\n{size}\n" in note
    assert f"— {province.origin} " in note
    page = httpx.get(f"{city.base}/ledger", timeout=10).text
    assert 'data-testid="cosigned"' in page


def _an_altered_message_is_refused(
    city: Platform, province: Platform, key_id: str, lab_key: Ed25519PrivateKey
) -> None:
    """A compromised city: it changes a lab's message after accepting it (its own log
    notarising the changed one); the province refuses that leaf, the lab's signature being
    the lab's."""
    city.stop(city.forwarder)
    with Client(city.base, key_id, lab_key, alg="ed25519", timeout=5) as lims:
        labs = [{"name": "室9", "address": "九江市长虹大道 1 号", "area_m2": "9.00"}]
        message_id = _send(lims, "registry.labs", {"labs": labs})
    _until(lambda: all(r.status != "accepted" for r in _lab_rows(city)), message="applied")
    with city.sessions() as db:
        row = db.scalars(select(Message).where(Message.message_id == message_id)).one()
        signature = row.signature
        row.signature = signature[:-6] + ("A" if signature[-6] != "A" else "B") + signature[-5:]
        db.commit()
    city.forward()
    with province.sessions() as db:
        child_id = db.scalar(select(Child.id).where(Child.log_origin == city.origin))
        known = db.scalar(
            select(func.max(Forwarded.origin_index)).where(Forwarded.child_id == child_id)
        )

    def refused() -> bool:
        with province.sessions() as db:
            return (
                db.scalars(
                    select(Forwarded).where(
                        Forwarded.child_id == child_id,
                        Forwarded.origin_index > (known or 0),
                        Forwarded.outcome == "refused",
                    )
                ).first()
                is not None
            )

    _until(refused, message="the altered message refused")
    with province.sessions() as db:
        row = db.scalars(select(Forwarded).where(Forwarded.outcome == "refused")).one()
        assert row.problem["type"].endswith("network-lab-signature-invalid")
        assert db.scalar(select(func.count()).select_from(Message).where(
            Message.message_id == message_id)) == 0  # fmt: skip


def _a_rewritten_log_halts_the_city(city: Platform, province: Platform) -> None:
    """The city's log truncated by three leaves and re-appended with others."""
    city.stop(city.forwarder)
    with city.sessions() as db:
        size = db.scalar(select(func.count()).select_from(LedgerLeaf))
        keep = size - 3
        db.execute(delete(LedgerLeaf).where(LedgerLeaf.leaf_index >= keep))
        db.execute(delete(LedgerNode))
        db.execute(delete(LedgerCheckpoint))
        db.execute(update(LedgerHead).values(size=0, root_hash=merkle.root_hash([])))
        for n in range(4):
            entry = ledger.envelope("sample:seal", {"rewritten": n}, utcnow())
            db.add(LedgerLeaf(leaf_index=keep + n, leaf_hash=merkle.leaf_hash(entry),
                              entry_type="sample:seal", entry=entry))  # fmt: skip
        db.execute(update(LedgerCounter).values(next_index=keep + 4))
        db.commit()
    city.integrate()
    province.check_children()
    with province.sessions() as db:
        child = db.scalars(select(Child).where(Child.log_origin == city.origin)).one()
        assert child.status == "halted"
        from jcjg.alerts.models import Alert

        (alert,) = db.scalars(select(Alert).where(Alert.rule_id == "child_log_inconsistent"))
        assert alert.status == "open"
        assert alert.severity == "critical"
    # its forwards are refused until an operator resumes it
    item = {"index": 0, "leaf_hash": "0" * 64, "entry": base64.b64encode(b"{}").decode()}
    body = json.dumps(
        {"forward_version": 1, "origin": city.origin, "first": 0, "items": [item]}
    ).encode()
    with Client(province.base, city.env["JCJG_UPSTREAM_KEY_ID"], city.forward_key,
                alg="ed25519") as as_city:  # fmt: skip
        answer = as_city.request("POST", "/exchange/v1/forwards", body=body,
                                 content_type="application/json")  # fmt: skip
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("network-child-halted")
