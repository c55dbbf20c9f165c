"""Kinds of test records, how their data were acquired, and judgements."""

from __future__ import annotations

from enum import StrEnum


class TestKind(StrEnum):
    """The force tests whose raw data and curves are uploaded automatically (001 6.3.2.1), and
    everything else (raw values only)."""

    __test__ = False  # not a pytest test class

    CONCRETE_COMPRESSION = "concrete_compression"
    MORTAR_STRENGTH = "mortar_strength"
    REBAR_TENSILE = "rebar_tensile"
    MASONRY_MORTAR = "masonry_mortar"  # 砌筑（抹灰）砂浆立方体抗压强度, JGJ/T 70-2009
    REBAR_SPLICE = "rebar_splice"  # 钢筋焊接、机械连接接头拉伸, JGJ 18-2012, JGJ 107-2016
    BRICK_COMPRESSION = "brick_compression"  # 砌墙砖抗压强度, GB/T 2542-2012, GB/T 5101-2017
    BLOCK_COMPRESSION = "block_compression"  # 混凝土砌块抗压强度, GB/T 4111-2013, GB/T 8239-2014
    ROCK_COMPRESSION = "rock_compression"  # 岩石单轴抗压强度, GB/T 50266-2013, GB 50007-2011 附录 J
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "concrete_compression": "混凝土立方体抗压强度",
            "mortar_strength": "水泥胶砂强度（抗折、抗压）",
            "rebar_tensile": "钢筋拉伸",
            "masonry_mortar": "砂浆立方体抗压强度",
            "rebar_splice": "钢筋焊接及机械连接接头拉伸",
            "brick_compression": "砌墙砖抗压强度",
            "block_compression": "混凝土砌块抗压强度",
            "rock_compression": "岩石单轴抗压强度",
            "other": "其他检测",
        }[self.value]

    @property
    def fingerprint_top(self) -> float:
        """Where the fingerprinted rising branch ends, as a share of the peak."""
        return 0.6 if self.is_steel else 0.9

    @property
    def is_steel(self) -> bool:
        """Bars and their splices: pulled, loaded by stress over the bar's nominal area."""
        return self in (TestKind.REBAR_TENSILE, TestKind.REBAR_SPLICE)

    @property
    def rate_window(self) -> tuple[float, float]:
        """The loading-rate window as shares of the peak force (rebar: its elastic range)."""
        return (0.1, 0.4) if self.is_steel else (0.1, 0.8)


class Fracture(StrEnum):
    """Where a splice specimen broke (JGJ 18-2012 5.1.7, JGJ 107-2016 3.0.5)."""

    BASE = "base"  # in the bar, ductile (or in the heat-affected zone, ductile)
    WELD = "weld"  # in the weld or the heat-affected zone, brittle
    JOINT = "joint"  # in the mechanical coupler or the threaded end

    @property
    def label(self) -> str:
        return {"base": "断于钢筋母材（延性断裂）", "weld": "断于焊缝或热影响区（脆性断裂）",
                "joint": "断于接头连接件"}[self.value]  # fmt: skip


class Joint(StrEnum):
    """The kind of splice: welded (JGJ 18), or a mechanical joint of grade I, II or III
    (JGJ 107)."""

    WELDED = "welded"
    GRADE_I = "mechanical_i"
    GRADE_II = "mechanical_ii"
    GRADE_III = "mechanical_iii"

    @property
    def label(self) -> str:
        return {"welded": "焊接接头", "mechanical_i": "Ⅰ级机械连接接头",
                "mechanical_ii": "Ⅱ级机械连接接头",
                "mechanical_iii": "Ⅲ级机械连接接头"}[self.value]  # fmt: skip


class Acquisition(StrEnum):
    AUTO = "auto"  # from the machine's acquisition system, point to point (001 5.4.7.1)
    MANUAL = "manual"  # entered from the original form by authorised staff (001 5.4.7.2)

    @property
    def label(self) -> str:
        return {"auto": "自动采集", "manual": "人工录入"}[self.value]


class Judgement(StrEnum):
    CONFORMING = "conforming"
    NONCONFORMING = "nonconforming"
    VOID = "void"  # the group's result is invalid under the standard's rule
    NONE = "none"  # not judged

    @property
    def label(self) -> str:
        return {
            "conforming": "合格",
            "nonconforming": "不合格",
            "void": "结果无效",
            "none": "不判定",
        }[self.value]

    @property
    def badge(self) -> str:
        return {"conforming": "ok", "nonconforming": "bad", "void": "warn", "none": ""}[self.value]


# Who judged a result nonconforming (``test_record.nonconforming_by``), as pages say it.
NONCONFORMING_BY = {
    "lab": "检测机构判定不合格",
    "platform": "平台复算不合格（检测机构判定合格）",
    "both": "检测机构判定与平台复算均不合格",
}

# The hook of other domains' actions on a test record's page (named here, not in the pages, so
# that declaring one imports no page).
RECORD_ACTIONS = "testing.record_actions"
