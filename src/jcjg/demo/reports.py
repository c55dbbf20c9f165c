"""Demo contracts and reports for ``make run`` (after :mod:`jcjg.demo.testing`):

- the demo lab signed its testing contract for the demo project seven weeks ago and uploaded
  it 25 days later (contract_late);
- six weeks ago it reported the cubes that failed then as conforming (report_data_mismatch),
  under sequence 3 of its year, and sequence 2 never came (number_gap, when six weeks ago was
  in this Beijing year);
- its concrete room drew the supervision code for the report on the first two cube tests of
  the demo commission, but the signed PDF has not arrived more than a day later (report_late);
- its rebar room, keeping a counter of its own, numbered its report with the same annual
  sequence (number_reused: 001 9.1.2 wants one sequence for the lab);
- two days ago someone scanned the code on a report the platform never issued, a forged one
  (unknown_code_scanned).

Contracts, reports and the scan go in through the services the exchange and the public page
use; idempotent: nothing is done when the first report exists."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.contracts.schemas import ContractIn
from jcjg.contracts.service import store_contract
from jcjg.core.blobs import blob_store
from jcjg.core.workdays import beijing_date
from jcjg.demo.sampling import add_commissions
from jcjg.demo.testing import FAILED, FIRST
from jcjg.documents.pdf import page_pdf
from jcjg.projects.models import Project
from jcjg.registry.models import Person, Signatory
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import Report
from jcjg.reports.schemas import ReportIn
from jcjg.reports.service import issue_report, log_scans, scan
from jcjg.sampling.models import Commission
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord


def load(
    db: Session, settings: Settings, institutions: dict[str, Institution], now: dt.datetime
) -> int:
    """The contract and reports described above; how many reports were issued."""
    lab = institutions.get("jj-center")
    if lab is None:
        return 0
    year = beijing_date(now).year
    concrete = f"JZ-BG-HNT-{year}-0001"
    if db.scalar(
        select(Report.id).where(Report.institution_id == lab.id, Report.number == concrete)
    ):
        return 0
    records = {
        r.number: r
        for r in db.scalars(
            select(TestRecord).where(
                TestRecord.institution_id == lab.id,
                TestRecord.number.in_([FIRST, "JZ-HNT-2026-0002", "JZ-GJ-2026-0001", FAILED]),
            )
        )
    }
    if len(records) < 4:
        return 0
    signer = db.scalars(
        select(Person)
        .join(Signatory, Signatory.person_id == Person.id)
        .where(Signatory.institution_id == lab.id)
        .order_by(Signatory.id)
    ).first()  # the lab's authorised signatory (its technical director)
    signed = [{"name": signer.name, "id_number": signer.id_number}] if signer else []
    failed = records[FAILED]
    _contract(db, settings, lab, failed, now)
    sent = failed.received_at + dt.timedelta(hours=2)
    _issue(db, lab, sent, signed, {
        "number": f"JZ-BG-HNT-{beijing_date(sent).year}-0003", "sequence": 3,
        "title": "混凝土试块抗压强度检测报告", "project_code": _project_code(db, failed),
        "test_record_numbers": [FAILED], "items": ["0108"],
        "conclusion": "所检混凝土试块抗压强度符合 C30 设计要求。", "judgement": "conforming",
        "results": {"strength_mpa": 24.6},
    })  # fmt: skip
    cubes = [records[FIRST], records["JZ-HNT-2026-0002"]]
    commission = db.get(Commission, cubes[0].commission_id) if cubes[0].commission_id else None
    drawn = max(r.received_at for r in cubes) + dt.timedelta(hours=1)  # over a day ago
    _issue(db, lab, drawn, signed, {
        "number": concrete, "sequence": 1, "year": year, "title": "混凝土试块抗压强度检测报告",
        "commission_number": commission.number if commission else None,
        "test_record_numbers": [r.number for r in cubes], "items": ["0108"],
        "conclusion": "所检混凝土试块抗压强度符合 C30 设计要求。", "judgement": "conforming",
        "results": {"strength_mpa": 36.1},
    })  # fmt: skip
    bars = records["JZ-GJ-2026-0001"]
    # the rebar report also signed by an inspector of the Nanchang lab, who did the test there:
    # report_signed_by_outsider (违法分包)
    outsider = _outsider(db, institutions.get("nc-jianke"))
    _issue(db, lab, bars.received_at + dt.timedelta(hours=2), signed + outsider, {
        "number": f"JZ-BG-GJ-{year}-0001", "sequence": 1, "year": year,
        "title": "钢筋拉伸性能检测报告", "test_record_numbers": [bars.number], "items": ["0102"],
        "conclusion": "所检钢筋的屈服强度、抗拉强度和断后伸长率符合 HRB400E 的要求。",
        "judgement": "conforming",
    })  # fmt: skip
    _forged_scan(db, lab, now - dt.timedelta(days=2, hours=3))
    db.flush()
    return 3


FORGED_SERIAL = 98_765_432  # far beyond any serial the region's reports will reach


def _forged_scan(db: Session, lab: Institution, at: dt.datetime) -> None:
    """A well-formed code of the lab's county that no report carries, looked up on a phone."""
    code = SUPERVISION.make(lab.region_code, beijing_date(at).year, FORGED_SERIAL)
    looked = scan(db=db, raw_code=code, token=None, user_agent=PHONE, now=at)
    log_scans(db, [looked.row])


