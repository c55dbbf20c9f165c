"""Test records and revisions through the signed exchange API: good ones stored with their
curves and recomputed results, bad ones refused in Chinese with nothing written."""

from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import func, select

from jcjg.core.blobs import blob_store, digest_of
from jcjg.core.db import utcnow
from jcjg.core.errors import ValidationFailed
from jcjg.demo import synthetic
from jcjg.testing import curves, fpindex
from jcjg.testing import service as testing_service
from jcjg.testing.choices import TestKind
from jcjg.testing.models import Curve, CurveKey, Revision, Specimen, TestRecord
from jcjg.testing.schemas import RecordIn
from tests.testing.conftest import concrete_record, points, when


def counts(db) -> tuple[int, int, int, int]:
    db.expire_all()
    return tuple(
        db.scalar(select(func.count()).select_from(m)) or 0
        for m in (TestRecord, Specimen, Curve, Revision)
    )


def test_a_concrete_record_with_curves_is_stored_and_recomputed(client, db, settings, lab):
    payload, drawn = concrete_record(lab, number="JL-001")
    response = lab.post(client, "test_record", payload)
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["results"]["curves"] == 3
    assert receipt["results"]["platform_judgement"] == "conforming"
    record = db.scalars(select(TestRecord).where(TestRecord.number == "JL-001")).one()
    assert record.inspectors == ["王检测"]
    assert record.recomputed["values"]["strength_mpa"] == pytest.approx(35.8, abs=0.2)
    rows = db.scalars(select(Curve).where(Curve.test_record_id == record.id)).all()
    assert len(rows) == 3
    row = rows[0]
    assert row.peak_kn == pytest.approx(float(drawn[0].force.max()), abs=0.01)
    assert row.rate_kn_s == pytest.approx(0.6 * 22.5, rel=0.1)
    assert row.stored_bytes / row.n_points <= 4
    assert row.fp_vector is not None
    back = curves.decode(blob_store(settings).get(row.blob_digest))
    assert back.n == drawn[0].n
    # records are written once
    again = dict(payload, message_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    duplicate = lab.post(client, "test_record", again)
    assert duplicate.status_code == 422
    assert "不能覆盖" in duplicate.text


def test_each_curve_is_its_specimens_with_the_band_keys_of_its_fingerprint(client, db, lab):
    """The handler writes the specimens, then their curves, then the curves' band keys in one
    statement: each curve belongs to the specimen it came with, and has the 16 keys that
    fpindex gives its fingerprint (by which a reused curve is found)."""
    payload, drawn = concrete_record(lab, number="JL-KEYS")
    response = lab.post(client, "test_record", payload)
    assert response.status_code == 200, response.text
    record = db.scalars(select(TestRecord).where(TestRecord.number == "JL-KEYS")).one()
    rows = db.execute(
        select(Curve, Specimen)
        .join(Specimen, Specimen.id == Curve.specimen_id)
        .where(Curve.test_record_id == record.id)
        .order_by(Specimen.position)
    ).all()
    assert [s.position for _, s in rows] == [1, 2, 3]
    assert [c.id for c, _ in rows] == sorted(c.id for c, _ in rows)
    for (row, _), curve in zip(rows, drawn, strict=True):
        assert row.peak_kn == pytest.approx(float(curve.force.max()), abs=0.01)
        print_ = testing_service.fingerprint_of(row)
        assert print_ is not None
        wanted = fpindex.keys(curves.bucket(print_.rise_s), fpindex.band_values(print_.vector))
        stored = db.scalars(select(CurveKey.key).where(CurveKey.curve_id == row.id)).all()
        assert sorted(stored) == sorted(int(k) for k in wanted.ravel())
        assert len(stored) == fpindex.BANDS


def test_a_curve_can_come_as_a_binary_file(client, db, lab):
    curve = synthetic.concrete(random.Random(3), peak_kn=700, rate_kn_s=12)
    blob = curves.to_binary(curve)
    payload, _ = concrete_record(lab, number="JL-BIN")
    payload["specimens"][0].pop("curve")
    import hashlib

    digest = hashlib.sha256(blob).hexdigest()
    payload["specimens"][0]["curve_sha256"] = digest
    missing = lab.post(client, "test_record", payload)
    assert missing.status_code == 422
    assert missing.json()["missing"] == [digest]
    path = f"/exchange/v1/blobs/{digest}"
    put = client.put(
        path,
        content=blob,
        headers=lab.headers("PUT", path, blob, content_type="application/octet-stream"),
    )
    assert put.status_code == 201, put.text
    response = lab.post(client, "test_record", payload)
    assert response.status_code == 200, response.text
    row = db.scalars(
        select(Curve).join(TestRecord).where(TestRecord.number == "JL-BIN").order_by(Curve.id)
    ).first()
    assert row.upload_sha256 == digest
    assert row.peak_kn == pytest.approx(float(curve.force.max()), abs=0.05)


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        (lambda p: p["specimens"][0].pop("curve"), "specimens[0].curve", "须上传力值-时间曲线"),
        (
            lambda p: p["specimens"][0]["curve"].update(points=[[0, 1]] * 12),
            "specimens[0].curve",
            "严格递增",
        ),
        (  # the curves are read before any specimen is written: the third's refuses all
            lambda p: p["specimens"][2]["curve"].update(points=[[0, 1]] * 12),
            "specimens[2].curve",
            "严格递增",
        ),
        (
            lambda p: p["specimens"][0]["values"].pop("peak_kn"),
            "specimens[0].values.peak_kn",
            "peak_kn",
        ),
        (
            lambda p: p["specimens"][0]["values"].update(peak_kn="八百"),
            "specimens[0].values.peak_kn",
            "数字",
        ),
        (lambda p: p.update(specimen_size_mm=120), "specimen_size_mm", "边长"),
        (lambda p: p.update(kind="concrete_tension"), "kind", ""),
        (lambda p: p.update(started_at="2026-11-20T09:30:00"), "started_at", ""),
        (lambda p: p.update(ended_at="2020-01-01T00:00:00+08:00"), "ended_at", "早于开始"),
        (lambda p: p.update(commission_number="WT-NONE"), "commission_number", "委托编号"),
        (lambda p: p.update(project_code="XM-NONE"), "project_code", "项目编号"),
        (lambda p: p["specimens"][1].update(position=1), "specimens", "不能重复"),
        (lambda p: p.update(extra=1), "extra", ""),
    ],
)
def test_bad_records_are_refused_with_nothing_written(client, db, lab, change, field, text):
    payload, _ = concrete_record(lab, number="JL-BAD")
    change(payload)
    before = counts(db)
    response = lab.post(client, "test_record", payload)
    assert response.status_code == 422, response.text
    body = response.json()
    assert any(e["field"].startswith(field) for e in body["errors"]), body
    assert text in response.text
    assert counts(db) == before


