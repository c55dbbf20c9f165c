"""Fraud that no single rule of the standards names, found in the pattern of many records:

- ``results_above_line``: a lab's results of one kind of test that pile up just above the line
  they must pass (the design grade of concrete, a rebar grade's yield minimum, a cement grade's
  strengths) and are missing just below it, beyond what the lab's own distribution and its
  peers' predict: failing results nudged over the line;
- ``clash_across_institutions``: one inspector (the same ID number registered with two
  institutions) or one machine (the same calibration certificate registered by two
  institutions) named in tests of two institutions at the same time.

Each alert carries its evidence; the false-alarm rate of the statistical one on clean simulated
labs is measured by ``bench/fraud.py`` (docs/testing.md).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, Rows, RuleContext, rule
from jcjg.core.masking import mask_id_number
from jcjg.core.text import chance
from jcjg.core.workdays import BEIJING, beijing_date
from jcjg.registry.models import Equipment, Person
from jcjg.tenancy.models import Institution
from jcjg.testing import judgement
from jcjg.testing.analysis import window_text
from jcjg.testing.choices import TestKind
from jcjg.testing.models import TestRecord
from jcjg.testing.overlaps import Bookings, clashing, listed
from jcjg.testing.rules import record_finding, records_loading

# --- results_above_line -------------------------------------------------------------------------

JUDGED_KINDS = (
    TestKind.CONCRETE_COMPRESSION.value,
    TestKind.REBAR_TENSILE.value,
    TestKind.MORTAR_STRENGTH.value,
    TestKind.MASONRY_MORTAR.value,
    TestKind.REBAR_SPLICE.value,
    TestKind.BRICK_COMPRESSION.value,
    TestKind.BLOCK_COMPRESSION.value,
    TestKind.ROCK_COMPRESSION.value,
)
# kinds whose recomputation states the margin itself, and under which key
STATED_MARGIN = {
    TestKind.CONCRETE_COMPRESSION.value: "percent_of_design",
    TestKind.MASONRY_MORTAR.value: "percent_of_design",
    TestKind.ROCK_COMPRESSION.value: "percent_of_design",
    TestKind.REBAR_SPLICE.value: "percent_of_standard",
    TestKind.BRICK_COMPRESSION.value: "percent_of_standard",
    TestKind.BLOCK_COMPRESSION.value: "percent_of_standard",
}


def margin(kind: str, grade: str, age_days: int | None, recomputed: dict[str, Any]) -> float | None:
    """A group's result as a percentage of the line it must pass (100: exactly on it), from
    the platform's recomputation; None when there is no line (void group, unknown grade).
    Concrete: the representative strength over the design grade; rebar: the weakest bar's
    lower yield strength over the grade's minimum; cement: the lesser of compressive and
    flexural strength over the grade's minimums at its age; bricks and blocks: the lesser of
    their two criteria over the grade's minimums; rock: the standard value over the design
    value."""
    values = recomputed.get("values") or {}
    if recomputed.get("void"):
        return None
    if kind in STATED_MARGIN:
        found = values.get(STATED_MARGIN[kind])
        return float(found) if isinstance(found, int | float) else None
    if kind == TestKind.REBAR_TENSILE.value:
        spec = judgement.REBAR_GRADES.get(grade.strip().upper())
        yields = [float(v) for k, v in values.items() if k.endswith(".yield_mpa") and v]
        if spec is None or not yields:
            return None
        return min(yields) / spec.yield_min * 100
    if kind == TestKind.MORTAR_STRENGTH.value:
        key = grade.strip().split()[-1].upper() if grade.strip() else ""
        minimum = judgement.CEMENT_GRADES.get(key, {}).get(age_days or 0)
        compressive, flexural = values.get("compressive_mpa"), values.get("flexural_mpa")
        if minimum is None or not compressive or not flexural:
            return None
        return min(float(compressive) / minimum[0], float(flexural) / minimum[1]) * 100
    return None


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in logarithms."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    total = 0.0
    for i in range(k, n + 1):
        log = (
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
            + i * math.log(p) + (n - i) * math.log1p(-p)
        )  # fmt: skip
        total += math.exp(log)
    return min(total, 1.0)


def wilson_upper(successes: int, trials: int, z: float = 1.96) -> float:
    """The upper end of the Wilson score interval of a binomial proportion."""
    if trials <= 0:
        return 1.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return min((centre + spread) / (1 + z * z / trials), 1.0)


def wilson_lower(successes: int, trials: int, z: float = 1.96) -> float:
    """The lower end of the Wilson score interval of a binomial proportion."""
    if trials <= 0:
        return 0.0
    return 1.0 - wilson_upper(trials - successes, trials, z)


def binomial_head(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed exactly in logarithms (small values kept)."""
    if k >= n or p <= 0:
        return 1.0
    if k < 0:
        return 0.0
    if p >= 1:
        return 0.0
    total = 0.0
    for i in range(k + 1):
        log = (
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
            + i * math.log(p) + (n - i) * math.log1p(-p)
        )  # fmt: skip
        total += math.exp(log)
    return min(total, 1.0)


