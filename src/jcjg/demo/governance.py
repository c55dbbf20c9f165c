"""Data quality and sharing in the demo region (docs/governance.md, docs/sharing.md): three data
sets published, the city archive subscribed to the equipment; the province asks every machine's
calibration date; the 检测中心's LIMS reports the machines
it scrapped, one message each, without their calibration dates, through the exchange's own
acceptance and apply steps (as the rest of the demo writes through the services: the request's
signature is taken as verified, the demo holding no lab's private key); the quality rules check
them on arrival, the centre's score falls
below the line and ``data_quality_low`` warns of it.

The province also converts machines' models written in full-width characters to half-width
(数据转换: the centre's scrapped machines were copied from an old ledger as ``ＨＴ－２２５``)
and compares each test record with its commission, received in another message (关联一致性):
the centre's LIMS sends a commission registered today and a brick test it copied from a paper
form, run just before midnight, under it, which the rule finds started before its commission."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING
from jcjg.demo.exchange import DRIFTING
from jcjg.exchange import apply, cache, service
from jcjg.exchange.auth import Caller
from jcjg.exchange.clients import verifier_of
from jcjg.exchange.models import Client, ClientKey
from jcjg.exchange.signatures.verify import Verified
from jcjg.exchange.types import message_types
from jcjg.governance import conversion
from jcjg.governance.models import (
    Consumer,
    ConversionRule,
    DataSet,
    DataSetType,
    QualityRule,
    Subscription,
)
from jcjg.registry.models import Equipment, Lab, Person
from jcjg.sampling.models import Commission
from jcjg.tenancy.models import Institution

SCRAPPED = 24  # enough checks for the rule to judge (at least 20 in 30 days)
MODEL = "ＨＴ－２２５"  # as copied from the old ledger: full-width, converted on arrival
CONVERSION = {"name": "设备型号全角转半角", "kind": "halfwidth",
              "message_type": "registry.equipment", "path": "equipment[].model", "params": {},
              "clause": "000 7.1.4"}  # fmt: skip


def _rules(db: Session) -> None:
    """What the province of the demo publishes beyond the shipped rules (which compare test
    records with their commissions): it asks every machine's calibration date (shipped switched
    off) and converts full-width models."""
    db.execute(
        update(QualityRule)
        .where(QualityRule.path == "equipment[].calibration_valid_until")
        .values(enabled=True)
    )
    db.add(ConversionRule(**CONVERSION, enabled=True))
    db.flush()
    conversion.MEMORY.forget()  # the apply below converts by it


def _send(
    db: Session, info: Any, kind: str, payload: dict[str, Any], received: dt.datetime
) -> None:
    """One message through the exchange's acceptance, as signed at ``received``."""
    body = json.dumps({"message_id": str(uuid.uuid4()), **payload}, ensure_ascii=False).encode()
    signed = Verified(
        label="sig", keyid=info.key_id, alg=None, created=int(received.timestamp()),
        expires=None, nonce=uuid.uuid4().hex, tag=None, covered=(), params={},
        signature_params="", signature=b"",
    )  # fmt: skip
    caller = Caller(client=info.client, key=info, verified=signed, body=body,
                    signature_input="", signature="")  # fmt: skip
    accepted = service.accept(db, caller, message_types()[kind], now=received)
    assert isinstance(accepted, service.Accepted)
    service.store(db, [accepted])


def _copied_test(
    db: Session, lab: Institution, room: str | None, now: dt.datetime
) -> list[tuple[str, dict[str, Any], dt.datetime]]:
    """A commission registered today and a brick test copied from a paper form under it,
    run just before midnight: before the commission's date (关联一致性 fails). Entered by hand,
    it is uploaded within the 24 hours allowed (unless the demo loads in the last minutes of
    a day)."""
    latest = db.scalars(
        select(Commission).where(Commission.institution_id == lab.id).order_by(Commission.id.desc())
    ).first()
    inspector = db.scalars(
        select(Person).where(Person.institution_id == lab.id, Person.is_inspector.is_(True))
        .order_by(Person.id)
    ).first()  # fmt: skip
    if latest is None or inspector is None or room is None:
        return []
    from jcjg.projects.models import Project

    project_code = db.scalar(select(Project.code).where(Project.id == latest.project_id))
    today = now.astimezone(BEIJING).date()
    seq = 1 + max(
        [c.seq for c in db.scalars(select(Commission).where(
            Commission.institution_id == lab.id, Commission.year == today.year)) if c.seq],
        default=0,
    )  # fmt: skip
    number = f"JJZX-WT-{today.year}-{seq:04d}"
    midnight = dt.datetime.combine(today, dt.time(), tzinfo=BEIJING)
    commission = {"institution_code": lab.code, "number": number, "sequence": seq,
                  "commissioned_on": today.isoformat(), "project_code": project_code,
                  "client_unit": "九江市建设工程有限公司", "items": ["0107"],
                  "status": "received", "samples": []}  # fmt: skip
    record = {"institution_code": lab.code, "number": f"JJZX-JL-{today.year}-GOV01",
              "kind": "other", "item_code": "0107", "grade": "MU10", "lab_name": room,
              "equipment": [], "inspectors": [{"name": inspector.name,
                                               "id_number": inspector.id_number}],
              "commission_number": number,
              "started_at": (midnight - dt.timedelta(minutes=20)).isoformat(),
              "ended_at": (midnight - dt.timedelta(minutes=2)).isoformat(),
              "acquisition": "manual", "judgement": "none",
              "environment": {"temperature_c": 20.5, "humidity_percent": 60},
              "specimens": [{"position": n, "values": {"peak_kn": v}}
                            for n, v in ((1, 152.4), (2, 148.9), (3, 155.0))]}  # fmt: skip
    return [("commission", commission, now - dt.timedelta(minutes=3)),
            ("test_record", record, now - dt.timedelta(minutes=2))]  # fmt: skip


