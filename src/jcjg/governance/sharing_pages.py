"""Pages of data sharing (数据共享): the catalogue's data sets, the consumers (with the key
each signs its queries with), a consumer's subscriptions (with masking and approval) and
deliveries (dead ones replayed), and every consumer's accesses (queries and packages)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core import listing
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import ListParams, list_params, page_context
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.governance import forms, sharing, sharing_access
from jcjg.governance.choices import (
    AccessKind,
    ConsumerKind,
    DataGrade,
    DataSetStatus,
    DeliveryStatus,
    Masking,
    SubscriptionStatus,
)
from jcjg.governance.models import Access, Consumer, DataSet, Delivery, Subscription
from jcjg.governance.quality_lists import type_title
from jcjg.governance.sharing_access import PREFIX
from jcjg.governance.sharing_lists import (
    ACCESSES,
    CONSUMERS,
    DATA_SETS,
    DELIVERIES,
    delivery_content,
    filters_text,
    names,
    sources,
)

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("sharing:read"))]
Manager = Annotated[Principal, Depends(requires("sharing:manage"))]
Approver = Annotated[Principal, Depends(requires("sharing:approve"))]
Paging = Annotated[PageParams, Depends(page_params)]
Params = Annotated[ListParams, Depends(list_params)]
MASK_ROWS = 5
MAX_MASK_ROWS = 100  # a message type's fields are fewer
DONE = {
    "saved": "已保存。",
    "published": "数据集已发布，可供订阅。",
    "subscribed": "已订阅：生效后，新入库的数据即脱敏推送。",
    "decided": "已审核。",
    "stopped": "订阅已停止：不再推送、查询或下载；共享对象可重新申请，须经审核。",
    "replayed": "失败的推送已重新排队。",
    "key": "公钥已登记：共享对象用对应的私钥签名查询与下载请求。",
    "suspended": "共享对象已暂停：不能查询或下载，推送暂停，恢复后继续推送。",
    "active": "共享对象已恢复：可以查询、下载，推送继续。",
}
_WORDS: dict[str, Any] = {
    "grades": DataGrade,
    "set_statuses": DataSetStatus,
    "kinds": ConsumerKind,
    "maskings": Masking,
    "subscription_statuses": SubscriptionStatus,
    "delivery_statuses": DeliveryStatus,
    "access_kinds": AccessKind,
    "type_title": type_title,
    "delivery_content": delivery_content,
    "sources": sources,
    "filters_text": filters_text,
    "api_prefix": PREFIX,
}


@router.get("/governance/sharing", response_class=HTMLResponse)
def data_sets(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    grade: Annotated[str, Query(pattern=r"^(|public|conditional|restricted)$")] = "",
    status: Annotated[str, Query(pattern=r"^(|draft|published|withdrawn)$")] = "",
    q: Annotated[str, Query(max_length=64)] = "",
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The catalogue: data sets by grade, status and words; ``?format=xlsx`` exports it."""
    stmt = select(DataSet)
    if grade:
        stmt = stmt.where(DataSet.grade == grade)
    if status:
        stmt = stmt.where(DataSet.status == status)
    if q:
        stmt = stmt.where(
            DataSet.name.contains(q)
            | DataSet.category.contains(q)
            | DataSet.description.contains(q)
        )
    if params.exporting:
        return listing.export(request, db, DATA_SETS, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, DATA_SETS, stmt, paging, params)
    context.update(
        _WORDS,
        filters={"grade": grade, "status": status, "q": q},
        done=DONE.get(done, ""),
        types=sharing.source_titles(),
        form={},
        errors={},
    )
    return render(request, "governance/sharing_sets.html", context)


@router.post("/governance/sharing/data-sets", response_class=HTMLResponse)
@text_fields(multiline=("description",))
def data_set_create(
    request: Request, db: SessionDep, principal: Manager, form: PostedForm
) -> Response:
    values: dict[str, Any] = {
        k: form.get(k) or ""
        for k in ("code", "name", "category", "description", "message_type", "grade")
    }
    values["more_types"] = form.getlist("more_types")
    sharing.save_data_set(db, principal, values)  # a refusal: the error page names each field
    return redirect("/governance/sharing?done=saved")


@router.post("/governance/sharing/data-sets/{data_set_id}/publish", response_class=HTMLResponse)
def data_set_publish(db: SessionDep, principal: Approver, data_set_id: Id) -> Response:
    sharing.publish_data_set(db, principal, forms.get(db, DataSet, data_set_id, "数据集"))
    return redirect("/governance/sharing?done=published")


