"""Results recomputed from raw values: the three-cube rule, cement mortar's 10 % rules, rebar
minimums by grade. Each branch with a case that conforms and one that does not."""

from __future__ import annotations

import pytest

from jcjg.testing import judgement
from jcjg.testing.judgement import Bar

pytestmark = pytest.mark.once  # no database: the same on both databases


def loads(*mpa: float, size: int = 150) -> list[float]:
    return [m * size * size / 1000 for m in mpa]  # kN for the given strengths


def test_three_cube_rule_mean_middle_and_void():
    mean = judgement.concrete(loads(33.0, 34.0, 35.0), 150, "C30")
    assert mean.values["strength_mpa"] == pytest.approx(34.0)
    assert mean.conforming is True
    middle = judgement.concrete(loads(25.0, 34.0, 35.0), 150, "C30")  # 25 is 26 % below
    assert middle.values["strength_mpa"] == pytest.approx(34.0)
    assert "中间值" in middle.notes[0]
    void = judgement.concrete(loads(25.0, 34.0, 45.0), 150, "C30")
    assert void.void is True
    assert void.conforming is None
    low = judgement.concrete(loads(27.0, 28.0, 29.0), 150, "C30")
    assert low.conforming is False
    assert low.values["percent_of_design"] == pytest.approx(93.3, abs=0.1)


def test_cube_size_factor():
    small = judgement.concrete(loads(40, 40, 40, size=100), 100, "C35")
    assert small.values["strength_mpa"] == pytest.approx(38.0)
    with pytest.raises(ValueError, match="边长"):
        judgement.cube_strengths([1, 2, 3], 120)


def test_mortar_ten_percent_rules():
    flex = [f / 2.34375 for f in (7.0, 7.2, 7.1)]  # MPa -> kN
    comp = [c * 1.6 for c in (45.0, 46.0, 44.0, 45.5, 44.5, 45.0)]
    good = judgement.mortar(flex, comp, "P·O 42.5", 28)
    assert good.values["compressive_mpa"] == pytest.approx(45.0)
    assert good.conforming is True
    # one compressive value far off: dropped
    one_off = judgement.mortar(flex, [c * 1.6 for c in (45, 46, 44, 45.5, 44.5, 30)], "42.5", 28)
    assert one_off.values["compressive_mpa"] == pytest.approx(45.0)
    assert "剔除" in one_off.notes[1]
    # two far off: void
    two_off = judgement.mortar(flex, [c * 1.6 for c in (45, 46, 44, 45.5, 35, 30)], "42.5", 28)
    assert two_off.void is True
    # one flexural value far off: the mean of the other two
    flex_off = judgement.mortar([f / 2.34375 for f in (7.0, 7.2, 5.0)], comp, "42.5", 28)
    assert flex_off.values["flexural_mpa"] == pytest.approx(7.1)
    weak = judgement.mortar(flex, [c * 1.6 for c in (40, 41, 40, 41, 40, 41)], "42.5", 28)
    assert weak.conforming is False
    assert judgement.mortar(flex, comp, "42.5", 7).conforming is None  # no minimum for 7 days


def test_rebar_minimums_by_grade():
    area = judgement.nominal_area(20)
    good = Bar(20, 450 * area / 1000, 610 * area / 1000, 100, 120, 12.0)
    assert judgement.rebar([good, good], "HRB400").conforming is True
    weak = Bar(20, 390 * area / 1000, 610 * area / 1000, 100, 120, 12.0)
    out = judgement.rebar([good, weak], "HRB400")
    assert out.conforming is False
    assert "第 2 根下屈服强度" in out.notes[0]
    # seismic: strength ratio 560/450 = 1.24 < 1.25
    ratio = Bar(20, 450 * area / 1000, 560 * area / 1000, 100, 120, 12.0)
    assert judgement.rebar([ratio], "HRB400E").conforming is False
    assert judgement.rebar([ratio], "HRB400").conforming is True
    short = Bar(20, 450 * area / 1000, 610 * area / 1000, 100, 110, 12.0)  # A = 10 %
    assert judgement.rebar([short], "HRB400").conforming is False
    assert judgement.rebar([good], "XYZ").conforming is None
