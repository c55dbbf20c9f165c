"""Results recomputed from raw values, the way the standards say, so a lab's own numbers and its
judgement can be checked (002 17(1)(2)).

- Concrete cubes (GB/T 50081-2019 5.0.5; size factors 100 mm 0.95, 200 mm 1.05): strength of
  each cube = load / area; the group's representative value is the mean of three, the middle
  value when one of the extremes differs from it by more than 15 %, and none (the group is void)
  when both do. The platform judges a group against its design grade (representative >= grade);
  the statistical acceptance of GB/T 50107 across groups is not a per-record check.
- Cement mortar (GB/T 17671-2021 10.1-10.2): flexural strength of each of three prisms
  Rf = 1.5 F L / b^3 (L = 100 mm, b = 40 mm), the mean, or the mean of the two others when one
  is more than 10 % from the mean; compressive strength of the six halves Rc = F / 1600 mm^2,
  the mean, or the mean of the other five when one is more than 10 % from the mean, and void
  when a second of those five is more than 10 % from their mean. Judged against GB 175-2023.
- Rebar (GB/T 1499.1-2024, GB/T 1499.2-2024; GB/T 228.1): ReL = FeL / S0, Rm = Fm / S0 with the
  nominal area, elongation after fracture A = (Lu - L0) / L0; each bar must meet its grade's
  minimums, and E grades also Rm/ReL >= 1.25, ReL/ReL,k <= 1.30 and Agt >= 9 %.
- Masonry and plastering mortar (JGJ/T 70-2009 9): three 70.7 mm cubes, f = 1.35 N / A, the
  group's value as concrete's (15 % of the middle value), against the design grade (M10).
- Rebar splices: three specimens, Rm = Fm / S0 with the bar's nominal area. Welded (JGJ 18-2012
  5.1.7): conforming when every bar-fractured specimen reaches the grade's Rm and at most one
  broke brittle in the weld, itself reaching it; a bar-fractured specimen below it fails the
  batch; two brittle weld fractures, or one below Rm, or three reaching it, call for a re-test;
  three in the weld with one below fail. Mechanical (JGJ 107-2016 3.0.5, 7.0.7): grade I
  Rm >= f_stk broken in the bar or >= 1.10 f_stk broken in the joint, grade II >= f_stk, grade
  III >= 1.25 f_yk; all three: conforming; one short: re-test with six; two or more: failed.
- Wall bricks (GB/T 2542-2012 7, grades of GB/T 5101-2017 烧结普通砖): ten specimens,
  f = P / (L B) over the bearing face; the mean f̄, the standard deviation s (n - 1) and the
  standard value f_k = f̄ - 1.83 s; conforming when f̄ and f_k reach the grade's two minimums.
- Concrete blocks (GB/T 4111-2013 5, grades of GB/T 8239-2014 普通混凝土小型砌块): five blocks,
  f = P / (L B) over the gross bearing face; conforming when the mean reaches the grade and the
  least block 0.8 of it.
- Bedrock cores (GB/T 50266-2013 2.7; GB 50007-2011 附录 J): R = P / A over the core's section;
  from at least six specimens the standard value f_rk = ψ f_rm with
  ψ = 1 - (1.704 / √n + 4.678 / n²) δ (J.0.4); judged against a design value given in MPa.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

CUBE_SIZE_FACTOR = {100: 0.95, 150: 1.0, 200: 1.05}
MORTAR_PRISM_MM = 40.0
MORTAR_SPAN_MM = 100.0

# GB 175-2023: minimum strengths (MPa) by grade: {age: (compressive, flexural)}
CEMENT_GRADES: dict[str, dict[int, tuple[float, float]]] = {
    "32.5": {3: (12.0, 3.0), 28: (32.5, 5.5)},
    "32.5R": {3: (17.0, 4.0), 28: (32.5, 5.5)},
    "42.5": {3: (17.0, 4.0), 28: (42.5, 6.5)},
    "42.5R": {3: (22.0, 4.5), 28: (42.5, 6.5)},
    "52.5": {3: (22.0, 4.5), 28: (52.5, 7.0)},
    "52.5R": {3: (27.0, 5.0), 28: (52.5, 7.0)},
}


@dataclass(frozen=True)
class RebarGrade:
    yield_min: float  # ReL, MPa
    tensile_min: float  # Rm, MPa
    elongation_min: float  # A, %
    agt_min: float  # Agt, %
    seismic: bool = False


REBAR_GRADES: dict[str, RebarGrade] = {
    "HPB300": RebarGrade(300, 420, 25.0, 10.0),
    "HRB400": RebarGrade(400, 540, 16.0, 7.5),
    "HRBF400": RebarGrade(400, 540, 16.0, 7.5),
    "HRB400E": RebarGrade(400, 540, 0.0, 9.0, seismic=True),
    "HRBF400E": RebarGrade(400, 540, 0.0, 9.0, seismic=True),
    "HRB500": RebarGrade(500, 630, 15.0, 7.5),
    "HRBF500": RebarGrade(500, 630, 15.0, 7.5),
    "HRB500E": RebarGrade(500, 630, 0.0, 9.0, seismic=True),
    "HRBF500E": RebarGrade(500, 630, 0.0, 9.0, seismic=True),
    "HRB600": RebarGrade(600, 730, 14.0, 7.5),
}


@dataclass
class Outcome:
    """What the platform makes of a group: its value(s), whether it conforms, and why."""

    values: dict[str, float | None] = field(default_factory=dict)
    conforming: bool | None = None  # None: void group, or nothing to judge against
    void: bool = False
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "values": {k: None if v is None else round(v, 2) for k, v in self.values.items()},
            "conforming": self.conforming,
            "void": self.void,
            "notes": self.notes,
        }


def design_strength(grade: str) -> float | None:
    """C30 -> 30.0 (MPa); None for what is not a concrete strength class."""
    text = grade.strip().upper()
    if text.startswith(("C", "M")) and text[1:].replace(".", "", 1).isdigit():
        return float(text[1:])
    return None


def cube_strengths(loads_kn: Sequence[float], size_mm: int) -> list[float]:
    factor = CUBE_SIZE_FACTOR.get(size_mm)
    if factor is None:
        raise ValueError(f"立方体试件边长应为 100、150 或 200 mm，而不是 {size_mm}")
    return [load * 1000 / (size_mm * size_mm) * factor for load in loads_kn]


def three_cube(strengths: Sequence[float]) -> tuple[float | None, str]:
    """The representative value of a group of three (None: void) and how it was taken."""
    if len(strengths) != 3:
        raise ValueError("一组混凝土立方体试件应为 3 个")
    low, middle, high = sorted(strengths)
    far_low = (middle - low) > 0.15 * middle
    far_high = (high - middle) > 0.15 * middle
    if far_low and far_high:
        return None, "最大值和最小值与中间值之差均超过中间值的 15%，该组试件结果无效"
    if far_low or far_high:
        return middle, "有一个值与中间值之差超过中间值的 15%，取中间值"
    return sum(strengths) / 3, "取三个试件的算术平均值"


def concrete(loads_kn: Sequence[float], size_mm: int, grade: str) -> Outcome:
    strengths = cube_strengths(loads_kn, size_mm)
    value, how = three_cube(strengths)
    outcome = Outcome({"strength_mpa": value}, notes=[how])
    required = design_strength(grade)
    if value is None:
        outcome.void = True
    elif required is not None:
        outcome.conforming = value >= required
        outcome.values["percent_of_design"] = value / required * 100
    return outcome


def _ten_percent_mean(values: Sequence[float], *, second_voids: bool) -> tuple[float | None, str]:
    mean = sum(values) / len(values)
    far = [v for v in values if abs(v - mean) > 0.1 * mean]
    if not far:
        return mean, "取平均值"
    worst = max(values, key=lambda v: abs(v - mean))
    rest = list(values)
    rest.remove(worst)
    rest_mean = sum(rest) / len(rest)
    if second_voids and any(abs(v - rest_mean) > 0.1 * rest_mean for v in rest):
        return None, "剔除一个超过平均值 ±10% 的值后，剩余值中仍有超过 ±10% 的，结果作废"
    return rest_mean, "剔除一个超过平均值 ±10% 的值，取其余的平均值"


def mortar(
    flexural_kn: Sequence[float], compressive_kn: Sequence[float], grade: str, age_days: int
) -> Outcome:
    if len(flexural_kn) != 3 or len(compressive_kn) != 6:
        raise ValueError("水泥胶砂强度应为 3 个抗折值和 6 个抗压值")
    rf = [1.5 * f * 1000 * MORTAR_SPAN_MM / MORTAR_PRISM_MM**3 for f in flexural_kn]
    rc = [f * 1000 / MORTAR_PRISM_MM**2 for f in compressive_kn]
    flexural, how_f = _ten_percent_mean(rf, second_voids=False)
    compressive, how_c = _ten_percent_mean(rc, second_voids=True)
    outcome = Outcome(
        {"flexural_mpa": flexural, "compressive_mpa": compressive},
        notes=[f"抗折：{how_f}", f"抗压：{how_c}"],
    )
    if compressive is None:
        outcome.void = True
        return outcome
    minimum = CEMENT_GRADES.get(grade.strip().split()[-1].upper() if grade.strip() else "", {}).get(
        age_days
    )
    if minimum is not None and flexural is not None:
        outcome.conforming = compressive >= minimum[0] and flexural >= minimum[1]
    return outcome


def nominal_area(diameter_mm: float) -> float:
    return math.pi * diameter_mm**2 / 4


@dataclass(frozen=True)
class Bar:
    diameter_mm: float
    yield_kn: float  # lower yield force FeL (or Rp0.2 force)
    max_kn: float  # maximum force Fm
    gauge_mm: float  # L0
    final_gauge_mm: float | None = None  # Lu
    agt_percent: float | None = None  # total elongation at maximum force


def rebar(bars: Sequence[Bar], grade: str) -> Outcome:
    spec = REBAR_GRADES.get(grade.strip().upper())
    if not bars:
        raise ValueError("至少需要一根钢筋试样")
    outcome = Outcome()
    verdicts: list[bool] = []
    for n, bar in enumerate(bars, start=1):
        area = nominal_area(bar.diameter_mm)
        rel = bar.yield_kn * 1000 / area
        rm = bar.max_kn * 1000 / area
        outcome.values[f"{n}.yield_mpa"] = rel
        outcome.values[f"{n}.tensile_mpa"] = rm
        elongation = None
        if bar.final_gauge_mm is not None and bar.gauge_mm > 0:
            elongation = (bar.final_gauge_mm - bar.gauge_mm) / bar.gauge_mm * 100
            outcome.values[f"{n}.elongation_percent"] = elongation
        if spec is None:
            continue
        problems = []
        if rel < spec.yield_min:
            problems.append(f"第 {n} 根下屈服强度 {rel:.0f} MPa 低于 {spec.yield_min:.0f}")
        if rm < spec.tensile_min:
            problems.append(f"第 {n} 根抗拉强度 {rm:.0f} MPa 低于 {spec.tensile_min:.0f}")
        if elongation is not None and elongation < spec.elongation_min:
            problems.append(f"第 {n} 根断后伸长率 {elongation:.1f}% 低于 {spec.elongation_min}%")
        if bar.agt_percent is not None and bar.agt_percent < spec.agt_min:
            problems.append(f"第 {n} 根最大力总延伸率 {bar.agt_percent}% 低于 {spec.agt_min}%")
        if spec.seismic:
            if rm / rel < 1.25:
                problems.append(f"第 {n} 根强屈比 {rm / rel:.2f} 小于 1.25")
            if rel / spec.yield_min > 1.30:
                problems.append(f"第 {n} 根超屈比 {rel / spec.yield_min:.2f} 大于 1.30")
        outcome.notes.extend(problems)
        verdicts.append(not problems)
    outcome.conforming = all(verdicts) if spec is not None else None
    return outcome


# --- masonry and plastering mortar cubes (JGJ/T 70-2009 9) ---------------------------------------

MASONRY_CUBE_MM = 70.7
MASONRY_FACTOR = 1.35  # K: the cube's strength to the mortar's


def masonry_mortar(loads_kn: Sequence[float], grade: str) -> Outcome:
    """Three 70.7 mm cubes: f = K N / A (K 1.35), the group's value taken as concrete's (the
    mean, the middle value when one extreme is more than 15 % from it, void when both are);
    judged against the design grade (M10: 10 MPa)."""
    if len(loads_kn) != 3:
        raise ValueError("一组砂浆立方体试件应为 3 个")
    area = MASONRY_CUBE_MM * MASONRY_CUBE_MM
    strengths = [MASONRY_FACTOR * load * 1000 / area for load in loads_kn]
    value, how = three_cube(strengths)
    outcome = Outcome({"strength_mpa": value}, notes=[how])
    required = design_strength(grade)
    if value is None:
        outcome.void = True
    elif required is not None:
        outcome.conforming = value >= required
        outcome.values["percent_of_design"] = value / required * 100
    return outcome


# --- rebar splices (JGJ 18-2012 5.1.7 welded; JGJ 107-2016 3.0.5, 7.0.7 mechanical) -------------


@dataclass(frozen=True)
class Splice:
    diameter_mm: float
    max_kn: float
    fracture: str  # Fracture value


def splices(specimens: Sequence[Splice], grade: str, joint: str) -> Outcome:
    """Three splice specimens pulled to break, judged by the bar's grade: welded by where each
    broke (JGJ 18), mechanical by the joint grade's strength (JGJ 107). A result the standard
    sends to a re-test is neither conforming nor void (its notes say so)."""
    spec = REBAR_GRADES.get(grade.strip().upper())
    if len(specimens) != 3:
        raise ValueError("一组接头试件应为 3 个")
    outcome = Outcome()
    strengths = []
    for n, s in enumerate(specimens, start=1):
        rm = s.max_kn * 1000 / nominal_area(s.diameter_mm)
        outcome.values[f"{n}.tensile_mpa"] = rm
        strengths.append(rm)
    if spec is None:
        return outcome
    outcome.values["percent_of_standard"] = min(strengths) / spec.tensile_min * 100
    if joint == "welded":
        _welded(outcome, specimens, strengths, spec)
    else:
        _mechanical(outcome, specimens, strengths, spec, joint)
    return outcome


def _welded(
    outcome: Outcome, specimens: Sequence[Splice], strengths: list[float], spec: RebarGrade
) -> None:
    fstk = spec.tensile_min
    brittle = [rm for s, rm in zip(specimens, strengths, strict=True) if s.fracture == "weld"]
    ductile = [rm for s, rm in zip(specimens, strengths, strict=True) if s.fracture != "weld"]
    if any(rm < fstk for rm in ductile):
        outcome.conforming = False
        outcome.notes.append(f"有试件断于钢筋母材且抗拉强度低于 {fstk:.0f} MPa，不合格")
    elif len(brittle) == 3:
        if any(rm < fstk for rm in brittle):
            outcome.conforming = False
            outcome.notes.append(f"3 个试件均断于焊缝，有试件抗拉强度低于 {fstk:.0f} MPa，不合格")
        else:
            outcome.notes.append("3 个试件均断于焊缝，呈脆性断裂，应进行复验")
    elif len(brittle) == 2:
        outcome.notes.append("2 个试件断于焊缝或热影响区，呈脆性断裂，应进行复验")
    elif len(brittle) == 1 and brittle[0] < fstk:
        outcome.notes.append(f"1 个试件断于焊缝且抗拉强度低于 {fstk:.0f} MPa 的 1.0 倍，应进行复验")
    else:
        outcome.conforming = True
        outcome.notes.append(
            f"3 个试件抗拉强度均不低于 {fstk:.0f} MPa，断于焊缝的不超过 1 个，合格"
        )


def _mechanical(
    outcome: Outcome,
    specimens: Sequence[Splice],
    strengths: list[float],
    spec: RebarGrade,
    joint: str,
) -> None:
    fstk, fyk = spec.tensile_min, spec.yield_min
    failed = []
    for n, (s, rm) in enumerate(zip(specimens, strengths, strict=True), start=1):
        if joint == "mechanical_i":
            need = fstk if s.fracture == "base" else 1.10 * fstk
        elif joint == "mechanical_ii":
            need = fstk
        else:
            need = 1.25 * fyk
        if rm < need:
            failed.append(f"第 {n} 个试件极限抗拉强度 {rm:.0f} MPa 低于 {need:.0f} MPa")
    outcome.notes.extend(failed)
    if not failed:
        outcome.conforming = True
        outcome.notes.append("3 个试件的极限抗拉强度均符合接头等级的要求，合格")
    elif len(failed) == 1:
        outcome.notes.append("仅 1 个试件不符合要求，应再取 6 个试件复检")
    else:
        outcome.conforming = False
        outcome.notes.append("2 个及以上试件不符合要求，不合格")


# --- wall bricks (GB/T 2542-2012 7; GB/T 5101-2017) and concrete blocks (GB/T 4111-2013 5;
# GB/T 8239-2014) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    """A brick's or block's bearing face (mm) and the load that broke it (kN)."""

    length_mm: float
    width_mm: float
    load_kn: float

    @property
    def strength_mpa(self) -> float:
        if self.length_mm <= 0 or self.width_mm <= 0:
            raise ValueError("受压面的长度和宽度应大于 0")
        return self.load_kn * 1000 / (self.length_mm * self.width_mm)


BRICKS = 10  # specimens of a group (GB/T 5101-2017)
BRICK_K = 1.83  # f_k = mean - 1.83 s (GB/T 2542-2012 7)
# GB/T 5101-2017 烧结普通砖, 强度等级: MU30 ... MU10 -> the least standard value f_k (MPa); the
# mean must reach the grade itself
BRICK_GRADES: dict[float, float] = {30.0: 22.0, 25.0: 18.0, 20.0: 14.0, 15.0: 10.0, 10.0: 6.5}
BLOCKS = 5  # specimens of a group (GB/T 8239-2014)
BLOCK_LEAST = 0.8  # the least block against the grade (GB/T 8239-2014: MU10 mean 10.0, least 8.0)
BLOCK_GRADES = (5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0)  # MU5.0 ... MU40
_MU = re.compile(r"MU\s*([0-9]+(?:\.[0-9]+)?)")


def masonry_unit_grade(grade: str) -> float | None:
    """MU10 -> 10.0, MU7.5 -> 7.5 (a brick's or block's strength grade); None otherwise."""
    found = _MU.fullmatch(grade.strip().upper())
    return float(found.group(1)) if found else None


def _strengths(outcome: Outcome, faces: Sequence[Face]) -> list[float]:
    strengths = [f.strength_mpa for f in faces]
    if statistics.fmean(strengths) <= 0:
        raise ValueError("破坏荷载应大于 0")
    for n, value in enumerate(strengths, start=1):
        outcome.values[f"{n}.compressive_mpa"] = value
    return strengths


def bricks(faces: Sequence[Face], grade: str) -> Outcome:
    """Ten bricks: the mean, the standard deviation and f_k = mean - 1.83 s; conforming when the
    mean and f_k reach the grade's minimums (GB/T 5101-2017: MU10 10.0 and 6.5 MPa)."""
    if len(faces) != BRICKS:
        raise ValueError(f"一组砌墙砖抗压强度试样应为 {BRICKS} 块")
    outcome = Outcome()
    strengths = _strengths(outcome, faces)
    mean = statistics.fmean(strengths)
    deviation = statistics.stdev(strengths)
    standard = mean - BRICK_K * deviation
    outcome.values["mean_mpa"] = mean
    outcome.values["std_mpa"] = deviation
    outcome.values["cv_percent"] = deviation / mean * 100
    outcome.values["standard_mpa"] = standard
    outcome.notes.append(f"强度标准值 = 平均值 − {BRICK_K} × 标准差 = {standard:.1f} MPa")
    level = masonry_unit_grade(grade)
    least_standard = BRICK_GRADES.get(level) if level is not None else None
    if level is None or least_standard is None:
        return outcome
    least_mean = level
    outcome.values["percent_of_standard"] = min(mean / least_mean, standard / least_standard) * 100
    # judged on the results as reported, to 0.1 MPa (GB/T 2542-2012; GB/T 8170 rounding)
    outcome.conforming = round(mean, 1) >= least_mean and round(standard, 1) >= least_standard
    if round(mean, 1) < least_mean:
        outcome.notes.append(f"抗压强度平均值 {mean:.1f} MPa 低于 {least_mean:g} MPa")
    if round(standard, 1) < least_standard:
        outcome.notes.append(f"强度标准值 {standard:.1f} MPa 低于 {least_standard:g} MPa")
    if outcome.conforming:
        outcome.notes.append(f"平均值和强度标准值均达到 {grade.strip().upper()} 的要求，合格")
    return outcome


