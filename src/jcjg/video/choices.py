"""The kinds of place a camera watches (003 II(2)), camera forms and statuses."""

from __future__ import annotations

from enum import StrEnum


class PlaceKind(StrEnum):
    """Where a camera looks: the places 003 II(1)-(2) lists, and a site (on-site tests)."""

    RECEIVING = "receiving"  # 收样室 (003 II(2)8)
    SAMPLE_STORAGE = "sample_storage"  # 样品流转、存放 (003 II(1))
    MECHANICAL = "mechanical"  # 力学性能试验 (003 II(2)1; 001 4.2.1.1: a dome camera)
    IMPERMEABILITY = "impermeability"  # 混凝土抗渗等级试验 (2)
    INDOOR_ENVIRONMENT = "indoor_environment"  # 室内环境污染物 (3)
    INSULATION = "insulation"  # 保温、绝热材料 (4)
    INSULATION_MORTAR = "insulation_mortar"  # 保温砂浆导热系数 (5)
    WINDOW = "window"  # 建筑外窗气密、水密、抗风压 (6)
    CURTAIN_WALL = "curtain_wall"  # 玻璃幕墙 (7)
    LAB_OVERVIEW = "lab_overview"  # 试验室全域 (003 II(1))
    ONSITE = "onsite"  # 现场检测 (003 II(3))
    OTHER = "other"  # 其他需要监控的区域 (9)

    @property
    def label(self) -> str:
        return _PLACE_LABELS[self.value]


_PLACE_LABELS = {
    "receiving": "收样室",
    "sample_storage": "样品流转与存放",
    "mechanical": "力学性能试验",
    "impermeability": "混凝土抗渗试验",
    "indoor_environment": "室内环境污染物检测",
    "insulation": "保温、绝热材料试验",
    "insulation_mortar": "保温砂浆导热系数试验",
    "window": "建筑外窗性能试验",
    "curtain_wall": "玻璃幕墙性能试验",
    "lab_overview": "试验室全域",
    "onsite": "现场检测",
    "other": "其他监控区域",
}


class CameraForm(StrEnum):
    DOME = "dome"  # 360° 球机 (001 4.2.1.1)
    BULLET = "bullet"  # 枪式摄像机 (001 4.2.1.2)
    BODY = "body"  # 执法记录仪 / 现场便携
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"dome": "球机", "bullet": "枪机", "body": "便携记录仪", "other": "其他"}[self.value]


class CameraStatus(StrEnum):
    PENDING = "pending"  # registered, never recorded
    ONLINE = "online"  # segments arriving
    OFFLINE = "offline"  # no segment for longer than the recorder's patience
    RETIRED = "retired"  # taken out of service: not recorded, not judged

    @property
    def label(self) -> str:
        return {"pending": "待接入", "online": "在线", "offline": "离线", "retired": "已停用"}[
            self.value
        ]

    @property
    def badge(self) -> str:
        return {"pending": "", "online": "ok", "offline": "bad", "retired": ""}[self.value]
