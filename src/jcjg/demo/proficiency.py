"""Demo proficiency testing for ``make run``: two schemes of the demo province
(docs/proficiency.md).

- ``NLYZ-2026-GJ01`` 钢筋屈服强度 (江西省住建厅): finished. A pair of samples (A, B) sent to the
  three demo institutions, a certified reference value (450 MPa, U = 2.0 MPa, sigma_pt = 9.0
  MPa), z scores. 九江恒信's results are far off on both samples (z about 4): two action signals,
  ``proficiency_unsatisfactory``. Evaluated, so its page shows statistics, charts and the PDF.
- ``NLYZ-2026-HNT01`` 混凝土抗压强度 (九江市住建局): collecting results until ten days from now;
  九江恒信 has sent its result by its LIMS, the demo lab (``lab_staff``) has yet to.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.scopes import Principal
from jcjg.auth.sessions import principal_for
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.proficiency import service
from jcjg.proficiency.choices import AssignedMode, Source
from jcjg.proficiency.models import ProficiencyResult, ProficiencyScheme
from jcjg.proficiency.schemas import SchemeIn
from jcjg.proficiency.statistics import Score
from jcjg.tenancy.models import Institution

FINISHED = "NLYZ-2026-GJ01"
OPEN = "NLYZ-2026-HNT01"
# (institution key, sample A, sample B, expanded uncertainty): 恒信 reads about 8 % high
STEEL = (
    ("jj-center", 452.0, 449.5, 6.0),
    ("jj-hengxin", 487.0, 486.0, 8.0),
    ("nc-jianke", 447.5, 446.0, 5.0),
)


def _organiser(db: Session, settings: Settings, username: str) -> Principal:
    user = db.scalars(select(User).where(User.username == username)).one()
    return principal_for(db=db, user=user, settings=settings)


def _result(
    db: Session,
    scheme: ProficiencyScheme,
    institution: Institution,
    values: tuple[float, ...],
    uncertainty: float,
    at: dt.datetime,
    source: Source,
) -> None:
    participant = service.participant_of(db, scheme, institution.id)
    assert participant is not None
    for sample, value in zip(service.samples_of(scheme), values, strict=False):
        db.add(
            ProficiencyResult(
                scheme_id=scheme.id,
                participant_id=participant.id,
                institution_id=institution.id,
                region_code=scheme.region_code,
                sample=sample,
                value=value,
                expanded_uncertainty=uncertainty,
                coverage_factor=2.0,
                method="GB/T 228.1-2021" if scheme.code == FINISHED else "GB/T 50081-2019",
                submitted_at=at,
                source=source.value,
                message_id=str(uuid.uuid4()) if source is Source.EXCHANGE else None,
            )
        )
    db.flush()


def _finished(db: Session, settings: Settings, institutions: dict[str, Institution]) -> None:
    today = beijing_date(utcnow())
    province = _organiser(db, settings, "jx_province")
    data = SchemeIn(
        code=FINISHED, title="2026 年度钢筋屈服强度能力验证", parameter_code="010201",
        sample_count=2, samples_sent_on=today - dt.timedelta(days=40),
        deadline=today - dt.timedelta(days=20), assigned_mode=AssignedMode.KNOWN,
        assigned_value=450.0, assigned_uncertainty=2.0, sigma_pt=9.0, score=Score.Z,
        institution_ids=[institutions[key].id for key, *_ in STEEL],
        notes="HRB400E 直径 20 mm 钢筋，成对样品 A、B；指定值为有证标准物质的认定值。",
    )  # fmt: skip
    scheme = service.create_scheme(db=db, principal=province, data=data)
    sent = utcnow() - dt.timedelta(days=25)
    for key, a, b, u in STEEL:
        source = Source.EXCHANGE if key == "jj-hengxin" else Source.PAGE
        _result(db, scheme, institutions[key], (a, b), u, sent, source)
    service.evaluate(db=db, principal=province, scheme=scheme, now=utcnow() - dt.timedelta(days=15))


def _open(db: Session, settings: Settings, institutions: dict[str, Institution]) -> None:
    today = beijing_date(utcnow())
    city = _organiser(db, settings, "jj_city")
    data = SchemeIn(
        code=OPEN, title="2026 年第四季度混凝土抗压强度能力验证", parameter_code="010801",
        sample_count=1, samples_sent_on=today - dt.timedelta(days=5),
        deadline=today + dt.timedelta(days=10), score=Score.Z,
        institution_ids=[institutions["jj-center"].id, institutions["jj-hengxin"].id],
        notes="150 mm 立方体试件一组（3 块），标准养护 28 d 后试验，报告强度代表值。",
    )  # fmt: skip
    scheme = service.create_scheme(db=db, principal=city, data=data)
    _result(db, scheme, institutions["jj-hengxin"], (38.6,), 1.2, utcnow(), Source.EXCHANGE)


def load(db: Session, settings: Settings, institutions: dict[str, Institution]) -> bool:
    """Create the demo schemes when missing; True when created."""
    if db.scalar(select(ProficiencyScheme.id).where(ProficiencyScheme.code == FINISHED)):
        return False
    if not all(key in institutions for key, *_ in STEEL):
        return False
    _finished(db, settings, institutions)
    _open(db, settings, institutions)
    db.flush()
    return True
