"""Rules on the witnessed-sampling chain (000 4.3.4 items 1-2; 001 7.1.2; 002 14, 17(6);
003 I(4)-(6), IV(3)). Thresholds are data per region; each rule has a case that fires and one
that does not in tests/sampling/test_rules.py."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, Rows, RuleContext, rule
from jcjg.auth.models import User
from jcjg.core.workdays import beijing_date, working_days_between
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import Project, ProjectMember
from jcjg.sampling.choices import IdentityResult, SampleStatus
from jcjg.sampling.models import (
    Commission,
    CommissionSample,
    IdentityCheck,
    Sample,
    SampleReceipt,
    SampleSeal,
)
from jcjg.sampling.service import verify_seal


def _sample_finding(
    key: str, sample: Sample, facts: dict[str, object], subject: str | None = None
) -> Finding:
    return Finding(
        key=key,
        subject_type="sample",
        subject_id=sample.sample_code,
        subject_repr=subject or f"样品 {sample.sample_code}（{sample.material}）",
        subject_number=sample.sample_code,
        institution_id=sample.institution_id,
        region_code=sample.region_code,
        project_id=sample.project_id,
        facts=facts,
    )


@rule(
    "untagged_sample",
    title="送检样品无平台唯一性标识",
    clause="000 4.3.4 第 1 项；002 第十四条、第十七条（六）；003 一（四）、四（一）",
    severity=Severity.CRITICAL,
    subject_type="commission",
    triggers=(Commission,),
    description="检测机构同步的委托中，有样品编码不是平台发放的，或平台发放了编码但样品从未在现场"
    "登记：样品没有经过见证取样的唯一性标识。",
)
def untagged_sample(ctx: RuleContext) -> Iterator[Finding]:
    stmt = (
        select(CommissionSample, Commission)
        .join(Commission, Commission.id == CommissionSample.commission_id)
        .where(CommissionSample.sample_id.is_(None), Commission.status != "rejected")
    )
    for row, commission in ctx.db.execute(ctx.narrow(stmt, Commission.institution_id)):
        yield Finding(
            key=f"commission_sample:{row.id}",
            subject_type="commission",
            subject_id=str(commission.id),
            subject_repr=f"委托 {commission.number} 的样品 {row.sample_code}",
            subject_number=commission.number,
            institution_id=commission.institution_id,
            region_code=commission.region_code,
            project_id=commission.project_id,
            facts={"commission_number": commission.number, "sample_code": row.sample_code},
        )


@rule(
    "seal_invalid",
    title="电子封志验证失败",
    clause="000 2.0.16、4.3.4 第 1 项；001 7.1.2",
    severity=Severity.CRITICAL,
    subject_type="sample",
    triggers=(SampleSeal, Sample),
    scope="project",
    description="样品的电子封志签名用见证人员登记的公钥验证不通过，或封志声明与平台保存的样品信息"
    "（编码、照片哈希、感知哈希）不一致：样品或数据在封样后被改动。",
)
def seal_invalid(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(SampleSeal)
    for row in ctx.db.scalars(ctx.narrow_projects(stmt, SampleSeal.project_id)):
        problems = verify_seal(ctx.db, row)
        if problems:
            sample = ctx.db.get(Sample, row.sample_id)
            if sample is not None:
                yield _sample_finding(f"seal:{row.id}", sample, {"problems": problems})


@rule(
    "sampling_window",
    title="取样或见证超出时限",
    clause="jz57 第十八条、第十九条；001 7.1.2（制样完成后 30 分钟内登记，登记后 30 分钟内见证）",
    severity=Severity.WARNING,
    subject_type="sample",
    defaults={"sampler_minutes": 30, "witness_minutes": 30},
    labels={
        "sampler_minutes": "制样后登记时限（分钟）",
        "witness_minutes": "登记后见证时限（分钟）",
        "late_minutes": "超时（分钟）",
        "stage": "环节",
    },
    triggers=(Sample, SampleSeal),
    scope="project",
    description="取样人员在制样完成后超过时限才登记样品，或见证人员在取样登记后超过时限才见证封样"
    "（尚未封样且已超时的也算）。",
)
def sampling_window(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(Sample, SampleSeal).outerjoin(SampleSeal, SampleSeal.sample_id == Sample.id)
    stmt = stmt.where(Sample.origin.is_(None))  # a child platform's samples: its own rules
    for sample, row in ctx.db.execute(ctx.narrow_projects(stmt, Sample.project_id)):
        limits = ctx.thresholds(sample.region_code)
        sampler_late = (sample.sampled_at - sample.prepared_at).total_seconds() / 60 - float(
            limits["sampler_minutes"]
        )
        if sampler_late > 0:
            yield _sample_finding(
                f"sampler:{sample.id}",
                sample,
                {"stage": "取样登记", "late_minutes": round(sampler_late)},
            )
        if row is not None:
            witnessed = row.sealed_at
        elif sample.status == SampleStatus.SAMPLED:
            witnessed = ctx.now
        else:
            continue
        witness_late = (witnessed - sample.sampled_at).total_seconds() / 60 - float(
            limits["witness_minutes"]
        )
        if witness_late > 0:
            stage = "见证封样" if row is not None else "尚未见证封样"
            yield _sample_finding(
                f"witness:{sample.id}",
                sample,
                {"stage": stage, "late_minutes": round(witness_late)},
            )


@rule(
    "witness_off_site",
    title="见证封样不在施工现场",
    clause="000 4.3.4 第 2 项（见证过程定位）；001 5.3.2.1",
    severity=Severity.CRITICAL,
    subject_type="sample",
    defaults={"tolerance_m": 200},
    labels={"tolerance_m": "允许偏差（米）", "distance_m": "距电子围栏（米）"},
    triggers=(SampleSeal,),
    scope="project",
    description="见证封样时手机定位在项目电子围栏之外且超出允许偏差，或封样时没有提供定位。",
)
def witness_off_site(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(SampleSeal, Sample, Project).join(Sample, Sample.id == SampleSeal.sample_id)
    stmt = stmt.join(Project, Project.id == SampleSeal.project_id)
    stmt = stmt.where(SampleSeal.origin.is_(None))
    for row, sample, project in ctx.db.execute(ctx.narrow_projects(stmt, SampleSeal.project_id)):
        tolerance = float(ctx.thresholds(row.region_code)["tolerance_m"])
        has_fence = project.site_polygon or project.site_latitude is not None
        if row.latitude is None:
            yield _sample_finding(f"seal:{row.id}", sample, {"distance_m": "未提供定位"})
        elif has_fence and row.distance_m is not None and row.distance_m > tolerance:
            yield _sample_finding(f"seal:{row.id}", sample, {"distance_m": round(row.distance_m)})


@rule(
    "witness_not_assigned",
    title="见证人员不是项目登记的见证人",
    clause="003 四（三）（现场实际履职人员须和岗位聘任人员一致）；000 4.3.4 第 2 项",
    severity=Severity.CRITICAL,
    subject_type="sample",
    triggers=(SampleSeal, ProjectMember),
    scope="project",
    description="封样的见证人员在封样当天不是该项目登记在岗的见证人员。",
)
def witness_not_assigned(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(SampleSeal, Sample).join(Sample, Sample.id == SampleSeal.sample_id)
    stmt = stmt.where(SampleSeal.origin.is_(None))  # the child's witnesses: its assignments
    rows = list(ctx.db.execute(ctx.narrow_projects(stmt, SampleSeal.project_id)))
    if not rows:
        return
    project_ids = {row.project_id for row, _ in rows}
    members: dict[tuple[int, int | None], list[ProjectMember]] = {}
    for m in ctx.db.scalars(
        select(ProjectMember).where(
            ProjectMember.project_id.in_(sorted(project_ids)),
            ProjectMember.role == MemberRole.WITNESS.value,
        )
    ):
        members.setdefault((m.project_id, m.user_id), []).append(m)
    found = []
    for row, sample in rows:
        day = beijing_date(row.sealed_at)
        if not any(
            m.active_on(day) for m in members.get((row.project_id, row.witness_user_id), [])
        ):
            found.append((row, sample, day))
    ids = sorted({row.witness_user_id for row, _, _ in found if row.witness_user_id})
    names: dict[int | None, str] = dict(
        ctx.db.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    )
    for row, sample, day in found:
        facts: dict[str, object] = {
            "sealed_on": day.isoformat(),
            "witness": names.get(row.witness_user_id, ""),  # who sealed, by name
            "witness_user_id": row.witness_user_id,
        }
        yield _sample_finding(f"seal:{row.id}", sample, facts)


@rule(
    "assignment_change_late",
    title="更换见证或取样人员未提前报告",
    clause="jz57 第十八条；003 四（三）（更换见证、取样人员须提前 3 个工作日报告）",
    severity=Severity.WARNING,
    subject_type="project_member",
    defaults={"working_days": 3},
    labels={"working_days": "提前报告的工作日数", "reported_working_days": "实际提前工作日数"},
    triggers=(ProjectMember,),
    scope="project",
    description="项目更换见证或取样人员（首次登记除外）时，报告日期距到岗日期不足规定的工作日"
    "（按法定节假日和调休计算）。",
)
def assignment_change_late(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(ProjectMember).where(ProjectMember.is_initial.is_(False))
    for member in ctx.db.scalars(ctx.narrow_projects(stmt, ProjectMember.project_id)):
        needed = int(ctx.thresholds(member.region_code)["working_days"])
        ahead = working_days_between(beijing_date(member.reported_at), member.starts_on)
        if ahead < needed:
            yield Finding(
                key=f"project_member:{member.id}",
                subject_type="project_member",
                subject_id=str(member.id),
                subject_repr=f"{MemberRole(member.role).label} {member.name}",
                institution_id=None,
                region_code=member.region_code,
                project_id=member.project_id,
                facts={
                    "reported_working_days": ahead,
                    "starts_on": member.starts_on.isoformat(),
                },
            )


@rule(
    "sample_photo_mismatch",
    title="收样照片与封样照片不一致",
    clause="000 2.0.16（验样阶段验封，比对样品同一性）；003 一（六）",
    severity=Severity.CRITICAL,
    subject_type="sample",
    defaults={"max_distance": 12},
    labels={"max_distance": "感知哈希最大差异（位，共 64 位）", "distance": "差异（位）"},
    triggers=(SampleReceipt,),
    rows=Rows(SampleReceipt, "receipt"),  # each receipt on its photos' distance
    description="检测机构收样时拍摄的样品照片与见证封样时的样品照片感知哈希差异超过阈值：样品可能"
    "被调换。",
)
def sample_photo_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(SampleReceipt).where(SampleReceipt.phash_distance.is_not(None))
    stmt = ctx.narrow_rows(ctx.narrow(stmt, SampleReceipt.institution_id), SampleReceipt.id)
    for row in ctx.db.scalars(stmt):
        limit = int(ctx.thresholds(row.region_code)["max_distance"])
        if row.phash_distance is not None and row.phash_distance > limit:
            yield Finding(
                key=f"receipt:{row.id}",
                subject_type="sample",
                subject_id=row.sample_code,
                subject_repr=f"样品 {row.sample_code} 的收样",
                subject_number=row.sample_code,
                institution_id=row.institution_id,
                region_code=row.region_code,
                project_id=row.project_id,
                facts={"distance": row.phash_distance},
            )


@rule(
    "receipt_refused",
    title="检测机构拒收样品",
    clause="jz57 第十九条、第二十条；001 7.1.2（标识破损或信息不一致的不予收样）；003 一（六）",
    severity=Severity.WARNING,
    subject_type="sample",
    triggers=(SampleReceipt,),
    rows=Rows(SampleReceipt, "receipt"),  # each receipt on itself
    description="检测机构收样核验未通过（编码不存在、标识破损、未封样或封志无效、照片不一致等），"
    "拒收记录留存，由监督站跟进。",
)
def receipt_refused(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(SampleReceipt).where(SampleReceipt.accepted.is_(False))
    stmt = ctx.narrow_rows(ctx.narrow(stmt, SampleReceipt.institution_id), SampleReceipt.id)
    for row in ctx.db.scalars(stmt):
        yield Finding(
            key=f"receipt:{row.id}",
            subject_type="sample",
            subject_id=row.sample_code,
            subject_repr=f"样品 {row.sample_code} 被拒收",
            subject_number=row.sample_code,
            institution_id=row.institution_id,
            region_code=row.region_code,
            project_id=row.project_id,
            facts={"reasons": [r["message"] for r in row.reasons]},
        )


_IDENTITY_FAILURES = (IdentityResult.FAILED.value, IdentityResult.NO_FACE.value)
_STAGES = {"sample:register": "取样登记（取样人员）", "sample:seal": "见证封样（见证人员）"}


@rule(
    "identity_mismatch",
    title="人脸核验未通过",
    clause="000 4.3.4 第 2 项（见证过程身份核验）；001 7.1.2（手机端人脸识别认证通过后）",
    severity=Severity.CRITICAL,
    subject_type="sample",
    labels={
        "stage": "环节",
        "result": "核验结果",
        "distance": "人脸距离",
        "threshold": "同一人最大距离",
    },
    triggers=(IdentityCheck,),
    scope="project",
    description="取样或见证封样时手机拍摄的人员照片与项目登记的照片不是同一人（人脸距离超过本地区"
    "阈值），或照片中检测不到人脸：现场履职的人员可能不是登记的取样、见证人员。",
)
def identity_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    stmt = (
        select(IdentityCheck, Sample)
        .join(Sample, Sample.id == IdentityCheck.sample_id)
        .where(IdentityCheck.result.in_(_IDENTITY_FAILURES))
        .where(IdentityCheck.origin.is_(None))  # a child platform's checks: its own rule
    )
    for check, sample in ctx.db.execute(ctx.narrow_projects(stmt, IdentityCheck.project_id)):
        facts: dict[str, object] = {
            "stage": _STAGES.get(check.action, check.action),
            "result": IdentityResult(check.result).label,
        }
        if check.distance is not None:
            facts |= {"distance": round(check.distance, 3), "threshold": check.threshold}
        yield _sample_finding(f"identity_check:{check.id}", sample, facts)