def blocks(faces: Sequence[Face], grade: str) -> Outcome:
    """Five blocks: conforming when the mean reaches the grade and the least block 0.8 of it
    (GB/T 8239-2014: MU10 10.0 and 8.0 MPa)."""
    if len(faces) != BLOCKS:
        raise ValueError(f"一组混凝土砌块抗压强度试样应为 {BLOCKS} 块")
    outcome = Outcome()
    strengths = _strengths(outcome, faces)
    mean, least = statistics.fmean(strengths), min(strengths)
    outcome.values.update({"mean_mpa": mean, "min_mpa": least})
    level = masonry_unit_grade(grade)
    if level is None or level not in BLOCK_GRADES:
        return outcome
    floor = BLOCK_LEAST * level
    outcome.values["percent_of_standard"] = min(mean / level, least / floor) * 100
    # judged on the results as reported, to 0.1 MPa (GB/T 4111-2013)
    outcome.conforming = round(mean, 1) >= level and round(least, 1) >= round(floor, 1)
    if round(mean, 1) < level:
        outcome.notes.append(f"抗压强度平均值 {mean:.1f} MPa 低于 {level:g} MPa")
    if round(least, 1) < round(floor, 1):
        outcome.notes.append(f"单块最小值 {least:.1f} MPa 低于 {floor:g} MPa")
    if outcome.conforming:
        outcome.notes.append(f"平均值和单块最小值均达到 {grade.strip().upper()} 的要求，合格")
    return outcome


