"""Which tests must be filmed, and where (003 二（二）), over the whole 2023 catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jcjg.video.choices import PlaceKind
from jcjg.video.places import PLACE_RULES, Places, place_of, record_places

CATALOGUE = Path(__file__).parents[2] / "src/jcjg/catalogue/data/qualification_2023.json"


def parameters() -> dict[str, str]:
    """Every parameter of the shipped catalogue: code -> name."""
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return {
        p["code"]: p["name"]
        for specialty in data["specialties"]
        for item in specialty["items"]
        for p in item["parameters"]
    }


def placed(kind: PlaceKind) -> set[str]:
    return {code for code, name in parameters().items() if place_of(code, name) is kind}


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        (PlaceKind.IMPERMEABILITY, {"010802", "072002"}),  # 混凝土抗渗等级
        (PlaceKind.INSULATION_MORTAR, {"050403"}),  # 保温砂浆导热系数
        (PlaceKind.WINDOW, {"050701", "050702", "050703"}),  # 外窗气密、水密、抗风压
        (PlaceKind.CURTAIN_WALL, {"060301", "060302", "060303", "060304"}),  # + 层间变形
        # 保温、绝热材料: 压缩/抗压强度, 垂直于板面抗拉强度, 传热系数及热阻, 拉伸粘结强度,
        # 燃烧性能 (导热系数或热阻 names 热阻)
        (PlaceKind.INSULATION, {"050101", "050103", "050104", "050107", "050108", "050109"}),
    ],
)
def test_the_listed_places_take_exactly_their_parameters(kind, codes):
    assert placed(kind) == codes


@pytest.mark.parametrize(
    "code",
    [
        "010101",  # 水泥胶砂强度
        "010201",  # 钢筋屈服强度
        "010203",  # 断后伸长率
        "010301",  # 机械连接接头抗拉强度
        "010801",  # 混凝土抗压强度
        "010806",  # 抗折强度
        "011104",  # 砂浆拉伸粘结强度
        "030106",  # 冲击吸收能量
        "030401",  # 抗滑移系数
        "050402",  # 保温砂浆抗压强度: a force test, not the conductivity's place
        "060305",  # 幕墙后置埋件抗拔承载力
        "070901",  # 马歇尔稳定度
    ],
)
def test_force_tests_are_mechanical(code):
    assert place_of(code, parameters()[code]) is PlaceKind.MECHANICAL


@pytest.mark.parametrize(
    "code",
    [
        "010102",  # 安定性
        "010103",  # 凝结时间
        "010501",  # 颗粒级配
        "010803",  # 坍落度
        "011107",  # 砂浆抗渗性能: 003 lists concrete's only
        "050102",  # 保温材料密度
        "050704",  # 外窗传热系数
        "060201",  # 幕墙玻璃传热系数
        "070401",  # 针入度
    ],
)
def test_other_tests_need_no_film(code):
    assert place_of(code, parameters()[code]) is None


def test_on_site_specialties_are_filmed_on_site():
    on_site = placed(PlaceKind.ONSITE)
    assert {"020101", "020301", "040201", "050804", "080102", "090101"} <= on_site
    assert all(code[:2] in ("02", "04", "08", "09") or code[:4] == "0508" for code in on_site)


def test_every_row_of_the_table_is_used():
    """Each row but the indoor pollutants (no item of the 2023 catalogue) takes a parameter."""
    names = parameters()
    used = {next(r for r in PLACE_RULES if r.fits(c, n)).place for c, n in names.items()
            if place_of(c, n) is not None}  # fmt: skip
    assert {r.place for r in PLACE_RULES} - used == {PlaceKind.INDOOR_ENVIRONMENT}
    assert place_of("991201", "室内空气中甲醛浓度") is PlaceKind.INDOOR_ENVIRONMENT
    assert place_of("991202", "氡浓度") is PlaceKind.INDOOR_ENVIRONMENT


def test_a_record_needs_its_kind_and_its_parameters_places():
    assert record_places("concrete_compression", []) == {PlaceKind.MECHANICAL}
    assert record_places("other", []) == frozenset()
    assert record_places("other", [("050701", "气密性能"), ("050704", "传热系数")]) == {
        PlaceKind.WINDOW
    }
    both = record_places("other", [("010801", "抗压强度"), ("010802", "抗渗等级")])
    assert both == {PlaceKind.MECHANICAL, PlaceKind.IMPERMEABILITY}


def test_places_are_read_from_the_catalogue(db):
    places = Places.reading(db)
    assert places.of("other", ["050703", "unknown"]) == {PlaceKind.WINDOW}
    assert places.of("other", ["010102"]) == frozenset()
    assert places.of("rebar_tensile", []) == {PlaceKind.MECHANICAL}
    assert places.names["unknown"] is None  # looked up once, remembered
