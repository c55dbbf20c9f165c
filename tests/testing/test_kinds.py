"""Masonry mortar cubes (JGJ/T 70-2009) and rebar splices (JGJ 18-2012 welded, JGJ 107-2016
mechanical): recomputed and judged as their standards say, their loading rates checked, their
curves kept like the other force tests; bad values refused with the field named."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from jcjg.demo import synthetic
from jcjg.testing import judgement
from jcjg.testing.models import Curve, TestRecord
from tests.testing.conftest import when
from tests.testing.test_rules import flagged, send

AREA = 70.7 * 70.7
S20 = judgement.nominal_area(20)


def _kn(mpa: float) -> float:
    return mpa * S20 / 1000


def test_masonry_mortar_by_the_15_percent_rule():
    ten = 10 * AREA / 1.35 / 1000  # the load of a 10 MPa cube
    outcome = judgement.masonry_mortar([ten * 1.05, ten * 1.10, ten * 1.15], "M10")
    assert outcome.values["strength_mpa"] == pytest.approx(11.0)
    assert outcome.conforming is True
    # one extreme 20 % below the middle: the middle value
    middle = judgement.masonry_mortar([ten * 0.8, ten * 1.0, ten * 1.05], "M10")
    assert middle.values["strength_mpa"] == pytest.approx(10.0)
    assert "取中间值" in middle.notes[0]
    # both extremes far: void
    assert judgement.masonry_mortar([ten * 0.7, ten, ten * 1.3], "M10").void
    assert judgement.masonry_mortar([ten * 0.9] * 3, "M10").conforming is False
    with pytest.raises(ValueError, match="3 个"):
        judgement.masonry_mortar([ten, ten], "M10")


@pytest.mark.parametrize(
    ("fractures", "tensile", "verdict", "note"),
    [
        (("base", "base", "base"), (560, 570, 565), True, "合格"),
        (("base", "base", "weld"), (560, 570, 545), True, "断于焊缝的不超过 1 个"),
        (("base", "base", "weld"), (560, 570, 530), None, "应进行复验"),
        (("base", "weld", "weld"), (560, 570, 565), None, "应进行复验"),
        (("weld", "weld", "weld"), (560, 570, 565), None, "应进行复验"),
        (("weld", "weld", "weld"), (560, 570, 530), False, "不合格"),
        (("base", "base", "base"), (560, 570, 530), False, "不合格"),
    ],
)
def test_welded_splices_by_where_they_broke(fractures, tensile, verdict, note):
    specimens = [judgement.Splice(20, _kn(rm), f) for f, rm in zip(fractures, tensile, strict=True)]
    outcome = judgement.splices(specimens, "HRB400", "welded")
    assert outcome.conforming is verdict
    assert note in outcome.notes[-1]
    assert outcome.values["1.tensile_mpa"] == pytest.approx(tensile[0])


@pytest.mark.parametrize(
    ("joint", "fractures", "tensile", "verdict"),
    [
        # grade I: 540 when broken in the bar, 594 (1.10 f_stk) in the joint
        ("mechanical_i", ("base", "joint", "base"), (545, 600, 560), True),
        ("mechanical_i", ("base", "joint", "base"), (545, 590, 560), None),  # one short: re-test
        ("mechanical_i", ("joint", "joint", "base"), (580, 590, 560), False),  # two short
        ("mechanical_ii", ("joint", "joint", "joint"), (545, 541, 560), True),
        # grade III: 1.25 f_yk = 500
        ("mechanical_iii", ("joint", "joint", "joint"), (505, 501, 520), True),
        ("mechanical_iii", ("joint", "joint", "joint"), (495, 480, 520), False),
    ],
)
def test_mechanical_splices_by_joint_grade(joint, fractures, tensile, verdict):
    specimens = [judgement.Splice(20, _kn(rm), f) for f, rm in zip(fractures, tensile, strict=True)]
    assert judgement.splices(specimens, "HRB400", joint).conforming is verdict


def _record(lab, number: str, kind: str, item: str, grade: str, specimens, seed: int) -> dict:
    started, ended = when(30 - seed)
    return lab.message(
        number=number, kind=kind, item_code=item, grade=grade, lab_name="力学室",
        equipment=["SB-001"], inspectors=[{"name": "王检测"}], started_at=started,
        ended_at=ended, acquisition="auto", age_days=28 if kind == "masonry_mortar" else None,
        specimens=specimens, judgement="conforming",
    )  # fmt: skip


def test_masonry_mortar_and_splices_through_the_exchange(client, db, lab):
    rng = random.Random(5)
    cubes = synthetic.masonry_specimens(rng, 11.5, rate_kn_s=0.8)
    fast = synthetic.masonry_specimens(rng, 11.5, rate_kn_s=3.0)
    weak = synthetic.masonry_specimens(rng, 8.0, rate_kn_s=0.8)
    send(client, lab, _record(lab, "SJ-OK", "masonry_mortar", "0111", "M10", cubes, 1))
    send(client, lab, _record(lab, "SJ-FAST", "masonry_mortar", "0111", "M10", fast, 2))
    send(client, lab, _record(lab, "SJ-WEAK", "masonry_mortar", "0111", "M10", weak, 3))
    welded = synthetic.splice_specimens(rng, "welded", ("base", "base", "weld"), (600, 610, 590))
    retest = synthetic.splice_specimens(rng, "welded", ("weld", "weld", "base"), (600, 610, 590))
    send(client, lab, _record(lab, "HJ-OK", "rebar_splice", "0104", "HRB400", welded, 4))
    send(client, lab, _record(lab, "HJ-RE", "rebar_splice", "0104", "HRB400", retest, 5))
    db.expire_all()
    records = {r.number: r for r in db.scalars(select(TestRecord))}
    assert records["SJ-OK"].platform_judgement == "conforming"
    assert records["SJ-OK"].recomputed["values"]["strength_mpa"] == pytest.approx(11.5, abs=0.8)
    assert records["SJ-WEAK"].platform_judgement == "nonconforming"
    assert records["HJ-OK"].platform_judgement == "conforming"
    assert records["HJ-RE"].platform_judgement == "none"
    assert "应进行复验" in records["HJ-RE"].recomputed["notes"][-1]
    # curves kept and fingerprinted like the others
    curves = db.scalars(select(Curve).where(Curve.test_record_id == records["HJ-OK"].id)).all()
    assert len(curves) == 3
    assert all(c.fp_vector is not None for c in curves)
    # 3 kN/s is above JGJ/T 70's 0.25-1.5 kN/s; a lab judging weak mortar conforming
    assert flagged(db, "loading_rate") == {"SJ-FAST"}
    assert flagged(db, "judgement_mismatch") == {"SJ-WEAK"}


def test_splice_values_are_checked(client, db, lab):
    rng = random.Random(6)
    specimens = synthetic.splice_specimens(rng, "welded", ("base",) * 3, (600, 600, 600))
    specimens[1]["values"]["fracture"] = "somewhere"
    bad = _record(lab, "HJ-BAD", "rebar_splice", "0104", "HRB400", specimens, 1)
    body = lab.post(client, "test_record", bad)
    assert body.status_code == 422
    assert body.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in body.json()["errors"]}
    assert any(f.endswith("specimens[1].values.fracture") for f in fields)
    specimens[1]["values"]["fracture"] = "base"
    specimens[1]["values"]["joint"] = "glued"
    bad = _record(lab, "HJ-BAD", "rebar_splice", "0104", "HRB400", specimens, 1)
    body = lab.post(client, "test_record", bad)
    assert body.status_code == 422
    assert any(e["field"].endswith("values.joint") for e in body.json()["errors"])
    assert db.scalars(select(TestRecord).where(TestRecord.number == "HJ-BAD")).first() is None
