"""The expert pool and panel draws: keeping experts, finding conflicts, requesting a draw
(commitment and request notarised), completing it once the log has a checkpoint that includes
the request (result notarised, members invited), answers, opinions and the published inputs.
Keyword-only, flush, never commit (docs/experts.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, Text, func, or_, select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, in_prefix, restrict
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.regioncodes import in_subtree, scope_prefix
from jcjg.experts import draw
from jcjg.experts.choices import DrawStatus, Exclusion, MemberStatus, RegionPolicy
from jcjg.experts.lists import specialty_names
from jcjg.experts.models import Expert, ExpertRelation, Panel, PanelDraw, PanelMember
from jcjg.experts.schemas import (
    SCORE_PARTS,
    AnswerIn,
    ExpertIn,
    OpinionIn,
    PanelIn,
    ProfileIn,
)
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerCheckpoint, LedgerLeaf
from jcjg.notify.service import notify
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution

RECENT = dt.timedelta(days=365)  # drawn for the same institution within: excluded
OPINION_TYPE = "panel_opinion:submit"


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


# --- the pool ----------------------------------------------------------------------------------


def experts_stmt(
    *, principal: Principal, q: str = "", specialty: str = "", available: str = ""
) -> Select[Expert]:
    stmt = restrict(select(Expert), principal, "read")
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(Expert.name.like(like), Expert.code.like(like), Expert.employer.like(like))
        )
    if specialty:
        # JSON lists are stored as text on both databases: '"01"' within it
        stmt = stmt.where(func.cast(Expert.specialties, Text()).like(f'%"{specialty}"%'))
    if available == "yes":
        stmt = stmt.where(Expert.available.is_(True))
    elif available == "no":
        stmt = stmt.where(Expert.available.is_(False))
    return stmt


def _check_profile(db: Session, data: ProfileIn) -> None:
    known = specialty_names(db)
    unknown = [c for c in data.specialties if c not in known]
    if unknown:
        raise _refuse("specialties", f"资质目录中没有检测专项：{'、'.join(unknown)}")


def _set_relations(db: Session, expert: Expert, data: ProfileIn) -> None:
    wanted = [(r.kind.value, r.organisation, r.credit_code, r.note) for r in data.relations]
    current = list(db.scalars(select(ExpertRelation).where(ExpertRelation.expert_id == expert.id)))
    if [(r.kind, r.organisation, r.credit_code, r.note) for r in current] == wanted:
        return
    for row in current:
        db.delete(row)
    db.flush()
    for kind, organisation, credit_code, note in wanted:
        db.add(
            ExpertRelation(
                expert_id=expert.id,
                region_code=expert.region_code,
                kind=kind,
                organisation=organisation,
                credit_code=credit_code,
                note=note,
            )
        )
    db.flush()


def _apply_profile(expert: Expert, data: ProfileIn) -> None:
    expert.title = data.title
    expert.employer = data.employer
    expert.employer_credit_code = data.employer_credit_code
    expert.phone = data.phone
    expert.specialties = list(data.specialties)
    expert.available = data.available
    expert.unavailable_until = data.unavailable_until


def _check_admin(db: Session, principal: Principal, data: ExpertIn, expert: Expert | None) -> None:
    if not principal.covers_region(data.region_code):
        raise _refuse("region_code", "只能在本辖区的专家库中登记专家")
    if data.region_code not in _regions(db, [data.region_code]):
        raise _refuse("region_code", "行政区划代码不存在")
    clash = db.scalar(select(Expert.id).where(Expert.code == data.code))
    if clash is not None and (expert is None or clash != expert.id):
        raise _refuse("code", "专家编号已被使用")
    if data.user_id is not None:
        user = db.get(User, data.user_id)
        if user is None or user.role != "expert":
            raise _refuse("user_id", "专家账号须为“专家”角色的用户")
        other = db.scalar(select(Expert.id).where(Expert.user_id == data.user_id))
        if other is not None and (expert is None or other != expert.id):
            raise _refuse("user_id", "该账号已关联其他专家")


def _regions(db: Session, codes: Sequence[str]) -> set[str]:
    return set(db.scalars(select(Region.code).where(Region.code.in_(codes))))


def save_expert(
    *, db: Session, principal: Principal, data: ExpertIn, expert: Expert | None = None
) -> Expert:
    """Register an expert in a pool of the principal's region, or change one."""
    _check_admin(db, principal, data, expert)
    _check_profile(db, data)
    if expert is None:
        expert = Expert(code=data.code, name=data.name, region_code=data.region_code)
        db.add(expert)
    expert.code, expert.name, expert.region_code = data.code, data.name, data.region_code
    expert.user_id, expert.note = data.user_id, data.note
    _apply_profile(expert, data)
    db.flush()
    _set_relations(db, expert, data)
    for member in db.scalars(select(PanelMember).where(PanelMember.expert_id == expert.id)):
        member.user_id = expert.user_id  # their account answers the panels they were drawn for
    db.flush()
    return expert


