"""Demo rectification orders for ``make run`` (after :mod:`jcjg.demo.alerts`): the Jiujiang
station has ordered the demo lab to rectify, citing the alert whose case it escalated, the
day after that case's deadline passed, with three working days to answer; the lab has not
answered, so the order is overdue (rectification_order_overdue); and it has closed and
published an order to the second lab, answered with a PDF, so the public list
(``/public/rectification-orders``) shows one. Everything goes through
:mod:`jcjg.rectification.service`; idempotent: nothing is done when any order exists."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Case
from jcjg.auth.models import User
from jcjg.auth.sessions import principal_for
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.evidence import Upload
from jcjg.core.workdays import BEIJING, add_working_days, beijing_date
from jcjg.documents.pdf import page_pdf
from jcjg.rectification import service
from jcjg.rectification.choices import Ground, OrderAction
from jcjg.rectification.models import RectificationOrder


def load(db: Session, settings: Settings) -> int:
    """The two orders described above; how many were made (0 when any exists, or the demo's
    accounts are missing)."""
    if db.scalar(select(RectificationOrder.id).limit(1)) is not None:
        return 0
    names = ["jj_station", "lab_admin", "lab2_admin"]
    users = {u.username: u for u in db.scalars(select(User).where(User.username.in_(names)))}
    if len(users) < len(names):
        return 0
    station, _, lab2 = (principal_for(db=db, user=users[n], settings=settings) for n in names)
    now = utcnow()
    lab = users["lab_admin"].institution_id  # its own escalated case (not a simulated lab's)
    late = db.scalars(
        select(Case)
        .where(Case.escalated_to.is_not(None), Case.institution_id == lab)
        .order_by(Case.id)
    ).first()
    ordered, deadline = _back_dated(late, beijing_date(now))
    first = service.issue(db=db, principal=station, now=ordered, draft=service.Draft(
        institution_id=str(users["lab_admin"].institution_id),
        grounds=(Ground.RECORDS_NOT_KEPT.value, Ground.NOT_UPLOADED.value),
        findings="该机构对监督站责令整改的问题逾期未整改，相关设备检定校准记录未按规定保存。",
        requirement="立即停止使用超期设备，补齐检定校准记录，3 个工作日内书面报告整改情况。",
        deadline=deadline.isoformat(),
        alert_ids=(str(late.alert_id),) if late else (),
    ))  # fmt: skip
    second = service.issue(db=db, principal=station, now=now, draft=service.Draft(
        institution_id=str(users["lab2_admin"].institution_id),
        grounds=(Ground.SAMPLE_TAG.value,),
        findings="抽查发现部分混凝土试块未粘贴唯一性标识即进入检测流程。",
        requirement="对收样流程进行整改，组织收样人员培训，并提交整改报告。",
        deadline=service.default_deadline(now).isoformat(),
    ))  # fmt: skip
    report = Upload("整改报告.pdf", page_pdf("整改报告", (
        f"整改通知 {second.number}", "已修订收样验封程序，组织收样人员培训并考核。",
    )))  # fmt: skip
    for who, action, note, evidence in (
        (lab2, OrderAction.ANSWER, "已完成整改，整改报告见附件", [report]),
        (station, OrderAction.CLOSE, "整改到位，予以办结", []),
        (station, OrderAction.PUBLISH, "该机构已修订收样验封程序并组织培训，整改到位", []),
    ):
        service.act(db=db, settings=settings, principal=who, order=second, action=action,
                    now=now, note=note, evidence=evidence)  # fmt: skip
    db.flush()
    return len([first, second])


def _back_dated(late: Case | None, today: dt.date) -> tuple[dt.datetime, dt.date]:
    """When the first order was given (10:00 the day after the escalated case's deadline, at
    least five days ago) and its deadline (three working days later, before today)."""
    after = late.deadline + dt.timedelta(days=1) if late and late.deadline else today
    day = min(after, today - dt.timedelta(days=5))
    deadline = min(add_working_days(day, 3), today - dt.timedelta(days=1))
    ordered = dt.datetime(day.year, day.month, day.day, 10, tzinfo=BEIJING)
    return ordered.astimezone(dt.UTC), deadline
