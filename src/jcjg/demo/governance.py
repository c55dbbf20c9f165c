"""Data quality and sharing in the demo region (docs/governance.md, docs/sharing.md): three data
sets published, the city archive subscribed to the equipment; the province asks every machine's
calibration date; the 检测中心's LIMS reports the machines
it scrapped, one message each, without their calibration dates, through the exchange's own
acceptance and apply steps (as the rest of the demo writes through the services: the request's
signature is taken as verified, the demo holding no lab's private key); the quality rules check
them on arrival, the centre's score falls
below the line and ``data_quality_low`` warns of it."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.demo.exchange import DRIFTING
from jcjg.exchange import apply, cache, service
from jcjg.exchange.auth import Caller
from jcjg.exchange.clients import verifier_of
from jcjg.exchange.models import Client, ClientKey
from jcjg.exchange.signatures.verify import Verified
from jcjg.exchange.types import message_types
from jcjg.governance.models import Consumer, DataSet, QualityRule, Subscription
from jcjg.registry.models import Equipment, Lab
from jcjg.tenancy.models import Institution

SCRAPPED = 24  # enough checks for the rule to judge (at least 20 in 30 days)


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
            description="报告编号、结论与防伪监督码，供工程验收核验",
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
    # the province of the demo asks every machine's calibration date (shipped switched off)
    db.execute(
        update(QualityRule)
        .where(QualityRule.path == "equipment[].calibration_valid_until")
        .values(enabled=True)
    )
    _sharing(db)
    info = cache.load_key(db, key.key_id, functools.partial(verifier_of, settings))
    assert info is not None
    kind = message_types()["registry.equipment"]
    for n in range(SCRAPPED):
        received = now - dt.timedelta(minutes=5 * (SCRAPPED - n))  # the last two hours
        item = {"asset_number": f"BF-{n + 1:03d}", "name": "混凝土回弹仪", "status": "retired"}
        if room:
            item["lab_name"] = room
        body = json.dumps(
            {"message_id": str(uuid.uuid4()), "institution_code": lab.code, "equipment": [item]},
            ensure_ascii=False,
        ).encode()
        signed = Verified(
            label="sig", keyid=key.key_id, alg=None, created=int(received.timestamp()),
            expires=None, nonce=uuid.uuid4().hex, tag=None, covered=(), params={},
            signature_params="", signature=b"",
        )  # fmt: skip
        caller = Caller(client=info.client, key=info, verified=signed, body=body,
                        signature_input="", signature="")  # fmt: skip
        accepted = service.accept(db, caller, kind, now=received)
        assert isinstance(accepted, service.Accepted)
        service.store(db, [accepted])
    db.commit()
    # applied here, in the demo's session, as a worker would: lane by lane, batch by batch
    holder = apply.holder_id()
    lane = service.lane_of(lab.id, lab.region_code)
    if apply.claim(db, lane, holder, utcnow()):
        while apply.apply_batch(db, settings, lane, holder):
            pass
        apply.release(db, lane, holder)
    return SCRAPPED
