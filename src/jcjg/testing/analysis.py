"""Analysis models of illegal subcontracting and of work a lab cannot have done (000 7.2.2(1),
beside the registry's ``certificate_lending`` and ``unlicensed_work`` and the reports'
``report_signed_by_outsider``):

- ``group_transfer``: a project's testing contracted to one lab and commissioned to another
  lab controlled by the same investor, which holds no contract for it (转包 within an owner
  group);
- ``capacity_exceeded``: force tests that the machine and the inspectors named could not have
  done in the time the records declare, given the curves they uploaded and the tests before
  them (records made up in bulk, or work of other machines and people booked under these).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, Rows, RuleContext, rule
from jcjg.contracts.models import Contract
from jcjg.core.workdays import BEIJING
from jcjg.projects.models import Project
from jcjg.sampling.choices import CommissionStatus
from jcjg.sampling.models import Commission
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import TestKind
from jcjg.testing.models import Curve, Specimen, TestRecord

# --- group_transfer ----------------------------------------------------------------------------


def _investor_key(name: str) -> str:
    return "".join(str(name).split()).replace("（", "(").replace("）", ")")


def owner_groups(institutions: Sequence[Institution], min_share: float) -> dict[int, set[str]]:
    """Each institution's controlling investors (share at least ``min_share`` %), by name with
    blanks removed and full-width brackets folded; institutions with none left out."""
    out: dict[int, set[str]] = {}
    for inst in institutions:
        names = set()
        for investor in inst.investors or []:
            if not isinstance(investor, dict):
                continue
            name, share = investor.get("name"), investor.get("share")
            try:
                if name and float(str(share)) >= min_share:
                    names.add(_investor_key(name))
            except (TypeError, ValueError):
                continue
        if names:
            out[inst.id] = names
    return out


def _covers(items: list[str], wanted: list[str]) -> bool:
    """Whether a contract's items cover a commission's (an empty list stands for all items)."""
    return not items or not wanted or bool(set(items) & set(wanted))


@rule(
    "group_transfer",
    title="签约项目的检测转由同一投资人控制的其他检测机构承接",
    clause="000 7.2.2（一）违法分包转包分析模型",
    severity=Severity.WARNING,
    subject_type="contract",
    defaults={"min_share": 30},
    labels={"min_share": "共同投资人的最低出资比例（%）"},
    triggers=(Contract, Commission),
    scope="project",
    description="工程项目的检测合同由一家检测机构签订，该项目同类检测项目的委托却由另一家检测机构承接，"
    "后者没有该项目覆盖这些检测项目的合同，且两家机构有同一投资人（双方登记的出资比例都不低于规定比例，"
    "投资人名称忽略空格和全半角括号）：检测业务在同一投资人控制的机构之间转包。按签约机构、承接机构和项目"
    "各一条预警（签约机构可见，承接机构在证据中列出），退回的委托不计；投资人变更在每日全量核查时判断。",
)
def group_transfer(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(Institution)
    if ctx.project_ids is not None:
        # a narrowed run: only the institutions with a contract or a commission on its
        # projects may hold or take one of them (not every institution of the platform)
        on_projects = sorted(ctx.project_ids)
        stmt = stmt.where(
            Institution.id.in_(
                select(Contract.institution_id).where(Contract.project_id.in_(on_projects))
            )
            | Institution.id.in_(
                select(Commission.institution_id).where(Commission.project_id.in_(on_projects))
            )
        )
    institutions = list(ctx.db.scalars(stmt))
    controlling: dict[int, set[str]] = {}
    for inst in institutions:
        share = float(ctx.thresholds(inst.region_code)["min_share"])
        controlling.update(owner_groups([inst], share))
    by_investor: dict[str, set[int]] = {}
    for inst_id, held in controlling.items():
        for name in held:
            by_investor.setdefault(name, set()).add(inst_id)
    members = {i for ids in by_investor.values() if len(ids) > 1 for i in ids}
    if not members:
        return
    contracts = list(
        ctx.db.scalars(
            ctx.narrow_projects(
                select(Contract).where(Contract.institution_id.in_(sorted(members))),
                Contract.project_id,
            )
        )
    )
    if not contracts:
        return
    commissions = list(
        ctx.db.scalars(
            select(Commission).where(
                Commission.project_id.in_(sorted({c.project_id for c in contracts})),
                Commission.institution_id.in_(sorted(members)),
                Commission.status != CommissionStatus.REJECTED.value,
            )
        )
    )
    grouped = _transfers(contracts, commissions, controlling)
    if not grouped:
        return
    projects = {
        p.id: p
        for p in ctx.db.scalars(
            select(Project).where(Project.id.in_(sorted({k[2] for k in grouped})))
        )
    }
    by_id = {i.id: i for i in institutions}
    for (holder, taker, project_id), (contract, taken, shared) in grouped.items():
        project = projects.get(project_id)
        spelled = {_investor_key(n): n for n in _names(by_id[holder])}  # as the holder has it
        yield Finding(
            key=f"project:{project_id}:from:{holder}:to:{taker}",
            subject_type="contract",
            subject_id=str(contract.id),
            subject_repr=f"检测合同 {contract.number}",
            subject_number=contract.number,
            institution_id=holder,
            region_code=contract.region_code,
            project_id=project_id,
            facts={
                "工程项目": f"{project.name}（{project.code}）" if project else str(project_id),
                "签约机构": by_id[holder].name,
                "合同": f"{contract.number}（{contract.signed_on.isoformat()} 签订）",
                "承接机构": by_id[taker].name,
                "承接的委托": [
                    f"{c.number}（{c.commissioned_on.isoformat()}）" for c in taken[:20]
                ],
                "委托件数": len(taken),
                "共同投资人": sorted(spelled.get(s, s) for s in shared),
            },
        )


_Transfers = dict[tuple[int, int, int], tuple[Contract, list[Commission], set[str]]]


def _transfers(
    contracts: list[Contract], commissions: list[Commission], controlling: dict[int, set[str]]
) -> _Transfers:
    """(holder, taker, project) -> (the holder's contract, the taker's commissions under it,
    the investors they share), for commissions whose lab holds no contract covering them."""
    held: dict[int, dict[int, list[Contract]]] = {}  # project -> holder -> contracts
    for contract in contracts:
        by_holder = held.setdefault(contract.project_id, {})
        by_holder.setdefault(contract.institution_id, []).append(contract)
    grouped: dict[tuple[int, int, int], tuple[Contract, list[Commission], set[str]]] = {}
    for commission in sorted(commissions, key=lambda c: (c.commissioned_on, c.id)):
        project_id = commission.project_id
        on_project = held.get(project_id, {})
        own = on_project.get(commission.institution_id, [])
        if any(_covers(c.items, commission.items) for c in own):
            continue
        for holder, theirs in sorted(on_project.items()):
            if holder == commission.institution_id:
                continue
            shared = controlling.get(holder, set()) & controlling.get(
                commission.institution_id, set()
            )
            if not shared:
                continue
            for contract in theirs:
                if contract.signed_on <= commission.commissioned_on and _covers(
                    contract.items, commission.items
                ):
                    key = (holder, commission.institution_id, project_id)
                    entry = grouped.setdefault(key, (contract, [], set()))
                    entry[1].append(commission)
                    entry[2].update(shared)
                    break
    return grouped


def _names(inst: Institution) -> list[str]:
    return [str(i["name"]) for i in inst.investors or [] if isinstance(i, dict) and i.get("name")]


# --- capacity_exceeded -------------------------------------------------------------------------


def _long_days(
    ctx: RuleContext,
    tests: list[_Test],
    labels: dict[tuple[int, str], str],
    late: dict[int, list[str]],
) -> None:
    """An inspector's declared windows of one Beijing day, merged, beyond the day's hours: the
    record that passes the limit and those after it (records cover for a day no one works)."""
    days: dict[tuple[int, str, dt.date], list[_Test]] = {}
    for t in tests:
        for key, _name in t.people:
            day = t.started_at.astimezone(BEIJING).date()
            days.setdefault((t.institution_id, key, day), []).append(t)
    for (inst, key, day), queue in days.items():
        limit = float(ctx.thresholds(queue[0].region_code)["inspector_day_hours"]) * 3600
        covered = 0.0
        reach: dt.datetime | None = None
        for t in sorted(queue, key=lambda t: (t.started_at, t.id)):
            start = t.started_at if reach is None else max(t.started_at, reach)
            covered += max((t.ended_at - start).total_seconds(), 0.0)
            reach = t.ended_at if reach is None else max(reach, t.ended_at)
            if covered > limit:
                late.setdefault(t.id, []).append(
                    f"检测人员 {labels[(inst, key)]}：{day.isoformat()} 申报的检测时段合计已达"
                    f" {covered / 3600:.1f} 小时，超过一天 {limit / 3600:g} 小时"
                )


FORCE_KINDS = (
    TestKind.CONCRETE_COMPRESSION.value,
    TestKind.MORTAR_STRENGTH.value,
    TestKind.REBAR_TENSILE.value,
    TestKind.MASONRY_MORTAR.value,
    TestKind.REBAR_SPLICE.value,
    TestKind.BRICK_COMPRESSION.value,
    TestKind.BLOCK_COMPRESSION.value,
    TestKind.ROCK_COMPRESSION.value,
)


@dataclass
class _Test:
    id: int
    institution_id: int
    region_code: str
    project_id: int | None
    number: str
    started_at: dt.datetime
    ended_at: dt.datetime
    equipment: list[str]
    people: list[tuple[str, str]]  # (key, name)
    specimens: int = 0
    curve_seconds: float = 0.0
    curves: int = 0


# how far before the earliest record written a write reads its queues: a record's verdict
# depends on the records of its machine and its inspectors started before it, and a queue's
# backlog runs at most to the latest declared end plus the slack, so only a chain of
# overlapping records longer than this could reach it (the sweep reads every record)
LOOKBACK = dt.timedelta(days=2)


def _window(ctx: RuleContext) -> list[Any] | None:
    """What a run reads of the force records: a run by rows the written records'
    institutions' records started by the latest one's start and started, or still running,
    ``LOOKBACK`` before the earliest one's (a test of days keeps its machine's latest declared
    end); None: nothing written to judge. Otherwise the run's institutions (every one for the
    sweep)."""
    kinds = TestRecord.kind.in_(FORCE_KINDS)
    if ctx.row_ids is None:
        if ctx.institution_ids is None:
            return [kinds]
        return [kinds, TestRecord.institution_id.in_(sorted(ctx.institution_ids))]
    written = ctx.db.execute(
        ctx.narrow_rows(select(TestRecord.institution_id, TestRecord.started_at), TestRecord.id)
    ).all()
    if not written:
        return None
    since = min(at for _, at in written) - LOOKBACK
    return [
        kinds,
        TestRecord.institution_id.in_(sorted({inst for inst, _ in written})),
        TestRecord.started_at <= max(at for _, at in written),
        (TestRecord.started_at >= since) | (TestRecord.ended_at >= since),
    ]


def _tests(ctx: RuleContext) -> list[_Test]:
    window = _window(ctx)
    if window is None:
        return []
    stmt = select(
        TestRecord.id,
        TestRecord.institution_id,
        TestRecord.region_code,
        TestRecord.project_id,
        TestRecord.number,
        TestRecord.started_at,
        TestRecord.ended_at,
        TestRecord.equipment,
        TestRecord.inspectors,
        TestRecord.inspector_person_ids,
    ).where(*window)
    tests: dict[int, _Test] = {}
    for row in ctx.db.execute(stmt):
        ids = list(row.inspector_person_ids or [])
        names = [str(n) for n in row.inspectors or []]
        if ids and len(ids) == len(names):
            people = [(f"person:{i}", n) for i, n in zip(ids, names, strict=True)]
        else:
            people = [(f"name:{n}", n) for n in names]
        tests[row.id] = _Test(
            row.id, row.institution_id, row.region_code, row.project_id, row.number,
            row.started_at, row.ended_at, [str(a) for a in row.equipment or []], people,
        )  # fmt: skip
    if not tests:
        return []
    # the specimens and curves of the records read (not of the institutions' every record)
    specimens = (
        select(Specimen.test_record_id, func.count())
        .join(TestRecord, TestRecord.id == Specimen.test_record_id)
        .where(*window)
        .group_by(Specimen.test_record_id)
    )
    for record_id, count in ctx.db.execute(specimens):
        if record_id in tests:
            tests[record_id].specimens = int(count)
    curves = (
        select(Curve.test_record_id, func.count(), func.sum(Curve.duration_s))
        .join(TestRecord, TestRecord.id == Curve.test_record_id)
        .where(*window)
        .group_by(Curve.test_record_id)
    )
    for record_id, count, seconds in ctx.db.execute(curves):
        if record_id in tests:
            tests[record_id].curves = int(count)
            tests[record_id].curve_seconds = float(seconds or 0.0)
    return sorted(tests.values(), key=lambda t: (t.started_at, t.id))


def window_text(started: dt.datetime, ended: dt.datetime) -> str:
    """The declared window in Beijing time: ``2026-11-23 19:11:06 至 19:16:06``."""
    start, end = started.astimezone(BEIJING), ended.astimezone(BEIJING)
    tail = "%H:%M:%S" if start.date() == end.date() else "%Y-%m-%d %H:%M:%S"
    return f"{start:%Y-%m-%d %H:%M:%S} 至 {end.strftime(tail)}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} 分钟"


def _judge_queue(
    ctx: RuleContext, kind: str, who: str, queue: list[_Test], late: dict[int, list[str]]
) -> None:
    """Queue one machine's records (``kind`` "machine") or one inspector's by start: each
    starts when its declared start and the earlier work allow; one that cannot finish by its
    declared end (and the slack) gets a reason in ``late``."""
    free: dt.datetime | None = None
    declared: dt.datetime | None = None  # the latest declared end on this machine so far
    for t in queue:
        limits = ctx.thresholds(t.region_code)
        handling = float(limits["handling_seconds"]) * t.specimens
        if kind == "machine":
            loading = t.curve_seconds + max(t.specimens - t.curves, 0) * 60 * float(
                limits["minutes_per_specimen"]
            )
            need = loading + handling
        else:  # the people named share the handling
            need = handling / max(len(t.people), 1)
        slack = dt.timedelta(seconds=float(limits["slack_seconds"]))
        # a machine booked for two records at once is impossible_timing's finding: this one is
        # judged from its own declared start, not behind the record it overlaps
        booked_twice = (
            kind == "machine" and declared is not None and declared - slack > t.started_at
        )
        if kind == "machine":
            declared = max(declared or t.ended_at, t.ended_at)
        behind = free is not None and free > t.started_at and not booked_twice
        start = free if behind and free is not None else t.started_at
        finish = start + dt.timedelta(seconds=need)
        if need > 0 and finish > t.ended_at + slack:
            busy = (start - t.started_at).total_seconds()
            late.setdefault(t.id, []).append(
                f"{who}：本条至少需要 {_minutes(need)}"
                + (f"，开始时仍被之前的记录占用 {_minutes(busy)}" if busy > 0 else "")
                + f"，申报时段只有 {_minutes((t.ended_at - t.started_at).total_seconds())}"
            )
            free = max(t.ended_at, free or t.ended_at)  # the next judged as declared
        else:
            free = max(finish, free or finish)


@rule(
    "capacity_exceeded",
    title="检测量超出设备和人员的能力",
    clause="000 7.2.2（一）违法分包转包分析模型；001 4.1.7",
    severity=Severity.WARNING,
    subject_type="test_record",
    defaults={
        "handling_seconds": 20,
        "minutes_per_specimen": 1,
        "slack_seconds": 60,
        "inspector_day_hours": 14,
    },
    labels={
        "handling_seconds": "每个试件放取的最少时间（秒）",
        "minutes_per_specimen": "无曲线的试件每个最少加载时间（分钟）",
        "slack_seconds": "允许的时钟误差（秒）",
        "inspector_day_hours": "一名检测人员一天的检测时段合计上限（小时）",
    },
    # a record is judged against the records of its machine and inspectors started before it:
    # its write judges it (reading its queues LOOKBACK back); its specimens and curves are
    # written with it. A record sent after later-started ones were judged changes their
    # queues too: the daily sweep judges them again
    triggers=(TestRecord,),
    rows=Rows(TestRecord, "record"),
    description="力学检测（混凝土、水泥胶砂、钢筋）按上传的力值曲线计算每条记录最少需要的机时（每个试件的"
    "曲线时长或无曲线时的最少加载时间，加上放取试件的时间）和检测人员的操作时间（每个试件放取的时间）。"
    "同一台设备按开始时间依次排队：一条记录在申报的结束时间前做不完（之前的试验还占着设备，或本身时长"
    "短于曲线）即预警；同一检测人员在几台设备间依次放取试件也按同样方法计算；一名检测人员一天（北京时间）"
    "申报的检测时段合并后超过上限的，当天使合计超限的记录及其后的记录预警。预警列出设备或人员、申报"
    "时段、需要的时间和之前的占用。",
)
def capacity_exceeded(ctx: RuleContext) -> Iterator[Finding]:
    tests = _tests(ctx)
    late: dict[int, list[str]] = {}
    queues: dict[tuple[str, int, str], list[_Test]] = {}
    for t in tests:
        for asset in t.equipment:
            queues.setdefault(("machine", t.institution_id, asset), []).append(t)
        for key, _name in t.people:
            queues.setdefault(("person", t.institution_id, key), []).append(t)
    labels = {(t.institution_id, key): name for t in tests for key, name in t.people}
    for (kind, inst, key), queue in queues.items():
        who = f"设备 {key}" if kind == "machine" else f"检测人员 {labels[(inst, key)]}"
        _judge_queue(ctx, kind, who, queue, late)
    _long_days(ctx, tests, labels, late)
    by_id = {t.id: t for t in tests}
    for record_id, problems in late.items():
        if ctx.row_ids is not None and record_id not in ctx.row_ids:
            continue  # read for the queues only: judged on its own write, and by the sweep
        t = by_id[record_id]
        facts: dict[str, Any] = {
            "申报时段": window_text(t.started_at, t.ended_at),
            "试件数": t.specimens,
            "力值曲线总时长": _minutes(t.curve_seconds),
            "做不完的原因": problems,
        }
        yield Finding(
            key=f"record:{t.id}",
            subject_type="test_record",
            subject_id=str(t.id),
            subject_repr=f"原始记录 {t.number}",
            subject_number=t.number,
            institution_id=t.institution_id,
            region_code=t.region_code,
            project_id=t.project_id,
            facts=facts,
        )