# --- bedrock cores (GB/T 50266-2013 2.7; GB 50007-2011 附录 J) --------------------------------

ROCK_LEAST = 3  # GB/T 50266-2013: three specimens a group at least
ROCK_STATISTICAL = 6  # GB 50007-2011 J.0.2: no fewer than six for the standard value
ROCK_SLENDERNESS = (2.0, 2.5)  # height / diameter (GB/T 50266-2013 2.7; J.0.2: Φ50 × 100)
_DESIGN = re.compile(r"(?:F_?RK\s*)?(?:≥|>=)?\s*([0-9]+(?:\.[0-9]+)?)\s*(?:MPA)?")


@dataclass(frozen=True)
class Core:
    diameter_mm: float
    height_mm: float
    load_kn: float


def rock_design_strength(grade: str) -> float | None:
    """The design's least standard value of the rock's strength, given in MPa: ``30``,
    ``30 MPa``, ``≥30MPa``, ``frk≥30``; None for anything else (a rock's name, say)."""
    found = _DESIGN.fullmatch(grade.strip().upper())
    return float(found.group(1)) if found else None


def statistical_factor(n: int, cv: float) -> float:
    """ψ = 1 - (1.704 / √n + 4.678 / n²) δ (GB 50007-2011 J.0.4-2)."""
    return 1 - (1.704 / math.sqrt(n) + 4.678 / n**2) * cv


