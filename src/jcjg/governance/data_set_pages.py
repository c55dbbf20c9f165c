"""Pages of the catalogue's life (数据集变更): a data set's page (its facts, its subscriptions
by status, the change waiting for review and its history), asking for a change (edit,
regrade, withdraw), deciding one, and the list of every change (docs/sharing.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from jcjg.core import listing
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import page_context
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.governance import data_set_changes, forms
from jcjg.governance.choices import (
    DataGrade,
    DataSetChangeKind,
    DataSetChangeStatus,
    DataSetStatus,
    SubscriptionStatus,
)
from jcjg.governance.models import DataSet, DataSetChange, Subscription
from jcjg.governance.quality_lists import type_title
from jcjg.governance.sharing_lists import (
    DATA_SET_CHANGES,
    change_names,
    change_text,
    effects_text,
    sources,
)
from jcjg.governance.sharing_pages import Approver, Manager, Paging, Params, Reader

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
HISTORY = 20  # changes shown on a data set's page (the list has them all)
DONE = {
    "asked": "变更已提出，待另一名工作人员审核后生效。",
    "applied": "变更已审核生效。",
    "rejected": "变更未批准，数据集保持不变。",
}
_WORDS = {
    "grades": DataGrade,
    "change_kinds": DataSetChangeKind,
    "change_statuses": DataSetChangeStatus,
    "set_statuses": DataSetStatus,
    "subscription_statuses": SubscriptionStatus,
    "change_text": change_text,
    "effects_text": effects_text,
    "type_title": type_title,
    "sources": sources,
}


@router.get("/governance/sharing/data-sets/{data_set_id}", response_class=HTMLResponse)
def data_set_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    data_set_id: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """A data set: its facts, its subscriptions by status, the change waiting for review (and
    the forms to ask for one or decide it), its latest changes."""
    data_set = forms.get(db, DataSet, data_set_id, "数据集")
    history = db.scalars(
        select(DataSetChange)
        .where(DataSetChange.data_set_id == data_set.id)
        .order_by(DataSetChange.id.desc())
        .limit(HISTORY)
    ).all()
    counts = dict(
        db.execute(
            select(Subscription.status, func.count())
            .where(Subscription.data_set_id == data_set.id)
            .group_by(Subscription.status)
        ).all()
    )
    _sets, users = change_names(db, history)
    context = {
        **_WORDS,
        "data_set": data_set,
        "history": history,
        "pending": data_set_changes.pending_change(db, data_set),
        "counts": counts,
        "users": users,
        "done": DONE.get(done, ""),
    }
    return render(request, "governance/sharing_set.html", context)


@router.post("/governance/sharing/data-sets/{data_set_id}/changes", response_class=HTMLResponse)
@text_fields(multiline=("description", "reason"))
def data_set_change(
    request: Request, db: SessionDep, principal: Manager, data_set_id: Id, form: PostedForm
) -> Response:
    """Ask for a change of a published data set (edit, regrade or withdraw), with its reason."""
    data_set = forms.get(db, DataSet, data_set_id, "数据集")
    values = {
        k: form.get(k) or "" for k in ("kind", "reason", "name", "category", "description", "grade")
    }
    data_set_changes.propose(db, principal, data_set, values)
    return redirect(f"/governance/sharing/data-sets/{data_set.id}?done=asked")


@router.post("/governance/sharing/changes/{change_id}/decision", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def data_set_change_decide(
    db: SessionDep, principal: Approver, change_id: Id, form: PostedForm
) -> Response:
    """Approve (applied at once) or refuse a data set's change."""
    change = forms.get(db, DataSetChange, change_id, "数据集变更")
    data_set_changes.decide(
        db,
        principal,
        change,
        approve=form.get("decision") == "approve",
        note=form.get("note") or "",
    )
    return redirect(f"/governance/sharing/data-sets/{change.data_set_id}?done={change.status}")


@router.get("/governance/sharing/changes", response_class=HTMLResponse)
def changes(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    data_set_id: Id | None = None,
    kind: Annotated[str, Query(pattern=r"^(|edit|regrade|withdraw)$")] = "",
    status: Annotated[str, Query(pattern=r"^(|pending|applied|rejected)$")] = "",
) -> Response:
    """Every data set's changes: by data set, kind and status (``?format=xlsx`` exports
    them)."""
    stmt = select(DataSetChange)
    if data_set_id:
        stmt = stmt.where(DataSetChange.data_set_id == data_set_id)
    if kind:
        stmt = stmt.where(DataSetChange.kind == kind)
    if status:
        stmt = stmt.where(DataSetChange.status == status)
    if params.exporting:
        return listing.export(
            request, db, DATA_SET_CHANGES, stmt, params, user_id=principal.user_id
        )
    context = page_context(request, db, DATA_SET_CHANGES, stmt, paging, params)
    set_names, users = change_names(db, context["rows"])
    context.update(
        _WORDS,
        filters={"data_set_id": data_set_id, "kind": kind, "status": status},
        data_sets=db.execute(select(DataSet.id, DataSet.name).order_by(DataSet.code)).all(),
        set_names=set_names,
        users=users,
    )
    return render(request, "governance/sharing_changes.html", context)
