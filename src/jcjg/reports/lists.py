"""The report list's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order
from jcjg.projects.service import names_of
from jcjg.reports.choices import ReportStatus
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import Report
from jcjg.testing.choices import Judgement

# the report list's order, the latest first (index ix_report_received_at_id)
REPORT_ORDER = Order(
    (Key(Report.received_at, lambda r: r.received_at), Key(Report.id, lambda r: r.id)),
    (dt.datetime.now(dt.UTC), 0),
)


def _cells(db: Session, rows: Sequence[Report]) -> list[list[str]]:
    names = names_of(db, rows)
    return [
        [
            r.number,
            SUPERVISION.display(r.supervision_code),
            names["institutions"].get(r.institution_id, ""),
            names["projects"].get(r.project_id, "") if r.project_id else "",
            when(r.issued_on),
            label(Judgement, r.judgement),
            label(ReportStatus, r.status),
            "已上传" if r.pdf_sha256 else "未上传",
        ]
        for r in rows
    ]


REPORTS = ListView(
    name="report",
    title="检测报告",
    columns=(
        Column("number", "报告编号", Report.number),
        Column("supervision_code", "监管码"),
        Column("institution", "检测机构"),
        Column("project", "工程项目"),
        Column("issued_on", "签发日期", Report.issued_on),
        Column("judgement", "结论", Report.judgement),
        Column("status", "状态", Report.status),
        Column("file", "报告文件"),
    ),
    order=REPORT_ORDER,
    cells=_cells,
)
