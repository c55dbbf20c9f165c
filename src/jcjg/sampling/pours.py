"""Concrete pours and the specimen sets they need (003 I(2)), the site's standard curing room
and its cube molds (003 I(3)).

The site's sampler records each pour on the phone (part, grade, impermeability grade, volume,
start and end, whether the bottom forms come off by strength); each concrete sample registered
on site names its pour and how it is cured. From the pour the platform knows how many groups of
each curing kind the standards ask for:

- standard curing (GB 50204-2015 7.4.1): one group per 100 m³ (and per 100 batches), at least
  one per working shift; a continuous pour over 1,000 m³ one per 200 m³;
- same-condition curing for the structure's strength (GB 50204-2015 C.0.1): one group per
  2,000 m³ (the floors' and the grade's minimums are the project's, judged by the station);
- form removal (GB 50666-2011 4.5.2): one same-condition group when the bottom forms come off
  by strength (slabs, beams);
- impermeability (GB 50208-2011《地下防水工程质量验收规范》): a group of six per 500 m³ of
  waterproof concrete poured continuously.

Rules: ``specimen_sets_short`` (a pour's sets short of these, a day after it ended),
``site_curing_missing`` (standard-cured specimens on a project with no curing room recorded),
``molds_short`` (more specimens cast within a day than the site has molds: cubes stay in their
molds at least a day, GB/T 50081-2019 5.2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import (
    Finding,
    RuleContext,
    load_overrides,
    resolve_thresholds,
    rule,
    rule_of,
)
from jcjg.auth.scopes import Principal
from jcjg.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from jcjg.core.forms import MAX_ID
from jcjg.core.workdays import BEIJING, beijing_minute
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import canonical_json
from jcjg.projects import service as projects
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import Project
from jcjg.sampling.choices import Curing
from jcjg.sampling.models import ConcretePour, Sample

GRADE = re.compile(r"C(1[05]|[2-9][05]|100)")  # C10 ... C100
IMPERMEABILITY = re.compile(r"P(4|6|8|10|12)")
MAX_VOLUME_M3 = 100_000.0
MAX_POUR_HOURS = 7 * 24
MAX_POUR_AGE = dt.timedelta(days=30)  # a pour ended longer ago is not recorded any more
CAST_SLACK = dt.timedelta(hours=1)  # specimens cast from a pour: within its time, give or take
# a sample counts toward its pour's sets once witnessed, unless the lab refused it
WITNESSED = ("sealed", "delivered", "received", "testing", "tested")
# what specimens are cast from (the materials that take a curing kind)
CAST_MATERIALS = ("混凝土", "砂浆")
CUBE_CURINGS = (Curing.STANDARD.value, Curing.SAME_CONDITION.value, Curing.FORM_REMOVAL.value)


# --- what a pour needs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """The groups one curing kind needs for a pour, and why."""

    curing: Curing
    groups: int
    basis: str


def needs(pour: ConcretePour, shift_hours: float = 8.0) -> list[Need]:
    """The groups of each curing kind ``pour`` needs (kinds it needs none of left out)."""
    volume = pour.volume_m3
    hours = max((pour.ended_at - pour.started_at).total_seconds() / 3600, 0.0)
    shifts = max(1, math.ceil(hours / max(shift_hours, 1.0) - 1e-9))
    if volume > 1000:
        by_volume, basis = math.ceil(volume / 200), "连续浇筑超过 1000 m³，每 200 m³ 一组"
    else:
        by_volume, basis = max(1, math.ceil(volume / 100 - 1e-9)), "每 100 m³ 一组"
    found = [Need(Curing.STANDARD, max(by_volume, shifts),
                  f"{basis}；每工作班至少一组（{shifts} 个工作班）")]  # fmt: skip
    if volume >= 2000:
        found.append(Need(Curing.SAME_CONDITION, int(volume // 2000), "每 2000 m³ 一组"))
    if pour.bottom_forms:
        found.append(Need(Curing.FORM_REMOVAL, 1, "底模按同条件试件强度拆除"))
    if pour.impermeability:
        found.append(
            Need(Curing.IMPERMEABILITY, max(1, math.ceil(volume / 500 - 1e-9)),
                 "每 500 m³ 一组（每组 6 个）")
        )  # fmt: skip
    return found


def groups_of(samples: Sequence[Sample]) -> dict[str, int]:
    """Groups per curing kind among ``samples``: a witnessed sample (sealed, and not refused at
    the lab) of a whole group or more is one group (one tag, one seal, one group; a sample of
    4 cubes is one group, of 2 none)."""
    counted: dict[str, int] = {}
    for sample in samples:
        if sample.curing not in Curing.__members__.values() or sample.status not in WITNESSED:
            continue
        if sample.specimen_count >= Curing(sample.curing).group_size:
            counted[sample.curing] = counted.get(sample.curing, 0) + 1
    return counted


def shortfall(
    pour: ConcretePour, samples: Sequence[Sample], shift_hours: float = 8.0
) -> list[dict[str, Any]]:
    """One row per curing kind the pour needs: needed, found, short (0: enough)."""
    found = groups_of(samples)
    return [
        {
            "curing": need.curing.value,
            "label": need.curing.label,
            "needed": need.groups,
            "found": found.get(need.curing.value, 0),
            "short": max(0, need.groups - found.get(need.curing.value, 0)),
            "basis": need.basis,
        }
        for need in needs(pour, shift_hours)
    ]


def shift_hours(db: Session, region_code: str) -> float:
    """The working shift ``specimen_sets_short`` counts in ``region_code``."""
    found = rule_of("specimen_sets_short")
    if found is None:
        return 8.0
    limits = resolve_thresholds(found, load_overrides(db, found.id), region_code)
    return float(limits["shift_hours"])


def pour_samples(db: Session, pour_ids: Sequence[int]) -> dict[int, list[Sample]]:
    by_pour: dict[int, list[Sample]] = {i: [] for i in pour_ids}
    if pour_ids:
        for sample in db.scalars(
            select(Sample).where(Sample.pour_id.in_(list(pour_ids))).order_by(Sample.id)
        ):
            by_pour[sample.pour_id or 0].append(sample)
    return by_pour


def pour_title(pour: ConcretePour) -> str:
    day = pour.started_at.astimezone(BEIJING).strftime("%Y-%m-%d")
    grade = pour.grade + pour.impermeability
    return f"{day} {pour.structure_part} {grade} {pour.volume_m3:g} m³"


# --- recording a pour --------------------------------------------------------------------------


@dataclass
class PourForm:
    structure_part: str
    grade: str
    impermeability: str = ""
    volume_m3: float | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    bottom_forms: bool = False


def _check(form: PourForm, now: dt.datetime) -> list[FieldError]:
    errors: list[FieldError] = []
    part = form.structure_part.strip()
    if not part:
        errors.append(FieldError("part", "请填写浇筑部位", "missing"))
    elif len(part) > 200:
        errors.append(FieldError("part", "浇筑部位不超过 200 个字符"))
    if not GRADE.fullmatch(form.grade.strip().upper()):
        errors.append(FieldError("grade", "强度等级应为 C10 至 C100，如 C30"))
    if form.impermeability and not IMPERMEABILITY.fullmatch(form.impermeability.strip().upper()):
        errors.append(FieldError("impermeability", "抗渗等级应为 P4、P6、P8、P10 或 P12"))
    volume = form.volume_m3
    if volume is None or not math.isfinite(volume) or not 0.1 <= volume <= MAX_VOLUME_M3:
        errors.append(FieldError("volume_m3", "浇筑方量应为 0.1 至 100000 立方米"))
    errors.extend(_check_times(form.started_at, form.ended_at, now))
    return errors


def _check_times(
    started: dt.datetime | None, ended: dt.datetime | None, now: dt.datetime
) -> list[FieldError]:
    if started is None or ended is None:
        return [
            FieldError(name, "请填写浇筑开始和结束时间", "missing")
            for name, value in (("started_at", started), ("ended_at", ended))
            if value is None
        ]
    if ended < started:
        return [FieldError("ended_at", "结束时间不能早于开始时间")]
    if ended > now + dt.timedelta(hours=12):
        return [FieldError("ended_at", "结束时间不能晚于 12 小时之后")]
    if (ended - started).total_seconds() > MAX_POUR_HOURS * 3600:
        return [FieldError("ended_at", "一次浇筑不超过 7 天；更长的请分次登记")]
    if now - ended > MAX_POUR_AGE:
        return [FieldError("ended_at", "30 天前结束的浇筑不能再登记")]
    return []


def record_pour(
    *, db: Session, principal: Principal, project_id: int, form: PourForm, now: dt.datetime
) -> ConcretePour:
    """The project's sampler records a pour (it is pouring or about to)."""
    principal.require("sample:register")
    projects.require_project_member(principal, project_id)
    project = db.get(Project, project_id)
    if project is None:
        raise NotFound()
    member = projects.active_member(
        db, project_id=project.id, user_id=principal.user_id or 0, role=MemberRole.SAMPLER,
        day=now.date(),
    )  # fmt: skip
    if member is None:
        raise PermissionDenied("您不是该工程项目当前登记的取样人员")
    errors = _check(form, now)
    if errors:
        raise ValidationFailed(errors=errors)
    assert form.started_at is not None
    assert form.ended_at is not None
    assert form.volume_m3 is not None
    pour = ConcretePour(
        project_id=project.id,
        region_code=project.region_code,
        structure_part=form.structure_part.strip(),
        grade=form.grade.strip().upper(),
        impermeability=form.impermeability.strip().upper(),
        volume_m3=round(form.volume_m3, 1),
        started_at=form.started_at,
        ended_at=form.ended_at,
        bottom_forms=form.bottom_forms,
        recorded_by=principal.user_id,
    )
    db.add(pour)
    db.flush()
    ledger.notarise(db, POUR_RECORD, pour_entry(db, pour))  # a parent keeps it from the leaf
    return pour


