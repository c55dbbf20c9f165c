"""Boundary editions (issue 48 item 5): the demo's schematic Jiangxi loads once, with a shape for
the province, each of its 11 cities and the counties; a later edition's shape supersedes an
earlier one's; a bad file is refused whole with every reason, writing nothing."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.core.editions import EditionError, ReferenceEdition
from jcjg.demo.load import DEMO_BOUNDARIES
from jcjg.regions import boundaries
from jcjg.regions.models import Region, RegionBoundary

pytestmark = pytest.mark.sqlite


def demo_body() -> dict:
    text = resources.files("jcjg.demo").joinpath("data", DEMO_BOUNDARIES).read_text("utf-8")
    return json.loads(text)


def square(code: str, lon: float = 116.0, lat: float = 29.0, size: float = 0.2) -> dict:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Feature", "id": code, "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip


def edition(*features: dict, code: str = "t1", approval: str = "", published: str = "") -> str:
    head = {"code": code, "title": "测试边界", "approval": approval}
    if published:
        head["published"] = published
    return json.dumps({"type": "FeatureCollection", "edition": head, "features": list(features)})


def test_the_demo_edition_has_the_province_its_cities_and_counties(db: Session) -> None:
    file = boundaries.parse(json.dumps(demo_body()))
    codes = set(file.shapes)
    cities = {c for c in codes if c.endswith("00") and not c.endswith("0000")}
    assert "360000" in codes
    assert len(cities) == 11
    assert len(codes) - len(cities) - 1 >= 99
    current = set(db.scalars(select(Region.code).where(Region.code.like("36%"))))
    assert codes <= current  # every code of the current GB/T 2260 edition
    lon, lat = file.shapes["360400"].label  # 九江市's label point lies in 九江市
    assert 115.0 < lon < 117.0
    assert 28.9 < lat < 30.1
    first = boundaries.load(db, file)
    assert not first.already
    assert "未注明审图号" in first.text
    again = boundaries.load(db, boundaries.parse(json.dumps(demo_body())))
    assert again.already
    assert db.scalar(select(func.count()).select_from(RegionBoundary)) == len(codes)


def test_a_later_edition_supersedes_and_says_its_approval(db: Session) -> None:
    boundaries.load(db, boundaries.parse(edition(square("360400"), square("360100"))))
    later = edition(square("360400", lon=115.5), code="t2", approval="赣S(2026)001号")
    boundaries.load(db, boundaries.parse(later))
    drawn = boundaries.latest_shapes(db, ["360400", "360100", "360200"])
    assert set(drawn.shapes) == {"360400", "360100"}
    assert drawn.shapes["360400"].geometry["coordinates"][0][0] == [115.5, 29.0]
    assert drawn.shapes["360100"].geometry["coordinates"][0][0] == [116.0, 29.0]
    assert sorted(drawn.approvals) == ["", "赣S(2026)001号"]
    assert not drawn.approved  # one of the two editions drawn has no approval number
    assert boundaries.latest_shapes(db, ["360400"]).approved


def _bad(mutate) -> str:
    body = json.loads(edition(square("360400"), square("360100")))
    mutate(body)
    return json.dumps(body)


def _set(path: list, value):
    def mutate(body):
        node = body
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


BAD = {
    "not JSON": ("{", "不是有效的 JSON"),
    "a list": ("[]", "FeatureCollection"),
    "no edition": (_bad(lambda b: b.pop("edition")), "缺少版本"),
    "no features": (_bad(_set(["features"], [])), "features 应为非空数组"),
    "a bad code": (_bad(_set(["features", 0, "id"], "36040")), "6 位 GB/T 2260"),
    "a point": (
        _bad(_set(["features", 0, "geometry"], {"type": "Point", "coordinates": [116, 29]})),
        "Polygon 或 MultiPolygon",
    ),
    "swapped axes": (
        _bad(_set(["features", 0, "geometry", "coordinates", 0, 1], [29.0, 116.2])),
        "不在中国范围内",
    ),
    "an open ring": (
        _bad(_set(["features", 0, "geometry", "coordinates", 0, 4], [116.1, 29.1])),
        "闭合",
    ),
    "a short ring": (
        _bad(_set(["features", 0, "geometry", "coordinates", 0], [[116, 29]])),
        "4 个点",
    ),
    "text for a number": (
        _bad(_set(["features", 0, "geometry", "coordinates", 0, 1], ["116", 29])),
        "两个数",
    ),
    "twice one code": (_bad(_set(["features", 1, "id"], "360400")), "重复"),
    "NUL in the approval": (_bad(_set(["edition", "approval"], "GS\x00")), "审图号"),
    "a bad date": (_bad(_set(["edition", "published"], "明年")), "发布日期"),
}


@pytest.mark.parametrize(("text", "reason"), BAD.values(), ids=BAD.keys())
def test_a_bad_file_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(EditionError) as refused:
        boundaries.parse(text)
    assert reason in str(refused.value)


def test_every_reason_at_once_and_nothing_written(db: Session) -> None:
    body = json.loads(edition(square("360400"), square("360100"), square("360200")))
    body["features"][0]["id"] = "abc"
    body["features"][2]["geometry"]["type"] = "LineString"
    with pytest.raises(EditionError) as refused:
        boundaries.parse(json.dumps(body))
    assert len(refused.value.problems) == 2
    # codes of the right form the region table does not hold: refused before writing
    unknown = edition(square("360400"), square("369999"))
    with pytest.raises(EditionError, match="369999 不在已加载的行政区划中"):
        boundaries.load(db, boundaries.parse(unknown))
    kind = ReferenceEdition.kind == boundaries.KIND
    assert db.scalar(select(func.count()).select_from(ReferenceEdition).where(kind)) == 0
    assert db.scalar(select(func.count()).select_from(RegionBoundary)) == 0


def test_an_edition_is_never_rewritten(db: Session) -> None:
    boundaries.load(db, boundaries.parse(edition(square("360400"))))
    moved = copy.deepcopy(json.loads(edition(square("360400", lat=29.5))))
    with pytest.raises(EditionError, match="不能改写"):
        boundaries.load(db, boundaries.parse(json.dumps(moved)))


def test_a_multipolygon_is_labelled_on_its_largest_part(db: Session) -> None:
    big, island = square("360400", size=1.0), square("360400", lon=118.0, size=0.05)
    feature = {"type": "Feature", "properties": {"code": "360400"},
               "geometry": {"type": "MultiPolygon",
                            "coordinates": [island["geometry"]["coordinates"],
                                            big["geometry"]["coordinates"]]}}  # fmt: skip
    shape = boundaries.parse(edition(feature)).shapes["360400"]
    assert shape.label == (116.5, 29.5)
