"""Pages of the levels: ``/network`` (this platform's upstream and its children, with how each
child forwards and how its log checks), one child's page, registering a child and resuming a
halted one. ``network_child:read`` sees them within scope; ``network_child:manage`` registers
and resumes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.alerts.service import rule_title
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import Conflict, FieldError, NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.labels import label as label_of
from jcjg.core.listing import Column, Listing, ListParams, ListView, label, list_params, when
from jcjg.core.pagination import Key, Order, PageParams, count_total, page_params, paginate
from jcjg.core.regioncodes import is_valid_code
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.exchange.service import ENTRY_PREFIX
from jcjg.exchange.types import message_types
from jcjg.ledger import service as ledger
from jcjg.networking import forward, log_keys, service
from jcjg.networking.choices import ApplicationStatus, Attestation, ChildStatus, Outcome
from jcjg.networking.models import Application, Child, Forwarded
from jcjg.networking.rules import SUBJECT
from jcjg.regions import service as regions

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("network_child:read"))]
Manager = Annotated[Principal, Depends(requires("network_child:manage"))]


def _cells(db: Session, rows: Sequence[Child]) -> list[list[str]]:
    places = regions.display_names(db=db, codes=(c.region_code for c in rows))
    now = utcnow()
    return [
        [
            c.name,
            places.get(c.region_code, c.region_code),
            label(ChildStatus, c.status),
            when(c.last_forward_at),
            str(c.forwarded),
            str(c.refused),
            str(c.backlog),
            f"{service.lag_seconds(c, now) / 60:.0f}",
            str(c.checked_size),
            when(c.cosigned_at),
        ]
        for c in rows
    ]


CHILDREN = ListView(
    name="network_child",
    title="下级平台",
    columns=(
        Column("name", "下级平台", Child.name),
        Column("region", "行政区划", Child.region_code),
        Column("status", "状态", Child.status),
        Column("last_forward_at", "最后一次转发", Child.last_forward_at),
        Column("forwarded", "已转发条数", Child.forwarded),
        Column("refused", "拒收条数", Child.refused),
        Column("backlog", "积压条数", Child.backlog),
        Column("lag", "滞后（分钟）"),
        Column("checked_size", "已核验日志大小", Child.checked_size),
        Column("cosigned_at", "最后联署", Child.cosigned_at),
    ),
    order=Order((Key(Child.id, lambda c: c.id),), (0,)),
    cells=_cells,
)


def _open_alerts(db: Session, principal: Principal, ids: list[int]) -> dict[int, list[Alert]]:
    if not ids:
        return {}
    found: dict[int, list[Alert]] = {}
    stmt = restrict(
        select(Alert).where(
            Alert.status == "open",
            Alert.subject_type == SUBJECT,
            Alert.subject_id.in_([str(i) for i in ids]),
        ),
        principal,
        "read",
    )
    for alert in db.scalars(stmt):
        found.setdefault(int(alert.subject_id or 0), []).append(alert)
    return found


@router.get("/network", response_class=HTMLResponse)
def network_page(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[str, Query(pattern=r"^(active|halted)?$")] = "",
) -> Response:
    """The upstream (when this platform has one) and the children within scope; ``?format=
    xlsx`` exports the children."""
    stmt = restrict(select(Child), principal, "read")
    if status:
        stmt = stmt.where(Child.status == status)
    if params.exporting:
        return listing.export(request, db, CHILDREN, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, CHILDREN.order_for(params))
    rows = list(paged.rows)
    now = utcnow()
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, CHILDREN, params),
        "status": status,
        "statuses": {s.value: s for s in ChildStatus},
        "places": regions.display_names(db=db, codes=(c.region_code for c in rows)),
        "lags": {c.id: service.lag_seconds(c, now) for c in rows},
        "alerts": _open_alerts(db, principal, [c.id for c in rows]),
        "upstream": _upstream(db, settings) if forward.configured(settings) else None,
        "origin": ledger.log_identity().origin,
        "pending": count_total(
            db,
            restrict(select(Application), principal, "read").where(
                Application.status == ApplicationStatus.PENDING
            ),
        ),
    }
    return render(request, "networking/network.html", context)


def _upstream(db: Session, settings: Any) -> dict[str, Any]:
    state = forward.status(db)
    waiting = state.pop("relays_waiting")
    names = {
        child_id: name
        for child_id, name in db.execute(
            select(Child.id, Child.name).where(Child.id.in_(list(waiting)))
        )
    }
    return {
        **state,
        "url": settings.upstream_url,
        "key_id": settings.upstream_key_id,
        # the children's facts whose relay waits for the child's checkpoint, by child
        "relays_waiting": [(i, names.get(i, str(i)), n) for i, n in sorted(waiting.items())],
    }


@router.get("/network/children/register", response_class=HTMLResponse)
def register_form(request: Request, principal: Manager) -> Response:
    return render(request, "networking/register.html", {"values": {}, "errors": {}})


@router.post("/network/children/register", response_class=HTMLResponse)
@text_fields(multiline=("log_key", "public_key"))
def register(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Manager, form: PostedForm
) -> Response:
    values = {
        k: str(form.get(k) or "").strip()
        for k in ("name", "region_code", "base_url", "log_key", "public_key")
    }
    try:
        problems = _problems(db, principal, values)
        if problems:
            raise ValidationFailed(errors=problems)
        public = values["public_key"].encode()
        made = service.register_child(
            db,
            settings,
            name=values["name"],
            region_code=values["region_code"],
            base_url=values["base_url"],
            log_key=values["log_key"],
            public_key=public or None,
            user_id=principal.user_id,
        )
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        errors = errors_by_field(error.errors) if isinstance(error, ValidationFailed) else {}
        context = {"values": values, "errors": errors, "error": error.on_page}
        return render(request, "networking/register.html", context, status_code=error.status)
    shown = made.key.as_dict()
    response = render(
        request,
        "networking/registered.html",
        {"child": made.child, "key": made.key.key, "secret": shown["secret"]},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _problems(db: Session, principal: Principal, values: dict[str, str]) -> list[FieldError]:
    """Every field's problem at once, before anything is written: the region within the
    account's scope, and the service's own checks of the address and the keys (their forms and
    lengths), each asked for on its own."""
    problems = []
    if (region := _region_problem(db, principal, values["region_code"])) is not None:
        problems.append(region)
    problems += _caught(lambda: service.check_base_url(values["base_url"]))
    problems += _caught(lambda: service.log_origin(values["log_key"]))
    problems += _caught(lambda: service.check_public_key(values["public_key"].encode()))
    return problems


def _caught(check: Callable[[], object]) -> list[FieldError]:
    """The field errors ``check`` raises (none when it passes)."""
    try:
        check()
    except ValidationFailed as error:
        return list(error.errors)
    return []


def _region_problem(db: Session, principal: Principal, code: str) -> FieldError | None:
    """Why a child may not be registered for region ``code``: a current region below the
    account's own."""
    if not is_valid_code(code):
        return FieldError("region_code", "请填写 6 位行政区划代码，如 360100")
    if problem := regions.problem(db=db, code=code):
        return problem
    if not principal.covers_region(code):
        return FieldError("region_code", "只能登记本账号辖区内的下级平台")
    if code == principal.region_code:
        return FieldError("region_code", "下级平台的辖区须在本辖区之下，不能是本辖区本身")
    return None


