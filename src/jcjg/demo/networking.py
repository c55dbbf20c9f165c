"""Demo child platforms for ``make run``: the demo platform is Jiangxi's provincial platform
(九江 uses its city module directly), and three city platforms below it forward to it, each in
one kind of trouble the province watches for (004 二):

- 南昌: has forwarded nothing for three weeks (child_platform_silent);
- 赣州: forwards, but its backlog has waited two hours (child_forward_lag);
- 上饶: its log was found rewritten when last checked, and its forwards are refused until an
  operator resumes it (child_log_inconsistent).

A fourth, 景德镇, has applied online to join (000 6.0.7) and waits on 接入申请 for the
province's decision.

Their addresses are the demo's (nothing answers there): the minute's check notes each as
unreachable, which is what the page shows beside the planted states. Idempotent: a child or an
application that exists (by name) is left as it is."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.ledger.note import generate_signer
from jcjg.networking.choices import ChildStatus
from jcjg.networking.models import Application, Child
from jcjg.networking.service import register_child

SILENT = ("南昌市建设工程检测监管平台", "360100", "jcjg.nc.example.invalid")
LAGGING = ("赣州市建设工程检测监管平台", "360700", "jcjg.gz.example.invalid")
REWRITTEN = ("上饶市建设工程检测监管平台", "361100", "jcjg.sr.example.invalid")
APPLYING = ("景德镇市建设工程检测监管平台", "360200", "jcjg.jdz.example.invalid")


def load(db: Session, settings: Settings, now: dt.datetime) -> int:
    """The three children described above; how many were created."""
    made = 0
    for name, region, host in (SILENT, LAGGING, REWRITTEN):
        if db.scalar(select(Child.id).where(Child.name == name)) is not None:
            continue
        _skey, vkey = generate_signer(f"{host}/ledger")
        child = register_child(
            db,
            settings,
            name=name,
            region_code=region,
            base_url=f"https://{host}",
            log_key=vkey,
        ).child
        child.created_at = now - dt.timedelta(days=200)
        child.checked_size, child.checked_at = 48_100, now - dt.timedelta(days=1)
        child.cosigned_at = child.checked_at
        child.next_index = child.forwarded = 48_230
        if (name, region, host) == SILENT:
            child.last_forward_at = now - dt.timedelta(days=21)
        elif (name, region, host) == LAGGING:
            child.last_forward_at = now - dt.timedelta(seconds=40)
            child.backlog, child.oldest_waiting_at = 1_840, now - dt.timedelta(hours=2)
        else:
            child.last_forward_at = now - dt.timedelta(days=1, minutes=3)
            child.status = ChildStatus.HALTED.value
            child.halted_reason = "日志被改写：大小 48236 的树不以先前核验的大小 48100 的树为前缀"
        made += 1
    made += _application(db, now)
    db.flush()
    return made


def _application(db: Session, now: dt.datetime) -> int:
    """景德镇's pending application, as ``POST /exchange/v1/platform-applications`` keeps it."""
    import secrets

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    name, region, host = APPLYING
    if db.scalar(select(Application.id).where(Application.name == name)) is not None:
        return 0
    _skey, vkey = generate_signer(f"{host}/ledger")
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    row = Application(
        reference=secrets.token_urlsafe(18), name=name, region_code=region,
        base_url=f"https://{host}", log_key=vkey, log_origin=f"{host}/ledger",
        public_key=public, contact_name="王建国", contact_phone="13907981234",
        contact_email="jcjg@jdz.example.invalid",
        note="景德镇市住建局检测监管平台申请接入省平台，已完成网络安全等级保护测评",
    )  # fmt: skip
    row.created_at = now - dt.timedelta(hours=5)
    db.add(row)
    return 1
