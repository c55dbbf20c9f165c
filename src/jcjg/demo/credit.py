"""Demo penalties and credit for ``make run`` (docs/penalties.md, docs/credit.md):

- two penalty decisions by 九江市住建局: 九江恒信 fined 30,000 yuan (its technical director
  named; public for a year from 20 days ago), and a warning to the demo centre decided last
  year whose publicity has ended (not on the public lookup);
- the current quarter's evaluations: the demo centre's self-evaluation, the owner's (on a
  project it tests for) and the city's for each Jiujiang institution, the association's left
  to the authority's form;
- the province's model version 1 (the default) and version 2 (heavier on overdue orders),
  the previous quarter computed under version 1 and published, the current quarter computed
  under version 2 and published; an appeal of 恒信 waiting for the city.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.scopes import Principal
from jcjg.auth.sessions import principal_for
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.credit import scoring
from jcjg.credit import service as credit
from jcjg.credit.models import CreditAppeal, CreditModel
from jcjg.penalties import service as penalties
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.models import Penalty
from jcjg.penalties.schemas import PenaltyIn
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution

FINE = "浔建罚字〔2026〕第 017 号"
WARNING = "浔建罚字〔2025〕第 041 号"


def _as(db: Session, settings: Settings, username: str) -> Principal:
    user = db.scalars(select(User).where(User.username == username)).one()
    return principal_for(db=db, user=user, settings=settings)


def _institution(db: Session, name_part: str) -> Institution:
    return db.scalars(select(Institution).where(Institution.name.like(f"%{name_part}%"))).first()  # type: ignore[return-value]


def _penalties(db: Session, city: Principal, today: dt.date) -> None:
    if db.scalars(select(Penalty.id).where(Penalty.number == FINE)).first():
        return
    hengxin = _institution(db, "恒信")
    center = _institution(db, "检测中心")
    director = db.scalars(
        select(Person).where(
            Person.institution_id == hengxin.id, Person.key_role == "technical_director"
        )
    ).first()
    decided = today - dt.timedelta(days=20)
    penalties.create(db=db, principal=city, data=PenaltyIn(
        number=FINE, institution_id=hengxin.id,
        person_ids=[director.id] if director else [], basis_code="jz57",
        basis_article="第三十条", kind=PenaltyKind.FINE, amount=Decimal("30000.00"),
        facts="出具的钢筋力学性能检测报告数据与原始记录不符，未按规定对检测数据进行复核。",
        decided_on=decided, public_from=decided, public_until=decided + dt.timedelta(days=365),
    ))  # fmt: skip
    old = today.replace(year=today.year - 1, month=3, day=10)
    penalties.create(db=db, principal=city, data=PenaltyIn(
        number=WARNING, institution_id=center.id, basis_code="jz57",
        basis_article="第三十一条", kind=PenaltyKind.WARNING,
        facts="未按规定上传检测数据，逾期 3 个工作日。",
        decided_on=old, public_from=old, public_until=old + dt.timedelta(days=180),
    ))  # fmt: skip


def _evaluations(db: Session, settings: Settings, city: Principal, period: str) -> None:
    lab = _as(db, settings, "lab_admin")
    center_id = lab.institution_id
    assert center_id is not None
    credit.evaluate(db=db, principal=lab, institution_id=center_id, period=period,
                    score=Decimal("95"), comment="本季度质量体系运行正常。")  # fmt: skip
    owner = _as(db, settings, "owner_unit")
    for inst in credit.evaluable(db, owner)[:2]:
        projects = credit.worked_on(db, inst.id, sorted(owner.project_ids))
        if projects:
            credit.evaluate(db=db, principal=owner, institution_id=inst.id, period=period,
                            score=Decimal("88"), comment="检测及时，报告规范。",
                            project_id=projects[0])  # fmt: skip
    for inst, score in ((_institution(db, "检测中心"), "92"), (_institution(db, "恒信"), "70")):
        credit.evaluate(db=db, principal=city, institution_id=inst.id, period=period,
                        score=Decimal(score), comment="日常监督检查评价。")  # fmt: skip
    association = _as(db, settings, "association")
    for inst, score in ((_institution(db, "检测中心"), "90"), (_institution(db, "恒信"), "75")):
        credit.evaluate(db=db, principal=association, institution_id=inst.id, period=period,
                        score=Decimal(score), comment="行业自律检查及会员评议。")  # fmt: skip


def _model_v2(db: Session, province: Principal) -> None:
    credit.current_model(db, "360000")
    if len(credit.models_of(db, "360000")) > 1:
        return
    config = {**scoring.DEFAULT_CONFIG}
    config["deductions"] = {**config["deductions"],
                            "rectification_overdue": {"points": 8, "cap": 24}}  # fmt: skip
    credit.new_version(db=db, principal=province, config=config,
                       note="加重逾期整改的扣分（每次 8 分，上限 24 分）")  # fmt: skip


def load(db: Session, settings: Settings) -> None:
    """Penalties, evaluations, two model versions, two published quarters, one appeal."""
    if db.scalars(select(CreditModel.id)).first() is not None:
        return
    today = beijing_date(utcnow())
    city = _as(db, settings, "jj_city")
    province = _as(db, settings, "jx_province")
    _penalties(db, city, today)
    now = scoring.period_of(today)
    start, _ = scoring.period_bounds(now)
    before = scoring.period_of(start - dt.timedelta(days=1))
    credit.current_model(db, "360000")
    credit.compute_region(db, "36", before, reason="演示：上季度计算")
    credit.publish(db=db, principal=province, period=before)
    _model_v2(db, province)
    _evaluations(db, settings, city, now)
    credit.compute_region(db, "36", now, reason="演示：本季度计算")
    credit.publish(db=db, principal=province, period=now)
    hengxin = _institution(db, "恒信")
    score = credit.latest_published(db, hengxin.id)
    admin = _as(db, settings, "lab2_admin")
    if score is not None and not db.scalars(select(CreditAppeal.id)).first():
        facts = score.explanation.get("facts", [])
        fact = f"{facts[0]['kind']}:{facts[0]['subject_id']}" if facts else ""
        credit.appeal(db=db, principal=admin, score=score, fact=fact,
                      reason="该预警所涉记录系设备时钟偏差所致，已提交校准证明。")  # fmt: skip
