"""The inbox (``/inbox``) and each user's notification settings (``/account/notifications``),
with the messages sent to them and how each went."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select, update

from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, restrict
from jcjg.core import domains, listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import FieldError, ValidationFailed, errors_by_field
from jcjg.core.forms import PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.masking import mask_email, mask_phone
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.notify.choices import Channel, DeliveryStatus
from jcjg.notify.lists import DELIVERIES, INBOX, masked, user_names
from jcjg.notify.models import Delivery, Notification, NotifyPreference
from jcjg.notify.service import KIND_LABELS, preference, unread

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Account = Annotated[Principal, Depends(requires("account:manage"))]
LogReader = Annotated[Principal, Depends(requires("notify:read"))]


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    db: SessionDep,
    principal: Account,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    kind: Annotated[str | None, Query(max_length=32)] = None,
    state: Annotated[str | None, Query(pattern=r"^(unread|read)?$")] = None,
) -> Response:
    """The account's own notifications, the newest first: by kind and read or not, sortable,
    paged, exported as the other lists."""
    if kind and kind not in KIND_LABELS:
        raise ValidationFailed(errors=[FieldError("query.kind", "没有这种通知类别")])
    stmt = select(Notification).where(Notification.user_id == principal.user_id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if state == "unread":
        stmt = stmt.where(Notification.read_at.is_(None))
    elif state == "read":
        stmt = stmt.where(Notification.read_at.is_not(None))
    if params.exporting:
        return listing.export(request, db, INBOX, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, INBOX.order_for(params))
    context = {
        "rows": paged.rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, INBOX, params),
        "filters": {"kind": kind or "", "state": state or ""},
        "unread": unread(db, principal.user_id or 0),
        "kinds": KIND_LABELS,
    }
    return render(request, "notify/inbox.html", context)


@router.post("/inbox/read", response_class=HTMLResponse)
def mark_read(request: Request, db: SessionDep, principal: Account, form: PostedForm) -> Response:
    """Mark one notification (``id``) or all of them read."""
    stmt = update(Notification).where(
        Notification.user_id == principal.user_id, Notification.read_at.is_(None)
    )
    one = (form.get("id") or "").strip()
    if one:
        ident = form_id(one)
        if ident is None:
            raise ValidationFailed(errors=[FieldError("id", "通知编号无效")])
        stmt = stmt.where(Notification.id == ident)
    db.execute(stmt.values(read_at=utcnow()))
    return redirect("/inbox")


def _settings_context(db: SessionDep, principal: Principal) -> dict[str, Any]:
    user = db.get(User, principal.user_id)
    assert user is not None
    deliveries = db.scalars(
        select(Delivery)
        .where(Delivery.user_id == principal.user_id)
        .order_by(Delivery.id.desc())
        .limit(20)
    ).all()
    return {
        "pref": preference(db, user.id),
        "email": mask_email(user.email) if user.email else "",
        "phone": mask_phone(user.phone) if user.phone else "",
        "rules": sorted(domains.rule_titles().items()),
        "deliveries": deliveries,
        "form": None,
        "errors": {},
        **_DELIVERY_CHOICES,
    }


_DELIVERY_CHOICES: dict[str, Any] = {
    "mask": masked,
    "channels": {c.value: c for c in Channel},
    "statuses": {s.value: s for s in DeliveryStatus},
}


@router.get("/account/notifications", response_class=HTMLResponse)
def notification_settings(request: Request, db: SessionDep, principal: Account) -> Response:
    return render(request, "notify/settings.html", _settings_context(db, principal))


def _time(value: str, field: str, errors: list[FieldError]) -> dt.time | None:
    if not value:
        return None
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(field, "时间应为 时:分，如 22:00"))
        return None


@router.post("/account/notifications", response_class=HTMLResponse)
def save_notification_settings(
    request: Request, db: SessionDep, principal: Account, form: PostedForm
) -> Response:
    values = form.values()
    errors: list[FieldError] = []
    chosen = form.getlist("rules")
    known = domains.rule_titles()
    unknown = [r for r in chosen if r not in known]
    if unknown:
        errors.append(FieldError("rules", "未知的预警规则"))
    start = _time(values.get("quiet_start", ""), "quiet_start", errors)
    end = _time(values.get("quiet_end", ""), "quiet_end", errors)
    if (start is None) != (end is None):
        errors.append(FieldError("quiet_end", "免打扰时段需要开始和结束时间"))
    if errors:
        context = _settings_context(db, principal)
        context |= {"form": values | {"rules": chosen}, "errors": errors_by_field(errors)}
        return render(request, "notify/settings.html", context, status_code=422)
    pref = db.scalars(
        select(NotifyPreference).where(NotifyPreference.user_id == principal.user_id)
    ).first()
    if pref is None:
        pref = NotifyPreference(user_id=principal.user_id)
        db.add(pref)
    pref.email_on = values.get("email_on") == "1"
    pref.sms_on = values.get("sms_on") == "1"
    pref.rules = sorted(set(chosen))
    pref.quiet_start, pref.quiet_end = start, end
    return redirect("/account/notifications?saved=1")


@router.get("/admin/deliveries", response_class=HTMLResponse)
def delivery_log(
    request: Request,
    db: SessionDep,
    principal: LogReader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[str | None, Query(pattern=r"^(sent|pending|failed)?$")] = None,
    channel: Annotated[str | None, Query(pattern=r"^(email|sms)?$")] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Every e-mail and SMS sent to the accounts within the reader's scope, newest first, with
    its outcome, attempts and the error of the last failure; addresses masked."""
    users = restrict(select(User.id), principal, "read")
    who = (q or "").strip()
    if who:
        # the same on both databases: case-insensitive, and % or _ typed are themselves
        like = who.lower()
        users = users.where(
            or_(
                func.lower(User.username).contains(like, autoescape=True),
                func.lower(User.display_name).contains(like, autoescape=True),
            )
        )
    stmt = select(Delivery).where(Delivery.user_id.in_(users))
    if channel:
        stmt = stmt.where(Delivery.channel == channel)
    counts = dict(
        db.execute(
            stmt.with_only_columns(Delivery.status, func.count()).group_by(Delivery.status)
        ).all()
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    if params.exporting:
        return listing.export(request, db, DELIVERIES, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, DELIVERIES.order_for(params))
    rows = paged.rows
    names = user_names(db, rows)
    filters = {"status": status or "", "channel": channel or "", "q": who}
    context = {
        "deliveries": rows,
        "users": names,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, DELIVERIES, params),
        "counts": {s.value: int(counts.get(s.value, 0)) for s in DeliveryStatus},
        "filters": filters,
        "query": urlencode(filters),
        **_DELIVERY_CHOICES,
    }
    return render(request, "notify/deliveries.html", context)
