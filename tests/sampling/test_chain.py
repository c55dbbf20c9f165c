"""The witnessed-sampling chain end to end through the services: codes, registration, the
seal (verified outside the platform too), the witness record, commissions, the receipt check,
and each sampling rule firing and staying quiet."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.blobs import blob_store
from jcjg.core.errors import Conflict, PermissionDenied, ValidationFailed
from jcjg.core.workdays import add_working_days, beijing_date, working_days_between
from jcjg.documents.photos import hamming, perceptual_hash
from jcjg.documents.signing import verify_pdf
from jcjg.projects import geo
from jcjg.projects.models import ProjectMember
from jcjg.sampling import codes, service
from jcjg.sampling.choices import SampleStatus
from jcjg.sampling.models import (
    Commission,
    IdentityCheck,
    SampleCode,
    SampleReceipt,
    SampleSeal,
    WitnessRecord,
)
from tests.factories import photo
from tests.sampling.conftest import NOW, Chain, principal_of
from tests.testing.conftest import runs_of


def open_alerts(db, rule_id: str) -> list[Alert]:
    return list(db.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open")))


# --- codes, calendar, geometry ---------------------------------------------------------------


def test_codes_carry_a_check_character_that_catches_typos():
    code = codes.make_code("360402", 2026, 123)
    assert len(code) == 16
    assert codes.code_problem(code) is None
    typo = code[:9] + ("1" if code[9] != "1" else "2") + code[10:]
    swapped = code[:12] + code[13] + code[12] + code[14:]  # 1 and 2 swapped
    assert codes.code_problem(typo)
    assert codes.code_problem(swapped)
    assert codes.normalise(f" http://x/s/{code.lower()} ") == code
    assert codes.code_problem("12345") == "样品编码应为 16 位"


def test_batches_never_share_a_serial(chain: Chain, db):
    second = service.issue_codes(
        db=db, principal=principal_of(chain.station), project_id=chain.project.id, count=5, now=NOW
    )
    new = [c.code for c in service.batch_codes(db, second.id)]
    assert not set(new) & set(chain.codes)
    assert [c[8:15] for c in new] == [f"{n:07d}" for n in range(13, 18)]
    with pytest.raises(ValidationFailed):
        service.issue_codes(
            db=db,
            principal=principal_of(chain.station),
            project_id=chain.project.id,
            count=0,
            now=NOW,
        )


def test_working_days_follow_the_statutory_calendar():
    # 2026-09-30 (Wed) -> National Day holiday 10-01 to 10-07; Saturday 10-10 is a working day
    assert add_working_days(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)
    assert working_days_between(dt.date(2026, 10, 9), dt.date(2026, 10, 10)) == 1
    assert working_days_between(dt.date(2026, 11, 20), dt.date(2026, 11, 23)) == 1  # Fri -> Mon
    # statutory days are Beijing days: 17:00 UTC is already the next day there
    assert beijing_date(dt.datetime(2026, 11, 20, 17, 0, tzinfo=dt.UTC)) == dt.date(2026, 11, 21)
    assert beijing_date(dt.datetime(2026, 11, 20, 15, 59, tzinfo=dt.UTC)) == dt.date(2026, 11, 20)


def test_geofence_distance_circle_and_polygon():
    assert (
        geo.distance_outside(
            29.7112, 116.0021, centre=(29.7112, 116.0021), radius_m=300, polygon=None
        )
        == 0
    )
    far = geo.distance_outside(
        29.7212, 116.0021, centre=(29.7112, 116.0021), radius_m=300, polygon=None
    )
    assert far is not None
    assert 800 < far < 820
    square = [[115.9851, 29.7021], [115.9879, 29.7021], [115.9879, 29.7042], [115.9851, 29.7042]]
    assert geo.distance_outside_polygon(29.703, 115.986, square) == 0
    assert 100 < geo.distance_outside_polygon(29.703, 115.9900, square) < 220


def test_perceptual_hash_tells_the_same_specimen_from_another():
    original = perceptual_hash(photo(7))
    assert hamming(original, perceptual_hash(photo(7, 2))) <= 12
    assert hamming(original, perceptual_hash(photo(8))) > 12


# --- registration --------------------------------------------------------------------------------


def test_sampler_registers_a_sample_once(chain: Chain, db):
    sample = chain.register()
    assert sample.status == SampleStatus.SAMPLED
    assert sample.distance_m == 0
    assert db.scalars(select(SampleCode).where(SampleCode.code == sample.sample_code)).one().used_at
    check = db.scalars(select(IdentityCheck).where(IdentityCheck.sample_id == sample.id)).one()
    assert check.result == "not_checked"  # no registered photo to compare with: never "passed"
    with pytest.raises(ValidationFailed) as used:
        chain.register(code=sample.sample_code)
    assert "已被使用" in used.value.errors[0].message


def test_registration_refuses_bad_codes_and_strangers(chain: Chain, db, factory):
    with pytest.raises(ValidationFailed):
        chain.register(code="360402260000000X")  # check character wrong
    never = codes.make_code("360402", 2026, 999_999)
    with pytest.raises(ValidationFailed) as unknown:
        chain.register(code=never)
    assert "未发放" in unknown.value.errors[0].message
    other = factory.project()
    stranger = factory.user(Role.SAMPLER, project_ids=(other.id,), commit=False)
    with pytest.raises(PermissionDenied):
        service.register_sample(
            db=db,
            settings=chain.settings,
            principal=principal_of(stranger),
            project_id=chain.project.id,
            form=service.SampleForm(sample_code=chain.codes[0], material="x"),
            now=NOW,
        )
    with pytest.raises(ValidationFailed) as photo:
        chain.register(photos={"sample": b"not an image", "tag": b"", "sampler": b""})
    assert photo.value.errors[0].field == "photo_sample"


# --- the seal and the witness record -----------------------------------------------------------


def test_seal_verifies_outside_the_platform_and_makes_a_signed_witness_record(chain: Chain, db):
    sample = chain.register()
    row = chain.seal(sample)
    assert sample.status == SampleStatus.SEALED
    assert row.ledger_index is not None
    record = db.scalars(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)).one()
    facts = record.record
    # outside the platform: only the published public key, the statement and the signature
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(facts["seal"]["public_key"]))
    statement = base64.b64decode(facts["seal"]["statement"])
    public.verify(base64.b64decode(facts["seal"]["signature"]), statement)
    assert b'"sample_code":"' + sample.sample_code.encode() in statement
    assert facts["photos"]["sample"] == sample.photo_sample_sha256
    pdf = blob_store(chain.settings).get(record.pdf_sha256)
    checks = verify_pdf(pdf, settings=chain.settings)
    assert len(checks) == 1
    assert checks[0].intact
    assert checks[0].valid
    assert service.verify_seal(db, row) == []


def test_a_forged_or_stale_seal_is_refused_and_nothing_is_stored(chain: Chain, db):
    sample = chain.register()
    at = sample.sampled_at + dt.timedelta(minutes=5)
    statement = chain.statement(sample, at=at)
    forged = bytearray(chain.key.sign(statement))
    forged[0] ^= 1
    with pytest.raises(ValidationFailed) as bad:
        service.seal_sample(
            db=db,
            settings=chain.settings,
            principal=principal_of(chain.witness),
            code=sample.sample_code,
            statement_b64=base64.b64encode(statement).decode(),
            signature_b64=base64.b64encode(bytes(forged)).decode(),
            now=at,
        )
    assert "签名验证失败" in bad.value.errors[0].message
    with pytest.raises(ValidationFailed) as stale:
        service.seal_sample(
            db=db,
            settings=chain.settings,
            principal=principal_of(chain.witness),
            code=sample.sample_code,
            statement_b64=base64.b64encode(statement).decode(),
            signature_b64=base64.b64encode(chain.key.sign(statement)).decode(),
            now=at + dt.timedelta(hours=1),
        )
    assert "过期" in stale.value.errors[0].message
    assert db.scalar(select(SampleSeal.id).where(SampleSeal.sample_id == sample.id)) is None
    chain.seal(sample, at=at + dt.timedelta(minutes=1))
    with pytest.raises(Conflict):
        chain.statement(sample, at=at + dt.timedelta(minutes=2))


# --- receipt --------------------------------------------------------------------------------------


def _receive(chain: Chain, institution, code: str, photo: bytes, **kw):
    return service.check_receipt(
        db=chain.db,
        settings=chain.settings,
        data=service.ReceiptInput(sample_code=code, institution=institution, photo=photo, **kw),
        now=NOW + dt.timedelta(hours=2),
    )


def test_receipt_accepts_the_genuine_sample_and_refuses_a_swapped_one(
    chain: Chain, factory, monkeypatch
):
    lab = factory.institution()
    genuine, other = chain.register(seed=11), chain.register(seed=12)
    chain.seal(genuine)
    chain.seal(other)
    ok = _receive(chain, lab, genuine.sample_code, photo(11, 3))
    assert ok.accepted
    assert ok.phash_distance is not None
    assert genuine.status == "received"
    swapped = _receive(chain, lab, other.sample_code, photo(77))
    assert not swapped.accepted
    assert [r["code"] for r in swapped.reasons] == ["photo_mismatch"]
    assert other.status == SampleStatus.REFUSED
    assert open_alerts(chain.db, "sample_photo_mismatch") == []  # rules run at commit
    run_rule(chain.db, "sample_photo_mismatch", institution_ids=[lab.id])
    run_rule(chain.db, "receipt_refused", institution_ids=[lab.id])
    assert [a.subject_id for a in open_alerts(chain.db, "sample_photo_mismatch")] == [
        other.sample_code
    ]
    assert len(open_alerts(chain.db, "receipt_refused")) == 1
    chain.db.commit()
    # judged by rows: a receipt's write judges that receipt alone
    runs = runs_of(monkeypatch, "receipt_refused")
    unknown = _receive(chain, lab, codes.make_code("360402", 2026, 777_777), photo(5))
    chain.db.commit()
    assert runs == [{"row_ids": {unknown.id}}]
    assert len(open_alerts(chain.db, "receipt_refused")) == 2


def test_receipt_refuses_unknown_unsealed_and_damaged(chain: Chain, factory):
    lab = factory.institution()
    unknown = _receive(chain, lab, codes.make_code("360402", 2026, 888_888), photo(1))
    assert [r["code"] for r in unknown.reasons] == ["unknown_code"]
    unsealed = chain.register(seed=21)
    got = _receive(chain, lab, unsealed.sample_code, photo(21, 1))
    assert [r["code"] for r in got.reasons] == ["not_sealed"]
    sealed = chain.register(seed=22)
    chain.seal(sealed)
    damaged = _receive(chain, lab, sealed.sample_code, photo(22, 1), tag_intact=False)
    assert [r["code"] for r in damaged.reasons] == ["tag_damaged"]
    assert chain.db.scalar(select(SampleReceipt.id).where(SampleReceipt.id == damaged.id))


# --- rules ----------------------------------------------------------------------------------------


def test_sampling_window_fires_late_and_stays_quiet_on_time(chain: Chain, db):
    on_time = chain.register(seed=31)
    chain.seal(on_time)
    late = chain.register(seed=32, late=45)
    run_rule(
        db, "sampling_window", project_ids=[chain.project.id], now=NOW + dt.timedelta(minutes=20)
    )
    keys = {a.key for a in open_alerts(db, "sampling_window")}
    assert keys == {f"sampler:{late.id}"}
    run_rule(db, "sampling_window", project_ids=[chain.project.id], now=NOW + dt.timedelta(hours=2))
    keys = {a.key for a in open_alerts(db, "sampling_window")}
    assert keys == {f"sampler:{late.id}", f"witness:{late.id}"}  # the unsealed one is now late


def test_witness_off_site_and_not_assigned(chain: Chain, db, factory):
    near = chain.register(seed=41)
    chain.seal(near)
    far = chain.register(seed=42)
    chain.seal(far, position=(29.76, 116.05))
    run_rule(db, "witness_off_site", project_ids=[chain.project.id])
    assert [a.subject_id for a in open_alerts(db, "witness_off_site")] == [far.sample_code]
    run_rule(db, "witness_not_assigned", project_ids=[chain.project.id])
    assert open_alerts(db, "witness_not_assigned") == []
    db.execute(
        update(ProjectMember)
        .where(ProjectMember.user_id == chain.witness.id)
        .values(ends_on=dt.date(2026, 6, 30))
    )
    run_rule(db, "witness_not_assigned", project_ids=[chain.project.id])
    assert {a.subject_id for a in open_alerts(db, "witness_not_assigned")} == {
        near.sample_code,
        far.sample_code,
    }


def test_seal_invalid_fires_when_the_stored_seal_no_longer_matches(chain: Chain, db):
    sample = chain.register(seed=51)
    row = chain.seal(sample)
    run_rule(db, "seal_invalid", project_ids=[chain.project.id])
    assert open_alerts(db, "seal_invalid") == []
    sample.photo_sample_sha256 = "0" * 64  # the sample's photo swapped in the database
    db.flush()
    run_rule(db, "seal_invalid", project_ids=[chain.project.id])
    (alert,) = open_alerts(db, "seal_invalid")
    assert alert.key == f"seal:{row.id}"
    assert "不一致" in alert.facts["problems"][0]


def test_assignment_change_late_counts_working_days(chain: Chain, db, factory):
    sampler2 = factory.user(Role.SAMPLER, project_ids=(chain.project.id,), commit=False)
    reported = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)  # Wednesday
    for starts_on in (dt.date(2026, 11, 20), dt.date(2026, 11, 24)):  # Friday: 2 days; Tuesday: 4
        db.add(
            ProjectMember(
                project_id=chain.project.id,
                region_code=chain.project.region_code,
                user_id=sampler2.id,
                role="sampler",
                name="新取样员",
                starts_on=starts_on,
                reported_at=reported,
                is_initial=False,
            )
        )
    db.flush()
    run_rule(db, "assignment_change_late", project_ids=[chain.project.id])
    (alert,) = open_alerts(db, "assignment_change_late")
    assert alert.facts["starts_on"] == "2026-11-20"
    assert alert.facts["reported_working_days"] == 2


def test_commission_links_samples_and_untagged_sample_fires(chain: Chain, db, factory):
    lab = factory.institution()
    sample = chain.register(seed=61)
    chain.seal(sample)
    commission = Commission(
        institution_id=lab.id,
        region_code=chain.project.region_code,
        project_id=chain.project.id,
        number="WT-1",
        year=2026,
        seq=3,
        commissioned_on=dt.date(2026, 11, 18),
        message_id=str(uuid.uuid4()),
    )
    db.add(commission)
    db.flush()
    stray = codes.make_code("360402", 2026, 777_777)
    assert service.link_samples(db, commission, [sample.sample_code, stray]) == [stray]
    assert sample.institution_id == lab.id
    assert service.commission_year_gap(db, lab.id, 2026) == [1, 2]
    run_rule(db, "untagged_sample", institution_ids=[lab.id])
    (alert,) = open_alerts(db, "untagged_sample")
    assert alert.facts["sample_code"] == stray
    service.link_samples(db, commission, [sample.sample_code])
    run_rule(db, "untagged_sample", institution_ids=[lab.id])
    assert open_alerts(db, "untagged_sample") == []
    service.set_commission_status(commission, "received")  # forward, skipping states: fine
    with pytest.raises(ValidationFailed):
        service.set_commission_status(commission, "registered")  # back: refused
