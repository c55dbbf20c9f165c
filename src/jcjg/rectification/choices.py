"""The grounds of a rectification order (the six of 002 article 17, each with its national
basis), its statuses and its steps."""

from __future__ import annotations

from enum import StrEnum


class Ground(StrEnum):
    """The six behaviours for which an authority orders rectification (002 article 17 (1)-(6))."""

    DATA_ENTRY_PATH = "data_entry_path"
    UNAUTHORISED_CHANGE = "unauthorised_change"
    RECORDS_NOT_KEPT = "records_not_kept"
    NOT_UPLOADED = "not_uploaded"
    REPORT_MISMATCH = "report_mismatch"
    SAMPLE_TAG = "sample_tag"

    @property
    def label(self) -> str:
        return _GROUND_LABELS[self]

    @property
    def clause(self) -> str:
        """Its basis: the national one first, then the local documents that name it (each
        cited only where it applies: jcjg.catalogue.regulations.applies_in)."""
        numeral = _NUMERALS[list(Ground).index(self)]
        return f"{_NATIONAL[self]}；{_LOCAL.get(self, '')}002 第十七条第（{numeral}）项"


_NUMERALS = "一二三四五六"
# 住房和城乡建设部令第57号: data and reports true and kept (22), archives (26), samples (19),
# the authorities' supervision information system (32)
_NATIONAL = {
    "data_entry_path": "jz57 第二十二条",
    "unauthorised_change": "jz57 第二十二条",
    "records_not_kept": "jz57 第二十二条、第二十六条",
    "not_uploaded": "jz57 第三十二条",
    "report_mismatch": "jz57 第二十二条",
    "sample_tag": "jz57 第十九条",
}
# the Jiujiang notice (003): automatic upload (三（四）), unique QR tags and seals (一（四）)
_LOCAL = {"not_uploaded": "003 三（四）；", "sample_tag": "003 一（四）；"}
_GROUND_LABELS = {
    Ground.DATA_ENTRY_PATH: "采取非法手段改变原始数据录入途径",
    Ground.UNAUTHORISED_CHANGE: "不按规定程序更改检测信息",
    Ground.RECORDS_NOT_KEPT: "不按规定保存相关数据、记录和资料",
    Ground.NOT_UPLOADED: "不按要求向监管平台上传检测信息",
    Ground.REPORT_MISMATCH: "检测报告与上传至监管平台的信息不相符",
    Ground.SAMPLE_TAG: "在见证取样过程中不按规定执行检测样品唯一性标识制度",
}


class OrderStatus(StrEnum):
    ISSUED = "issued"  # ordered (or returned): the institution rectifies
    ANSWERED = "answered"  # the institution answered: the authority reviews
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def badge(self) -> str:
        return _STATUS_BADGES[self]


_STATUS_LABELS = {
    OrderStatus.ISSUED: "待整改",
    OrderStatus.ANSWERED: "已答复待复核",
    OrderStatus.CLOSED: "已办结",
}
_STATUS_BADGES = {
    OrderStatus.ISSUED: "bad",
    OrderStatus.ANSWERED: "info",
    OrderStatus.CLOSED: "ok",
}


class OrderAction(StrEnum):
    ISSUE = "issue"
    ANSWER = "answer"  # the institution's answer, with evidence
    RETURN = "return"  # the answer is not enough: rectify again, by a new deadline
    CLOSE = "close"
    PUBLISH = "publish"  # on the public list (002 article 18)
    UNPUBLISH = "unpublish"

    @property
    def label(self) -> str:
        return _ACTION_LABELS[self]


_ACTION_LABELS = {
    OrderAction.ISSUE: "下达整改通知",
    OrderAction.ANSWER: "提交整改答复",
    OrderAction.RETURN: "退回重新整改",
    OrderAction.CLOSE: "复核通过，办结",
    OrderAction.PUBLISH: "在网站公布",
    OrderAction.UNPUBLISH: "撤下公布",
}