def own_expert(db: Session, principal: Principal) -> Expert:
    """The expert record of the logged-in expert (404 when the province has not linked one)."""
    principal.require("expert:self")
    row = db.scalar(select(Expert).where(Expert.user_id == principal.user_id))
    if row is None or principal.user_id is None:
        raise NotFound("您的账号尚未关联专家库中的专家信息，请联系省级主管部门。")
    return row


def save_profile(*, db: Session, principal: Principal, data: ProfileIn) -> Expert:
    """An expert changes their own title, employer, specialties, availability, relations."""
    expert = own_expert(db, principal)
    _check_profile(db, data)
    _apply_profile(expert, data)
    db.flush()
    _set_relations(db, expert, data)
    return expert


def relations(db: Session, expert_id: int) -> list[ExpertRelation]:
    return list(
        db.scalars(
            select(ExpertRelation)
            .where(ExpertRelation.expert_id == expert_id)
            .order_by(ExpertRelation.id)
        )
    )


# --- panels ------------------------------------------------------------------------------------


def panels_stmt(*, principal: Principal, q: str = "", kind: str = "") -> Select[Panel]:
    stmt = restrict(select(Panel), principal, "read")
    if q:
        stmt = stmt.where(or_(Panel.title.like(f"%{q}%"), Panel.code.like(f"%{q}%")))
    if kind:
        stmt = stmt.where(Panel.kind == kind)
    return stmt


def _next_code(db: Session, now: dt.datetime) -> str:
    prefix = f"PS-{now.year}-"
    last = db.scalar(select(func.max(Panel.code)).where(Panel.code.like(prefix + "%")))
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:04d}"


def create_panel(*, db: Session, principal: Principal, data: PanelIn) -> Panel:
    if not principal.covers_region(data.region_code):
        raise _refuse("region_code", "只能为本辖区组织评审")
    if data.region_code not in _regions(db, [data.region_code]):
        raise _refuse("region_code", "行政区划代码不存在")
    known = specialty_names(db)
    for i, req in enumerate(data.requirements):
        if req.specialty not in known:
            raise _refuse(f"requirements.{i}.specialty", "资质目录中没有这个检测专项")
    if data.institution_id is not None:
        found = db.scalar(
            restrict(select(Institution), principal, "read").where(
                Institution.id == data.institution_id
            )
        )
        if found is None:
            raise _refuse("institution_id", "被评审检测机构不存在或不在本辖区")
    elif data.region_policy is RegionPolicy.OTHER_CITY:
        raise _refuse("region_policy", "未指定被评审机构时不能按其所在市回避")
    now = utcnow()
    panel = Panel(
        code=_next_code(db, now),
        title=data.title,
        kind=data.kind.value,
        region_code=data.region_code,
        institution_id=data.institution_id,
        region_policy=data.region_policy.value,
        requirements=[r.model_dump() for r in data.requirements],
        review_date=data.review_date,
        note=data.note,
        created_by=principal.user_id,
    )
    db.add(panel)
    db.flush()
    return panel


