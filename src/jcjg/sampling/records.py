"""The witness record (见证记录, 000 4.3.4 item 2; 57号部令第十八条): generated when the seal is
made, as JSON and as a PDF signed by the platform's document certificate (PAdES), with the
witness's name, the time and place, the key images of sampling, tagging and sealing, the seal
signature and the ledger receipt; the PDF's QR opens the record's public page."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any

from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.masking import mask_value
from jcjg.documents.pdf import RecordDocument, record_pdf
from jcjg.documents.signing import sign_pdf
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import canonical_json
from jcjg.projects.models import Project
from jcjg.sampling import codes
from jcjg.sampling.models import Sample, SampleSeal, WitnessKey, WitnessRecord

RECORD_TYPE = "jcjg.witness-record/v1"
IMAGE_CAPTIONS = {
    "sample": "取样/制样：样品照片",
    "tag": "标识：样品唯一性标识",
    "sampler": "取样人员现场照片",
    "seal": "封志：见证封样照片",
    "witness": "见证人员现场照片",
}
_SHANGHAI_FORMAT = "%Y-%m-%d %H:%M:%S"


def public_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/w/{token}"


def _local(settings: Settings, value: str) -> str:
    import datetime as dt

    moment = dt.datetime.fromisoformat(value)
    return moment.astimezone(settings.tz).strftime(_SHANGHAI_FORMAT)


def create_witness_record(
    *,
    db: Session,
    settings: Settings,
    sample: Sample,
    project: Project,
    seal: SampleSeal,
    receipt: ledger.Receipt,
) -> WitnessRecord:
    key = db.get(WitnessKey, seal.witness_key_id)
    witness = db.get(User, seal.witness_user_id)
    sampler = db.get(User, sample.sampler_user_id)
    assert key is not None
    assert witness is not None
    assert sampler is not None
    token = secrets.token_hex(16)  # the public page's unguessable address
    photos = {
        "sample": sample.photo_sample_sha256,
        "tag": sample.photo_tag_sha256,
        "sampler": sample.photo_person_sha256,
        "seal": seal.photo_seal_sha256,
        "witness": seal.photo_person_sha256,
    }
    record: dict[str, Any] = {
        "type": RECORD_TYPE,
        "sample": {
            "sample_code": sample.sample_code,
            "material": sample.material,
            "specification": sample.specification,
            "batch_number": sample.batch_number,
            "quantity": sample.quantity,
            "structure_part": sample.structure_part,
            "specimen_count": sample.specimen_count,
            "specimen_size": sample.specimen_size,
            "prepared_at": ledger.timestamp(sample.prepared_at),
            "sampled_at": ledger.timestamp(sample.sampled_at),
        },
        "project": {"code": project.code, "name": project.name, "address": project.address},
        "sampler": {"name": sampler.display_name, "unit": project.contractor_unit},
        "witness": {"name": witness.display_name, "unit": project.supervisor_unit},
        "sealed_at": ledger.timestamp(seal.sealed_at),
        "location": None
        if seal.latitude is None
        else {
            "latitude": seal.latitude,
            "longitude": seal.longitude,
            "accuracy_m": seal.accuracy_m,
            "distance_outside_site_m": seal.distance_m,
        },
        "photos": photos,
        "seal": {
            "key_id": key.key_id,
            "public_key": base64.b64encode(key.public_key).decode(),
            "statement": base64.b64encode(seal.statement).decode(),
            "signature": base64.b64encode(seal.signature).decode(),
            "algorithm": "Ed25519",
        },
        "ledger": {
            "index": receipt.index,
            "leaf_hash": receipt.leaf_hash.hex(),
            "entry_type": receipt.entry_type,
            "notarised_at": ledger.timestamp(receipt.notarised_at),
        },
        "public_url": public_url(settings, token),
    }
    pdf = sign_pdf(
        render_pdf(settings, record),
        settings=settings,
        reason="见证记录（平台自动生成）",
        location=project.address or project.name,
    )
    pdf_sha256 = blob_store(settings).put(pdf)
    row = WitnessRecord(
        sample_id=sample.id,
        seal_id=seal.id,
        project_id=project.id,
        region_code=project.region_code,
        institution_id=sample.institution_id,
        token=token,
        record=record,
        pdf_sha256=pdf_sha256,
    )
    db.add(row)
    db.flush()
    ledger.notarise(
        db,
        "witness_record:create",
        {
            "sample_code": sample.sample_code,
            "record_sha256": hashlib.sha256(canonical_json(record)).hexdigest(),
            "pdf_sha256": pdf_sha256,
        },
    )
    return row


def render_pdf(settings: Settings, record: dict[str, Any]) -> bytes:
    store = blob_store(settings)
    sample, seal_facts, ledger_facts = record["sample"], record["seal"], record["ledger"]
    location = record.get("location")
    place = "未提供定位"
    if location:
        place = f"{location['latitude']:.6f}, {location['longitude']:.6f}"
        if location.get("distance_outside_site_m") is not None:
            outside = location["distance_outside_site_m"]
            place += (
                "（在项目电子围栏内）" if outside == 0 else f"（距项目电子围栏 {outside:.0f} 米）"
            )
    images = []
    for role, caption in IMAGE_CAPTIONS.items():
        try:
            images.append((caption, store.get(record["photos"][role])))
        except KeyError:
            continue
    doc = RecordDocument(
        title="建设工程质量检测见证记录",
        subtitle=f"样品编码 {codes.display(sample['sample_code'])}",
        fields=[
            ("工程项目", f"{record['project']['name']}（{record['project']['code']}）"),
            ("工程地址", record["project"]["address"] or "—"),
            ("样品名称", sample["material"]),
            ("规格型号", sample["specification"] or "—"),
            ("批号 / 代表数量", f"{sample['batch_number'] or '—'} / {sample['quantity'] or '—'}"),
            ("使用部位", sample["structure_part"] or "—"),
            ("试件数量 / 尺寸", f"{sample['specimen_count']} / {sample['specimen_size'] or '—'}"),
            ("制样时间", _local(settings, sample["prepared_at"])),
            ("取样登记时间（平台时间）", _local(settings, sample["sampled_at"])),
            (
                "取样人员",
                f"{record['sampler']['name']}（{record['sampler']['unit'] or '施工单位'}）",
            ),
            (
                "见证人员",
                f"{record['witness']['name']}（{record['witness']['unit'] or '监理单位'}）",
            ),
            ("见证封样时间", _local(settings, record["sealed_at"])),
            ("见证地点", place),
        ],
        sections=[
            (
                "电子封志（见证人员电子签名，Ed25519）",
                [
                    ("签名人", record["witness"]["name"]),
                    ("公钥指纹（SHA-256）", seal_facts["key_id"]),
                    ("封志声明（base64）", seal_facts["statement"]),
                    ("签名（base64）", seal_facts["signature"]),
                ],
            ),
            (
                "区块链存证回执",
                [
                    ("日志序号", str(ledger_facts["index"])),
                    ("叶子哈希", ledger_facts["leaf_hash"]),
                    ("存证时间", _local(settings, ledger_facts["notarised_at"])),
                ],
            ),
        ],
        images=images,
        qr_url=record["public_url"],
        qr_caption="扫码查验见证记录",
        footer=f"{settings.platform_name} 自动生成并签章",
    )
    return record_pdf(doc)


def public_facts(record: dict[str, Any]) -> dict[str, Any]:
    """What the public page shows: names masked, no photos of people."""
    return {
        **record,
        "sampler": {**record["sampler"], "name": mask_value("name", record["sampler"]["name"])},
        "witness": {**record["witness"], "name": mask_value("name", record["witness"]["name"])},
    }