@dataclass(frozen=True)
class Vanished:
    """A lab's failures in the window against its own earlier rate and its peers' rate."""

    groups: int
    failures: int
    history_groups: int
    history_failures: int
    peer_groups: int
    peer_failures: int
    expected_rate: float  # the lower of the two rates' lower 95 % bounds
    probability: float  # of ``failures`` or fewer by chance at that rate


def failures_vanished(
    own: Sequence[float],
    history: Sequence[float],
    peers: tuple[int, int],
    *,
    min_history: int = 60,
    min_peers: int = 200,
) -> Vanished | None:
    """How unlikely so few failures are in the window (``own``), when the lab's own months
    before it (``history``) and the peers in the window (``peers``: their groups, failures)
    both failed more often: a lab that begins to move *every* failing result over the line,
    those far below it too, empties both sides below the line and leaves :func:`pile_above`
    nothing to compare; its failures vanish instead. The expected rate is the lower of the two
    rates' lower 95 % bounds, so a lab better than its past or than its peers is not accused
    for that alone; None when either has too few groups to say."""
    peer_groups, peer_failures = peers
    if len(history) < min_history or peer_groups < min_peers:
        return None
    history_failures = sum(1 for m in history if m < 100)
    failures = sum(1 for m in own if m < 100)
    rate = min(
        wilson_lower(history_failures, len(history)), wilson_lower(peer_failures, peer_groups)
    )
    return Vanished(
        len(own), failures, len(history), history_failures, peer_groups, peer_failures, rate,
        binomial_head(failures, len(own), rate),
    )  # fmt: skip


@dataclass(frozen=True)
class Pile:
    """What the margins of a lab's groups in one window show around the line."""

    groups: int  # all groups judged in the window
    above: int  # within ``band`` % above the line
    below: int  # within ``band`` % below it
    side_low: int  # in the band's width below that, and above it: the shape near the line
    side_high: int
    expected_share: float  # of the band's groups above the line, as predicted
    own_share: float | None  # as the lab's own results beside the band predict (None: too few)
    peer_share: float | None  # as the peers' results show (None: too few)
    probability: float  # of at least ``above`` of ``above + below`` by chance

    @property
    def band_groups(self) -> int:
        return self.above + self.below


def near_line(margins: Iterable[float], band: float) -> tuple[int, int, int, int]:
    """Groups in [100-2b, 100-b), [100-b, 100), [100, 100+b), [100+b, 100+2b)."""
    out = [0, 0, 0, 0]
    for m in margins:
        slot = math.floor((m - 100) / band) + 2
        if 0 <= slot < 4:
            out[slot] += 1
    return out[0], out[1], out[2], out[3]