def test_curves_read_ahead_are_the_ones_stored(db, settings, lab, monkeypatch):
    """``test_record``'s prepare (service.read_ahead, before the apply transaction) reads each
    curve, stores its compressed form and keeps it on the message: the handler stores those
    without reading the points again, the same rows as a curve read by the handler."""
    payload, drawn = concrete_record(lab, number="JL-AHEAD")
    message = RecordIn.model_validate(payload)
    held = testing_service.read_ahead(message, settings)
    ahead = [s._ahead for s in message.specimens]
    assert all(kind is TestKind.CONCRETE_COMPRESSION for kind, _ in ahead)
    # what it keeps on the message, which the apply path weighs against its bound: at least
    # the curves' two columns of doubles
    points = sum(curve.n for curve in drawn)
    assert held == sum(read.nbytes for _, read in ahead) >= points * 2 * 8
    assert all(blob_store(settings).exists(digest_of(read.stored)) for _, read in ahead)

    def unread(_points):
        raise AssertionError("read again")

    with monkeypatch.context() as patched:
        patched.setattr(curves, "from_points", unread)
        record = testing_service.store_record(
            db=db,
            settings=settings,
            institution=lab.institution,
            data=message,
            received_at=utcnow(),
        )
    rows = db.scalars(select(Curve).where(Curve.test_record_id == record.id).order_by(Curve.id))
    for row, curve in zip(rows, drawn, strict=True):
        assert row.peak_kn == pytest.approx(float(curve.force.max()), abs=0.01)
        assert row.fp_vector is not None
        assert curves.decode(blob_store(settings).get(row.blob_digest)).n == curve.n
    keys = db.scalar(select(func.count()).select_from(CurveKey).join(Curve))
    assert keys == 3 * fpindex.BANDS
    # a curve that cannot be read ahead is left to the handler, which refuses it
    payload, _ = concrete_record(lab, number="JL-AHEAD-BAD")
    payload["specimens"][2]["curve"]["points"] = [[0, 1]] * 12
    message = RecordIn.model_validate(payload)
    testing_service.read_ahead(message, settings)
    assert [s._ahead is None for s in message.specimens] == [False, False, True]
    with pytest.raises(ValidationFailed) as refused:
        testing_service.store_record(
            db=db, settings=settings, institution=lab.institution, data=message,
            received_at=utcnow(),
        )  # fmt: skip
    assert refused.value.errors[0].field == "specimens[2].curve"
    assert "严格递增" in refused.value.errors[0].message


