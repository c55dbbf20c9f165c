"""Which tests must be filmed, and in which kind of place (003 二（二）; docs/video.md
"需要视频的检测与场所").

The list is data: :data:`PLACE_RULES`, rows of (place kind, test item codes, words of the
parameter's name), read in order, the first row that fits a parameter deciding its place. A
test record needs the places of the parameters it names (``TestRecord.parameter_codes``, looked
up in the qualification catalogue), and every force test the platform knows by its kind
(``TestRecord.kind`` other than ``other``: concrete cubes, cement mortar, rebar) needs the
mechanical-testing place; an on-site record (``OnSiteRecord``), and a parameter of an on-site
specialty, needs an on-site camera (003 二（三）). A record
that names no parameter is judged by its kind alone: its test item may hold filmed and unfilmed
parameters alike (cement: 胶砂强度 and 凝结时间), and a wrong alert is worse than none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from jcjg.catalogue import service as catalogue
from jcjg.catalogue.models import Parameter
from jcjg.video.choices import PlaceKind

ANY_ITEM: tuple[str, ...] = ()
ON_SITE_ITEMS = ("02", "04", "0508", "08", "09")


@dataclass(frozen=True)
class PlaceRule:
    """Parameters of these test items (codes or their prefixes: ``"05"`` a whole specialty;
    none: any item) whose name holds one of ``words`` are tested in a place of ``place``."""

    place: PlaceKind
    items: tuple[str, ...]
    words: tuple[str, ...]
    clause: str  # the item of 003 二（二） it follows ("（三）": on-site tests)

    def fits(self, parameter_code: str, name: str) -> bool:
        if self.items and not parameter_code.startswith(self.items):
            return False
        return any(word in name for word in self.words)


# 003 二（二）: the specific places first (a curtain wall's 变形性能 or an insulation board's
# 抗拉强度 are force tests too, but are filmed where those tests are done), then the on-site
# specialties, then every mechanical property (强度, 力, 荷载 ...) of any other item.
PLACE_RULES: tuple[PlaceRule, ...] = (
    PlaceRule(
        PlaceKind.CURTAIN_WALL,
        ("0603",),  # 幕墙
        ("气密性能", "水密性能", "抗风压性能", "变形性能"),
        "7",
    ),
    PlaceRule(
        PlaceKind.WINDOW,
        ("0507",),  # 建筑外窗 (in the lab: 0508's 外窗气密性能（现场） is an on-site test)
        ("气密性能", "水密性能", "抗风压性能"),
        "6",
    ),
    PlaceRule(PlaceKind.INSULATION_MORTAR, ("0504",), ("导热系数",), "5"),  # 保温砂浆
    PlaceRule(
        PlaceKind.INSULATION,
        ("0501",),  # 保温、绝热材料
        ("压缩强度", "抗压强度", "抗拉强度", "传热系数", "热阻", "拉伸粘结强度", "燃烧性能"),
        "4",
    ),
    PlaceRule(
        PlaceKind.INDOOR_ENVIRONMENT,
        ANY_ITEM,  # no item of the 2023 catalogue: what a region's catalogue adds
        ("室内环境", "甲醛", "氡", "苯", "TVOC", "挥发性有机", "氨"),
        "3",
    ),
    PlaceRule(PlaceKind.IMPERMEABILITY, ("0108", "0720"), ("抗渗",), "2"),  # 混凝土
    # the on-site specialties (主体结构、地基基础、道路、桥梁及地下工程, 节能工程的现场检测):
    # filmed in full where they are done (003 二（三）)
    PlaceRule(PlaceKind.ONSITE, ON_SITE_ITEMS, ("",), "（三）"),
    PlaceRule(
        PlaceKind.MECHANICAL,
        ANY_ITEM,
        (
            "强度",  # 抗压、抗折、抗拉、屈服、粘结、撕裂、劈裂抗拉强度 ...
            "强力",  # 拉伸断裂强力, 顶破强力, 刺破强力
            "拉力",
            "荷载",
            "承载",  # 承载力, 承载比 (CBR), 承载能力
            "锚固力",
            "拉拔",
            "抗剪",
            "弹性模量",
            "伸长率",  # the tensile test's elongations
            "延伸率",
            "弯曲",  # 弯曲性能, 反向弯曲, 抗弯曲性能
            "抗弯",
            "残余变形",
            "压碎",
            "稳定度",  # 马歇尔稳定度
            "抗滑移",
            "扭矩",
            "轴力",
            "吊挂力",
            "冲击",
            "硬度",
            "力学性能",
        ),
        "1",
    ),
)


def place_of(parameter_code: str, name: str) -> PlaceKind | None:
    """The place a parameter is tested in under 003 二（二）, or None when it need not be
    filmed."""
    for row in PLACE_RULES:
        if row.fits(parameter_code, name):
            return row.place
    return None


def record_places(kind: str, parameters: Iterable[tuple[str, str]]) -> frozenset[PlaceKind]:
    """The places a test record of ``kind`` naming ``parameters`` (code, name) must be filmed
    in: none when it need not be."""
    found = {PlaceKind.MECHANICAL} if kind and kind != "other" else set()
    for code, name in parameters:
        place = place_of(code, name)
        if place is not None:
            found.add(place)
    return frozenset(found)


@dataclass
class Places:
    """The places of test records, looking their parameters up in the catalogue once each."""

    db: Session
    names: dict[str, str | None]

    @classmethod
    def reading(cls, db: Session) -> Places:
        return cls(db, {})

    def _names(self, codes: Iterable[str]) -> Mapping[str, str | None]:
        wanted = [c for c in codes if c not in self.names]
        if wanted:
            found = catalogue.by_code(db=self.db, model=Parameter, codes=wanted)
            for code in wanted:
                row = found.get(code)
                self.names[code] = row.name if row is not None else None
        return self.names

    def of(self, kind: str, parameter_codes: Iterable[str]) -> frozenset[PlaceKind]:
        codes = [c for c in parameter_codes if isinstance(c, str)]
        names = self._names(codes)
        named = [(c, n) for c in codes if (n := names.get(c)) is not None]
        return record_places(kind, named)