def entry_label(entry_type: str) -> str:
    """How a page names the type of a child's leaf: a lab's message by its type's title, a fact
    of the child's by its tag's label."""
    if entry_type.startswith(ENTRY_PREFIX):
        kind = message_types().get(entry_type.removeprefix(ENTRY_PREFIX))
        return f"报送消息：{kind.title}" if kind is not None else "报送消息（本平台没有该类型）"
    return label_of("tag", entry_type)


# a run of English words: what a detail quotes of a library's exception text
_ENGLISH = re.compile(r"[A-Za-z]{2,}[\s'\"]+[A-Za-z]{2,}")


def refusal(problem: dict[str, Any] | None) -> str:
    """Why a leaf was refused, as the page says it: the problem's title, then its fields'
    messages when it has them (the API's detail only points to them), else its detail, cut
    before what it quotes of a library's English (a signature's exception text)."""
    if not problem:
        return "拒收"
    title = str(problem.get("title") or "拒收")
    fields = [
        str(e["message"])
        for e in problem.get("errors") or []
        if isinstance(e, dict) and e.get("message")
    ]
    if fields:
        return f"{title}：{'；'.join(fields)}"
    detail = str(problem.get("detail") or "")
    head, colon, tail = detail.partition("：")
    if colon and _ENGLISH.search(tail):
        detail = head
    return f"{title}：{detail}" if detail and detail != title else title


def _refused_rows(rows: Sequence[Forwarded]) -> list[dict[str, Any]]:
    return [
        {
            "index": r.origin_index,
            "type": entry_label(r.entry_type) if r.entry_type else "—",
            "reason": refusal(r.problem),
            "received_at": r.received_at,
        }
        for r in rows
    ]


