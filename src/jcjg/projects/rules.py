"""Rules on who is on duty at a project (003 IV(3)): witnesses and samplers on duty with a valid
training pass, and the person found on duty being the appointed one. Each has a case that fires
and one that does not in tests/projects/test_training.py."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.core.workdays import beijing_date
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import MemberTraining, ProjectMember, SpotCheck


def _member_finding(member: ProjectMember, facts: dict[str, object]) -> Finding:
    return Finding(
        key=f"project_member:{member.id}",
        subject_type="project_member",
        subject_id=str(member.id),
        subject_repr=f"{MemberRole(member.role).label} {member.name}",
        institution_id=None,
        region_code=member.region_code,
        project_id=member.project_id,
        facts=facts,
    )


@rule(
    "untrained_on_duty",
    title="见证或取样人员未经培训考核合格上岗",
    clause="jz57 第十八条；003 四（三）（见证、取样人员上岗前须通过培训和考核）",
    severity=Severity.WARNING,
    subject_type="project_member",
    labels={"last_valid_until": "最近一次合格证书有效期至", "starts_on": "到岗日期"},
    triggers=(ProjectMember,),
    scope="project",
    description="在岗的见证或取样人员没有当天有效的该岗位培训考核合格记录：从未考核合格，或合格证书"
    "在岗期间过期。平台登记人员时已拒绝无合格记录者；此规则发现其他途径登记的人员和在岗期间"
    "过期的证书（每日全量核查）。",
)
def untrained_on_duty(ctx: RuleContext) -> Iterator[Finding]:
    today = beijing_date(ctx.now)
    stmt = select(ProjectMember).where(
        ProjectMember.starts_on <= today,
        (ProjectMember.ends_on.is_(None)) | (ProjectMember.ends_on >= today),
    )
    members = list(ctx.db.scalars(ctx.narrow_projects(stmt, ProjectMember.project_id)))
    if not members:
        return
    passes: dict[tuple[int, str], list[MemberTraining]] = {}
    rows = ctx.db.scalars(
        select(MemberTraining).where(
            MemberTraining.user_id.in_({m.user_id for m in members}),
            MemberTraining.passed.is_(True),
        )
    )
    for row in rows:
        passes.setdefault((row.user_id, row.role), []).append(row)
    for member in members:
        held = passes.get((member.user_id, member.role), [])
        if any(p.passes_on(today) for p in held):
            continue
        ends = [p.valid_until for p in held if p.valid_until is not None]
        facts: dict[str, object] = {"starts_on": member.starts_on.isoformat()}
        if ends:
            facts["last_valid_until"] = max(ends).isoformat()
        yield _member_finding(member, facts)


@rule(
    "on_duty_mismatch",
    title="现场履职人员与聘任人员不一致",
    clause="jz57 第十八条；003 四（三）（现场实际履职人员须和岗位聘任人员一致）",
    severity=Severity.CRITICAL,
    subject_type="spot_check",
    labels={"found_name": "现场履职人员", "appointed_name": "聘任人员", "checked_at": "抽查时间"},
    triggers=(SpotCheck,),
    scope="project",
    description="监督站现场抽查时，实际履行见证或取样职责的人员不是该项目当天聘任的人员（或当天没有"
    "聘任该岗位人员）。",
)
def on_duty_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(SpotCheck).where(SpotCheck.is_appointed.is_(False))
    for check in ctx.db.scalars(ctx.narrow_projects(stmt, SpotCheck.project_id)):
        member = ctx.db.get(ProjectMember, check.member_id) if check.member_id else None
        yield Finding(
            key=f"spot_check:{check.id}",
            subject_type="spot_check",
            subject_id=str(check.id),
            subject_repr=f"现场抽查：{MemberRole(check.role).label} {check.found_name}",
            institution_id=None,
            region_code=check.region_code,
            project_id=check.project_id,
            facts={
                "found_name": check.found_name,
                "appointed_name": member.name if member else "（未聘任）",
                "checked_at": check.checked_at.isoformat(timespec="minutes"),
            },
        )