# --- the log: a pour recorded here is a fact a parent platform keeps (sampling.facts) ----------

POUR_RECORD = "concrete_pour:register"


def pour_particulars(pour: ConcretePour) -> dict[str, Any]:
    """What was poured, where and when (what ``sha256`` in its entry covers; the recorder, a
    person, is not part of it)."""
    return {
        "structure_part": pour.structure_part, "grade": pour.grade,
        "impermeability": pour.impermeability, "volume_m3": pour.volume_m3,
        "started_at": _utc(pour.started_at), "ended_at": _utc(pour.ended_at),
        "bottom_forms": pour.bottom_forms,
    }  # fmt: skip


def particulars_digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(fields))).hexdigest()


def pour_entry(db: Session, pour: ConcretePour) -> dict[str, Any]:
    """The project's code, the pour's id here and the SHA-256 of its particulars (RFC 8785
    JSON), which travel beside the leaf to the parent."""
    project = db.get(Project, pour.project_id)
    assert project is not None  # the pour's foreign key
    return {
        "project_code": project.code, "pour_id": pour.id,
        "sha256": particulars_digest(pour_particulars(pour)),
    }  # fmt: skip


def _utc(moment: dt.datetime) -> str:
    if moment.tzinfo is None:  # SQLite gives it back naive: it is UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat()