def members(db: Session, panel_id: int) -> list[PanelMember]:
    return list(
        db.scalars(
            select(PanelMember)
            .where(PanelMember.panel_id == panel_id)
            .order_by(PanelMember.draw_id, PanelMember.id)
        )
    )


def draws(db: Session, panel_id: int) -> list[PanelDraw]:
    return list(
        db.scalars(
            select(PanelDraw).where(PanelDraw.panel_id == panel_id).order_by(PanelDraw.sequence)
        )
    )


def still_needed(db: Session, panel: Panel) -> list[dict[str, Any]]:
    """The requirements not yet met: per specialty, the count less the members who did not
    decline (a decline is replaced by a new draw)."""
    held: dict[str, int] = {}
    for m in members(db, panel.id):
        if m.status != MemberStatus.DECLINED:
            held[m.specialty] = held.get(m.specialty, 0) + 1
    out = []
    for req in panel.requirements:
        missing = int(req["count"]) - held.get(str(req["specialty"]), 0)
        if missing > 0:
            out.append({"specialty": str(req["specialty"]), "count": missing})
    return out


# --- conflicts ---------------------------------------------------------------------------------


def _recently_drawn(db: Session, panel: Panel, now: dt.datetime) -> set[int]:
    if panel.institution_id is None:
        return set()
    rows = db.scalars(
        select(PanelMember.expert_id)
        .join(Panel, Panel.id == PanelMember.panel_id)
        .where(
            Panel.institution_id == panel.institution_id,
            Panel.id != panel.id,
            PanelMember.created_at >= now - RECENT,
        )
    )
    return set(rows)


def exclusion(
    expert: Expert,
    *,
    panel: Panel,
    institution: Institution | None,
    related: Iterable[ExpertRelation],
    recent: set[int],
    on_panel: set[int],
    today: dt.date,
) -> Exclusion | None:
    """Why ``expert`` may not sit on ``panel`` (the first reason that applies), or None."""
    if expert.id in on_panel:
        return Exclusion.ON_PANEL
    if institution is not None:
        if _same(expert.employer, expert.employer_credit_code, institution):
            return Exclusion.EMPLOYER
        if any(_same(r.organisation, r.credit_code, institution) for r in related):
            return Exclusion.RELATION
    if expert.id in recent:
        return Exclusion.RECENT
    if not expert.available or (expert.unavailable_until and expert.unavailable_until >= today):
        return Exclusion.UNAVAILABLE
    if not _in_region(expert, panel, institution):
        return Exclusion.REGION
    return None


def _same(name: str, credit_code: str | None, institution: Institution) -> bool:
    if credit_code and institution.credit_code and credit_code == institution.credit_code:
        return True
    return bool(name) and name.strip() == institution.name.strip()


def _in_region(expert: Expert, panel: Panel, institution: Institution | None) -> bool:
    policy = RegionPolicy(panel.region_policy)
    if policy is RegionPolicy.ANY:
        return True
    if not in_subtree(expert.region_code, panel.region_code):
        return False
    if policy is RegionPolicy.OTHER_CITY and institution is not None:
        return expert.region_code[:4] != institution.region_code[:4]
    return True


def _pool(db: Session, panel: Panel, needed: Sequence[dict[str, Any]]) -> list[Expert]:
    """Every expert who holds a needed specialty, of the panel's region unless it takes any."""
    wanted = {r["specialty"] for r in needed}
    rows = db.scalars(select(Expert).order_by(Expert.id))
    if panel.region_policy != RegionPolicy.ANY:
        rows = db.scalars(select(Expert).where(_prefix(panel.region_code)).order_by(Expert.id))
    return [e for e in rows if wanted & set(e.specialties)]


def _prefix(code: str) -> Any:
    return in_prefix(Expert.region_code, scope_prefix(code))


# --- drawing -----------------------------------------------------------------------------------