@router.get("/network/children/{child_id}", response_class=HTMLResponse)
def child_page(request: Request, child_id: Id, db: SessionDep, principal: Reader) -> Response:
    return _child_page(request, db, principal, get_scoped(db, Child, child_id, principal, "read"))


def _child_page(
    request: Request,
    db: Session,
    principal: Principal,
    child: Child,
    *,
    keys_form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    now = utcnow()
    counts = service.outcomes(db, [child.id])[child.id]
    offered = log_keys.offered(db, child)
    context = {
        "child": child,
        "status": ChildStatus(child.status),
        "place": regions.display_names(db=db, codes=[child.region_code]).get(child.region_code, ""),
        "lag": service.lag_seconds(child, now),
        "counts": [(o, counts.get(o.value, 0)) for o in Outcome],
        "here": service.applied_here(db, child),
        "relays_waiting": forward.relays_waiting(db).get(child.id, 0),
        "refused": _refused_rows(service.refused(db, child)),
        "attestations": {a.value: a for a in Attestation},
        "alerts": _open_alerts(db, principal, [child.id]).get(child.id, []),
        "rule_title": rule_title,
        # only an active child's log is checked every minute (a halted one waits for its resume)
        "stale": child.status == ChildStatus.ACTIVE
        and child.checked_at is not None
        and now - child.checked_at > dt.timedelta(minutes=10),
        # the log keys pinned from its relays, and its relays refused for naming another
        "pinned": log_keys.pinned(db, child),
        "offered": offered,
        "known": log_keys.known(db, {o.origin for o in offered}),
        "waiting": log_keys.waiting_counts(db, child),
        "rejudged": [(o, n) for o, n in log_keys.rejudged(db, child).items()],
        "keys_form": keys_form or {},
    }
    return render(request, "networking/child.html", context, status_code=status_code)


@router.post("/network/children/{child_id}/resume", response_class=HTMLResponse)
def resume(
    request: Request, child_id: Id, db: SessionDep, principal: Manager, form: PostedForm
) -> Response:
    child = get_scoped(db, Child, child_id, principal, "manage")
    service.resume_child(db, child, forget_log=form.get("forget_log") == "1")
    return redirect(f"/network/children/{child.id}?done=resumed")


def _picked(form: PostedForm, name: str) -> int:
    """The id of the row picked from the page's list (an id column can hold it)."""
    picked = form_id(form.get(name) or "")
    if picked is None:
        why = "请从页面的列表中选择要处理的一项"
        raise ValidationFailed(why, errors=[FieldError(name, why)])
    return picked


@router.post("/network/children/{child_id}/log-keys", response_class=HTMLResponse)
@text_fields(multiline=("reason",))
def change_log_key(
    request: Request,
    child_id: Id,
    db: SessionDep,
    settings: SettingsDep,
    principal: Manager,
    form: PostedForm,
) -> Response:
    """Re-pin a log relayed by the child to the key one of its refused relays named
    (``action=repin``, ``refusal``: the relays refused for naming it are judged again), unpin
    it (``action=unpin``, ``pin``), or judge again the relays refused for naming the key pinned
    (``action=rejudge``, ``pin``), with a reason."""
    child = get_scoped(db, Child, child_id, principal, "manage")
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "")
    try:
        if action == "repin":
            picked = _picked(form, "refusal")
            log_keys.repin(db, settings, child, picked, reason)
        elif action == "unpin":
            picked = _picked(form, "pin")
            log_keys.unpin(db, child, picked, reason)
        elif action == "rejudge":
            picked = _picked(form, "pin")
            log_keys.rejudge_pinned(db, settings, child, picked, reason)
        else:
            raise ValidationFailed("请选择记下转报所附的公钥，或取消记下的公钥")
    except (ValidationFailed, Conflict, NotFound) as failed:
        db.rollback()
        child = get_scoped(db, Child, child_id, principal, "read")
        errors = errors_by_field(failed.errors) if isinstance(failed, ValidationFailed) else {}
        form_state = {
            "action": action,
            "picked": str(form.get("refusal" if action == "repin" else "pin") or "")[:20],
            "reason": reason[: log_keys.MAX_REASON * 2],
            "errors": errors,
            "error": failed.on_page,
        }
        return _child_page(
            request, db, principal, child, keys_form=form_state, status_code=failed.status
        )
    done = {"repin": "repinned", "unpin": "unpinned", "rejudge": "rejudged"}[action]
    return redirect(f"/network/children/{child.id}?done={done}")