def pour_for_sample(
    db: Session, project_id: int, pour_id: int | None, prepared_at: dt.datetime | None
) -> ConcretePour | None:
    """The pour a sample names: the project's, and one its specimens were cast during (an
    hour's slack either side)."""
    if pour_id is None:
        return None
    pour = db.get(ConcretePour, pour_id) if 0 < pour_id <= MAX_ID else None
    if pour is None or pour.project_id != project_id:
        raise ValidationFailed(errors=[FieldError("pour_id", "请选择本项目登记的浇筑")])
    if prepared_at is not None and not (
        pour.started_at - CAST_SLACK <= prepared_at <= pour.ended_at + CAST_SLACK
    ):
        raise ValidationFailed(
            errors=[FieldError("pour_id", "制样时间不在这次浇筑的时间内（前后各 1 小时）")]
        )
    return pour


def check_curing(curing: str, material: str, pour: ConcretePour | None) -> None:
    """A curing kind is one of :class:`Curing`, for cast specimens (concrete, mortar) only, and
    required of specimens cast from a pour."""
    if curing and curing not in Curing.__members__.values():
        raise ValidationFailed(errors=[FieldError("curing", "请选择养护方式")])
    if curing and not any(word in material for word in CAST_MATERIALS):
        raise ValidationFailed(errors=[FieldError("curing", "只有混凝土、砂浆试件填写养护方式")])
    if pour is not None and not curing:
        raise ValidationFailed(
            errors=[FieldError("curing", "从浇筑取样的试件请选择养护方式", "missing")]
        )