def pile_above(
    own: Sequence[float],
    peers: tuple[int, int],
    *,
    band: float,
    min_side: int = 10,
    min_peers: int = 30,
) -> Pile:
    """How unlikely the lab's split of its groups near the line is (``band`` % either side),
    against the share above the line that the lab's own results *beside* the band predict.

    Nudged results leave the band's neighbours alone: a group moved from 97 % to 101 % changes
    the counts just below and just above the line, not those a band further out. Where the
    density's logarithm is smooth (a quadratic: a normal, and near enough any unimodal shape
    over a few percent), the ratio of the counts above to below the line is the cube root of
    the ratio of the neighbours' counts (their centres are three times as far apart). That
    ratio is taken at the upper end of its 95 % Wilson interval (the benefit of the doubt
    goes to the lab); when the neighbours hold fewer than ``min_side`` groups the peers' own
    split near the line stands in (``peers``: their groups in the band below and above)."""
    side_low, below, above, side_high = near_line(own, band)
    own_share = None
    if side_low + side_high >= min_side:
        upper = wilson_upper(side_high, side_low + side_high)
        ratio = upper / (1 - upper) if upper < 1 else math.inf
        own_share = 1.0 if math.isinf(ratio) else ratio ** (1 / 3) / (1 + ratio ** (1 / 3))
    peer_share = None
    peer_below, peer_above = peers
    if peer_above + peer_below >= min_peers:
        peer_share = wilson_upper(peer_above, peer_above + peer_below)
    expected = own_share if own_share is not None else peer_share
    if expected is None:
        expected = 1.0
    probability = binomial_tail(above, above + below, expected)
    return Pile(
        len(own), above, below, side_low, side_high, expected, own_share, peer_share,
        probability,
    )  # fmt: skip


def _month(at: dt.datetime) -> tuple[int, int]:
    local = at.astimezone(BEIJING)
    return local.year, local.month


def _months_back(now: dt.datetime, months: int) -> dt.datetime:
    """The start (Beijing midnight, the 1st) of the month ``months - 1`` before ``now``'s."""
    year, month = _month(now)
    index = year * 12 + (month - 1) - (months - 1)
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=BEIJING)


def _bands(margins: Iterable[float], band: float) -> list[str]:
    """The groups near the line, 1 % by 1 %: ``99%～100%：3 组``."""
    counts: dict[int, int] = {}
    for m in margins:
        if 100 - band <= m < 100 + band:
            counts[math.floor(m)] = counts.get(math.floor(m), 0) + 1
    return [
        f"{p}%～{p + 1}%：{counts.get(p, 0)} 组" for p in range(int(100 - band), int(100 + band))
    ]