def test_another_institutions_lims_cannot_send_this_labs_records(
    client, db, settings, factory, lab
):
    from tests.exchange.conftest import make_lims

    other = make_lims(db, settings, factory)
    payload, _ = concrete_record(lab, number="JL-OTHER")
    before = counts(db)
    response = other.post(client, "test_record", payload)
    assert response.status_code == 403
    assert counts(db) == before


def test_revisions_keep_before_after_and_reason(client, db, lab):
    payload, _ = concrete_record(lab, number="JL-REV")
    assert lab.post(client, "test_record", payload).status_code == 200
    original = payload["specimens"][1]["values"]["peak_kn"]
    revise = lab.message(
        record_number="JL-REV",
        field="specimens[2].peak_kn",
        before=original,
        after=original - 5,
        reason="复核原始记录表，录入有误",
        revised_by="王检测",
        revised_at=when(1)[1],
    )
    response = lab.post(client, "test_revision", revise)
    assert response.status_code == 200, response.text
    assert response.json()["results"]["auto_acquired"] is True
    row = db.scalars(select(Revision)).one()
    assert (row.before, row.after, row.reason) == (
        original,
        original - 5,
        "复核原始记录表，录入有误",
    )
    specimen = db.scalars(select(Specimen).where(Specimen.position == 2)).one()
    assert specimen.values["peak_kn"] == original  # the original stays
    # a stale "before" (the value is now original - 5) is refused
    stale = dict(revise, message_id="2b4e28ba-2fa1-11d2-883f-0016d3cca427", after=1.0)
    refused = lab.post(client, "test_revision", stale)
    assert refused.status_code == 422
    assert "当前值" in refused.text
    for bad, text in (
        ({"field": "specimens[9].peak_kn"}, "没有字段"),
        ({"field": "peak_kn"}, ""),
        ({"record_number": "NONE"}, "原始记录编号"),
        ({"reason": ""}, ""),
    ):
        body = {**revise, **bad, "message_id": str(uuid.uuid4())}
        response = lab.post(client, "test_revision", body)
        assert response.status_code == 422, (bad, response.text)
        assert text in response.text
    assert counts(db)[3] == 1


def test_points_helper_keeps_displacement():
    curve = synthetic.rebar(random.Random(1), diameter_mm=16, yield_mpa=450, tensile_mpa=600)
    assert len(points(curve)[0]) == 3
