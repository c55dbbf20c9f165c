"""The demo's expert pool (江西省, ten experts in 南昌, 九江 and 赣州 with specialties, one of
them related to a demo lab) and one qualification review of a demo lab: drawn by the real
notarised draw, completed from the log's checkpoint, two opinions in and the third expert (the
demo account ``expert``) accepted with their opinion still to write."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.sessions import principal_for
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.experts import service
from jcjg.experts.models import Expert, ExpertRelation, Panel, PanelMember
from jcjg.experts.schemas import SCORE_PARTS, PanelIn
from jcjg.ledger import service as ledger
from jcjg.tenancy.models import Institution

# code, name, region, title, employer, specialties
POOL: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("ZJ-360-001", "陈立新", "360100", "正高级工程师", "江西省建筑科学研究院", ("01", "02")),
    ("ZJ-360-002", "刘志刚", "360100", "高级工程师", "南昌大学工程建设学院", ("02", "03")),
    (
        "ZJ-360-003",
        "王淑芬",
        "360100",
        "正高级工程师",
        "江西省建设工程质量安全监督总站",
        ("01", "05"),
    ),
    ("ZJ-360-004", "黄建华", "360100", "高级工程师", "江西省交通科学研究院", ("07", "08", "09")),
    ("ZJ-360-005", "周敏", "360400", "高级工程师", "九江学院土木工程学院", ("01", "04")),
    ("ZJ-360-006", "吴海涛", "360400", "正高级工程师", "九江市建筑设计研究院", ("02", "04")),
    ("ZJ-360-007", "徐丽", "360700", "高级工程师", "赣州市建设工程质量检测中心", ("01", "02")),
    ("ZJ-360-008", "孙国强", "360700", "正高级工程师", "江西理工大学", ("03", "06")),
    ("ZJ-360-009", "朱文斌", "360100", "高级工程师", "华东交通大学", ("01", "02", "04")),
    ("ZJ-360-010", "郭雅琴", "360100", "高级工程师", "南昌市建筑设计研究院", ("05", "06")),
)
OPINIONS = (
    ("pass", "人员配备、仪器设备和检测场所满足资质标准要求，质量管理体系运行有效。"),
    ("conditional", "力学室环境温湿度记录不完整，部分设备检定标识缺失，整改后通过。"),
)


def _pool(db: Session, related: Institution) -> None:
    for code, name, region, title, employer, specialties in POOL:
        if db.scalar(select(Expert.id).where(Expert.code == code)) is not None:
            continue
        expert = Expert(
            code=code,
            name=name,
            region_code=region,
            title=title,
            employer=employer,
            specialties=list(specialties),
            phone=f"1390791{code[-3:]}0",
        )
        db.add(expert)
        db.flush()
        if code == "ZJ-360-006":  # a former employee of the reviewed lab: never drawn for it
            db.add(
                ExpertRelation(
                    expert_id=expert.id,
                    region_code=region,
                    kind="former_employer",
                    organisation=related.name,
                    credit_code=related.credit_code,
                )
            )
    db.flush()


def load(db: Session, settings: Settings, by_key: dict[str, Institution]) -> None:
    """The pool, and the one review (once)."""
    reviewed = next(iter(by_key.values()))
    _pool(db, reviewed)
    if db.scalar(select(Panel.id).limit(1)) is not None:
        return
    officer = db.scalars(select(User).where(User.username == "jx_province")).one()
    principal = principal_for(db=db, user=officer, settings=settings)
    data = PanelIn(
        title=f"{reviewed.name}资质延续评审",
        kind="qualification",
        region_code="360000",
        institution_id=reviewed.id,
        requirements=[{"specialty": "01", "count": 2}, {"specialty": "02", "count": 1}],
        review_date=utcnow().date(),
    )
    panel = service.create_panel(db=db, principal=principal, data=data)
    row = service.request_draw(db=db, principal=principal, panel=panel)
    ledger.integrate(db)
    service.complete(db=db, draw_row=row)
    _answers(db, panel)


def _answers(db: Session, panel: Panel) -> None:
    """Two opinions in; the third member becomes the demo account ``expert``'s, accepted."""
    members = service.members(db, panel.id)
    account = db.scalars(select(User).where(User.username == "expert")).first()
    now = utcnow()
    for member, (conclusion, text) in zip(members, OPINIONS, strict=False):
        scores = dict.fromkeys(SCORE_PARTS, 22 if conclusion == "pass" else 18)
        member.status, member.responded_at, member.submitted_at = "submitted", now, now
        member.conclusion, member.scores, member.opinion = conclusion, scores, text
        member.score = sum(scores.values())
        member.opinion_index = ledger.notarise(
            db,
            service.OPINION_TYPE,
            {
                "panel": panel.code,
                "member": member.id,
                "conclusion": conclusion,
                "scores": scores,
                "score": member.score,
                "opinion_sha256": hashlib.sha256(text.encode()).hexdigest(),
            },
        ).index
    last: PanelMember = members[-1]
    last.status, last.responded_at = "accepted", now
    if account is not None:
        expert = db.get_one(Expert, last.expert_id)
        expert.user_id = account.id
        last.user_id = account.id
    db.flush()