@rule(
    "results_above_line",
    title="检测结果异常集中在合格线以上",
    clause="jz57 第二十二条；000 7.2.2；002 第十七条（一）（二）；001 4.1.7",
    severity=Severity.WARNING,
    subject_type="institution",
    defaults={
        "months": 6,
        "band_percent": 5,
        "min_band_groups": 8,
        "max_probability": 0.01,
        "history_months": 12,
    },
    labels={
        "months": "统计的月数",
        "history_months": "与此前多少个月的不合格率比较",
        "band_percent": "合格线上下的区间（%）",
        "min_band_groups": "区间内最少组数",
        "max_probability": "偶然出现的概率上限",
        "figure": "本机构统计期内的复算结果，按与合格线之比每 1% 一格计组数（橙：线下，蓝：线上）。"
        "真实的结果在合格线两侧连续变化；线下一侧缺了、线上一侧多出来的，是被改成刚好合格的结果。",
    },
    triggers=(),
    description="按检测机构和检测类别（混凝土、砂浆立方体、砌墙砖、混凝土砌块、岩石抗压，钢筋及其接头"
    "拉伸，水泥胶砂），统计近几个月平台复算结果与合格线之比：合格线以上一个区间内的组数远多于以下同样"
    "区间内的组数，超出该机构自己在这两个区间之外（再往下、再往上一个区间）的结果所预期的比例"
    "（该比例取置信上限；结果太少时用同省其他机构的比例），偶然出现的概率低于上限（二项分布）："
    "差一点不合格的结果被改成了刚好合格。或者：统计期内不合格的组数远少于该机构此前一年的不合格率和"
    "同省其他机构同期的不合格率（均取置信下限，取两者中较低者）所预期的，偶然出现的概率低于上限："
    "所有不合格结果（包括离合格线较远的）都被改成了刚好合格。每日全量核查时判断，预警列出各区间和"
    "各 1% 的组数、预期比例、不合格率、概率，并画出合格线附近的分布。",
)
def results_above_line(ctx: RuleContext) -> Iterator[Finding]:
    limits0 = ctx.thresholds(None)
    months = min(max(int(limits0["months"]), 1), 120)
    since = _months_back(ctx.now, months)
    # the window and the history are the platform's (a lab and its peers over the same
    # months), not a region's
    history = min(max(int(limits0["history_months"]), 0), 60)
    history_since = _months_back(ctx.now, months + history)
    stmt = select(
        TestRecord.institution_id, TestRecord.region_code, TestRecord.kind, TestRecord.grade,
        TestRecord.age_days, TestRecord.recomputed, TestRecord.started_at,
    ).where(
        TestRecord.kind.in_(JUDGED_KINDS),
        TestRecord.started_at >= history_since,
        TestRecord.started_at <= ctx.now,
    )  # fmt: skip
    # the whole platform's results: the peers of the institutions in the run
    by_lab: dict[tuple[int, str], list[float]] = {}
    before: dict[tuple[int, str], list[float]] = {}  # the lab's months before the window
    regions: dict[int, str] = {}
    for inst, region, kind, grade, age, recomputed, started in ctx.db.execute(stmt):
        found = margin(kind, grade or "", age, recomputed or {})
        if found is not None:
            (by_lab if started >= since else before).setdefault((inst, kind), []).append(found)
            regions[inst] = region
    # each lab's counts near the line, and each province's sums by kind and band: a lab's
    # peers are its province's sums less its own (one pass, not every lab's for every lab)
    counts: dict[tuple[int, str, float], tuple[int, int, int, int]] = {}
    sums: dict[tuple[str, str, float], tuple[int, int, int, int]] = {}

    def counted(inst: int, kind: str, band: float) -> tuple[int, int, int, int]:
        if (inst, kind, band) not in counts:
            theirs = by_lab[(inst, kind)]
            _, low, high, _ = near_line(theirs, band)
            counts[(inst, kind, band)] = (low, high, len(theirs), sum(1 for m in theirs if m < 100))
        return counts[(inst, kind, band)]

    for (inst, kind), own in sorted(by_lab.items()):
        if not ctx.covers(inst):
            continue
        limits = ctx.thresholds(regions[inst])
        band = float(limits["band_percent"])
        province = regions[inst][:2]
        if (province, kind, band) not in sums:
            each = [
                counted(other, kind, band)
                for other, other_kind in by_lab
                if other_kind == kind and regions[other][:2] == province
            ]
            sums[(province, kind, band)] = (
                sum(c[0] for c in each), sum(c[1] for c in each),
                sum(c[2] for c in each), sum(c[3] for c in each),
            )  # fmt: skip
        mine = counted(inst, kind, band)
        peer_below, peer_above, peer_groups, peer_failures = (
            total - part for total, part in zip(sums[(province, kind, band)], mine, strict=True)
        )
        pile = pile_above(own, (peer_below, peer_above), band=band)
        if pile.band_groups < int(limits["min_band_groups"]):
            continue
        vanished = failures_vanished(
            own, before.get((inst, kind), []), (peer_groups, peer_failures)
        )
        most = float(limits["max_probability"])
        if pile.probability >= most and (vanished is None or vanished.probability >= most):
            continue
        institution = ctx.db.get(Institution, inst)
        yield Finding(
            key=f"institution:{inst}:kind:{kind}",
            subject_type="institution",
            subject_id=str(inst),
            subject_repr=f"{institution.name if institution else inst} {TestKind(kind).label}",
            institution_id=inst,
            region_code=regions[inst],
            facts={
                **_pile_facts(pile, own, band, since),
                **_vanished_facts(vanished),
                "figure": f"/testing/institutions/{inst}/near-line?kind={kind}"
                f"&since={since.date().isoformat()}&band={band:g}",
            },
        )


