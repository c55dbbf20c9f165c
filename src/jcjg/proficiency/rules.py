"""The alert rule of proficiency testing: a result with an action signal (unsatisfactory)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.proficiency.choices import SchemeStatus
from jcjg.proficiency.models import ProficiencyParticipant, ProficiencyResult, ProficiencyScheme
from jcjg.proficiency.statistics import Score, Signal
from jcjg.tenancy.models import Institution


def _value(number: float | None) -> str:
    return "—" if number is None else f"{number:.2f}"


@rule(
    "proficiency_unsatisfactory",
    title="能力验证结果不满意",
    clause="000 4.2.3",
    severity=Severity.WARNING,
    subject_type="proficiency_scheme",
    triggers=(ProficiencyResult, ProficiencyScheme),
    description="已完成统计评价的能力验证中，参加机构某一样品的结果按该计划的评定比分数出现行动信号"
    "（ISO 13528:2022：|z|、|z′|、|ζ| ≥ 3，或 |En| ≥ 1）；重新评价后结果不再不满意时自动关闭。"
    "可在预警中督办，或在整改通知中引用。",
)
def proficiency_unsatisfactory(ctx: RuleContext) -> Iterator[Finding]:
    stmt = (
        select(
            ProficiencyResult, ProficiencyScheme, ProficiencyParticipant, Institution.region_code
        )
        .join(ProficiencyScheme, ProficiencyScheme.id == ProficiencyResult.scheme_id)
        .join(Institution, Institution.id == ProficiencyResult.institution_id)
        .join(ProficiencyParticipant, ProficiencyParticipant.id == ProficiencyResult.participant_id)
        .where(
            ProficiencyScheme.status == SchemeStatus.EVALUATED.value,
            ProficiencyResult.signal == Signal.ACTION.value,
        )
    )
    for result, scheme, participant, lab_region in ctx.db.execute(
        ctx.narrow(stmt, ProficiencyResult.institution_id)
    ):
        score = Score(scheme.score)
        yield Finding(
            key=f"proficiency_result:{result.id}",
            subject_type="proficiency_scheme",
            subject_id=str(scheme.id),
            subject_repr=f"{scheme.code} {scheme.title} · {participant.code} 样品 {result.sample}",
            subject_number=scheme.code,
            institution_id=result.institution_id,
            # the lab's region: its city and station see it, and the organiser's region above
            region_code=lab_region,
            facts={
                "试验编号": scheme.code,
                "能力验证": scheme.title,
                "参加者代码": participant.code,
                "样品": result.sample,
                "结果": f"{result.value:g} {scheme.unit}".strip(),
                "评定比分数": score.label,
                "比分数": _value(getattr(result, score.value)),
                "评价": Signal.ACTION.label,
            },
        )
