"""States of samples and commissions, identity-check results, receipt refusal reasons."""

from __future__ import annotations

from enum import StrEnum


class SampleStatus(StrEnum):
    SAMPLED = "sampled"  # registered by the sampler, waiting for the witness
    SEALED = "sealed"  # witnessed and sealed
    DELIVERED = "delivered"
    RECEIVED = "received"  # accepted by the lab after the receipt check
    REFUSED = "refused"  # refused at the receipt check
    TESTING = "testing"
    TESTED = "tested"

    @property
    def label(self) -> str:
        return {
            "sampled": "已取样待见证",
            "sealed": "已见证封样",
            "delivered": "已送检",
            "received": "已收样",
            "refused": "拒收",
            "testing": "检测中",
            "tested": "已检测",
        }[self.value]

    @property
    def badge(self) -> str:
        return {"sampled": "warn", "sealed": "ok", "refused": "bad"}.get(self.value, "")


class CommissionStatus(StrEnum):
    """The commission's state machine; ``rejected`` ends it from any open state."""

    REGISTERED = "registered"
    SAMPLED = "sampled"
    WITNESSED = "witnessed"
    DELIVERED = "delivered"
    RECEIVED = "received"
    TESTING = "testing"
    TESTED = "tested"
    REPORTED = "reported"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {
            "registered": "已登记",
            "sampled": "已取样",
            "witnessed": "已见证",
            "delivered": "已送检",
            "received": "已收样",
            "testing": "检测中",
            "tested": "已检测",
            "reported": "已出报告",
            "rejected": "已退回",
        }[self.value]

    @property
    def badge(self) -> str:
        return {"rejected": "bad", "reported": "ok"}.get(self.value, "")


# Forward order of the commission's states; a commission moves forward (it may skip states a
# LIMS does not report), never back, and may be rejected until reported.
COMMISSION_ORDER: tuple[CommissionStatus, ...] = (
    CommissionStatus.REGISTERED,
    CommissionStatus.SAMPLED,
    CommissionStatus.WITNESSED,
    CommissionStatus.DELIVERED,
    CommissionStatus.RECEIVED,
    CommissionStatus.TESTING,
    CommissionStatus.TESTED,
    CommissionStatus.REPORTED,
)


def commission_transition_problem(current: str, new: str) -> str | None:
    """Why a commission may not move from ``current`` to ``new`` (None: it may)."""
    if current == new:
        return None
    if current in (CommissionStatus.REJECTED, CommissionStatus.REPORTED):
        return f"委托已{CommissionStatus(current).label}，状态不能再改变"
    if new == CommissionStatus.REJECTED:
        return None
    order = [s.value for s in COMMISSION_ORDER]
    if order.index(new) < order.index(current):
        return (
            f"委托状态不能从“{CommissionStatus(current).label}”退回“{CommissionStatus(new).label}”"
        )
    return None


class IdentityResult(StrEnum):
    """What a face comparison made of a live photo (jcjg.sampling.identity): ``not_checked``
    when there was nothing to compare with (no registered photo, or one without a face) or
    comparison is turned off, and on rows from before comparison ran."""

    PASSED = "passed"
    FAILED = "failed"
    NO_FACE = "no_face"
    NOT_CHECKED = "not_checked"

    @property
    def label(self) -> str:
        return {
            "passed": "核验通过",
            "failed": "核验未通过",
            "no_face": "未检测到人脸",
            "not_checked": "未核验",
        }[self.value]

    @property
    def badge(self) -> str:
        return {"passed": "ok", "failed": "bad", "no_face": "bad", "not_checked": "warn"}[
            self.value
        ]


class RefusalReason(StrEnum):
    """Why a receipt check refuses a sample (each a stable code the LIMS can act on)."""

    UNKNOWN_CODE = "unknown_code"
    TAG_DAMAGED = "tag_damaged"
    WRONG_PROJECT = "wrong_project"
    WRONG_COMMISSION = "wrong_commission"
    NOT_SEALED = "not_sealed"
    SEAL_INVALID = "seal_invalid"
    WRONG_STATE = "wrong_state"
    PHOTO_MISMATCH = "photo_mismatch"
    DATA_MISMATCH = "data_mismatch"
    TOO_LATE = "too_late"

    @property
    def label(self) -> str:
        return {
            "unknown_code": "平台没有这个样品编码",
            "tag_damaged": "样品标识破损",
            "wrong_project": "样品不属于委托的工程项目",
            "wrong_commission": "样品不在该委托中",
            "not_sealed": "样品未经见证封样",
            "seal_invalid": "电子封志验证失败",
            "wrong_state": "样品状态不允许收样",
            "photo_mismatch": "收样照片与封样照片不一致（疑似调换）",
            "data_mismatch": "样品信息与封样信息不一致",
            "too_late": "超过送检期限",
        }[self.value]


class Curing(StrEnum):
    """How a set of concrete (or mortar) specimens is cured, and so what it proves (003 I(2)):
    the acceptance strength (standard curing, GB 50204-2015 7.4.1), the structure's strength
    (same-condition curing, GB 50204-2015 appendix C), when the bottom forms may come off
    (same-condition, GB 50666-2011 4.5.2) or the impermeability (GB 50208-2011)."""

    STANDARD = "standard"
    SAME_CONDITION = "same_condition"
    FORM_REMOVAL = "form_removal"
    IMPERMEABILITY = "impermeability"

    @property
    def label(self) -> str:
        return {
            "standard": "标准养护",
            "same_condition": "同条件养护",
            "form_removal": "拆模（同条件养护）",
            "impermeability": "抗渗（标准养护）",
        }[self.value]

    @property
    def group_size(self) -> int:
        """Specimens in one group (组): three cubes; six impermeability cones."""
        return 6 if self is Curing.IMPERMEABILITY else 3


# The hook of other domains' columns in the receipts list (named here, not in the pages, so that
# declaring one imports no page).
RECEIPT_COLUMNS = "sampling.receipt_columns"