def _pile_facts(
    pile: Pile, own: Sequence[float], band: float, since: dt.datetime
) -> dict[str, Any]:
    def share(value: float | None) -> str:
        return "数据不足" if value is None else f"{value * 100:.0f}%"

    return {
        "统计期": f"{since.date().isoformat()} 起",
        "复算结果组数": pile.groups,
        f"合格线以上 {band:g}% 内的组数": pile.above,
        f"合格线以下 {band:g}% 内的组数": pile.below,
        f"{100 - 2 * band:g}%～{100 - band:g}% 的组数": pile.side_low,
        f"{100 + band:g}%～{100 + 2 * band:g}% 的组数": pile.side_high,
        "线上组数占比": share(pile.above / pile.band_groups if pile.band_groups else None),
        "按本机构结果分布预计的占比": share(pile.own_share),
        "同省其他机构的占比": share(pile.peer_share),
        "偶然出现的概率": chance(pile.probability),
        "合格线附近各区间的组数": _bands(own, band),
    }


def _vanished_facts(vanished: Vanished | None) -> dict[str, Any]:
    if vanished is None:
        return {"不合格率比较": "此前或同省的结果不足，未比较"}

    def rate(failures: int, groups: int) -> str:
        return f"{failures}/{groups}（{failures / groups * 100:.1f}%）" if groups else "—"

    return {
        "统计期内不合格": rate(vanished.failures, vanished.groups),
        "此前的不合格": rate(vanished.history_failures, vanished.history_groups),
        "同省其他机构同期的不合格": rate(vanished.peer_failures, vanished.peer_groups),
        "预计不合格率（置信下限）": f"{vanished.expected_rate * 100:.1f}%",
        "不合格如此之少的概率": chance(vanished.probability),
    }


# --- clash_across_institutions ------------------------------------------------------------------

# what clash_across_institutions reads of a record besides record_finding's
_CLASH = ("started_at", "ended_at", "equipment", "inspector_person_ids")