PHONE = "Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 Mobile Safari/537.36"


CONTRACT_SIGNED_DAYS = 49  # before the failed cubes were tested
CONTRACT_SENT_DAYS = 25  # after signing: past 5 working days, even across the Spring Festival


def _contract(
    db: Session, settings: Settings, lab: Institution, record: TestRecord, now: dt.datetime
) -> None:
    project = db.get(Project, record.project_id) if record.project_id else None
    if project is None:
        return
    signed = beijing_date(now) - dt.timedelta(days=CONTRACT_SIGNED_DAYS)
    sent = now - dt.timedelta(days=CONTRACT_SIGNED_DAYS - CONTRACT_SENT_DAYS)
    number = f"JZ-HT-{signed.year}-0001"
    text = page_pdf("建设工程质量检测合同", (
        f"合同编号 {number}", f"工程名称 {project.name}",
        f"委托方 {project.owner_unit or '建设单位'}", f"检测机构 {lab.name}",
    ))  # fmt: skip
    data = ContractIn.model_validate({
        "message_id": str(uuid.uuid4()), "institution_code": lab.code, "number": number,
        "sequence": 1, "project_code": project.code,
        "client_unit": project.owner_unit or "建设单位", "signed_on": signed.isoformat(),
        "items": ["0108", "0102"], "amount_yuan": "86000.00",
        "pdf_sha256": blob_store(settings).put(text),
    })  # fmt: skip
    store_contract(db=db, settings=settings, institution=lab, data=data, received_at=sent)


def _project_code(db: Session, record: TestRecord) -> str | None:
    project = db.get(Project, record.project_id) if record.project_id else None
    return project.code if project else None


def _outsider(db: Session, other: Institution | None) -> list[dict[str, str]]:
    """An inspector of ``other`` as a report's signatory (name and ID number), or nobody."""
    if other is None:
        return []
    person = db.scalars(
        select(Person)
        .where(Person.institution_id == other.id, Person.employed_until.is_(None))
        .order_by(Person.id)
    ).first()
    return [{"name": person.name, "id_number": person.id_number}] if person else []


def _issue(
    db: Session,
    lab: Institution,
    at: dt.datetime,
    signed: list[dict[str, str]],
    fields: dict[str, Any],
) -> Report:
    data = ReportIn.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "institution_code": lab.code,
            "signatories": signed,
            "issued_on": beijing_date(at).isoformat(),
            **fields,
        }
    )
    return issue_report(db=db, institution=lab, data=data, received_at=at)


GROUP_INVESTOR = "江西恒建投资集团有限公司"
GROUP_PROJECT: dict[str, Any] = {
    "code": "XM360402-2026-027",
    "name": "九江市濂溪区十里河综合整治工程 2# 泵站",
    "region_code": "360402",
    "address": "九江市濂溪区十里大道 502 号",
    "site_latitude": 29.6921,
    "site_longitude": 116.0158,
    "site_radius_m": 300,
    "owner_unit": "九江市濂溪区城市建设投资有限公司",
    "contractor_unit": "江西九建建设集团有限公司",
    "supervisor_unit": "九江诚信工程监理有限公司",
    "station": "九江市建设工程质量安全监督站",
}


def load_group_transfer(
    db: Session, settings: Settings, institutions: dict[str, Institution], now: dt.datetime
) -> None:
    """A project the Nanchang lab contracted (it is filed in Jiujiang) whose concrete
    commissions went to 九江恒信, controlled by the same investor and holding no contract for
    it: ``group_transfer`` (000 7.2.2(1)). Idempotent: nothing is done when the project exists."""
    holder, taker = institutions.get("nc-jianke"), institutions.get("jj-hengxin")
    if holder is None or taker is None:
        return
    if db.scalar(select(Project.id).where(Project.code == GROUP_PROJECT["code"])):
        return
    for inst, share, other in (
        (holder, 51.0, "南昌建科管理团队"),
        (taker, 60.0, "九江恒信职工持股平台"),
    ):
        inst.investors = [
            {"name": GROUP_INVESTOR, "share": share},
            {"name": other, "share": 100.0 - share},
        ]
    project = Project(**GROUP_PROJECT)
    db.add(project)
    db.flush()
    today = beijing_date(now)
    signed = today - dt.timedelta(days=30)
    number = f"NCJK-HT-{signed.year}-0001"
    text = page_pdf("建设工程质量检测合同", (
        f"合同编号 {number}", f"工程名称 {project.name}",
        f"委托方 {project.owner_unit}", f"检测机构 {holder.name}",
    ))  # fmt: skip
    data = ContractIn.model_validate({
        "message_id": str(uuid.uuid4()), "institution_code": holder.code, "number": number,
        "sequence": 1, "project_code": project.code, "client_unit": project.owner_unit,
        "signed_on": signed.isoformat(), "items": ["0101", "0108"], "amount_yuan": "128000.00",
        "pdf_sha256": blob_store(settings).put(text),
    })  # fmt: skip
    store_contract(
        db=db, settings=settings, institution=holder, data=data,
        received_at=now - dt.timedelta(days=29),
    )  # fmt: skip
    add_commissions(db, taker, project, today, (20, 6), "陈送样")