def rock(cores: Sequence[Core], grade: str) -> Outcome:
    """Cores crushed along their axis: R = P / A each; the mean f_rm, δ, and from six specimens
    the standard value f_rk = ψ f_rm, judged against the design value when ``grade`` gives one
    (f_rk >= it). A core outside 2.0-2.5 diameters high is noted."""
    if len(cores) < ROCK_LEAST:
        raise ValueError(f"一组岩石试件至少 {ROCK_LEAST} 个")
    outcome = Outcome()
    strengths = []
    for n, core in enumerate(cores, start=1):
        if core.diameter_mm <= 0 or core.height_mm <= 0:
            raise ValueError("岩石试件的直径和高度应大于 0")
        strengths.append(core.load_kn * 1000 / nominal_area(core.diameter_mm))
        outcome.values[f"{n}.compressive_mpa"] = strengths[-1]
        slenderness = core.height_mm / core.diameter_mm
        if not ROCK_SLENDERNESS[0] <= slenderness <= ROCK_SLENDERNESS[1]:
            outcome.notes.append(f"第 {n} 个试件高径比 {slenderness:.2f}，不在 2.0～2.5 之内")
    mean = statistics.fmean(strengths)
    if mean <= 0:
        raise ValueError("破坏荷载应大于 0")
    cv = statistics.stdev(strengths) / mean
    outcome.values.update({"mean_mpa": mean, "cv_percent": cv * 100})
    if len(cores) < ROCK_STATISTICAL:
        outcome.notes.append(f"试件少于 {ROCK_STATISTICAL} 个，不计算强度标准值，不判定")
        return outcome
    psi = statistical_factor(len(cores), cv)
    standard = psi * mean
    outcome.values.update({"psi": psi, "standard_mpa": standard})
    outcome.notes.append(f"强度标准值 = ψ × 平均值 = {psi:.3f} × {mean:.1f} = {standard:.1f} MPa")
    design = rock_design_strength(grade)
    if design is None or design <= 0:
        return outcome
    outcome.values["percent_of_design"] = standard / design * 100
    outcome.conforming = standard >= design
    verdict = "合格" if outcome.conforming else "不合格"
    sign = "不低于" if outcome.conforming else "低于"
    outcome.notes.append(f"强度标准值{sign}设计要求的 {design:g} MPa，{verdict}")
    return outcome