def recent_pours(db: Session, project_id: int, limit: int = 20) -> Sequence[ConcretePour]:
    return db.scalars(
        select(ConcretePour)
        .where(ConcretePour.project_id == project_id)
        .order_by(ConcretePour.started_at.desc(), ConcretePour.id.desc())
        .limit(limit)
    ).all()


# --- rules -------------------------------------------------------------------------------------


def _project_finding(key: str, project: Project, facts: dict[str, Any]) -> Finding:
    return Finding(
        key=key,
        subject_type="project",
        subject_id=str(project.id),
        subject_repr=f"工程项目 {project.name}",
        subject_number=project.code,
        institution_id=None,
        region_code=project.region_code,
        project_id=project.id,
        facts=facts,
    )


@rule(
    "specimen_sets_short",
    title="混凝土试件留置组数不足",
    clause="003 一（二）；GB 50204-2015 第 7.4.1 条、附录 C；GB 50666-2011 第 4.5.2 条；"
    "GB 50208-2011《地下防水工程质量验收规范》",
    severity=Severity.WARNING,
    subject_type="concrete_pour",
    defaults={"after_hours": 24, "shift_hours": 8, "days": 180},
    labels={
        "after_hours": "浇筑结束后多久判定（小时）",
        "shift_hours": "一个工作班（小时）",
        "days": "判定最近多少天内结束的浇筑",
        "浇筑": "浇筑",
        "留置": "试件留置",
    },
    triggers=(ConcretePour, Sample),
    scope="project",
    description="施工现场登记的一次混凝土浇筑结束一天后，从这次浇筑取样登记的标准养护、同条件养护、"
    "拆模、抗渗试件的组数少于规范按方量、工作班、底模拆除和抗渗等级要求的组数（每 100 m³ 一组标养，"
    "超过 1000 m³ 每 200 m³ 一组；每个工作班至少一组；每 2000 m³ 一组同条件；底模按强度拆除的一组"
    "拆模试件；抗渗混凝土每 500 m³ 一组 6 个）。",
)
def specimen_sets_short(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(ConcretePour).where(
        ConcretePour.ended_at >= ctx.now - dt.timedelta(days=366 * 2),
    )  # a child platform's pours too: its samples name them (sampling.facts)
    pours = list(ctx.db.scalars(ctx.narrow_projects(stmt, ConcretePour.project_id)))
    samples = pour_samples(ctx.db, [p.id for p in pours])
    for pour in pours:
        limits = ctx.thresholds(pour.region_code)
        judged_from = pour.ended_at + dt.timedelta(hours=float(limits["after_hours"]))
        if judged_from > ctx.now or ctx.now - pour.ended_at > dt.timedelta(
            days=float(limits["days"])
        ):
            continue
        rows = shortfall(pour, samples[pour.id], float(limits["shift_hours"]))
        short = [r for r in rows if r["short"]]
        if not short:
            continue
        yield Finding(
            key=f"pour:{pour.id}",
            subject_type="concrete_pour",
            subject_id=str(pour.id),
            subject_repr=f"混凝土浇筑 {pour_title(pour)}",
            institution_id=None,
            region_code=pour.region_code,
            project_id=pour.project_id,
            facts={
                "浇筑": f"{pour.structure_part}，{pour.grade}{pour.impermeability}，"
                f"{pour.volume_m3:g} m³，{beijing_minute(pour.started_at)} 至 "
                f"{beijing_minute(pour.ended_at)}",
                "留置": [
                    f"{r['label']}：应留置 {r['needed']} 组，实有 {r['found']} 组（{r['basis']}）"
                    for r in rows
                ],
                "不足": [f"{r['label']}少 {r['short']} 组" for r in short],
                "样品": [s.sample_code for s in samples[pour.id]] or "无",
            },
        )


@rule(
    "site_curing_missing",
    title="施工现场未设置标准养护室",
    clause="jz57 第十九条；003 一（三）",
    severity=Severity.WARNING,
    subject_type="project",
    triggers=(Sample, Project, ConcretePour),
    scope="project",
    description="工程项目有标准养护（含抗渗）试件或登记了混凝土浇筑，而项目信息中没有施工现场标准养护室："
    "标准养护试件须在现场的标准养护设施中养护，不得送至现场外养护。",
)
def site_curing_missing(ctx: RuleContext) -> Iterator[Finding]:
    cured = (Curing.STANDARD.value, Curing.IMPERMEABILITY.value)
    stmt = select(Project).where(Project.curing_room == "")
    bare = {p.id: p for p in ctx.db.scalars(ctx.narrow_projects(stmt, Project.id))}
    if not bare:
        return
    first: dict[int, Sample] = {}
    for sample in ctx.db.scalars(
        select(Sample)
        .where(Sample.project_id.in_(sorted(bare)), Sample.curing.in_(cured))
        .where(Sample.origin.is_(None))  # a child platform's samples: its own rules
        .order_by(Sample.prepared_at)
    ):
        first.setdefault(sample.project_id, sample)
    poured = dict(
        ctx.db.execute(
            select(ConcretePour.project_id, ConcretePour.id)
            .where(ConcretePour.project_id.in_(sorted(bare)), ConcretePour.origin.is_(None))
            .order_by(ConcretePour.started_at.desc())
        ).all()
    )
    for project_id in sorted(set(first) | set(poured)):
        project = bare[project_id]
        facts: dict[str, Any] = {"标准养护室": "未登记"}
        if project_id in first:
            sample = first[project_id]
            facts["最早的标准养护试件"] = (
                f"{sample.sample_code}（制样 {beijing_minute(sample.prepared_at)}）"
            )
        if project_id in poured:
            facts["已登记浇筑"] = "是"
        yield _project_finding(f"project:{project_id}", project, facts)


@rule(
    "molds_short",
    title="现场试模数量与制样数量不匹配",
    clause="003 一（二）（制样模具与样品数量须匹配）；GB/T 50081-2019 第 5.2 条",
    severity=Severity.WARNING,
    subject_type="project",
    defaults={"mold_hours": 24},
    labels={"mold_hours": "试件带模养护时间（小时）", "cube_molds": "申报的试模数量"},
    triggers=(Sample, Project),
    scope="project",
    description="工程项目申报了现场混凝土试模数量，而在试件带模养护的时间（默认 24 小时）内制作的"
    "混凝土试件多于试模数量：试件不可能都在现场制作，可能由他人代做。",
)
def molds_short(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(Project).where(Project.cube_molds > 0)
    declared = {p.id: p for p in ctx.db.scalars(ctx.narrow_projects(stmt, Project.id))}
    if not declared:
        return
    by_project: dict[int, list[Sample]] = {}
    for sample in ctx.db.scalars(
        select(Sample)
        .where(Sample.project_id.in_(sorted(declared)), Sample.curing.in_(CUBE_CURINGS))
        .where(Sample.origin.is_(None))
        .order_by(Sample.prepared_at, Sample.id)
    ):
        if "混凝土" in sample.material:  # cube molds: not mortar's, not impermeability cones
            by_project.setdefault(sample.project_id, []).append(sample)
    for project_id, samples in by_project.items():
        project = declared[project_id]
        hours = max(float(ctx.thresholds(project.region_code)["mold_hours"]), 1 / 60)
        worst = _busiest(samples, dt.timedelta(hours=hours))
        count = sum(s.specimen_count for s in worst)
        if count > project.cube_molds:
            yield _project_finding(
                f"project:{project_id}",
                project,
                {
                    "cube_molds": project.cube_molds,
                    "同时带模的试件": count,
                    "制样时间": f"{beijing_minute(worst[0].prepared_at)} 至 "
                    f"{beijing_minute(worst[-1].prepared_at)}",
                    "样品": [f"{s.sample_code}（{s.specimen_count} 个）" for s in worst],
                },
            )


def _busiest(samples: list[Sample], span: dt.timedelta) -> list[Sample]:
    """The samples (sorted by cast) of the window of length ``span`` holding most specimens."""
    best: list[Sample] = []
    best_count, start, running = -1, 0, 0
    for end, sample in enumerate(samples):
        running += sample.specimen_count
        while start < end and samples[end].prepared_at - samples[start].prepared_at >= span:
            running -= samples[start].specimen_count
            start += 1
        if running > best_count:
            best_count, best = running, samples[start : end + 1]
    return best
