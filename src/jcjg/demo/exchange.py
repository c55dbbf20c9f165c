"""Demo exchange clients for ``make run``: the demo lab (九江市建设工程质量检测中心) has two
approved systems on the data exchange, both in trouble, as the monitor (000 6.0.4) finds them:

- its LIMS, whose clock has drifted: most of this hour's uploads are refused for a signature
  time out of range (client_error_spike);
- the tablets of its on-site testing team, which uploaded for a week after approval and have
  sent nothing for a month since (client_silent).

The counters are those the monitor keeps per client, hour, message type and outcome. Each
system has the Ed25519 key it signs with (its public key registered at approval; the private
key is the lab's and is not kept here).
Idempotent: a client that exists (by name) is left as it is."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.exchange import clients as client_service
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Client, ClientStat
from jcjg.exchange.monitor import hour_of
from jcjg.tenancy.models import Institution

DRIFTING = "检测中心 LIMS"
SILENT = "检测中心现场检测平板"
STALE = "exchange-signature-stale"  # the problem a drifted clock's signatures meet


def load(
    db: Session, settings: Settings, institutions: dict[str, Institution], now: dt.datetime
) -> int:
    """The two clients described above; how many were created."""
    lab = institutions.get("jj-center")
    if lab is None:
        return 0
    made = 0
    if _client(db, lab, DRIFTING) is None:
        client = _approved(
            db, settings, lab, DRIFTING, "检测数据、委托与报告的实时上传",
            now - dt.timedelta(days=90),
        )  # fmt: skip
        client.last_seen_at = now
        this_hour = hour_of(now)
        _count(db, client, this_hour - dt.timedelta(hours=1), "test_record", "accepted", 31)
        _count(db, client, this_hour, "test_record", "accepted", 9)
        _count(db, client, this_hour, "test_record", STALE, 23)
        _count(db, client, this_hour, "report", STALE, 4)
        made += 1
    if _client(db, lab, SILENT) is None:
        approved = now - dt.timedelta(days=38)
        client = _approved(db, settings, lab, SILENT, "现场检测方案与记录的上传", approved)
        last = approved + dt.timedelta(days=7, hours=3)
        client.last_seen_at = last
        _count(db, client, hour_of(last), "onsite_record", "accepted", 2)
        _count(db, client, hour_of(last), "onsite_plan", "accepted", 1)
        made += 1
    db.flush()
    return made


def _client(db: Session, lab: Institution, name: str) -> Client | None:
    return db.scalar(select(Client).where(Client.institution_id == lab.id, Client.name == name))


def _approved(
    db: Session,
    settings: Settings,
    lab: Institution,
    name: str,
    purpose: str,
    decided_at: dt.datetime,
) -> Client:
    client = client_service.create_client(
        db,
        name=name,
        institution=lab,
        status=ClientStatus.ACTIVE,
        vendor="江西建科信息技术有限公司",
        contact_name="王信息",
        purpose=purpose,
    )
    client.created_at = decided_at - dt.timedelta(days=2)  # applied, then approved
    client.decided_at = decided_at
    client.decision_note = "材料齐全，同意接入"
    public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()  # the lab keeps its own
    client_service.issue_key(
        db, client, settings, alg="ed25519", public_key=public,
        valid_from=decided_at + dt.timedelta(hours=1),
    )  # fmt: skip
    return client


def _count(
    db: Session, client: Client, hour: dt.datetime, message_type: str, outcome: str, count: int
) -> None:
    db.add(
        ClientStat(
            client_id=client.id,
            hour=hour,
            message_type=message_type,
            outcome=outcome,
            count=count,
            bytes=count * 48_000,
            latency_ms_sum=count * 85.0,
            latency_ms_max=240.0,
        )
    )