@rule(
    "clash_across_institutions",
    title="同一检测人员或设备同时出现在两家检测机构的检测中",
    clause="002 第十七条（一）（二）；000 4.1.1 第 5 项；001 4.1.6、4.1.7",
    severity=Severity.CRITICAL,
    subject_type="test_record",
    defaults={"overlap_seconds": 60},
    labels={"overlap_seconds": "允许的重叠（秒）"},
    triggers=(TestRecord, Person, Equipment),
    # the record sent later carries a clash: a record's write judges it against the records
    # sent before it, a person's or an instrument's write its institution's records
    rows=Rows(TestRecord, "record"),
    description="两家检测机构的检测记录时间重叠，而记录中的检测人员是同一个人（两家登记的身份证号"
    "相同），或所用设备是同一台（两家登记的检定/校准证书文件相同）：一人不能同时在两处检测，"
    "一台设备不能同时做两项试验；记录是借用人员或设备编造的。后上传的记录一方预警，列出对方机构的"
    "记录和时段。",
)
def clash_across_institutions(ctx: RuleContext) -> Iterator[Finding]:
    stmt = ctx.narrow(records_loading(*_CLASH), TestRecord.institution_id)
    subjects = [
        r
        for r in ctx.db.scalars(ctx.narrow_rows(stmt, TestRecord.id))
        if r.inspector_person_ids or r.equipment
    ]
    if not subjects:
        return
    insts = sorted({r.institution_id for r in subjects})
    # who and what the run's records name, by identity: ID number, certificate file
    person_ids = sorted({p for r in subjects for p in r.inspector_person_ids})
    persons = {p.id: p for p in ctx.db.scalars(select(Person).where(Person.id.in_(person_ids)))}
    numbers = sorted({p.id_number for p in persons.values() if p.id_number})
    same_people = list(ctx.db.scalars(select(Person).where(Person.id_number.in_(numbers))))
    machines = {
        (e.institution_id, e.asset_number): e
        for e in ctx.db.scalars(select(Equipment).where(Equipment.institution_id.in_(insts)))
        if e.asset_number and e.calibration_certificate_sha256
    }
    digests = sorted({e.calibration_certificate_sha256 or "" for e in machines.values()})
    same_machines = list(
        ctx.db.scalars(
            select(Equipment).where(Equipment.calibration_certificate_sha256.in_(digests))
        )
    )
    twins_of_person = _twins((p.id_number, p.institution_id, p.id) for p in same_people)
    twins_of_machine = _twins(
        (e.calibration_certificate_sha256 or "", e.institution_id, e.asset_number or "")
        for e in same_machines
        if e.asset_number
    )
    if not twins_of_person and not twins_of_machine:
        return
    # each local id (an institution's person or asset number) of a shared identity, with it
    shared: dict[tuple[str, int, Any], tuple[str, str]] = {
        (kind, inst, local): (kind, identity)
        for kind, twins in (("person", twins_of_person), ("machine", twins_of_machine))
        for identity, owners in twins.items()
        for inst, local in owners
    }

    def keys(record: TestRecord) -> list[tuple[str, str]]:
        """The shared identities a record names, as :class:`Bookings` keys."""
        named: list[tuple[str, Any]] = [("person", p) for p in record.inspector_person_ids]
        named += [("machine", a) for a in record.equipment]
        found = {shared.get((kind, record.institution_id, local)) for kind, local in named}
        return sorted(k for k in found if k is not None)

    named = {r.id: identities for r in subjects if (identities := keys(r))}
    subjects = [r for r in subjects if r.id in named]
    if not subjects:
        return
    others = {i for v in (*twins_of_person.values(), *twins_of_machine.values()) for i, _ in v}
    earliest = min(r.started_at for r in subjects) - dt.timedelta(days=1)
    latest = max(r.ended_at for r in subjects) + dt.timedelta(days=1)
    pool = ctx.db.scalars(
        records_loading(*_CLASH).where(
            TestRecord.institution_id.in_(sorted(others)),
            TestRecord.ended_at >= earliest,
            TestRecord.started_at <= latest,
        )
    )
    bookings = Bookings((key, r) for r in pool for key in keys(r))
    names = dict(
        ctx.db.execute(
            select(Institution.id, Institution.name).where(Institution.id.in_(others))
        ).all()
    )
    for record in subjects:
        allowed = dt.timedelta(seconds=float(ctx.thresholds(record.region_code)["overlap_seconds"]))
        found, complete = clashing(
            bookings,
            record,
            named[record.id],
            allowed,
            _elsewhere(record.institution_id),
        )
        clashes: list[str] = []
        for _, (other, identities) in sorted(found.items()):
            where = f"{names.get(other.institution_id, '')}的原始记录 {other.number}"
            when = window_text(other.started_at, other.ended_at)
            clashes.extend(
                f"检测人员 {person.name}（身份证号 {mask_id_number(person.id_number)}）"
                f"同时出现在{where}（{when}）"
                for person in (persons[p] for p in record.inspector_person_ids if p in persons)
                if ("person", person.id_number) in identities
            )
            for asset in record.equipment:
                machine = machines.get((record.institution_id, asset))
                digest = (machine.calibration_certificate_sha256 or "") if machine else ""
                theirs = _theirs(twins_of_machine, digest, other.institution_id) & set(
                    other.equipment
                )
                if ("machine", digest) in identities and theirs:
                    clashes.append(
                        f"设备 {asset}（与对方设备 {'、'.join(sorted(theirs))} 的检定/校准证书"
                        f"相同，证书文件 {digest[:12]}）同时用于{where}（{when}）"
                    )
        if clashes:
            yield record_finding(
                f"record:{record.id}",
                record,
                {
                    "本记录的时段": window_text(record.started_at, record.ended_at),
                    "冲突": listed(clashes, complete),
                    "试验日期": beijing_date(record.started_at).isoformat(),
                },
            )


def _elsewhere(inst: int) -> Callable[[tuple[str, str], TestRecord], bool]:
    """Whether a record booked on an identity is another institution's than ``inst``."""
    return lambda _, other: other.institution_id != inst


def _theirs(twins: dict[str, set[tuple[int, Any]]], identity: str, inst: int) -> set[Any]:
    """The local ids (person ids, asset numbers) ``inst`` registered ``identity`` under."""
    return {local for owner, local in twins.get(identity, set()) if owner == inst}


def _twins(rows: Iterable[tuple[str, int, Any]]) -> dict[str, set[tuple[int, Any]]]:
    """(identity, institution, local id) grouped by identity: an identity with more than one
    institution is shared."""
    out: dict[str, set[tuple[int, Any]]] = {}
    for identity, inst, local in rows:
        if identity:
            out.setdefault(identity, set()).add((inst, local))
    return {k: v for k, v in out.items() if len({i for i, _ in v}) > 1}
