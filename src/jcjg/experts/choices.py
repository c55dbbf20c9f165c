"""The words of the experts domain: kinds of review, relations, region policies, the states
of a draw and of a panel member, the reasons a candidate is excluded, review conclusions."""

from __future__ import annotations

from enum import StrEnum


class _Labelled(StrEnum):
    @property
    def label(self) -> str:
        return LABELS[type(self).__name__][self.value]


class ReviewKind(_Labelled):
    QUALIFICATION = "qualification"  # 资质评审 (000 4.1.6)
    DISPUTE = "dispute"  # 争议鉴定
    SPOT_CHECK = "spot_check"  # 监督抽查
    OTHER = "other"


class RelationKind(_Labelled):
    FORMER_EMPLOYER = "former_employer"
    RELATIVE_EMPLOYER = "relative_employer"
    OTHER = "other"


class RegionPolicy(_Labelled):
    WITHIN = "within"  # experts of the panel's region
    OTHER_CITY = "other_city"  # of the panel's region, not of the institution's city
    ANY = "any"


class DrawStatus(_Labelled):
    REQUESTED = "requested"  # notarised, waiting for its randomness
    COMPLETED = "completed"


class MemberStatus(_Labelled):
    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SUBMITTED = "submitted"  # opinion and scores in


class Exclusion(_Labelled):
    """Why a candidate may not be drawn (published with the draw; the relations behind it not)."""

    EMPLOYER = "employer"
    RELATION = "relation"
    RECENT = "recent"
    UNAVAILABLE = "unavailable"
    REGION = "region"
    ON_PANEL = "on_panel"


class Conclusion(_Labelled):
    PASS = "pass"  # noqa: S105 - a conclusion, not a password
    CONDITIONAL = "conditional"
    FAIL = "fail"


LABELS: dict[str, dict[str, str]] = {
    "ReviewKind": {
        "qualification": "资质评审",
        "dispute": "争议鉴定",
        "spot_check": "监督抽查",
        "other": "其他评审",
    },
    "RelationKind": {
        "former_employer": "曾任职单位",
        "relative_employer": "近亲属任职单位",
        "other": "其他利害关系单位",
    },
    "RegionPolicy": {
        "within": "本辖区专家",
        "other_city": "本辖区内、被评审机构所在市以外的专家",
        "any": "不限地区",
    },
    "DrawStatus": {"requested": "已存证，待取随机数", "completed": "已完成"},
    "MemberStatus": {
        "invited": "待确认",
        "accepted": "已接受",
        "declined": "已谢绝",
        "submitted": "已提交意见",
    },
    "Exclusion": {
        "employer": "回避：任职于被评审机构",
        "relation": "回避：与被评审机构有申报的关系",
        "recent": "回避：一年内曾抽取评审该机构",
        "unavailable": "暂不可参加评审",
        "region": "不符合地区要求",
        "on_panel": "已在本评审组或已谢绝",
    },
    "Conclusion": {"pass": "同意通过", "conditional": "整改后通过", "fail": "不同意通过"},
}
