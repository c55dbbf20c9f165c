"""Rules on test data (000 4.3.4 items 4-5; 001 4.1.10, 4.2.2.2, 5.4.4, 6.2-6.3; 002 7(2)(3),
13, 17(1)(2)). Thresholds are data per region; each rule has a case that fires and one that does
not in tests/testing/test_rules.py."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import load_only

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, Rows, RuleContext, extend_rule, rule
from jcjg.catalogue.models import Specialty
from jcjg.catalogue.service import item_specialties
from jcjg.contracts.models import Contract
from jcjg.core.regioncodes import in_subtree
from jcjg.core.text import figure
from jcjg.core.workdays import beijing_date, working_days_between
from jcjg.projects.models import Project
from jcjg.regions.service import display_names
from jcjg.registry.choices import FilingStatus
from jcjg.registry.models import (
    Equipment,
    InstitutionFiling,
    Lab,
    Person,
    QualificationCertificate,
)
from jcjg.sampling.models import Commission
from jcjg.tenancy.models import Institution
from jcjg.testing import curves, judgement, reuse, service
from jcjg.testing.choices import Acquisition, Judgement, TestKind
from jcjg.testing.models import (
    Curve,
    OnSitePlan,
    OnSiteRecord,
    Revision,
    Specimen,
    TestRecord,
)
from jcjg.testing.overlaps import Bookings, clashing, listed


def record_finding(key: str, record: TestRecord, facts: dict[str, Any], what: str = "") -> Finding:
    """A finding on a test record (``what`` adds to its name, e.g. the specimen)."""
    return Finding(
        key=key,
        subject_type="test_record",
        subject_id=str(record.id),
        subject_repr=f"原始记录 {record.number}{what}",
        subject_number=record.number,
        institution_id=record.institution_id,
        region_code=record.region_code,
        project_id=record.project_id,
        facts=facts,
    )


# what record_finding reads of a record
_FINDING = ("id", "number", "institution_id", "region_code", "project_id")
# what impossible_timing compares of two records besides their times
_TIMING = ("equipment", "inspector_person_ids", "inspectors", "lab_name")


@functools.cache
def records_loading(*columns: str) -> Select[TestRecord]:
    """The records, with only ``columns`` and what :func:`record_finding` reads loaded: a rule
    over an institution's every record reads those again at each write, and the other columns
    (the raw values, results and recomputation as JSON) would be decoded for nothing. A column
    not loaded is read when asked for (the rule's own code keeps to these). Made once for each
    set of columns."""
    loaded = [getattr(TestRecord, name) for name in (*_FINDING, *columns)]
    return select(TestRecord).options(load_only(*loaded))


def _curves(
    ctx: RuleContext, *where: ColumnElement[bool]
) -> list[tuple[Curve, Specimen, TestRecord]]:
    """Each curve in the run's scope (of those ``where`` keeps) with its specimen and record."""
    stmt = (
        select(Curve, Specimen, TestRecord)
        .join(Specimen, Specimen.id == Curve.specimen_id)
        .join(TestRecord, TestRecord.id == Curve.test_record_id)
        .where(*where)
    )
    stmt = ctx.narrow_rows(ctx.narrow(stmt, Curve.institution_id), Curve.id)
    return [(c, s, r) for c, s, r in ctx.db.execute(stmt)]


def _concrete_band(grade: str, limits: dict[str, Any]) -> tuple[float, float] | None:
    strength = judgement.design_strength(grade)
    if strength is None:
        return None
    if strength < 30:
        return float(limits["concrete_below_c30_min"]), float(limits["concrete_below_c30_max"])
    if strength < 60:
        return float(limits["concrete_c30_c60_min"]), float(limits["concrete_c30_c60_max"])
    return float(limits["concrete_from_c60_min"]), float(limits["concrete_from_c60_max"])


@dataclass(frozen=True)
class LoadingRate:
    """A specimen's loading rate in its standard's unit, and the range the standard allows."""

    rate: float
    unit: str
    low: float
    high: float

    @property
    def within(self) -> bool:
        return self.low <= self.rate <= self.high

    @property
    def range_text(self) -> str:
        return f"{self.low:g}～{self.high:g} {self.unit}"

    @property
    def rate_text(self) -> str:
        return f"{figure(self.rate)} {self.unit}"


def loading_rate_check(
    record: TestRecord, specimen: Specimen, curve: Curve, limits: dict[str, Any]
) -> dict[str, Any] | None:
    """The facts of a loading rate outside the standard's range, or None."""
    found = loading_rate_of(record, specimen, curve, limits)
    if found is None or found.within:
        return None
    return {
        "试件": specimen.position,
        "加荷速度": found.rate_text,
        "标准范围": found.range_text,
        "材料": TestKind(record.kind).label,
    }


# the kinds loaded at a force rate (kN/s), and the thresholds of their range: mortar cubes
# 0.25-1.5 kN/s (JGJ/T 70-2009 9.0.4); wall bricks "2 kN/s～6 kN/s 为宜" (GB/T 2542-2012 7);
# concrete blocks 4-6 kN/s (GB/T 4111-2013 5: a force rate, not a stress rate; on a
# 390 mm × 190 mm block it is about 0.05-0.08 MPa/s)
UNIT_RATES = {
    TestKind.MASONRY_MORTAR: ("masonry_min_kn_s", "masonry_max_kn_s"),
    TestKind.BRICK_COMPRESSION: ("brick_min_kn_s", "brick_max_kn_s"),
    TestKind.BLOCK_COMPRESSION: ("block_min_kn_s", "block_max_kn_s"),
}
# rock cores: a stress rate over the core's section, like the bars' over their nominal area
ROCK_RATE = ("rock_min_mpa_s", "rock_max_mpa_s")


def loading_rate_of(
    record: TestRecord, specimen: Specimen, curve: Curve, limits: dict[str, Any]
) -> LoadingRate | None:
    """A specimen's loading rate and its standard's range, or None when the record does not
    say enough (no curve, no grade, no size). Each material has its own branch (and unit):
    concrete MPa/s over the cube's face, cement mortar N/s by compression or flexure, mortar
    cubes, bricks and blocks kN/s, rebar MPa/s over the bar's nominal area in the elastic
    range, rock cores MPa/s over the core's section."""
    if curve.rate_kn_s is None:
        return None
    kind = TestKind(record.kind)
    if kind is TestKind.CONCRETE_COMPRESSION:
        band = _concrete_band(record.grade, limits)
        if band is None or not record.specimen_size_mm:
            return None
        rate, unit = curve.rate_kn_s * 1000 / record.specimen_size_mm**2, "MPa/s"
    elif kind is TestKind.MORTAR_STRENGTH:
        mode = specimen.values.get("mode")
        rate, unit = curve.rate_kn_s * 1000, "N/s"
        if mode == "compressive":
            centre, spread = (
                float(limits["mortar_compressive_n_s"]),
                float(limits["mortar_compressive_tolerance"]),
            )
        elif mode == "flexural":
            centre, spread = (
                float(limits["mortar_flexural_n_s"]),
                float(limits["mortar_flexural_tolerance"]),
            )
        else:
            return None
        band = (centre - spread, centre + spread)
    elif kind in UNIT_RATES:
        rate, unit = curve.rate_kn_s, "kN/s"
        low, high = UNIT_RATES[kind]
        band = (float(limits[low]), float(limits[high]))
    elif kind.is_steel or kind is TestKind.ROCK_COMPRESSION:
        diameter = specimen.values.get("diameter_mm")
        if not isinstance(diameter, int | float) or diameter <= 0:
            return None
        rate, unit = curve.rate_kn_s * 1000 / judgement.nominal_area(float(diameter)), "MPa/s"
        low, high = ("rebar_min_mpa_s", "rebar_max_mpa_s") if kind.is_steel else ROCK_RATE
        band = (float(limits[low]), float(limits[high]))
    else:
        return None
    return LoadingRate(rate, unit, band[0], band[1])


@rule(
    "loading_rate",
    title="加荷速度不符合标准",
    clause="001 6.2.3.3；GB/T 50081、GB/T 17671、GB/T 228.1、JGJ/T 70、GB/T 2542、GB/T 4111、"
    "GB/T 50266",
    severity=Severity.WARNING,
    subject_type="test_record",
    defaults={
        "concrete_below_c30_min": 0.3,
        "concrete_below_c30_max": 0.5,
        "concrete_c30_c60_min": 0.5,
        "concrete_c30_c60_max": 0.8,
        "concrete_from_c60_min": 0.8,
        "concrete_from_c60_max": 1.0,
        "mortar_compressive_n_s": 2400,
        "mortar_compressive_tolerance": 200,
        "mortar_flexural_n_s": 50,
        "mortar_flexural_tolerance": 10,
        "rebar_min_mpa_s": 6,
        "rebar_max_mpa_s": 60,
        "masonry_min_kn_s": 0.25,
        "masonry_max_kn_s": 1.5,
        "brick_min_kn_s": 2,
        "brick_max_kn_s": 6,
        "block_min_kn_s": 4,
        "block_max_kn_s": 6,
        # GB/T 50266-2013 2.7: 0.5-1.0 MPa/s (GB 50007-2011 J.0.3 asks 0.5-0.8 for its f_rk)
        "rock_min_mpa_s": 0.5,
        "rock_max_mpa_s": 1.0,
    },
    labels={
        "concrete_below_c30_min": "混凝土 <C30 下限（MPa/s）",
        "concrete_below_c30_max": "混凝土 <C30 上限（MPa/s）",
        "concrete_c30_c60_min": "混凝土 C30～<C60 下限（MPa/s）",
        "concrete_c30_c60_max": "混凝土 C30～<C60 上限（MPa/s）",
        "concrete_from_c60_min": "混凝土 ≥C60 下限（MPa/s）",
        "concrete_from_c60_max": "混凝土 ≥C60 上限（MPa/s）",
        "mortar_compressive_n_s": "水泥胶砂抗压（N/s）",
        "mortar_compressive_tolerance": "水泥胶砂抗压允许偏差（N/s）",
        "mortar_flexural_n_s": "水泥胶砂抗折（N/s）",
        "mortar_flexural_tolerance": "水泥胶砂抗折允许偏差（N/s）",
        "rebar_min_mpa_s": "钢筋弹性阶段应力速率下限（MPa/s）",
        "rebar_max_mpa_s": "钢筋弹性阶段应力速率上限（MPa/s）",
        "masonry_min_kn_s": "砂浆立方体加荷速度下限（kN/s）",
        "masonry_max_kn_s": "砂浆立方体加荷速度上限（kN/s）",
        "brick_min_kn_s": "砌墙砖抗压加荷速度下限（kN/s）",
        "brick_max_kn_s": "砌墙砖抗压加荷速度上限（kN/s）",
        "block_min_kn_s": "混凝土砌块抗压加荷速度下限（kN/s）",
        "block_max_kn_s": "混凝土砌块抗压加荷速度上限（kN/s）",
        "rock_min_mpa_s": "岩石单轴抗压加荷速度下限（MPa/s）",
        "rock_max_mpa_s": "岩石单轴抗压加荷速度上限（MPa/s）",
    },
    triggers=(Curve,),
    rows=Rows(Curve, "curve"),  # each curve judged on itself: a write judges the curves written
    description="由力值-时间曲线按标准的区间（混凝土、水泥胶砂、砂浆立方体、砌墙砖、混凝土砌块、"
    "岩石为峰值的 10%～80%，钢筋及其焊接、机械连接接头为弹性段 10%～40%）算出的平均加荷速度超出标准"
    "规定的范围。",
)
def loading_rate(ctx: RuleContext) -> Iterator[Finding]:
    for curve, specimen, record in _curves(ctx):
        facts = loading_rate_check(record, specimen, curve, ctx.thresholds(record.region_code))
        if facts is not None:
            yield record_finding(
                f"curve:{curve.id}", record, facts, f" 第 {specimen.position} 个试件"
            )


# The test room each method asks for: (standard, lowest and highest temperature, least humidity)
# by kind, as threshold names (per region); None: the method sets no limit.
ENVIRONMENT = {
    TestKind.CONCRETE_COMPRESSION: ("GB/T 50081-2019", "concrete_min_c", "concrete_max_c",
                                    "concrete_min_rh"),
    TestKind.MORTAR_STRENGTH: ("GB/T 17671-2021", "cement_min_c", "cement_max_c",
                               "cement_min_rh"),
    TestKind.REBAR_TENSILE: ("GB/T 228.1-2021", "rebar_min_c", "rebar_max_c", None),
}  # fmt: skip


def environment_problems(record: TestRecord, limits: dict[str, Any]) -> list[str]:
    """What of the record's stated test room is outside its method's range (nothing when the
    method sets none or the record states none)."""
    method = next((m for k, m in ENVIRONMENT.items() if k.value == record.kind), None)
    env = record.environment or {}
    if method is None:
        return []
    standard, low, high, humid = method
    problems = []
    temperature, humidity = env.get("temperature_c"), env.get("humidity_percent")
    if isinstance(temperature, int | float) and not (
        float(limits[low]) <= temperature <= float(limits[high])
    ):
        problems.append(
            f"试验温度 {temperature:g} ℃，{standard} 要求 {float(limits[low]):g}～"
            f"{float(limits[high]):g} ℃"
        )
    if humid and isinstance(humidity, int | float) and humidity < float(limits[humid]):
        problems.append(f"相对湿度 {humidity:g}%，{standard} 要求不低于 {float(limits[humid]):g}%")
    return problems


@rule(
    "environment_out_of_range",
    title="试验环境温湿度不符合检测方法的要求",
    clause="002 第三条（环境原始数据）；003 三（四）；"
    "GB/T 50081-2019、GB/T 17671-2021、GB/T 228.1-2021",
    severity=Severity.WARNING,
    subject_type="test_record",
    defaults={
        "concrete_min_c": 15,
        "concrete_max_c": 25,
        "concrete_min_rh": 50,
        "cement_min_c": 18,
        "cement_max_c": 22,
        "cement_min_rh": 50,
        "rebar_min_c": 10,
        "rebar_max_c": 35,
    },
    labels={
        "concrete_min_c": "混凝土抗压试验温度下限（℃）",
        "concrete_max_c": "混凝土抗压试验温度上限（℃）",
        "concrete_min_rh": "混凝土抗压试验相对湿度下限（%）",
        "cement_min_c": "水泥胶砂试验室温度下限（℃）",
        "cement_max_c": "水泥胶砂试验室温度上限（℃）",
        "cement_min_rh": "水泥胶砂试验室相对湿度下限（%）",
        "rebar_min_c": "钢筋拉伸试验温度下限（℃）",
        "rebar_max_c": "钢筋拉伸试验温度上限（℃）",
    },
    triggers=(TestRecord,),
    rows=Rows(TestRecord, "record"),  # each record judged on itself: a write judges those written
    description="检测记录上报的试验环境（温度、相对湿度）超出该检测方法规定的范围：混凝土立方体抗压"
    "（GB/T 50081-2019：20±5 ℃，相对湿度不宜小于 50%）、水泥胶砂（GB/T 17671-2021：试验室 20±2 ℃，"
    "相对湿度不低于 50%）、钢筋拉伸（GB/T 228.1-2021：室温 10～35 ℃）。没有上报环境的记录不判断。",
)
def environment_out_of_range(ctx: RuleContext) -> Iterator[Finding]:
    kinds = [k.value for k in ENVIRONMENT]
    stmt = select(TestRecord).where(TestRecord.kind.in_(kinds))
    stmt = ctx.narrow_rows(ctx.narrow(stmt, TestRecord.institution_id), TestRecord.id)
    for record in ctx.db.scalars(stmt):
        problems = environment_problems(record, ctx.thresholds(record.region_code))
        if problems:
            yield record_finding(
                f"record:{record.id}",
                record,
                {"材料": TestKind(record.kind).label, "问题": problems},
            )


@rule(
    "result_curve_mismatch",
    title="上报的力值与曲线不符",
    clause="jz57 第二十二条；000 7.2.3；001 4.1.7、6.1.3；002 第十七条（二）",
    severity=Severity.CRITICAL,
    subject_type="test_record",
    defaults={"tolerance_percent": 1.0},
    labels={"tolerance_percent": "允许偏差（%）"},
    triggers=(Curve,),
    rows=Rows(Curve, "curve"),  # each curve judged on itself and its specimen
    description="试件上报的峰值力（或由它算出的强度）与同一试件力值-时间曲线的峰值相差超过允许偏差。",
)
def result_curve_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    for curve, specimen, record in _curves(ctx):
        tolerance = float(ctx.thresholds(record.region_code)["tolerance_percent"]) / 100
        name = "max_kn" if TestKind(record.kind).is_steel else "peak_kn"
        reported = specimen.values.get(name)
        if not isinstance(reported, int | float) or curve.peak_kn <= 0:
            continue
        if abs(reported - curve.peak_kn) > tolerance * curve.peak_kn:
            yield record_finding(
                f"curve:{curve.id}",
                record,
                {
                    "试件": specimen.position,
                    "上报峰值（kN）": reported,
                    "曲线峰值（kN）": round(curve.peak_kn, 2),
                    "偏差": f"{(reported / curve.peak_kn - 1) * 100:+.1f}%",
                },
                f" 第 {specimen.position} 个试件",
            )


@rule(
    "curve_reuse",
    title="力值曲线与其他试件的曲线出自同一次试验（重复使用）",
    clause="jz57 第二十二条；000 7.2.2；001 4.1.7、5.4.7.1；002 第十七条（一）（二）",
    severity=Severity.CRITICAL,
    subject_type="test_record",
    defaults={
        "min_correlation": reuse.MIN_CORRELATION,
        "min_points": reuse.MIN_POINTS,
        "min_similarity": curves.MIN_SIMILARITY,
        "tolerance_percent": curves.TOLERANCE * 100,
    },
    labels={
        "min_correlation": "残差相关系数下限",
        "min_points": "最少比对点数",
        "min_similarity": "候选曲线的指纹相似度下限（余弦）",
        "tolerance_percent": "候选曲线 10%～90% 加荷时长允许偏差（%）",
        "figure": "上：本曲线与另一曲线对齐叠加（力值）；"
        "下：两条曲线去掉光滑形状后剩下的噪声（残差）。"
        "两次真实试验的残差互不相关，同一次试验的残差逐点重合。",
    },
    triggers=(Curve,),
    # a curve is compared with earlier ones only: a write judges the curves written
    rows=Rows(Curve, "curve"),
    description="一条曲线与此前任一机构上传的另一试件曲线是同一次试验：两条曲线按时间比例和平移对齐后，"
    "逐点去掉光滑形状和机器共有的周期成分（泵的脉动、电源干扰）剩下的噪声显著相关"
    "（按比对点数计算的显著性，并明显高于其他对齐位置；两次真实试验的噪声互不相关），"
    "或有成段完全相同的数据点，或采样间隔的抖动逐点一致。平移时间、缩放时间轴、缩放力值、"
    "重新采样、隔点抽取、截头去尾、只留加荷段、拼接、叠加噪声、重新取整都能识别；"
    "形状相似只用来挑选比对的候选，不作为判断依据。",
)
def curve_reuse(ctx: RuleContext) -> Iterator[Finding]:
    # each curve with its specimen and record in one statement (the handler's objects may be
    # let go by the time the rules run: a get() of each then read them one by one)
    for curve, specimen, record in _curves(ctx, Curve.fp_vector.is_not(None)):
        limits = ctx.thresholds(curve.region_code)
        found = service.similar_curves(
            ctx.db,
            curve,
            top=TestKind(record.kind).fingerprint_top,
            min_similarity=float(limits["min_similarity"]),
            tolerance=float(limits["tolerance_percent"]) / 100,
            min_correlation=float(limits["min_correlation"]),
            min_points=int(limits["min_points"]),
        )
        if not found:
            continue
        other, evidence = found[0]
        earlier = ctx.db.get(TestRecord, other.test_record_id)
        earlier_specimen = ctx.db.get(Specimen, other.specimen_id)
        source = ctx.db.get(Institution, other.institution_id)
        yield record_finding(
            f"curve:{curve.id}",
            record,
            {
                "试件": specimen.position,
                "相同的曲线": f"原始记录 {earlier.number if earlier else other.test_record_id}"
                f" 第 {earlier_specimen.position if earlier_specimen else '?'} 个试件",
                "相同曲线的机构": source.name if source else "",
                **evidence.facts(),
                "相同曲线数": len(found),
                "figure": f"/testing/curves/{curve.id}/compare/{other.id}",
            },
            f" 第 {specimen.position} 个试件",
        )


@rule(
    "late_upload",
    title="检测数据未按时上传",
    clause="jz57 第二十二条；001 6.1.2、6.3.4（实时上传）；002 第七条（三）",
    severity=Severity.WARNING,
    subject_type="test_record",
    defaults={"auto_minutes": 30, "manual_hours": 24},
    labels={
        "auto_minutes": "自动采集数据上传时限（分钟）",
        "manual_hours": "人工录入数据上传时限（小时）",
        "late": "超时",
    },
    triggers=(TestRecord,),
    rows=Rows(TestRecord, "record"),  # each record judged on itself: a write judges those written
    description="自动采集的数据在试验结束后超过规定分钟数才上传，或人工录入的数据超过规定小时数才上传。",
)
def late_upload(ctx: RuleContext) -> Iterator[Finding]:
    stmt = ctx.narrow_rows(ctx.narrow(select(TestRecord), TestRecord.institution_id), TestRecord.id)
    for record in ctx.db.scalars(stmt):
        limits = ctx.thresholds(record.region_code)
        waited = (record.received_at - record.ended_at).total_seconds()
        if record.acquisition == Acquisition.AUTO.value:
            allowed = float(limits["auto_minutes"]) * 60
        else:
            allowed = float(limits["manual_hours"]) * 3600
        if waited > allowed:
            yield record_finding(
                f"record:{record.id}",
                record,
                {
                    "采集方式": Acquisition(record.acquisition).label,
                    "试验结束": record.ended_at.isoformat(),
                    "平台收到": record.received_at.isoformat(),
                    "late": f"{math.ceil((waited - allowed) / 60)} 分钟",
                },
            )


@rule(
    "manual_override",
    title="人工修改自动采集的数据",
    clause=(
        "jz57 第二十二条；000 7.2.3；001 4.2.2.2、5.4.4、6.1.2（拒绝二次操作采集数据）；"
        "002 第十三条"
    ),
    severity=Severity.WARNING,
    subject_type="test_record",
    triggers=(Revision,),
    rows=Rows(Revision, "revision"),  # each revision on itself and its record
    description="自动采集的原始数值被修改（例如钢筋屈服点依据曲线人工更正，001 6.2.4）。"
    "修改记录留存，由监管人员核查理由是否成立。",
)
def manual_override(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(Revision, TestRecord).join(TestRecord, TestRecord.id == Revision.test_record_id)
    stmt = stmt.where(Revision.auto_acquired.is_(True))
    stmt = ctx.narrow_rows(ctx.narrow(stmt, Revision.institution_id), Revision.id)
    for revision, record in ctx.db.execute(stmt):
        yield record_finding(
            f"revision:{revision.id}",
            record,
            {
                "字段": revision.field,
                "修改前": revision.before,
                "修改后": revision.after,
                "原因": revision.reason,
                "修改人": revision.revised_by,
            },
        )


@rule(
    "judgement_mismatch",
    title="检测机构的判定与平台按原始数据复算的结果不一致",
    clause="002 第十七条（一）（二）；GB/T 50081、GB/T 17671、GB/T 1499、JGJ/T 70、JGJ 18、"
    "JGJ 107、GB/T 5101、GB/T 8239、GB 50007",
    severity=Severity.CRITICAL,
    subject_type="test_record",
    triggers=(TestRecord,),
    rows=Rows(TestRecord, "record"),  # each record judged on itself: a write judges those written
    description="平台按标准由原始数值复算（混凝土、砂浆立方体三个试件取值规则、水泥胶砂 10% 规则、"
    "钢筋牌号最低值、焊接接头按断裂位置、机械连接接头按接头等级、砌墙砖平均值和强度标准值、混凝土砌块"
    "平均值和单块最小值、岩石强度标准值），得出的合格、不合格或无效与检测机构的判定不同。",
)
def judgement_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    judged = {Judgement.CONFORMING.value, Judgement.NONCONFORMING.value, Judgement.VOID.value}
    stmt = select(TestRecord).where(
        TestRecord.lab_judgement.in_(judged), TestRecord.platform_judgement.in_(judged)
    )
    stmt = ctx.narrow_rows(ctx.narrow(stmt, TestRecord.institution_id), TestRecord.id)
    for record in ctx.db.scalars(stmt):
        if record.lab_judgement != record.platform_judgement:
            yield record_finding(
                f"record:{record.id}",
                record,
                {
                    "检测机构判定": Judgement(record.lab_judgement).label,
                    "平台复算": Judgement(record.platform_judgement).label,
                    "复算说明": "；".join(record.recomputed.get("notes", [])),
                },
            )


@rule(
    "equipment_invalid",
    title="检测所用设备未登记、不在该场所或检定/校准过期",
    clause="000 4.1.1 第 5 项；001 4.1.6；002 第七条（二）",
    severity=Severity.CRITICAL,
    subject_type="test_record",
    triggers=(TestRecord, Equipment),
    # each record judged on itself and the equipment registry: a record's write judges it, an
    # instrument's its institution's records
    rows=Rows(TestRecord, "record"),
    description="检测记录所用设备在本机构的设备登记中找不到，或登记在另一检测场所，或试验当天已过"
    "检定/校准有效期，或状态不是在用。",
)
def equipment_invalid(ctx: RuleContext) -> Iterator[Finding]:
    stmt = records_loading("equipment", "started_at", "lab_name")
    records = [
        r
        for r in ctx.db.scalars(
            ctx.narrow_rows(ctx.narrow(stmt, TestRecord.institution_id), TestRecord.id)
        )
        if r.equipment
    ]
    if not records:
        return
    institution_ids = sorted({r.institution_id for r in records})
    machines = {
        (e.institution_id, e.asset_number): e
        for e in ctx.db.scalars(
            select(Equipment).where(Equipment.institution_id.in_(institution_ids))
        )
    }
    labs = dict(
        ctx.db.execute(
            select(Lab.id, Lab.name).where(Lab.institution_id.in_(institution_ids))
        ).all()
    )
    for record in records:
        problems = []
        day = beijing_date(record.started_at)
        for asset in record.equipment:
            machine = machines.get((record.institution_id, asset))
            if machine is None:
                problems.append(f"{asset}：未在本机构的设备中登记")
                continue
            lab = labs.get(machine.lab_id) if machine.lab_id else None
            if record.lab_name and lab and lab != record.lab_name:
                problems.append(f"{asset}：登记在{lab}，不在{record.lab_name}")
            if machine.calibration_valid_until is None or machine.calibration_valid_until < day:
                until = machine.calibration_valid_until
                problems.append(
                    f"{asset}：检定/校准"
                    + (f"有效期至 {until.isoformat()}，已过期" if until else "无有效期")
                )
            if machine.status != "in_use":
                problems.append(f"{asset}：设备状态不是在用")
        if problems:
            yield record_finding(
                f"record:{record.id}", record, {"设备问题": problems, "试验日期": day.isoformat()}
            )


def _timing_keys(record: TestRecord) -> list[tuple[str, int, Any]]:
    """What a record books, for impossible_timing: each machine of its institution, and each
    of its inspectors where the record names its test site (a person is in two places only
    between two named sites)."""
    keys: list[tuple[str, int, Any]] = [
        ("machine", record.institution_id, asset) for asset in sorted(set(record.equipment))
    ]
    if record.lab_name:
        keys += [
            ("person", record.institution_id, pid)
            for pid in sorted(set(record.inspector_person_ids))
        ]
    return keys


def _two_places(lab: str) -> Callable[[tuple[str, int, Any], TestRecord], bool]:
    """Whether a record booked on a key clashes with one at ``lab``: any two on a machine; on
    a person, two at different sites (at the same site, one person may run two tests)."""
    return lambda key, other: key[0] == "machine" or other.lab_name != lab


@rule(
    "impossible_timing",
    title="时间冲突：一台设备同时做两项试验，或一名检测人员同时在两处",
    clause="jz57 第二十二条；000 7.2.2；001 4.1.7；002 第十七条（一）（二）",
    severity=Severity.CRITICAL,
    subject_type="test_record",
    defaults={"overlap_seconds": 60},
    labels={"overlap_seconds": "允许的重叠（秒）"},
    triggers=(TestRecord,),
    # the record sent later carries a clash: a write judges the records written against those
    # sent before them (near them in time), not the institution's every record with each other
    rows=Rows(TestRecord, "record"),
    description="同一机构的两条检测记录时间重叠，且用了同一台设备，或同一检测人员在不同检测场所"
    "（预警记在后上传的一条上）。",
)
def impossible_timing(ctx: RuleContext) -> Iterator[Finding]:
    stmt = records_loading("started_at", "ended_at", *_TIMING)
    subjects = list(
        ctx.db.scalars(ctx.narrow_rows(ctx.narrow(stmt, TestRecord.institution_id), TestRecord.id))
    )
    if not subjects:
        return
    earliest = min(r.started_at for r in subjects) - dt.timedelta(days=1)
    latest = max(r.ended_at for r in subjects) + dt.timedelta(days=1)
    pool = ctx.db.scalars(
        records_loading("started_at", "ended_at", *_TIMING).where(
            TestRecord.institution_id.in_(sorted({r.institution_id for r in subjects})),
            TestRecord.ended_at >= earliest,
            TestRecord.started_at <= latest,
        )
    ).all()
    bookings = Bookings((key, r) for r in pool for key in _timing_keys(r))
    for record in subjects:
        allowed = dt.timedelta(seconds=float(ctx.thresholds(record.region_code)["overlap_seconds"]))
        found, complete = clashing(
            bookings, record, _timing_keys(record), allowed, _two_places(record.lab_name)
        )
        clashes = []
        for _, (other, keys) in sorted(found.items()):
            shared = [key[2] for key in keys if key[0] == "machine"]
            if shared:
                clashes.append(f"设备 {'、'.join(shared)} 同时用于原始记录 {other.number}")
            if any(key[0] == "person" for key in keys):
                names = sorted(set(record.inspectors) & set(other.inspectors)) or ["同一检测人员"]
                clashes.append(
                    f"{'、'.join(names)} 同时在{other.lab_name}做原始记录 {other.number}"
                )
        if clashes:
            yield record_finding(f"record:{record.id}", record, {"冲突": listed(clashes, complete)})


# --- the registry's rules, evaluated on each test record -----------------------------------------


def _specialties(ctx: RuleContext, records: list[TestRecord]) -> dict[str, Specialty]:
    """The specialty of each record's test item, by item code (unknown codes left out)."""
    return item_specialties(db=ctx.db, item_codes={r.item_code for r in records})


# each record judged on itself and the registry: a record's write judges it alone, a
# certificate's (or a person's) write the institution's records
@extend_rule("out_of_scope", triggers=(TestRecord,), rows=Rows(TestRecord, "test_record"))
def out_of_scope_records(ctx: RuleContext) -> Iterator[Finding]:
    """A test record whose test item's specialty no valid certificate covered on the test day."""
    stmt = records_loading("item_code", "started_at")
    stmt = ctx.narrow_rows(ctx.narrow(stmt, TestRecord.institution_id), TestRecord.id)
    records = list(ctx.db.scalars(stmt))
    if not records:
        return
    certificates: dict[int, list[QualificationCertificate]] = {}
    for cert in ctx.db.scalars(
        select(QualificationCertificate).where(
            QualificationCertificate.institution_id.in_(sorted({r.institution_id for r in records}))
        )
    ):
        certificates.setdefault(cert.institution_id, []).append(cert)
    specialties = _specialties(ctx, records)
    for record in records:
        specialty = specialties.get(record.item_code)
        if specialty is None:
            continue
        day = beijing_date(record.started_at)
        covered = any(
            cert.status == "valid"
            and cert.issue_date <= day <= cert.valid_until
            and specialty.code in {s.code for s in cert.specialties}
            for cert in certificates.get(record.institution_id, [])
        )
        if not covered:
            yield record_finding(
                f"test_record:{record.id}",
                record,
                {"专项": specialty.name, "检测项目": record.item_code, "试验日期": day.isoformat()},
            )


@extend_rule("unlicensed_work", triggers=(TestRecord,), rows=Rows(TestRecord, "test_record"))
def unlicensed_records(ctx: RuleContext) -> Iterator[Finding]:
    """A test record by a person who is not an inspector of the test item's specialty."""
    stmt = records_loading("item_code", "inspector_person_ids")
    stmt = ctx.narrow_rows(ctx.narrow(stmt, TestRecord.institution_id), TestRecord.id)
    records = [r for r in ctx.db.scalars(stmt) if r.inspector_person_ids]
    specialties = _specialties(ctx, records)
    # everyone named, with their specialties, in one read (not two queries per record)
    named = {pid for r in records if r.item_code in specialties for pid in r.inspector_person_ids}
    qualified = {
        p.id: (p.name, p.is_inspector, {s.code for s in p.specialties})
        for p in ctx.db.scalars(select(Person).where(Person.id.in_(sorted(named))))
    } if named else {}  # fmt: skip
    for record in records:
        specialty = specialties.get(record.item_code)
        if specialty is None:
            continue
        people = [qualified[pid] for pid in record.inspector_person_ids if pid in qualified]
        wrong = [
            name for name, inspector, codes in people if not (inspector and specialty.code in codes)
        ]
        if wrong:
            yield record_finding(
                f"test_record:{record.id}",
                record,
                {"人员": wrong, "检测专项": specialty.name},
            )


@rule(
    "onsite_late_upload",
    title="现场检测数据未按时上传",
    clause=(
        "jz57 第二十二条；001 6.3.4（实时上传）；003 三（四）（试验结束后立即录入）；"
        "002 第七条（三）"
    ),
    severity=Severity.WARNING,
    subject_type="onsite_record",
    defaults={"hours": 24},
    labels={"hours": "现场检测结束后上传的时限（小时）", "late": "超时"},
    triggers=(OnSiteRecord,),
    rows=Rows(OnSiteRecord, "onsite_record"),  # each record on its own times
    description="现场检测记录（数据、位置、关键照片和视频）在检测结束后超过规定小时数才上传平台。",
)
def onsite_late_upload(ctx: RuleContext) -> Iterator[Finding]:
    stmt = ctx.narrow(select(OnSiteRecord), OnSiteRecord.institution_id)
    for record in ctx.db.scalars(ctx.narrow_rows(stmt, OnSiteRecord.id)):
        allowed = float(ctx.thresholds(record.region_code)["hours"]) * 3600
        waited = (record.received_at - record.ended_at).total_seconds()
        if waited > allowed:
            yield _onsite_finding(
                record,
                {
                    "检测结束": record.ended_at.isoformat(),
                    "平台收到": record.received_at.isoformat(),
                    "late": f"{waited / 3600 - allowed / 3600:.1f} 小时",
                },
            )


def _onsite_finding(record: OnSiteRecord, facts: dict[str, Any]) -> Finding:
    return Finding(
        key=f"onsite_record:{record.id}",
        subject_type="onsite_record",
        subject_id=str(record.id),
        subject_repr=f"现场检测记录 {record.number}",
        subject_number=record.number,
        institution_id=record.institution_id,
        region_code=record.region_code,
        project_id=record.project_id,
        facts=facts,
    )


@rule(
    "onsite_plan_late",
    title="现场检测方案未按时上传",
    clause="jz57 第三十二条；002 第十条（提前 24 小时）；003 三（三）（提前 3 个工作日）",
    severity=Severity.WARNING,
    subject_type="onsite_plan",
    defaults={"working_days": 3, "hours": 0},
    labels={
        "working_days": "提前的工作日数（0 表示不按工作日）",
        "hours": "提前的小时数（0 表示不按小时）",
    },
    triggers=(OnSitePlan, OnSiteRecord),
    description="现场检测方案上传时距计划开始时间不足地区规定的工作日数（按法定节假日和调休）或小时数；"
    "或现场检测记录没有对应的检测方案；或现场检测实际开始早于方案的计划开始，且方案上传距实际开始"
    "不足规定的提前期。",
)
def onsite_plan_late(ctx: RuleContext) -> Iterator[Finding]:
    for plan in ctx.db.scalars(ctx.narrow(select(OnSitePlan), OnSitePlan.institution_id)):
        problems = _lead_problems(ctx, plan, plan.planned_start)
        if problems:
            yield Finding(
                key=f"onsite_plan:{plan.id}",
                subject_type="onsite_plan",
                subject_id=str(plan.id),
                subject_repr=f"现场检测方案 {plan.number}",
                subject_number=plan.number,
                institution_id=plan.institution_id,
                region_code=plan.region_code,
                project_id=plan.project_id,
                facts={"问题": problems, "计划开始": plan.planned_start.isoformat()},
            )
    stmt = select(OnSiteRecord, OnSitePlan).outerjoin(
        OnSitePlan, OnSitePlan.id == OnSiteRecord.plan_id
    )
    for record, plan in ctx.db.execute(ctx.narrow(stmt, OnSiteRecord.institution_id)):
        if plan is None:
            problems = ["没有事先上传的检测方案"]
        elif record.started_at < plan.planned_start:
            # a plan with a far planned start, then the work at once: the lead time is what
            # the plan had before the work really began
            problems = [
                f"实际开始早于方案计划开始（{p}）"
                for p in _lead_problems(ctx, plan, record.started_at)
            ]
        else:
            problems = []
        if problems:
            yield _onsite_finding(
                record, {"问题": problems, "开始时间": record.started_at.isoformat()}
            )


def _lead_problems(ctx: RuleContext, plan: OnSitePlan, start: dt.datetime) -> list[str]:
    """What is short in the time between ``plan``'s upload and ``start`` (working days on the
    statutory calendar, or hours, as the region counts)."""
    limits = ctx.thresholds(plan.region_code)
    problems = []
    days = int(limits["working_days"])
    if days > 0:
        ahead = working_days_between(beijing_date(plan.received_at), beijing_date(start))
        if ahead < days:
            problems.append(f"提前 {ahead} 个工作日（应 {days} 个）")
    hours = float(limits["hours"])
    if hours > 0:
        lead = (start - plan.received_at).total_seconds() / 3600
        if lead < hours:
            problems.append(f"提前 {lead:.1f} 小时（应 {hours:g} 小时）")
    return problems


# --- out-of-province work without a filing (004 一) ----------------------------------------------


@dataclass(frozen=True)
class _Work:
    """One piece of work an institution did on a project: a contract, a commission, an on-site
    record, or a test record with no commission."""

    institution_id: int
    institution_region: str
    project_id: int
    project_code: str
    project_name: str
    project_region: str
    day: dt.date
    subject_type: str
    subject_id: int
    number: str
    what: str


def _out_of_province_work(ctx: RuleContext) -> list[_Work]:
    """The run's work on projects in another province than the institution's registered one
    (the comparison is made by the database: out-of-province work is rare, so few rows come
    back whatever the volume)."""
    elsewhere = func.substr(Project.region_code, 1, 2) != func.substr(Institution.region_code, 1, 2)
    out: list[_Work] = []
    sources: list[tuple[Any, Any, str, str]] = [
        (Contract, Contract.signed_on, "contract", "检测合同"),
        (Commission, Commission.commissioned_on, "commission", "委托"),
        (OnSiteRecord, OnSiteRecord.started_at, "onsite_record", "现场检测记录"),
        (TestRecord, TestRecord.started_at, "test_record", "原始记录"),
    ]
    for model, when, subject_type, what in sources:
        stmt = (
            select(
                model.institution_id, Institution.region_code, model.project_id, Project.code,
                Project.name, Project.region_code, when, model.id, model.number,
            )
            .join(Project, Project.id == model.project_id)
            .join(Institution, Institution.id == model.institution_id)
            .where(elsewhere)
        )  # fmt: skip
        if model is TestRecord:  # a record under a commission is the commission's work
            stmt = stmt.where(TestRecord.commission_id.is_(None))
        for inst, inst_region, pid, code, name, region, at, row_id, number in ctx.db.execute(
            ctx.narrow(stmt, model.institution_id)
        ):
            day = beijing_date(at) if isinstance(at, dt.datetime) else at  # a date as signed
            out.append(
                _Work(
                    inst, inst_region, pid, code, name, region, day, subject_type, row_id,
                    number, what,
                )
            )  # fmt: skip
    return out


@rule(
    "unfiled_out_of_province",
    title="跨省检测未在项目所在地备案",
    clause=(
        "jz57 第三十二条；000 4.1.1；"
        "004 一（在本省备案并从事检测活动的外省检测机构纳入平台，与本省机构同等管理）"
    ),
    severity=Severity.WARNING,
    subject_type="commission",
    triggers=(Contract, Commission, OnSiteRecord, InstitutionFiling),
    description="检测机构在注册地以外省份的工程项目上签订检测合同、承接委托、开展现场检测或上传检测记录，而在委托"
    "或检测当天没有覆盖该项目所在地的有效备案（备案地区为项目所在的县、市或省，状态为已备案且在有效期"
    "内）。按机构和项目各一条预警，列出未备案期间的合同、委托和记录；办理备案后复核即关闭。没有委托的检测"
    "记录在每日全量核查时判断。",
)
def unfiled_out_of_province(ctx: RuleContext) -> Iterator[Finding]:
    work = _out_of_province_work(ctx)
    if not work:
        return
    filings: dict[int, list[InstitutionFiling]] = {}
    stmt = select(InstitutionFiling).where(
        InstitutionFiling.institution_id.in_(sorted({w.institution_id for w in work})),
        InstitutionFiling.status == FilingStatus.FILED.value,
    )
    for filing in ctx.db.scalars(stmt):
        filings.setdefault(filing.institution_id, []).append(filing)

    def covered(w: _Work) -> bool:
        return any(
            in_subtree(w.project_region, f.filed_region_code)
            and f.valid_from <= w.day <= f.valid_until
            for f in filings.get(w.institution_id, [])
        )

    grouped: dict[tuple[int, int], list[_Work]] = {}
    for w in sorted(work, key=lambda w: (w.day, w.subject_type, w.subject_id)):
        if not covered(w):
            grouped.setdefault((w.institution_id, w.project_id), []).append(w)
    names = display_names(
        db=ctx.db, codes={c for w in work for c in (w.project_region, w.institution_region)}
    )
    names.update(
        display_names(db=ctx.db, codes={f.filed_region_code for fs in filings.values() for f in fs})
    )
    for (inst, pid), items in grouped.items():
        first = items[0]
        today = beijing_date(ctx.now)
        held: dict[bool, list[str]] = {True: [], False: []}  # in force today, or not
        for f in filings.get(inst, []):
            held[f.valid_from <= today <= f.valid_until].append(
                f"{names.get(f.filed_region_code, f.filed_region_code)} {f.filing_number}"
                f"（{f.valid_from.isoformat()} 至 {f.valid_until.isoformat()}）"
            )
        yield Finding(
            key=f"institution:{inst}:project:{pid}",
            subject_type=first.subject_type,
            subject_id=str(first.subject_id),
            subject_repr=f"{first.what} {first.number}（{first.project_name}）",
            subject_number=first.number,
            institution_id=inst,
            region_code=first.project_region,
            project_id=pid,
            facts={
                "工程项目": f"{first.project_name}（{first.project_code}）",
                "项目所在地": names.get(first.project_region, first.project_region),
                "机构注册地": names.get(first.institution_region, first.institution_region),
                "未备案期间的合同、委托和记录": [
                    f"{w.what} {w.number}（{w.day.isoformat()}）" for w in items[:20]
                ],
                "件数": len(items),
                "最早": first.day.isoformat(),
                "最近": items[-1].day.isoformat(),
                "该机构的有效备案": held[True] or ["无"],
                **({"该机构已过期或未生效的备案": held[False]} if held[False] else {}),
            },
        )
