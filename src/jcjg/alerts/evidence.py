"""The evidence behind an alert: links from the alert's page into the chain its subject belongs
to (the raw record with its force curve, the samples with their photos and seals, the reports,
the contract, the registry's entries), each with the log entry that notarised it where there is
one. The pages behind the links apply their own scope: a link only says where to look."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert

# subject types whose page is the registry's generic page of that kind
_REGISTRY = {
    "institution": ("检测机构", "institutions"),
    "person": ("人员", "people"),
    "assignment": ("人员任职", "assignments"),
    "equipment": ("仪器设备", "equipment"),
    "certificate": ("资质证书", "certificates"),
    "signatory": ("授权签字人", "signatories"),
}
# subject types with a page of their own, by id
_PAGES = {
    "commission": ("委托", "/commissions/{}"),
    "contract": ("检测合同", "/contracts/{}"),
    "onsite_plan": ("现场检测方案", "/testing/onsite/plans/{}"),
    "onsite_record": ("现场检测记录", "/testing/onsite/records/{}"),
    "nonconformity": ("不合格结果", "/nonconformities/{}"),
    "rectification_order": ("整改通知", "/rectification-orders/{}"),
    "exchange_client": ("数据接入方", "/exchange/clients/{}"),
}
MAX_LINKS = 40


@dataclass(frozen=True)
class Link:
    what: str  # 原始记录, 样品, 检测报告 ...
    text: str
    url: str
    ledger_index: int | None = None  # the log entry that notarised it


def links(db: Session, alert: Alert) -> list[Link]:
    """The subject first, then what it leads to along the chain, then the project and the
    institution; each once."""
    out: list[Link] = []
    kind, ident = alert.subject_type, alert.subject_id or ""
    if kind == "test_record" and ident.isdecimal():
        out += _record_chain(db, [int(ident)])
    elif kind == "sample" and ident:
        out += _samples(db, [ident])
        out += _record_chain(db, _records_of_samples(db, [ident]), samples=False)
    elif kind == "report" and ident.isdecimal():
        out += _reports(db, [int(ident)])
        out += _record_chain(db, _records_of_reports(db, [int(ident)]), reports=False)
    elif kind == "supervision_code" and ident:
        out += _reports(db, _reports_by_code(db, ident))
    elif kind == "nonconformity" and ident.isdecimal():
        out += _nonconformity(db, int(ident))
    elif kind in _REGISTRY and ident.isdecimal():
        what, slug = _REGISTRY[kind]
        out.append(Link(what, alert.subject_repr, f"/registry/{slug}/{ident}"))
    elif kind in _PAGES and ident.isdecimal():
        what, url = _PAGES[kind]
        out.append(Link(what, alert.subject_repr, url.format(ident), _ledger_of(db, kind, ident)))
    if alert.project_id is not None:
        out.append(_project(db, alert.project_id))
    if alert.institution_id is not None and kind != "institution":
        out.append(_institution(db, alert.institution_id))
    unique: dict[str, Link] = {}
    for link in out:
        unique.setdefault(link.url, link)
    return list(unique.values())[:MAX_LINKS]


def _record_chain(
    db: Session, record_ids: list[int], *, samples: bool = True, reports: bool = True
) -> list[Link]:
    from jcjg.exchange.models import Message
    from jcjg.testing.models import Specimen, TestRecord

    out: list[Link] = []
    records = db.scalars(
        select(TestRecord).where(TestRecord.id.in_(record_ids)).order_by(TestRecord.id)
    ).all()
    for record in records:
        notarised = (
            db.scalar(
                select(Message.ledger_index).where(
                    Message.message_id == record.message_id,
                    Message.institution_id == record.institution_id,
                )
            )
            if record.message_id
            else None
        )
        out.append(
            Link(
                "原始记录（含力值曲线回放）",
                record.number,
                f"/testing/records/{record.id}",
                notarised,
            )
        )
    if samples:
        codes = db.scalars(
            select(Specimen.sample_code)
            .where(Specimen.test_record_id.in_(record_ids), Specimen.sample_code.is_not(None))
            .distinct()
            .order_by(Specimen.sample_code)
        ).all()
        out += _samples(db, [c for c in codes if c])
    if reports:
        out += _reports(db, _records_reports(db, record_ids))
    return out


def _samples(db: Session, codes: list[str]) -> list[Link]:
    from jcjg.sampling.models import Sample, SampleSeal

    found = set(db.scalars(select(Sample.sample_code).where(Sample.sample_code.in_(codes))))
    seals = {
        code: index
        for code, index in db.execute(
            select(Sample.sample_code, SampleSeal.ledger_index)
            .join(SampleSeal, SampleSeal.sample_id == Sample.id)
            .where(Sample.sample_code.in_(codes))
            .order_by(SampleSeal.id)
        )
    }
    return [
        Link("样品（照片、封志、见证记录）", code, f"/samples/{code}", seals.get(code))
        for code in codes
        if code in found
    ]


def _records_of_samples(db: Session, codes: list[str]) -> list[int]:
    from jcjg.testing.models import Specimen

    stmt = select(Specimen.test_record_id).where(Specimen.sample_code.in_(codes)).distinct()
    return sorted(i for i in db.scalars(stmt) if i is not None)


def _records_reports(db: Session, record_ids: list[int]) -> list[int]:
    from jcjg.reports.models import ReportRecord

    stmt = select(ReportRecord.report_id).where(ReportRecord.test_record_id.in_(record_ids))
    return sorted(set(db.scalars(stmt)))


def _records_of_reports(db: Session, report_ids: list[int]) -> list[int]:
    from jcjg.reports.models import ReportRecord

    stmt = select(ReportRecord.test_record_id).where(ReportRecord.report_id.in_(report_ids))
    return sorted(set(db.scalars(stmt)))


def _reports_by_code(db: Session, code: str) -> list[int]:
    from jcjg.reports.models import Report

    return list(db.scalars(select(Report.id).where(Report.supervision_code == code)))


def _reports(db: Session, report_ids: list[int]) -> list[Link]:
    from jcjg.reports.models import Report

    rows = db.scalars(select(Report).where(Report.id.in_(report_ids)).order_by(Report.id))
    return [Link("检测报告", r.number, f"/reports/{r.id}", r.ledger_index) for r in rows]


def _nonconformity(db: Session, item_id: int) -> list[Link]:
    from jcjg.nonconformity.models import Nonconformity

    item = db.get(Nonconformity, item_id)
    if item is None:
        return []
    text = f"#{item.id} {item.material} {item.grade}".strip()
    out = [Link("不合格结果", text, f"/nonconformities/{item.id}", item.ledger_index)]
    if item.test_record_id is not None:
        out += _record_chain(db, [item.test_record_id])
    return out


def _ledger_of(db: Session, kind: str, ident: str) -> int | None:
    from jcjg.contracts.models import Contract
    from jcjg.nonconformity.models import Nonconformity
    from jcjg.rectification.models import RectificationOrder

    model: Any = {
        "contract": Contract,
        "nonconformity": Nonconformity,
        "rectification_order": RectificationOrder,
    }.get(kind)
    if model is None:
        return None
    index: int | None = db.scalar(select(model.ledger_index).where(model.id == int(ident)))
    return index


def _project(db: Session, project_id: int) -> Link:
    from jcjg.projects.models import Project

    project = db.get(Project, project_id)
    return Link(
        "工程项目", project.name if project else f"#{project_id}", f"/projects/{project_id}"
    )


def _institution(db: Session, institution_id: int) -> Link:
    from jcjg.registry.models import Institution

    inst = db.get(Institution, institution_id)
    name = inst.name if inst else f"#{institution_id}"
    return Link("检测机构", name, f"/registry/institutions/{institution_id}")
