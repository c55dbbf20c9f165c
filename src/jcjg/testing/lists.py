"""The test record list's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.alerts.service import rule_title
from jcjg.core.listing import Column, ListView, when
from jcjg.core.pagination import Key, Order
from jcjg.projects.service import names_of
from jcjg.testing.choices import Acquisition, Judgement, TestKind
from jcjg.testing.models import OnSitePlan, OnSiteRecord, TestRecord

# the record list's order, the latest first (index ix_test_record_ended_at_id)
RECORD_ORDER = Order(
    (Key(TestRecord.ended_at, lambda r: r.ended_at), Key(TestRecord.id, lambda r: r.id)),
    (dt.datetime.now(dt.UTC), 0),
)


def subject_flags(db: Session, subject_type: str, ids: list[int]) -> dict[int, list[Alert]]:
    """Open alerts per subject id."""
    out: dict[int, list[Alert]] = {i: [] for i in ids}
    if ids:
        for alert in db.scalars(
            select(Alert)
            .where(
                Alert.subject_type == subject_type,
                Alert.status == "open",
                Alert.subject_id.in_([str(i) for i in ids]),
            )
            .order_by(Alert.id)
        ):
            if alert.subject_id and int(alert.subject_id) in out:
                out[int(alert.subject_id)].append(alert)
    return out


def flags(db: Session, record_ids: list[int]) -> dict[int, list[str]]:
    """Open alerts' rule ids per record."""
    return {
        i: list(dict.fromkeys(a.rule_id for a in alerts))
        for i, alerts in subject_flags(db, "test_record", record_ids).items()
    }


def _label(kind: type[TestKind] | type[Acquisition] | type[Judgement], value: str) -> str:
    try:
        return kind(value).label
    except ValueError:
        return value


def _cells(db: Session, rows: Sequence[TestRecord]) -> list[list[str]]:
    names = names_of(db, rows)
    flagged = flags(db, [r.id for r in rows])
    return [
        [
            r.number,
            names["institutions"].get(r.institution_id, ""),
            names["projects"].get(r.project_id, "") if r.project_id else "",
            _label(TestKind, r.kind),
            r.grade,
            when(r.ended_at),
            _label(Acquisition, r.acquisition),
            _label(Judgement, r.lab_judgement),
            _label(Judgement, r.platform_judgement),
            "是" if r.nonconforming_by else "",
            "、".join(rule_title(i) for i in flagged.get(r.id, [])),
        ]
        for r in rows
    ]


RECORDS = ListView(
    name="test_record",
    title="检测数据",
    columns=(
        Column("number", "原始记录编号", TestRecord.number),
        Column("institution", "检测机构"),
        Column("project", "工程项目"),
        Column("kind", "试验类别", TestRecord.kind),
        Column("grade", "等级", TestRecord.grade),
        Column("ended_at", "试验结束", TestRecord.ended_at),
        Column("acquisition", "采集方式"),
        Column("lab_judgement", "机构判定", TestRecord.lab_judgement),
        Column("platform_judgement", "平台判定", TestRecord.platform_judgement),
        Column("nonconforming", "列入不合格台账"),
        Column("alerts", "预警"),
    ),
    order=RECORD_ORDER,
    cells=_cells,
    # the page's row: no results, curves' sums or people (testing/_results.html)
    shown=(
        TestRecord.id,
        TestRecord.number,
        TestRecord.institution_id,
        TestRecord.project_id,
        TestRecord.kind,
        TestRecord.grade,
        TestRecord.ended_at,
        TestRecord.acquisition,
        TestRecord.lab_judgement,
        TestRecord.platform_judgement,
        TestRecord.nonconforming_by,
    ),
)


def _onsite_cells(db: Session, rows: Sequence[OnSitePlan | OnSiteRecord]) -> list[list[str]]:
    names = names_of(db, rows)
    subject = rows[0].__tablename__ if rows else "onsite_plan"
    flagged = subject_flags(db, subject, [r.id for r in rows])
    out = []
    for r in rows:
        if isinstance(r, OnSitePlan):
            start, end, extra = r.planned_start, r.planned_end, when(r.received_at)
        else:
            start, end = r.started_at, r.ended_at
            extra = r.plan_number or "无方案"
        out.append(
            [
                r.number,
                names["institutions"].get(r.institution_id, ""),
                names["projects"].get(r.project_id, "") if r.project_id else "",
                r.item_code,
                when(start),
                when(end),
                extra,
                "、".join(dict.fromkeys(rule_title(a.rule_id) for a in flagged.get(r.id, []))),
            ]
        )
    return out


def _start(row: OnSitePlan | OnSiteRecord) -> dt.datetime:
    return row.planned_start if isinstance(row, OnSitePlan) else row.started_at


def _onsite(model: type[OnSitePlan] | type[OnSiteRecord], title: str) -> ListView:
    planned = model is OnSitePlan
    start = OnSitePlan.planned_start if planned else OnSiteRecord.started_at
    end = OnSitePlan.planned_end if planned else OnSiteRecord.ended_at
    extra = "上传时间" if model is OnSitePlan else "检测方案"
    return ListView(
        name=model.__tablename__,
        title=title,
        columns=(
            Column("number", "编号", model.number),
            Column("institution", "检测机构"),
            Column("project", "工程项目"),
            Column("item", "检测项目代码", model.item_code),
            Column("start", "开始时间", start),
            Column("end", "结束时间", end),
            Column("extra", extra),
            Column("alerts", "预警"),
        ),
        order=Order(
            (
                Key(start, _start),
                Key(model.id, lambda r: r.id),
            ),
            (dt.datetime.now(dt.UTC), 0),
        ),
        cells=_onsite_cells,
    )


ONSITE_PLANS = _onsite(OnSitePlan, "现场检测方案")
ONSITE_RECORDS = _onsite(OnSiteRecord, "现场检测记录")
