"""The experts domain: the expert pool, review panels drawn from it by a notarised,
verifiable draw that honours the conflict-of-interest exclusions, and the experts' own pages
(000 4.1.4, 4.1.6; docs/experts.md)."""

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.domains import Domain, NavEntry, collect
from jcjg.core.jobs import Job
from jcjg.experts import choices, jobs, models

ENTITIES = {
    "expert": "专家",
    "expert_relation": "专家申报的关系",
    "panel": "专家评审组",
    "panel_draw": "专家抽取",
    "panel_member": "评审专家",
}
_MINE = frozenset({Role.EXPERT.value})

DOMAIN = Domain(
    name="experts",
    title="专家库与评审",
    models=(models,),
    routers=("jcjg.experts.api:router", "jcjg.experts.pages:router"),
    jobs=collect(jobs, Job),
    permissions={
        "expert:read": "查看本辖区专家库",
        "expert:write": "登记、修改本辖区专家库的专家",
        "expert:self": "维护本人的专家信息（专业、单位、回避关系、可参加评审）",
        "panel:read": "查看专家评审组、抽取过程与评审意见",
        "panel:write": "组织评审：建立评审组、发起与补充抽取专家",
        "panel:respond": "答复评审邀请、提交评审意见与评分",
    },
    grants=by_permission(
        {
            "expert:read": (*AUTHORITIES, Role.STATION, Role.AUDITOR),
            "expert:write": (Role.PROVINCIAL_AUTHORITY,),
            "expert:self": (Role.EXPERT,),
            "panel:read": (*AUTHORITIES, Role.STATION, Role.AUDITOR),
            "panel:write": AUTHORITIES,
            "panel:respond": (Role.EXPERT,),
        }
    ),
    nav=(
        NavEntry(
            title="专家库",
            href="/experts",
            group="监督执法",
            permission="expert:read",
            order=70,
            text="评审专家的专业、单位、回避关系与可参加情况",
        ),
        NavEntry(
            title="专家评审",
            href="/panels",
            group="监督执法",
            permission="panel:read",
            order=71,
            text="按回避原则随机抽取专家组成评审组，可公开验证",
        ),
        NavEntry(
            title="我的评审",
            href="/my/reviews",
            group="工作台",
            permission="panel:respond",
            roles=_MINE,
            landing=True,
            phone=1,
            order=10,
            text="评审邀请的答复、评审意见与评分",
        ),
        NavEntry(
            title="我的专家信息",
            href="/my/expert",
            group="工作台",
            permission="expert:self",
            roles=_MINE,
            phone=2,
            order=11,
            text="本人的专业、工作单位、回避关系与可参加评审的时间",
        ),
    ),
    labels={
        "review_kind": choices.ReviewKind,
        "relation_kind": choices.RelationKind,
        "region_policy": choices.RegionPolicy,
        "draw_status": choices.DrawStatus,
        "member_status": choices.MemberStatus,
        "exclusion": choices.Exclusion,
        "conclusion": choices.Conclusion,
        "entity": ENTITIES,
        "page": {"expert": "/experts/{}", "panel": "/panels/{}"},
        "tag": {
            "panel_draw:commit": "专家抽取承诺存证",
            "panel_draw:request": "专家抽取请求存证",
            "panel_draw:result": "专家抽取结果存证",
            "panel_opinion:submit": "评审意见存证",
        },
    },
)
