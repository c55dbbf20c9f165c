"""Wall bricks (GB/T 2542-2012, GB/T 5101-2017), concrete blocks (GB/T 4111-2013, GB/T
8239-2014) and bedrock cores (GB/T 50266-2013, GB 50007-2011 附录 J): recomputed and judged
as their standards say, their loading rates checked, their curves kept like the other force
tests; bad values refused with the field named."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from jcjg.catalogue import editions
from jcjg.demo import synthetic
from jcjg.testing import fraud, judgement
from jcjg.testing.models import Curve, TestRecord
from tests.testing.conftest import when
from tests.testing.test_rules import flagged, send

BRICK = (110.0, 115.0)
BLOCK = (390.0, 190.0)


def _faces(strengths: list[float], face: tuple[float, float]) -> list[judgement.Face]:
    return [judgement.Face(face[0], face[1], s * face[0] * face[1] / 1000) for s in strengths]


def _cores(strengths: list[float], height: float = 100.0) -> list[judgement.Core]:
    area = judgement.nominal_area(50)
    return [judgement.Core(50, height, s * area / 1000) for s in strengths]


# --- bricks ------------------------------------------------------------------------------------


def test_bricks_by_mean_and_standard_value():
    strengths = [11.0, 11.5, 12.0, 12.5, 13.0, 11.2, 11.8, 12.2, 12.8, 12.0]
    outcome = judgement.bricks(_faces(strengths, BRICK), "MU10")
    mean = sum(strengths) / 10
    s = (sum((x - mean) ** 2 for x in strengths) / 9) ** 0.5
    assert outcome.values["mean_mpa"] == pytest.approx(mean)
    assert outcome.values["std_mpa"] == pytest.approx(s)
    assert outcome.values["standard_mpa"] == pytest.approx(mean - 1.83 * s)
    assert outcome.values["1.compressive_mpa"] == pytest.approx(11.0)
    assert outcome.conforming is True
    assert "合格" in outcome.notes[-1]


def test_bricks_fail_on_the_standard_value_though_the_mean_reaches_the_grade():
    # mean 10.5 MPa, but so spread that f_k = 10.5 - 1.83 s is under MU10's 6.5 MPa
    strengths = [4.0, 17.0, 6.0, 15.0, 8.0, 13.0, 9.0, 12.0, 7.0, 14.0]
    outcome = judgement.bricks(_faces(strengths, BRICK), "MU10")
    assert outcome.values["mean_mpa"] == pytest.approx(10.5)
    assert outcome.values["standard_mpa"] < 6.5
    assert outcome.conforming is False
    assert any("强度标准值" in n and "低于 6.5" in n for n in outcome.notes)


def test_bricks_fail_on_the_mean_and_other_grades():
    strengths = [9.5] * 9 + [9.8]
    outcome = judgement.bricks(_faces(strengths, BRICK), "MU10")
    assert outcome.conforming is False
    assert any("平均值" in n for n in outcome.notes)
    # MU15 asks for 15.0 and 10.0
    assert judgement.bricks(_faces([16.0] * 10, BRICK), "MU15").conforming is True
    # an unknown grade: recomputed, not judged
    unknown = judgement.bricks(_faces([16.0] * 10, BRICK), "MU12")
    assert unknown.conforming is None
    assert "percent_of_standard" not in unknown.values
    with pytest.raises(ValueError, match="10 块"):
        judgement.bricks(_faces([12.0] * 9, BRICK), "MU10")


# --- blocks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "strengths", "verdict"),
    [
        ("MU10", [10.5, 11.0, 10.2, 9.8, 10.6], True),
        ("MU10", [12.0, 12.5, 11.0, 7.9, 11.5], False),  # the least under 0.8 × 10
        ("MU10", [9.8, 9.9, 9.7, 10.1, 9.6], False),  # the mean under 10
        ("MU7.5", [7.6, 7.8, 6.0, 8.2, 8.4], True),  # the least exactly 0.8 × 7.5
        ("MU12", [12.6, 12.8, 13.0, 12.2, 12.4], None),  # no such grade: not judged
    ],
)
def test_blocks_by_mean_and_least_block(grade, strengths, verdict):
    outcome = judgement.blocks(_faces(strengths, BLOCK), grade)
    assert outcome.conforming is verdict
    assert outcome.values["min_mpa"] == pytest.approx(min(strengths))
    assert outcome.values["mean_mpa"] == pytest.approx(sum(strengths) / 5)


def test_blocks_need_five():
    with pytest.raises(ValueError, match="5 块"):
        judgement.blocks(_faces([10.0] * 6, BLOCK), "MU10")
    with pytest.raises(ValueError, match="大于 0"):
        judgement.blocks([judgement.Face(0, 190, 700)] * 5, "MU10")


# --- rock --------------------------------------------------------------------------------------


def test_the_statistical_factor_of_gb_50007():
    # ψ = 1 - (1.704 / √6 + 4.678 / 36) × 0.1
    assert judgement.statistical_factor(6, 0.1) == pytest.approx(0.917440, abs=1e-6)


def test_rock_standard_value_against_the_design():
    strengths = [42.0, 38.0, 45.0, 40.0, 36.0, 44.0]
    outcome = judgement.rock(_cores(strengths), "30 MPa")
    mean = sum(strengths) / 6
    s = (sum((x - mean) ** 2 for x in strengths) / 5) ** 0.5
    psi = 1 - (1.704 / 6**0.5 + 4.678 / 36) * s / mean
    assert outcome.values["mean_mpa"] == pytest.approx(mean)
    assert outcome.values["standard_mpa"] == pytest.approx(psi * mean)
    assert outcome.conforming is True
    assert outcome.values["percent_of_design"] == pytest.approx(psi * mean / 30 * 100)
    assert judgement.rock(_cores(strengths), "frk≥40").conforming is False
    # no design value: recomputed, not judged
    assert judgement.rock(_cores(strengths), "中风化花岗岩").conforming is None


def test_rock_needs_six_for_the_standard_value_and_notes_slender_cores():
    few = judgement.rock(_cores([40.0, 41.0, 39.0]), "30")
    assert few.conforming is None
    assert "standard_mpa" not in few.values
    assert any("少于 6 个" in n for n in few.notes)
    squat = judgement.rock(_cores([40.0] * 5 + [41.0], height=80.0), "30")
    assert any("高径比 1.60" in n for n in squat.notes)
    with pytest.raises(ValueError, match="至少 3 个"):
        judgement.rock(_cores([40.0, 41.0]), "30")


def test_margins_for_results_above_line():
    brick = judgement.bricks(_faces([12.0] * 10, BRICK), "MU10").as_json()
    assert fraud.margin("brick_compression", "MU10", None, brick) == pytest.approx(120.0)
    block = judgement.blocks(_faces([10.0, 10.0, 10.0, 10.0, 8.4], BLOCK), "MU10").as_json()
    assert fraud.margin("block_compression", "MU10", None, block) == pytest.approx(96.8)
    rock = judgement.rock(_cores([40.0] * 6), "32").as_json()
    assert fraud.margin("rock_compression", "32", None, rock) == pytest.approx(125.0)


# --- through the exchange ----------------------------------------------------------------------

ITEMS = {"brick_compression": "0107", "block_compression": "0107", "rock_compression": "0401"}


def _record(lab, number: str, kind: str, grade: str, specimens, seed: int, judged: str) -> dict:
    started, ended = when(30 - seed)
    return lab.message(
        number=number, kind=kind, item_code=ITEMS[kind], grade=grade, lab_name="力学室",
        equipment=["SB-001"], inspectors=[{"name": "王检测"}], started_at=started,
        ended_at=ended, acquisition="auto", specimens=specimens, judgement=judged,
    )  # fmt: skip


def test_the_catalogue_holds_the_items_these_tests_are_recorded_under():
    """Bricks and blocks under 0107 砖、砌块、瓦、墙板 (抗压强度 010701), cores under 0401
    地基及复合地基 (GB 50007-2011, whose 附录 J is the rock's method), as the demo and the
    simulator send them."""
    [edition] = [e for e in editions.shipped() if e.header.code == "2023"]
    items = {i.code: i for s in edition.specialties for i in s.items}
    bricks = items["0107"]
    assert "砖" in bricks.name
    assert "砌块" in bricks.name
    assert {"GB/T 2542-2012", "GB/T 5101-2017", "GB/T 4111-2013", "GB/T 8239-2014"} <= set(
        bricks.standards
    )
    assert "抗压强度" in {p.name for p in bricks.parameters}
    assert "GB 50007-2011" in items["0401"].standards


def test_bricks_blocks_and_rock_through_the_exchange(client, db, lab):
    rng = random.Random(7)
    good_bricks = synthetic.brick_specimens(rng, [12.0, 12.4, 11.6, 12.8, 11.9] * 2)
    fast_bricks = synthetic.brick_specimens(rng, [12.0, 12.4, 11.6, 12.8, 11.9] * 2, rate_kn_s=9)
    good_blocks = synthetic.block_specimens(rng, [11.0, 10.8, 11.4, 10.6, 11.2])
    weak_blocks = synthetic.block_specimens(rng, [11.0, 10.8, 7.0, 10.6, 11.2])
    good_rock = synthetic.rock_specimens(rng, [42.0, 40.0, 44.0, 41.0, 43.0, 39.0])
    fast_rock = synthetic.rock_specimens(rng, [42.0, 40.0, 44.0, 41.0, 43.0, 39.0], None, 1.6)
    sent = [
        ("ZQ-OK", "brick_compression", "MU10", good_bricks, "conforming"),
        ("ZQ-FAST", "brick_compression", "MU10", fast_bricks, "conforming"),
        ("QK-OK", "block_compression", "MU10", good_blocks, "conforming"),
        ("QK-WEAK", "block_compression", "MU10", weak_blocks, "conforming"),
        ("YS-OK", "rock_compression", "30 MPa", good_rock, "conforming"),
        ("YS-FAST", "rock_compression", "30 MPa", fast_rock, "conforming"),
        ("YS-HIGH", "rock_compression", "45 MPa", good_rock, "nonconforming"),
    ]
    for seed, (number, kind, grade, specimens, judged) in enumerate(sent, start=1):
        send(client, lab, _record(lab, number, kind, grade, specimens, seed, judged))
    db.expire_all()
    records = {r.number: r for r in db.scalars(select(TestRecord))}
    assert records["ZQ-OK"].platform_judgement == "conforming"
    mean = records["ZQ-OK"].recomputed["values"]["mean_mpa"]
    assert mean == pytest.approx(12.14, abs=0.2)
    assert records["QK-OK"].platform_judgement == "conforming"
    assert records["QK-WEAK"].platform_judgement == "nonconforming"
    assert records["YS-OK"].platform_judgement == "conforming"
    assert records["YS-HIGH"].platform_judgement == "nonconforming"
    # curves kept and fingerprinted like the others
    curves = db.scalars(select(Curve).where(Curve.test_record_id == records["QK-OK"].id)).all()
    assert len(curves) == 5
    assert all(c.fp_vector is not None for c in curves)
    # 9 kN/s is above GB/T 2542's 2-6 kN/s, 1.6 MPa/s above GB/T 50266's 0.5-1.0 MPa/s; the
    # blocks at 5 kN/s are within GB/T 4111's 4-6
    assert flagged(db, "loading_rate") == {"ZQ-FAST", "YS-FAST"}
    # a lab judging a block group with a weak block conforming; the honest 不合格 is not flagged
    assert flagged(db, "judgement_mismatch") == {"QK-WEAK"}


def test_loading_rate_bounds_of_blocks(client, db, lab):
    rng = random.Random(8)
    strengths = [11.0, 10.8, 11.4, 10.6, 11.2]
    slow = synthetic.block_specimens(rng, strengths, rate_kn_s=2.5)
    quick = synthetic.block_specimens(rng, strengths, rate_kn_s=5.5)
    send(client, lab, _record(lab, "QK-SLOW", "block_compression", "MU10", slow, 1, "conforming"))
    send(client, lab, _record(lab, "QK-5", "block_compression", "MU10", quick, 2, "conforming"))
    assert flagged(db, "loading_rate") == {"QK-SLOW"}


@pytest.mark.parametrize(
    ("kind", "name", "value", "message"),
    [
        ("brick_compression", "length_mm", None, "须给出 length_mm"),
        ("brick_compression", "width_mm", 0, "width_mm 应为 1 至 2000 毫米"),
        ("block_compression", "peak_kn", "七百", "原始数值应为数字"),
        ("rock_compression", "height_mm", -100, "height_mm 应为 1 至 2000 毫米"),
        ("brick_compression", "peak_kn", 0, "peak_kn 应大于 0"),
        ("rock_compression", "diameter_mm", 1e-160, "diameter_mm 应为 1 至 2000 毫米"),
        ("block_compression", "peak_kn", 1e9, "peak_kn 不应超过 100000 kN"),
        ("rock_compression", "diameter_mm", None, "须给出 diameter_mm"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(client, db, lab, kind, name, value, message):
    rng = random.Random(9)
    specimens = {
        "brick_compression": lambda: synthetic.brick_specimens(rng, [12.0] * 10),
        "block_compression": lambda: synthetic.block_specimens(rng, [11.0] * 5),
        "rock_compression": lambda: synthetic.rock_specimens(rng, [40.0] * 6),
    }[kind]()
    if value is None:
        del specimens[2]["values"][name]
    else:
        specimens[2]["values"][name] = value
    body = lab.post(
        client, "test_record", _record(lab, "BAD-1", kind, "MU10", specimens, 1, "none")
    )
    assert body.status_code == 422
    assert body.headers["content-type"].startswith("application/problem+json")
    [error] = [e for e in body.json()["errors"] if e["field"].endswith(f"values.{name}")]
    assert "specimens[2]" in error["field"]
    assert message in error["message"]
    assert db.scalars(select(TestRecord).where(TestRecord.number == "BAD-1")).first() is None


def test_simulated_labs_crush_bricks_and_blocks_on_the_press():
    """The simulator's LIMS sends a witnessed brick or block sample as a machine-tested record
    of its kind, on the lab's press, with a curve per specimen, and sound ones conform."""
    from jcjg.demo.simulator import testing as simulated

    lab = simulated.LabTests("L1")
    lab.bench.machines["compression"] = [("YJ-01", "力学室")]
    lab.bench.inspectors["力学室"] = {"name": "模拟检测员", "id_number": ""}
    samples = [("S-1", "烧结普通砖", "MU10"), ("S-2", "混凝土小型空心砌块", "MU15")]
    plans = simulated.record_plans(lab, samples, "WT-1", random.Random(3), dict, violations=0.0)
    records = {p["kind"]: p for kind, p, _ in plans if kind == "test_record"}
    assert set(records) == {"brick_compression", "block_compression"}
    for record, judge, count in (
        (records["brick_compression"], judgement.bricks, 10),
        (records["block_compression"], judgement.blocks, 5),
    ):
        assert record["equipment"] == ["YJ-01"]
        assert record["acquisition"] == "auto"
        assert record["item_code"] == "0107"
        assert len(record["specimens"]) == count
        assert all(s["curve"]["points"] for s in record["specimens"])
        faces = [
            judgement.Face(v["length_mm"], v["width_mm"], v["peak_kn"])
            for v in (s["values"] for s in record["specimens"])
        ]
        assert judge(faces, record["grade"]).conforming is True


def test_bricks_and_blocks_are_judged_to_the_reported_tenth():
    from jcjg.testing import judgement

    # ten bricks of 9.96 MPa on average (reported 10.0): MU10's mean is met
    faces = [judgement.Face(240, 115, 9.96 * 240 * 115 / 1000)] * 10
    assert judgement.bricks(faces, "MU10").conforming is True
    low = [judgement.Face(240, 115, 9.94 * 240 * 115 / 1000)] * 10  # reported 9.9
    assert judgement.bricks(low, "MU10").conforming is False
    blocks = [judgement.Face(390, 190, s * 390 * 190 / 1000) for s in (11, 11, 11, 11, 7.96)]
    assert judgement.blocks(blocks, "MU10").conforming is True  # the least reported 8.0