@router.get("/governance/sharing/consumers", response_class=HTMLResponse)
def consumers(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    kind: Annotated[str, Query(pattern=r"^(|department|bank|public|other)$")] = "",
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The consumers; ``?format=xlsx`` exports them."""
    stmt = select(Consumer)
    if kind:
        stmt = stmt.where(Consumer.kind == kind)
    if params.exporting:
        return listing.export(request, db, CONSUMERS, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, CONSUMERS, stmt, paging, params)
    context.update(_WORDS, filters={"kind": kind}, done=DONE.get(done, ""))
    return render(request, "governance/sharing_consumers.html", context)


@router.post("/governance/sharing/consumers", response_class=HTMLResponse)
def consumer_create(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Manager, form: PostedForm
) -> Response:
    values = {k: form.get(k) or "" for k in ("name", "kind", "contact", "endpoint")}
    consumer = sharing.save_consumer(db, principal, values, settings)
    return redirect(f"/governance/sharing/consumers/{consumer.id}?done=saved")


def _consumer_page(
    request: Request,
    db: Any,
    principal: Principal,
    consumer: Consumer,
    paging: PageParams,
    params: ListParams,
    status: str,
    done: str,
    settings: Settings,
) -> Response:
    subscriptions = db.execute(
        select(Subscription, DataSet)
        .join(DataSet, DataSet.id == Subscription.data_set_id)
        .where(Subscription.consumer_id == consumer.id)
        .order_by(Subscription.id)
    ).all()
    stmt = select(Delivery).where(
        Delivery.subscription_id.in_([s.id for s, _ in subscriptions] or [0])
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    if params.exporting:
        return listing.export(request, db, DELIVERIES, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, DELIVERIES, stmt, paging, params)
    published = db.scalars(
        select(DataSet)
        .where(DataSet.status == "published", DataSet.grade != "restricted")
        .order_by(DataSet.code)
    ).all()
    fields = {d.id: set_fields(db, d) for d in published}
    names = {d.id: shown_fields(db, d) for _s, d in subscriptions}
    context.update(
        _WORDS,
        consumer=consumer,
        subscriptions=subscriptions,
        published=published,
        fields=fields,
        names=names,
        mask_rows=range(MASK_ROWS),
        filters={"status": status},
        done=DONE.get(done, ""),
        key=sharing.public_key(settings),
        purposes=sharing_access.purposes(db, consumer.id),
    )
    return render(request, "governance/sharing_consumer.html", context)


def set_fields(db: Any, data_set: DataSet) -> dict[str, str]:
    """The fields a masking policy may name for ``data_set``, key -> words: a path of its one
    type (``people[].id_number`` -> 身份证号), else ``type:path`` -> the type and the field
    (检测报告（申领监管码）· 签字人的身份证号)."""
    types = data_set.message_types
    if len(types) == 1:
        return sharing.field_names(db, types[0])
    return {
        f"{t}:{path}": f"{type_title(t)} · {name}"
        for t in types
        for path, name in sharing.field_names(db, t).items()
    }


def shown_fields(db: Any, data_set: DataSet) -> dict[str, str]:
    """What a policy's keys are shown as: :func:`set_fields`, and in a set of several types a
    plain path (a field of each type that has it) as its element's name."""
    fields = set_fields(db, data_set)
    if len(data_set.message_types) == 1:
        return fields
    plain = {
        path: name
        for t in data_set.message_types
        for path, name in sharing.field_names(db, t).items()
    }
    return plain | fields


@router.get("/governance/sharing/consumers/{consumer_id}", response_class=HTMLResponse)
def consumer_detail(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    consumer_id: Id,
    paging: Paging,
    params: Params,
    status: Annotated[str, Query(pattern=r"^(|pending|delivered|dead)$")] = "",
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """A consumer: its subscriptions and their masking, its deliveries (by status;
    ``?format=xlsx`` exports them)."""
    consumer = forms.get(db, Consumer, consumer_id, "共享对象")
    return _consumer_page(request, db, principal, consumer, paging, params, status, done, settings)


@router.post(
    "/governance/sharing/consumers/{consumer_id}/subscriptions", response_class=HTMLResponse
)
@text_fields(multiline=("sensitive_words", "safe_words"))
def subscription_create(
    request: Request, db: SessionDep, principal: Manager, consumer_id: Id, form: PostedForm
) -> Response:
    consumer = forms.get(db, Consumer, consumer_id, "共享对象")
    chosen = form_id(form.get("data_set_id"))
    values = {
        "data_set_id": chosen,
        "masking": _masking(form),
        "sensitive_words": form.get("sensitive_words") or "",
        "safe_words": form.get("safe_words") or "",
    }
    sharing.subscribe(db, principal, consumer, values)
    return redirect(f"/governance/sharing/consumers/{consumer_id}?done=subscribed")


@router.post("/governance/sharing/consumers/{consumer_id}/key", response_class=HTMLResponse)
@text_fields(multiline=("public_key",))
def consumer_key(db: SessionDep, principal: Manager, consumer_id: Id, form: PostedForm) -> Response:
    """Register the Ed25519 public key the consumer signs its queries with."""
    consumer = forms.get(db, Consumer, consumer_id, "共享对象")
    sharing.register_key(db, consumer, form.get("public_key") or "")
    return redirect(f"/governance/sharing/consumers/{consumer_id}?done=key")


@router.post("/governance/sharing/consumers/{consumer_id}/status", response_class=HTMLResponse)
def consumer_status(
    db: SessionDep, principal: Manager, consumer_id: Id, form: PostedForm
) -> Response:
    """Suspend a consumer (its signed queries and packages refused, its deliveries held) or
    reinstate it."""
    consumer = forms.get(db, Consumer, consumer_id, "共享对象")
    sharing.set_consumer_status(consumer, form.get("status"))
    return redirect(f"/governance/sharing/consumers/{consumer_id}?done={consumer.status}")


@router.get("/governance/sharing/accesses", response_class=HTMLResponse)
def accesses(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    consumer_id: Id | None = None,
    data_set_id: Id | None = None,
    kind: Annotated[str, Query(pattern=r"^(|query|package|apply)$")] = "",
) -> Response:
    """Every answered query and package: who, which data set, the filters, how many rows
    (by consumer, data set and kind; ``?format=xlsx`` exports them)."""
    stmt = select(Access)
    if consumer_id:
        stmt = stmt.where(Access.consumer_id == consumer_id)
    if data_set_id:
        stmt = stmt.where(Access.data_set_id == data_set_id)
    if kind:
        stmt = stmt.where(Access.kind == kind)
    if params.exporting:
        return listing.export(request, db, ACCESSES, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, ACCESSES, stmt, paging, params)
    consumer_names, set_names = names(db, context["rows"])
    context.update(
        _WORDS,
        filters={"consumer_id": consumer_id, "data_set_id": data_set_id, "kind": kind},
        consumers=db.execute(select(Consumer.id, Consumer.name).order_by(Consumer.name)).all(),
        data_sets=db.execute(select(DataSet.id, DataSet.name).order_by(DataSet.code)).all(),
        consumer_names=consumer_names,
        set_names=set_names,
    )
    return render(request, "governance/sharing_accesses.html", context)


def _masking(form: PostedForm) -> dict[str, str]:
    """The policy of a form's rows (``path_<i>``, ``method_<i>``; a row without a field is
    left out)."""
    masking = {}
    for i in range(MAX_MASK_ROWS):
        if f"method_{i}" not in form:
            break
        path, method = form.get(f"path_{i}") or "", form.get(f"method_{i}") or ""
        if path:
            masking[path] = method
    return masking


@router.post(
    "/governance/sharing/subscriptions/{subscription_id}/decision", response_class=HTMLResponse
)
@text_fields(multiline=("note",))
def subscription_decide(
    db: SessionDep, principal: Approver, subscription_id: Id, form: PostedForm
) -> Response:
    subscription = forms.get(db, Subscription, subscription_id, "订阅")
    sharing.decide(
        db,
        principal,
        subscription,
        approve=form.get("decision") == "approve",
        note=form.get("note") or "",
        # the policy as the reviewer set it on the page (absent: the one asked for)
        masking=_masking(form) if "method_0" in form else None,
    )
    return redirect(f"/governance/sharing/consumers/{subscription.consumer_id}?done=decided")


@router.post(
    "/governance/sharing/subscriptions/{subscription_id}/stop", response_class=HTMLResponse
)
@text_fields(multiline=("note",))
def subscription_stop(
    db: SessionDep, principal: Approver, subscription_id: Id, form: PostedForm
) -> Response:
    subscription = forms.get(db, Subscription, subscription_id, "订阅")
    sharing.stop(db, subscription, note=form.get("note") or "")
    return redirect(f"/governance/sharing/consumers/{subscription.consumer_id}?done=stopped")


@router.post("/governance/sharing/consumers/{consumer_id}/replay", response_class=HTMLResponse)
def deliveries_replay(db: SessionDep, principal: Manager, consumer_id: Id) -> Response:
    consumer = forms.get(db, Consumer, consumer_id, "共享对象")
    ids = select(Subscription.id).where(Subscription.consumer_id == consumer.id)
    dead = db.scalars(
        select(Delivery).where(Delivery.subscription_id.in_(ids), Delivery.status == "dead")
    ).all()
    sharing.replay(db, dead)
    return redirect(f"/governance/sharing/consumers/{consumer_id}?done=replayed")


@router.get("/governance/sharing/key")
def sharing_key(settings: SettingsDep) -> JSONResponse:
    """The key id and public key (base64 of its 32 raw bytes) a consumer verifies the
    platform's deliveries with (RFC 9421 ``keyid``, ``alg`` ``ed25519``); public, as the log's
    key is (``/ledger/key``)."""
    return JSONResponse(sharing.public_key(settings))
