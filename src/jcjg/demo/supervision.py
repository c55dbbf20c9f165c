"""The demo's supervision work (九江): one spot-check plan of the city drawn by the real
notarised draw, both checks recorded and signed by the two drawn officers (one with a
nonconforming item), the results published, and a few entries of the supervision log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.sessions import principal_for
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.ledger import service as ledger
from jcjg.supervision import service
from jcjg.supervision.models import SupervisionPlan
from jcjg.supervision.schemas import FindingIn, LogIn, PlanIn, SignIn
from jcjg.tenancy.models import Institution

LOG = (
    ("visit", "现场检查力学室、样品室，核对在岗检测人员与平台登记一致。", "无"),
    ("interview", "约谈检测机构负责人，通报数据上传滞后问题，要求限期改正。", "两周后复查上传情况"),
    ("document_review", "核查上季度检测报告与原始记录 20 份，签章规范。", ""),
    ("complaint", "受理施工单位对混凝土试块检测结果的投诉，调阅原始记录与视频。", "转整改通知"),
)


def load(db: Session, settings: Settings, by_key: dict[str, Institution]) -> None:
    if db.scalar(select(SupervisionPlan.id).limit(1)) is not None:
        return
    users = {u.username: u for u in db.scalars(select(User))}
    city = principal_for(db=db, user=users["jj_city"], settings=settings)
    today = beijing_date(utcnow())
    plan = service.create_plan(
        db=db,
        principal=city,
        data=PlanIn(
            title=f"{today.year} 年九江市检测机构“双随机、一公开”监督抽查",
            region_code="360400",
            period_start=today - dt.timedelta(days=14),
            period_end=today + dt.timedelta(days=14),
            basis="jz57 第三十三条",
            institution_count=2,
            officers_per_check=2,
            recent_months=12,
        ),
    )
    row = service.request_draw(db=db, principal=city, plan=plan)
    ledger.integrate(db)
    service.complete(db=db, draw_row=row)
    for n, check in enumerate(service.checks_of(db, plan.id)):
        officers = [db.get_one(User, o["user_id"]) for o in check.officers]
        first = principal_for(db=db, user=officers[0], settings=settings)
        for i, item in enumerate(service.items_for(db, check.check_type)):
            bad = n == 0 and i == 1
            data = FindingIn(
                item_id=item.id,
                result="nonconforming" if bad else "conforming",
                finding="万能试验机检定证书已过期 12 天，仍在使用。" if bad else "",
                latitude=29.70,
                longitude=116.00,
            )
            service.record_finding(db=db, principal=first, check=check, data=data, photos=[])
        sign = SignIn(
            conclusion="nonconforming" if n == 0 else "conforming",
            summary="抽查资质与人员、设备检定、样品管理、报告档案、数据上传与检测场所；"
            + ("一台设备检定过期，责令整改。" if n == 0 else "未发现问题。"),
        )
        for officer in officers:
            who = principal_for(db=db, user=officer, settings=settings)
            service.sign(db=db, principal=who, check=check, data=sign)
    service.publish(db=db, plan=plan)
    station = principal_for(db=db, user=users["jj_station"], settings=settings)
    inst = next(iter(by_key.values()))
    for days, (kind, text, follow) in enumerate(LOG, start=1):
        entry = LogIn(
            kind=kind,
            entry_date=today - dt.timedelta(days=days * 3),
            institution_id=inst.id,
            participants="九江市建设工程质量安全监督站",
            summary=text,
            follow_up=follow,
        )
        service.add_log(db=db, principal=station, data=entry, attachments=[])
    db.flush()


def load_relation(db: Session, settings: Settings, by_key: dict[str, Institution]) -> None:
    """A Jiujiang station officer (王敏) declares a relation with 九江恒信 (回避申报) after
    this year's draw: later draws never send her to check it."""
    from jcjg.supervision.models import OfficerRelation

    user = db.scalars(select(User).where(User.username == "jj_officer2")).first()
    lab = by_key.get("jj-hengxin")
    if user is None or lab is None or db.scalar(select(OfficerRelation.id).limit(1)):
        return
    station = principal_for(db=db, user=user, settings=settings)
    service.add_relation(
        db=db, principal=station, institution_id=lab.id, note="配偶在该机构任技术负责人"
    )
