"""The demo data tells one consistent story: nothing handled before it happened, statuses that
agree with each other, reports that list the tests of their own kind."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert, Case, CaseEvent
from jcjg.config import Settings
from jcjg.demo.simulator.reports import KINDS, LabReports, report_plans
from jcjg.documents.signing import personal_identity
from jcjg.sampling.choices import CommissionStatus, SampleStatus
from jcjg.sampling.models import (
    Commission,
    CommissionSample,
    Sample,
    SampleReceipt,
    SampleSeal,
)
from jcjg.testing.models import TestRecord

AFTER_RECEIPT = {
    CommissionStatus.RECEIVED.value,
    CommissionStatus.TESTING.value,
    CommissionStatus.TESTED.value,
    CommissionStatus.REPORTED.value,
}


@pytest.mark.demo  # as `jcjg demo load` left it
def test_loaded_demo_is_consistent(db: Session, settings: Settings) -> None:
    assert (db.scalar(select(func.count()).select_from(Case)) or 0) >= 6  # the station's

    # cases: worked after the alert was seen, and after the test they are about ended
    cases = db.scalars(select(Case)).all()
    assert cases
    for case in cases:
        alert = db.get(Alert, case.alert_id)
        assert alert is not None
        events = db.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        ).all()
        times = [e.at for e in events]
        assert times == sorted(times), alert.rule_id
        assert alert.first_seen_at <= times[0], (alert.rule_id, alert.first_seen_at, times[0])
        if alert.subject_type == "test_record" and alert.subject_id:
            record = db.get(TestRecord, int(alert.subject_id))
            assert record is not None
            assert record.ended_at <= times[0], (alert.rule_id, record.ended_at, times[0])
            assert record.received_at <= times[0], alert.rule_id

    # samples: made, registered, sealed and received in that order
    samples = db.scalars(select(Sample)).all()
    assert samples
    for sample in samples:
        assert sample.prepared_at <= sample.sampled_at, sample.sample_code
        seals = db.scalars(select(SampleSeal).where(SampleSeal.sample_id == sample.id)).all()
        for seal in seals:
            assert sample.sampled_at <= seal.sealed_at, sample.sample_code
        for receipt in db.scalars(
            select(SampleReceipt).where(SampleReceipt.sample_id == sample.id)
        ):
            assert all(seal.sealed_at <= receipt.checked_at for seal in seals), sample.sample_code

    # commissions: none received with a sample the lab refused; one whose samples were all
    # refused went back (已退回)
    codes_of: dict[int, list[str]] = defaultdict(list)
    for link in db.scalars(select(CommissionSample)):
        codes_of[link.commission_id].append(link.sample_code)
    commissions = db.scalars(select(Commission)).all()
    assert any(c.status == CommissionStatus.REJECTED.value for c in commissions)
    for commission in commissions:
        linked = db.scalars(
            select(Sample).where(Sample.sample_code.in_(codes_of[commission.id]))
        ).all()
        refused = [s for s in linked if s.status == SampleStatus.REFUSED.value]
        if commission.status in AFTER_RECEIPT:
            assert not refused, (commission.number, [s.sample_code for s in refused])
        if linked and len(refused) == len(linked):
            assert commission.status == CommissionStatus.REJECTED.value, commission.number

    # test records: started, ended, then received
    records = db.scalars(select(TestRecord)).all()
    assert records
    for record in records:
        assert record.started_at <= record.ended_at <= record.received_at, record.number


def _record(kind: str, item: str, number: str) -> dict[str, Any]:
    specimens = [{"position": n, "values": {"peak_kn": 700.0 + n}} for n in (1, 2, 3)]
    return {"kind": kind, "item_code": item, "number": number, "grade": "C30",
            "specimens": specimens}  # fmt: skip


def test_simulated_reports_list_the_tests_of_their_own_kind() -> None:
    """A commission tested for cubes and rebar: one report each, each listing only its own
    records and items, under a title that names the test."""
    lab = LabReports("L1", signer=personal_identity("模拟批准人"))
    lab.contracted.add("P1")  # no contract this time
    records = [
        _record("concrete_compression", "0108", "R-1"),
        _record("rebar_tensile", "0102", "R-2"),
        _record("rebar_tensile", "0102", "R-3"),
    ]
    plans = report_plans(lab, records, "WT-1", "P1", random.Random(1), dict, violations=0.0)
    reports = [payload for kind, payload, *_ in plans if kind == "report"]
    assert [(r["title"], r["test_record_numbers"], r["items"]) for r in reports] == [
        (KINDS["concrete_compression"][0], ["R-1"], ["0108"]),
        (KINDS["rebar_tensile"][0], ["R-2", "R-3"], ["0102"]),
    ]
    assert "strength_mpa" in reports[0]["results"]
    assert reports[1]["results"] == {}  # no cube result stated on the rebar report
    assert len({r["number"] for r in reports}) == 2