def candidates(
    db: Session, panel: Panel, code: str, salt: bytes, needed: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The request's candidates (pseudonym, the needed specialties held, the exclusion) sorted
    by pseudonym, and the pseudonym -> expert id map the platform keeps."""
    institution = db.get(Institution, panel.institution_id) if panel.institution_id else None
    now = utcnow()
    today = now.date()
    recent = _recently_drawn(db, panel, now)
    on_panel = {m.expert_id for m in members(db, panel.id)}
    wanted = {r["specialty"] for r in needed}
    listed, ids = [], {}
    for expert in _pool(db, panel, needed):
        reason = exclusion(
            expert,
            panel=panel,
            institution=institution,
            related=relations(db, expert.id),
            recent=recent,
            on_panel=on_panel,
            today=today,
        )
        name = draw.pseudonym(salt, code, expert.id)
        ids[name] = expert.id
        listed.append(
            {
                "pseudonym": name,
                "specialties": sorted(wanted & set(expert.specialties)),
                "excluded": reason.value if reason else None,
            }
        )
    listed.sort(key=lambda c: str(c["pseudonym"]))
    return listed, ids


def request_draw(*, db: Session, principal: Principal, panel: Panel) -> PanelDraw:
    """Notarise a commitment to a fresh secret, then the request (candidates, exclusions,
    requirements still unmet); the randomness and the result come with :func:`complete`."""
    db.refresh(panel, with_for_update=True)  # two clicks at once: one draw, the other 409
    if db.scalar(
        select(PanelDraw.id).where(
            PanelDraw.panel_id == panel.id, PanelDraw.status == DrawStatus.REQUESTED
        )
    ):
        raise Conflict("本评审组有一次抽取尚未完成，请待其完成后再抽取。")
    needed = still_needed(db, panel)
    if not needed:
        raise Conflict("评审组人数已满，无需再抽取。")
    sequence = 1 + (
        db.scalar(select(func.max(PanelDraw.sequence)).where(PanelDraw.panel_id == panel.id)) or 0
    )
    code = f"{panel.code}-{sequence}"
    salt, secret = secrets.token_bytes(16), secrets.token_bytes(32)
    listed, ids = candidates(db, panel, code, salt, needed)
    institution = db.get(Institution, panel.institution_id) if panel.institution_id else None
    commit = ledger.notarise(
        db, draw.COMMIT_TYPE, {"draw": code, "commitment": draw.commitment(secret)}
    )
    request = ledger.notarise(
        db,
        draw.REQUEST_TYPE,
        {
            "draw": code,
            "panel": panel.code,
            "kind": panel.kind,
            "title": panel.title,
            "institution": institution.name if institution else "",
            "region": panel.region_code,
            "region_policy": panel.region_policy,
            "salt": salt.hex(),
            "commitment": draw.commitment(secret),
            "requirements": needed,
            "candidates": listed,
        },
    )
    row = PanelDraw(
        panel_id=panel.id,
        region_code=panel.region_code,
        sequence=sequence,
        code=code,
        status=DrawStatus.REQUESTED.value,
        secret=secret.hex(),
        commit_index=commit.index,
        request_index=request.index,
        candidates=ids,
        requested_by=principal.user_id,
    )
    db.add(row)
    db.flush()
    return row


def first_checkpoint(db: Session, request_index: int) -> LedgerCheckpoint | None:
    """The first checkpoint whose tree includes the leaf ``request_index``, or None while there
    is none. When the log has cosigners configured (the parent platform), the first such
    checkpoint the parent has cosigned: the parent cosigns what it finds latest, so the first
    checkpoint after the request may never be cosigned, and waiting for it would block the draw.
    Every notarised draw (panels, supervision spot checks) takes its randomness from it."""
    stmt = (
        select(LedgerCheckpoint)
        .where(LedgerCheckpoint.size > request_index)
        .order_by(LedgerCheckpoint.size)
    )
    if ledger.log_identity().witnesses:  # two signature lines at least: the log's and another
        stmt = stmt.where(LedgerCheckpoint.note.like("%\n\u2014 %\n\u2014 %"))
    return db.scalars(stmt.limit(1)).first()


def randomness_checkpoint(db: Session, draw_row: PanelDraw) -> LedgerCheckpoint | None:
    """The checkpoint that gives a panel draw its randomness (:func:`first_checkpoint`)."""
    return first_checkpoint(db, draw_row.request_index)


def complete(*, db: Session, draw_row: PanelDraw) -> bool:
    """Take the randomness, select, notarise the result, invite the drawn; False while the
    checkpoint that gives the randomness is not there yet."""
    if draw_row.status != DrawStatus.REQUESTED:
        return True
    # the officer's click and the minute's job at once: the second waits, then finds it done
    db.refresh(draw_row, with_for_update=True)
    if draw_row.status != DrawStatus.REQUESTED:
        return True
    checkpoint = randomness_checkpoint(db, draw_row)
    if checkpoint is None:
        return False
    request = db.get_one(LedgerLeaf, draw_row.request_index)
    data = _data(request)
    value = draw.randomness(bytes.fromhex(draw_row.secret), checkpoint.root_hash)
    seed = draw.seed(request.leaf_hash, value)
    drawn = draw.select(seed, data["requirements"], data["candidates"])
    result = ledger.notarise(
        db,
        draw.RESULT_TYPE,
        {
            "draw": draw_row.code,
            "request_leaf_hash": request.leaf_hash.hex(),
            "seed": seed,
            "secret": draw_row.secret,
            "checkpoint_size": checkpoint.size,
            "checkpoint_root": checkpoint.root_hash.hex(),
            "drawn": drawn,
        },
    )
    now = utcnow()
    draw_row.status, draw_row.seed, draw_row.drawn = DrawStatus.COMPLETED.value, seed, drawn
    draw_row.result_index, draw_row.checkpoint_size = result.index, checkpoint.size
    draw_row.completed_at = now
    _invite(db, draw_row, drawn, now)
    db.flush()
    return True


def _data(leaf: LedgerLeaf) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(leaf.entry)["data"]
    return data


def _invite(
    db: Session, draw_row: PanelDraw, drawn: list[dict[str, Any]], now: dt.datetime
) -> None:
    panel = db.get_one(Panel, draw_row.panel_id)
    for item in drawn:
        expert = db.get_one(Expert, draw_row.candidates[item["pseudonym"]])
        member = PanelMember(
            panel_id=panel.id,
            draw_id=draw_row.id,
            expert_id=expert.id,
            region_code=panel.region_code,
            user_id=expert.user_id,
            specialty=item["specialty"],
        )
        db.add(member)
        db.flush()
        user = db.get(User, expert.user_id) if expert.user_id else None
        if user is not None:
            notify(
                db,
                [user],
                kind="expert",
                title=f"您被抽取为评审专家：{panel.title}",
                body=f"评审组 {panel.code}，请在平台上确认是否参加。",
                link=f"/my/reviews/{member.id}",
                severity="info",
                now=now,
            )


def complete_waiting(db: Session) -> int:
    """Complete every draw whose randomness has come; returns how many were completed."""
    done = 0
    for row in db.scalars(
        select(PanelDraw).where(PanelDraw.status == DrawStatus.REQUESTED).order_by(PanelDraw.id)
    ).all():
        done += complete(db=db, draw_row=row)
    return done


# --- published inputs --------------------------------------------------------------------------


def notarised_entry(db: Session, index: int) -> dict[str, Any]:
    """A leaf as published inputs give it: index, leaf hash, the exact text hashed."""
    leaf = db.get_one(LedgerLeaf, index)
    return {
        "index": index,
        "leaf_hash": leaf.leaf_hash.hex(),
        "entry_canonical": leaf.entry.decode(),
    }


def revealed_randomness(
    db: Session, secret: str, request_index: int, checkpoint_size: int
) -> dict[str, Any]:
    """The ``randomness`` part of a draw's published inputs: the secret, the checkpoint note,
    its size and root, and the request's inclusion proof in its tree."""
    checkpoint = db.get_one(LedgerCheckpoint, checkpoint_size)
    proof = ledger.inclusion(db, request_index, checkpoint.size)
    return {
        "secret": secret,
        "checkpoint": checkpoint.note,
        "size": checkpoint.size,
        "root_hash": checkpoint.root_hash.hex(),
        "inclusion": proof["hashes"],
    }


def published_inputs(db: Session, draw_row: PanelDraw) -> dict[str, Any]:
    """Everything anyone needs to recompute the draw (``jcjg-verify-draw``): the three notarised
    entries, the revealed secret, the checkpoint and the request's inclusion in its tree."""
    if draw_row.status != DrawStatus.COMPLETED or draw_row.checkpoint_size is None:
        raise Conflict("抽取尚未完成，完成后才公布全部输入。")
    return {
        "format": draw.FORMAT,
        "origin": ledger.log_identity().origin,
        "key": ledger.log_identity().vkey,
        "commitment": notarised_entry(db, draw_row.commit_index),
        "request": notarised_entry(db, draw_row.request_index),
        "randomness": revealed_randomness(
            db, draw_row.secret, draw_row.request_index, draw_row.checkpoint_size
        ),
        "result": notarised_entry(db, int(draw_row.result_index or 0)),
        # who the drawn pseudonyms are: anyone recomputes HMAC(salt, draw, id) for each
        "drawn_experts": [
            {"pseudonym": d["pseudonym"], "expert_id": draw_row.candidates[d["pseudonym"]]}
            for d in draw_row.drawn or []
        ],
    }


# --- the expert's answers ----------------------------------------------------------------------


def own_members_stmt(principal: Principal) -> Select[PanelMember]:
    return restrict(select(PanelMember), principal, "respond").where(
        PanelMember.user_id == principal.user_id
    )


def own_member(db: Session, principal: Principal, member_id: int) -> PanelMember:
    row = db.scalars(own_members_stmt(principal).where(PanelMember.id == member_id)).first()
    if row is None:
        raise NotFound()
    return row


def answer(*, db: Session, principal: Principal, member_id: int, data: AnswerIn) -> PanelMember:
    member = own_member(db, principal, member_id)
    if member.status != MemberStatus.INVITED:
        raise Conflict("您已答复过这次邀请。")
    if not data.accept and not data.reason:
        raise _refuse("reason", "请填写谢绝理由")
    member.status = (MemberStatus.ACCEPTED if data.accept else MemberStatus.DECLINED).value
    member.decline_reason = "" if data.accept else data.reason
    member.responded_at = utcnow()
    db.flush()
    return member


def submit_opinion(
    *, db: Session, principal: Principal, member_id: int, data: OpinionIn
) -> PanelMember:
    """The expert's conclusion, scores and opinion, notarised (its hash) when submitted."""
    member = own_member(db, principal, member_id)
    if member.status != MemberStatus.ACCEPTED:
        raise Conflict("只有已接受且尚未提交意见的评审才能提交评审意见。")
    member.conclusion = data.conclusion.value
    member.scores = {k: data.scores[k] for k in SCORE_PARTS}
    member.score = sum(member.scores.values())
    member.opinion = data.opinion
    member.submitted_at = utcnow()
    member.status = MemberStatus.SUBMITTED.value
    panel = db.get_one(Panel, member.panel_id)
    receipt = ledger.notarise(
        db,
        OPINION_TYPE,
        {
            "panel": panel.code,
            "member": member.id,
            "conclusion": member.conclusion,
            "scores": member.scores,
            "score": member.score,
            "opinion_sha256": hashlib.sha256(data.opinion.encode()).hexdigest(),
        },
    )
    member.opinion_index = receipt.index
    db.flush()
    return member