def _sharing(db: Session) -> None:
    """The catalogue's first data sets and the city archive subscribed to the equipment (its
    receiving system, an example address, cannot be reached from the demo: its deliveries wait
    and are retried, then listed as failed)."""
    now = utcnow()
    sets = [
        DataSet(
            code="reports",
            name="检测报告",
            category="检测报告",
            message_type="report",
            grade="public",
            description="报告编号、结论与防伪监督码，签章报告文件及撤回，供工程验收核验",
            types=[
                DataSetType(message_type=t, position=i)
                for i, t in enumerate(("report", "report_file", "report_withdrawal"))
            ],
        ),
        DataSet(
            code="equipment",
            name="仪器设备",
            category="检测机构",
            message_type="registry.equipment",
            grade="public",
            description="检测机构的仪器设备及检定校准",
        ),
        DataSet(
            code="staff",
            name="检测人员",
            category="检测机构",
            message_type="registry.staff",
            grade="conditional",
            description="检测人员及其证书，含个人信息，审核后开放",
        ),
    ]
    for row in sets:
        row.status, row.published_at = "published", now
    db.add_all(sets)
    consumer = Consumer(
        name="九江市城市建设档案馆",
        kind="department",
        contact="档案接收科",
        endpoint="https://archives.jiujiang.example.cn/jcjg/deliveries",
    )
    db.add(consumer)
    db.flush()
    db.add(
        Subscription(
            consumer_id=consumer.id,
            data_set_id=sets[1].id,
            status="active",
            masking={"equipment[].calibration_body": "generalise"},
        )
    )
    db.flush()


def load(
    db: Session, settings: Settings, institutions: dict[str, Institution], now: dt.datetime
) -> int:
    """The centre's messages, accepted and applied; how many were sent."""
    lab = institutions.get("jj-center")
    client = (
        db.scalar(select(Client).where(Client.institution_id == lab.id, Client.name == DRIFTING))
        if lab
        else None
    )
    key = db.scalar(select(ClientKey).where(ClientKey.client_id == client.id)) if client else None
    room = (
        db.scalar(select(Lab.name).where(Lab.institution_id == lab.id).order_by(Lab.id))
        if lab
        else None
    )
    if lab is None or key is None:
        return 0
    if db.scalar(
        select(Equipment.id).where(
            Equipment.institution_id == lab.id, Equipment.asset_number == "BF-001"
        )
    ):
        return 0  # loaded before
    _rules(db)
    _sharing(db)
    info = cache.load_key(db, key.key_id, functools.partial(verifier_of, settings))
    assert info is not None
    for n in range(SCRAPPED):
        received = now - dt.timedelta(minutes=5 * (SCRAPPED - n))  # the last two hours
        item = {"asset_number": f"BF-{n + 1:03d}", "name": "混凝土回弹仪", "model": MODEL,
                "status": "retired"}  # fmt: skip
        if room:
            item["lab_name"] = room
        _send(db, info, "registry.equipment", {"institution_code": lab.code, "equipment": [item]},
              received)  # fmt: skip
    for kind, payload, received in _copied_test(db, lab, room, now):
        _send(db, info, kind, payload, received)
    db.commit()
    # applied here, in the demo's session, as a worker would: lane by lane, batch by batch
    holder = apply.holder_id()
    lane = service.lane_of(lab.id, lab.region_code)
    if apply.claim(db, lane, holder, utcnow()):
        while apply.apply_batch(db, settings, lane, holder):
            pass
        apply.release(db, lane, holder)
    return SCRAPPED
