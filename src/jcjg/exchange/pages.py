"""Pages of the exchange (000 6.0.8, 6.0.4): applying for access and its approval, the keys of a
client (issued, rotated with an overlap, revoked), and the monitoring of what clients sent.

Who may do what: ``exchange_client:read`` sees clients, keys and monitoring within scope;
``exchange_client:apply`` applies for its institution and gets or rotates keys of approved
clients; ``exchange_client:approve`` decides applications, suspends and resumes clients, revokes
keys, and registers clients (a platform peer for a region) itself. Every lookup goes through
``get_scoped`` / ``restrict``: another institution's or region's client is simply not found.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import AlertStatus
from jcjg.alerts.models import Alert
from jcjg.alerts.service import rule_title
from jcjg.auth.choices import ScopeKind
from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import (
    PROBLEM_TYPES,
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    errors_by_field,
)
from jcjg.core.forms import Id, Posted, PostedForm
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.patterns import PHONE
from jcjg.core.regioncodes import is_valid_code
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.exchange import clients as service
from jcjg.exchange.choices import KEY_STATE_LABELS, ClientKind, ClientStatus
from jcjg.exchange.lists import CLIENTS, institution_names
from jcjg.exchange.models import Client, ClientKey, ClientStat
from jcjg.exchange.monitor import AWAITING_FILES, hour_of, is_rejection
from jcjg.exchange.signatures import ALG_ED25519, ALG_HMAC_SHA256, ALG_SM2_SM3, SM2VerifyingKey
from jcjg.exchange.types import message_types
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("exchange_client:read"))]
Applicant = Annotated[Principal, Depends(requires("exchange_client:apply"))]
Approver = Annotated[Principal, Depends(requires("exchange_client:approve"))]

MAX_PUBLIC_KEY_BYTES = 16 * 1024
MAX_HOURS = 24 * 7
OUTCOME_LABELS = {
    "accepted": "已受理",
    "duplicate": "重复报送（返回原回执）",
    "stored": "文件已保存",
    "chunk": "分块已接收",
    "upload_created": "续传任务已创建",
    AWAITING_FILES: "待补传文件（上传后重发）",
}
ALG_LABELS = {
    ALG_ED25519: "Ed25519（机构生成密钥对，只上传公钥）",
    ALG_SM2_SM3: "SM2（国密，机构生成密钥对，只上传公钥）",
    ALG_HMAC_SHA256: "HMAC-SHA256（平台生成共享密钥）",
}
EXCHANGE_RULES = ("client_silent", "client_error_spike")
DONE = {
    "applied": "接入申请已提交，请等待主管部门审批。",
    "registered": "接入方已登记，待审批。",
    "approved": "已批准接入申请，现在可以签发密钥。",
    "rejected": "已驳回接入申请。",
    "suspended": "已停用该接入方：其请求将一律被拒绝。",
    "resumed": "已恢复该接入方。",
    "rate": "已保存该接入方的请求上限。",
    "revoked": "密钥已吊销，使用该密钥签名的请求将被拒绝。",
}
_CHOICES: dict[str, Any] = {
    "statuses": {s.value: s for s in ClientStatus},
    "kinds": {k.value: k for k in ClientKind},
    "key_states": KEY_STATE_LABELS,
    "algs": ALG_LABELS,
}


# --- labels and numbers ------------------------------------------------------------------------


def outcome_label(outcome: str) -> str:
    """Chinese for an outcome: a success, or the title of the problem that refused it."""
    if outcome in OUTCOME_LABELS:
        return OUTCOME_LABELS[outcome]
    kind = PROBLEM_TYPES.get(outcome)
    return kind.title if kind is not None else outcome


def type_label(message_type: str) -> str:
    if not message_type:
        return "文件上传"
    kind = message_types().get(message_type)
    return kind.title if kind is not None else message_type


def human_bytes(size: int) -> str:
    """``1536`` -> ``1.5 KB``."""
    if size < 1024:
        return f"{size} B"
    value, unit = size / 1024, "KB"
    for bigger in ("MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


@dataclass
class Tally:
    """Requests of one group: how many, how many refused, how many waited for files to be
    uploaded (the normal upload-then-resend step, no rejection), bytes, latency."""

    count: int = 0
    rejected: int = 0
    awaiting_files: int = 0
    bytes: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0

    def add(
        self, outcome: str, count: int, size: int, latency_sum: float, latency_max: float
    ) -> None:
        self.count += count
        if outcome == AWAITING_FILES:
            self.awaiting_files += count
        elif is_rejection(outcome):
            self.rejected += count
        self.bytes += size
        self.latency_ms_sum += latency_sum
        self.latency_ms_max = max(self.latency_ms_max, latency_max)

    @property
    def accepted(self) -> int:
        return self.count - self.rejected

    @property
    def latency_ms_mean(self) -> float | None:
        return self.latency_ms_sum / self.count if self.count else None

    @property
    def rejected_ratio(self) -> float | None:
        return self.rejected / self.count if self.count else None


@dataclass
class Traffic:
    """What the clients of ``ids`` sent from ``since`` on, from the hourly counters."""

    since: dt.datetime
    total: Tally = field(default_factory=Tally)
    by_client: dict[int, Tally] = field(default_factory=lambda: defaultdict(Tally))
    # (client id, message type, outcome) -> tally
    detail: dict[tuple[int, str, str], Tally] = field(default_factory=dict)
    # (hour, accepted, refused) for every hour of the window, oldest first
    hours: list[tuple[dt.datetime, int, int]] = field(default_factory=list)


def traffic(db: Session, ids: Select[Any], hours: int, now: dt.datetime) -> Traffic:
    """Sum the counters of the clients selected by ``ids`` over the last ``hours`` hours (the
    current hour included)."""
    since = hour_of(now) - dt.timedelta(hours=hours - 1)
    out = Traffic(since=since)
    where = (ClientStat.hour >= since, ClientStat.client_id.in_(ids.scalar_subquery()))
    rows = db.execute(
        select(
            ClientStat.client_id,
            ClientStat.message_type,
            ClientStat.outcome,
            func.sum(ClientStat.count),
            func.sum(ClientStat.bytes),
            func.sum(ClientStat.latency_ms_sum),
            func.max(ClientStat.latency_ms_max),
        )
        .where(*where)
        .group_by(ClientStat.client_id, ClientStat.message_type, ClientStat.outcome)
    ).all()
    for client_id, message_type, outcome, count, size, latency_sum, latency_max in rows:
        numbers = (
            int(count or 0),
            int(size or 0),
            float(latency_sum or 0),
            float(latency_max or 0),
        )
        out.total.add(outcome, *numbers)
        out.by_client[client_id].add(outcome, *numbers)
        detail = out.detail.setdefault((client_id, message_type, outcome), Tally())
        detail.add(outcome, *numbers)
    per_hour: dict[dt.datetime, list[int]] = defaultdict(lambda: [0, 0])
    for hour, outcome, count in db.execute(
        select(ClientStat.hour, ClientStat.outcome, func.sum(ClientStat.count))
        .where(*where)
        .group_by(ClientStat.hour, ClientStat.outcome)
    ).all():
        per_hour[hour][1 if is_rejection(outcome) else 0] += int(count or 0)
    for step in range(hours):
        hour = since + dt.timedelta(hours=step)
        accepted, refused = per_hour.get(hour, (0, 0))
        out.hours.append((hour, accepted, refused))
    return out


def open_alerts(db: Session, principal: Principal, ids: list[int]) -> dict[int, list[Alert]]:
    """Open alerts of the exchange's rules about the clients ``ids``, per client (only for
    principals who may read alerts, and within their scope)."""
    if not ids or not principal.can("alert:read"):
        return {}
    stmt = restrict(
        select(Alert)
        .where(
            Alert.status == AlertStatus.OPEN.value,
            Alert.rule_id.in_(EXCHANGE_RULES),
            Alert.subject_type == "exchange_client",
            Alert.subject_id.in_([str(i) for i in ids]),
        )
        .order_by(Alert.last_seen_at.desc()),
        principal,
        "read",
    )
    out: dict[int, list[Alert]] = defaultdict(list)
    for alert in db.scalars(stmt):
        if alert.subject_id and alert.subject_id.isdecimal():
            out[int(alert.subject_id)].append(alert)
    return out


def _key_counts(clients: list[Client], now: dt.datetime) -> dict[int, tuple[int, int]]:
    return {c.id: (sum(k.state(now) == "valid" for k in c.keys), len(c.keys)) for c in clients}


# --- the list ----------------------------------------------------------------------------------


@router.get("/exchange/clients", response_class=HTMLResponse)
def clients_page(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[str, Query(pattern=r"^(pending|active|rejected|suspended)?$")] = "",
) -> Response:
    """The clients within scope, waiting applications first, filtered and sorted;
    ``?format=xlsx`` exports them (contacts masked)."""
    stmt = restrict(select(Client), principal, "read")
    if status:
        stmt = stmt.where(Client.status == status)
    if params.exporting:
        return listing.export(request, db, CLIENTS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, CLIENTS.order_for(params))
    rows = list(paged.rows)
    pending = int(
        db.scalar(
            select(func.count()).select_from(
                restrict(
                    select(Client).where(Client.status == ClientStatus.PENDING.value),
                    principal,
                    "read",
                ).subquery()
            )
        )
        or 0
    )
    now = utcnow()
    ids = select(Client.id).where(Client.id.in_([c.id for c in rows]))
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, CLIENTS, params),
        "status": status,
        "pending": pending,
        "names": institution_names(db, rows),
        "key_counts": _key_counts(rows, now),
        "traffic": traffic(db, ids, 24, now) if rows else None,
        "alerts": open_alerts(db, principal, [c.id for c in rows]),
        **_CHOICES,
    }
    return render(request, "exchange/clients.html", context)


# --- applying and registering ------------------------------------------------------------------


def _own_institution(db: Session, principal: Principal) -> Institution | None:
    if principal.scope_kind is ScopeKind.INSTITUTION and principal.institution_id is not None:
        return db.get(Institution, principal.institution_id)
    return None


def _institution_choices(db: Session, principal: Principal) -> list[Institution]:
    if principal.scope_kind is ScopeKind.INSTITUTION or not principal.can("institution:read"):
        return []
    return list(
        db.scalars(restrict(select(Institution), principal, "read").order_by(Institution.code))
    )


def _apply_context(
    db: Session, principal: Principal, mode: str, values: dict[str, str], **extra: Any
) -> dict[str, Any]:
    own = _own_institution(db, principal)
    return {
        "mode": mode,
        "own": own,
        "institutions": [] if own else _institution_choices(db, principal),
        "may_register_peer": principal.scope_kind in (ScopeKind.GLOBAL, ScopeKind.REGION),
        "values": values,
        "errors": extra.pop("errors", {}),
        "error": extra.pop("error", None),
        **_CHOICES,
        **extra,
    }


def _text(
    values: dict[str, str],
    name: str,
    label: str,
    limit: int,
    errors: list[FieldError],
    *,
    required: bool = True,
) -> str | None:
    value = values.get(name, "")
    if not value:
        if required:
            errors.append(FieldError(name, f"请填写{label}", "missing"))
        return None
    if len(value) > limit:
        errors.append(FieldError(name, f"{label}不能超过 {limit} 个字符", "string_too_long"))
    return value[:limit]


def _platform_region_problem(db: Session, principal: Principal, code: str) -> FieldError | None:
    """Why another platform may not be registered for region ``code`` (None when it may): a
    current region within the account's own."""
    if not is_valid_code(code):
        return FieldError("region_code", "请填写 6 位行政区划代码，如 360400")
    if problem := regions.problem(db=db, code=code):
        return problem
    if not principal.covers_region(code):
        return FieldError("region_code", "只能登记本账号辖区内的平台")
    return None


def _create_from_form(db: Session, principal: Principal, values: dict[str, str]) -> Client:
    """Validate the application form and create the pending client, or raise ValidationFailed
    with every field's problem at once (nothing written)."""
    errors: list[FieldError] = []
    name = _text(values, "name", "业务系统名称", 100, errors)
    vendor = _text(values, "vendor", "开发厂商", 100, errors, required=False)
    contact_name = _text(values, "contact_name", "联系人", 64, errors)
    phone = _text(values, "contact_phone", "联系电话", 32, errors)
    if phone and not re.fullmatch(PHONE, phone):
        errors.append(
            FieldError("contact_phone", "联系电话格式不正确，如 13812345678 或 0792-8123456")
        )
    purpose = _text(values, "purpose", "接入用途", 500, errors)
    institution = _own_institution(db, principal)
    kind = ClientKind.LIMS
    region_code: str | None = None
    if institution is None and principal.scope_kind is ScopeKind.INSTITUTION:
        errors.append(FieldError("institution_id", "本账号没有关联检测机构，不能申请接入"))
    elif institution is None:
        raw_kind = values.get("kind", ClientKind.LIMS.value)
        if raw_kind not in _CHOICES["kinds"]:
            errors.append(FieldError("kind", "请选择接入方类型"))
        else:
            kind = ClientKind(raw_kind)
        if kind is ClientKind.LIMS:
            raw = values.get("institution_id", "")
            chosen = [i for i in _institution_choices(db, principal) if str(i.id) == raw]
            if not chosen:
                errors.append(FieldError("institution_id", "请选择辖区内的检测机构"))
            else:
                institution = chosen[0]
        else:
            region_code = values.get("region_code", "")
            if problem := _platform_region_problem(db, principal, region_code):
                errors.append(problem)
    if errors:
        raise ValidationFailed("申请信息有误，请按提示修改", errors=errors)
    assert name is not None
    return service.create_client(
        db,
        name=name,
        institution=institution,
        region_code=region_code,
        kind=kind,
        status=ClientStatus.PENDING,
        applied_by_id=principal.user_id,
        vendor=vendor,
        contact_name=contact_name,
        contact_phone=phone,
        purpose=purpose,
    )


def _submit(
    request: Request, db: Session, principal: Principal, mode: str, form: Posted
) -> Response:
    values = form.values()
    try:
        client = _create_from_form(db, principal, values)
    except ValidationFailed as error:
        db.rollback()
        context = _apply_context(
            db, principal, mode, values, errors=errors_by_field(error.errors), error=error.detail
        )
        return render(request, "exchange/apply.html", context, status_code=422)
    return redirect(
        f"/exchange/clients/{client.id}?done={'applied' if mode == 'apply' else 'registered'}"
    )


@router.get("/exchange/clients/apply", response_class=HTMLResponse)
def apply_form(request: Request, db: SessionDep, principal: Applicant) -> Response:
    return render(request, "exchange/apply.html", _apply_context(db, principal, "apply", {}))


@router.post("/exchange/clients/apply", response_class=HTMLResponse)
@text_fields(multiline=("purpose",))
def apply(request: Request, db: SessionDep, principal: Applicant, form: PostedForm) -> Response:
    return _submit(request, db, principal, "apply", form)


@router.get("/exchange/clients/register", response_class=HTMLResponse)
def register_form(request: Request, db: SessionDep, principal: Approver) -> Response:
    return render(request, "exchange/apply.html", _apply_context(db, principal, "register", {}))


@router.post("/exchange/clients/register", response_class=HTMLResponse)
@text_fields(multiline=("purpose",))
def register(request: Request, db: SessionDep, principal: Approver, form: PostedForm) -> Response:
    return _submit(request, db, principal, "register", form)


# --- one client --------------------------------------------------------------------------------


def _detail(
    request: Request,
    db: Session,
    principal: Principal,
    client: Client,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    now = utcnow()
    users = {
        u.id: u
        for u in db.scalars(
            select(User).where(
                User.id.in_([i for i in (client.applied_by_id, client.decided_by_id) if i])
            )
        )
    }
    active = client.status == ClientStatus.ACTIVE.value
    approver = principal.can("exchange_client:approve")
    institution = db.get(Institution, client.institution_id) if client.institution_id else None
    context: dict[str, Any] = {
        "client": client,
        "institution": institution,
        "region_name": regions.display_name(db=db, code=client.region_code),
        "applied_by": users.get(client.applied_by_id or 0),
        "decided_by": users.get(client.decided_by_id or 0),
        "keys": [(k, k.state(now)) for k in client.keys],
        "has_valid_key": any(k.state(now) in {"valid", "not_yet_valid"} for k in client.keys),
        "traffic": traffic(db, select(Client.id).where(Client.id == client.id), 24, now),
        "alerts": open_alerts(db, principal, [client.id]).get(client.id, []),
        "can_decide": approver and client.status == ClientStatus.PENDING.value,
        "can_suspend": approver and active,
        "can_resume": approver and client.status == ClientStatus.SUSPENDED.value,
        "can_issue": principal.can("exchange_client:apply") and active,
        "can_revoke": approver,
        "can_limit": approver and client.status != ClientStatus.REJECTED.value,
        "default_rate": request.app.state.settings.exchange_rate_limit_per_minute,
        "configured_rate": service.configured_rate(
            request.app.state.settings, client.id, institution.code if institution else None
        ),
        "done": DONE.get(request.query_params.get("done", "")),
        "failed": None,
        "values": {},
        "errors": {},
        "error": None,
        "key_days": request.app.state.settings.exchange_key_days,
        "overlap_days": request.app.state.settings.exchange_rotation_overlap_days,
        "type_label": type_label,
        "outcome_label": outcome_label,
        "size": human_bytes,
        "rule_title": rule_title,
        **_CHOICES,
    }
    context.update(extra)
    shown = {
        "decision": context["can_decide"],
        "issue": context["can_issue"],
        "rotate": context["can_issue"] and context["has_valid_key"],
    }
    if not shown.get(context["failed"]):  # the form is gone (decided meanwhile): say it on top
        context["failed"] = None
    return render(request, "exchange/client.html", context, status_code=status_code)


@router.get("/exchange/clients/{client_id}", response_class=HTMLResponse)
def client_page(request: Request, client_id: Id, db: SessionDep, principal: Reader) -> Response:
    client = get_scoped(db, Client, client_id, principal, "read")
    return _detail(request, db, principal, client)


@router.post("/exchange/clients/{client_id}/decision", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def decide(
    request: Request, client_id: Id, db: SessionDep, principal: Approver, form: PostedForm
) -> Response:
    client = get_scoped(db, Client, client_id, principal, "approve")
    values = form.values()
    decision, note = values.get("decision", ""), values.get("note", "")
    try:
        if decision not in {"approve", "reject"}:
            raise ValidationFailed(errors=[FieldError("decision", "请选择批准或驳回")])
        if len(note) > 200:
            raise ValidationFailed(errors=[FieldError("note", "审批意见不能超过 200 个字符")])
        if decision == "reject" and not note:
            raise ValidationFailed(errors=[FieldError("note", "驳回时须填写理由，申请人将看到它")])
        service.decide(
            db, client, approve=decision == "approve", user_id=principal.user_id, note=note or None
        )
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _detail(
            request,
            db,
            principal,
            client,
            status_code=error.status,
            failed="decision",
            values=values,
            errors=errors_by_field(error.errors),
            error=error.errors[0].message if error.errors else error.detail,
        )
    return redirect(
        f"/exchange/clients/{client.id}?done={'approved' if decision == 'approve' else 'rejected'}"
    )


def _set_suspended(
    request: Request, client_id: int, db: Session, principal: Principal, suspended: bool
) -> Response:
    client = get_scoped(db, Client, client_id, principal, "approve")
    try:
        service.set_suspended(db, client, suspended)
    except Conflict as error:
        db.rollback()
        return _detail(request, db, principal, client, status_code=409, error=error.detail)
    return redirect(f"/exchange/clients/{client.id}?done={'suspended' if suspended else 'resumed'}")


@router.post("/exchange/clients/{client_id}/rate-limit", response_class=HTMLResponse)
def set_rate_limit(
    request: Request, client_id: Id, db: SessionDep, principal: Approver, form: PostedForm
) -> Response:
    """The client's own limit of requests a minute (blank: the platform's)."""
    client = get_scoped(db, Client, client_id, principal, "approve")
    values = form.values()
    try:
        service.set_rate_limit(db, client, values.get("rate_limit_per_minute", ""))
    except ValidationFailed as error:
        db.rollback()
        return _detail(request, db, principal, client, status_code=422, failed="rate",
                       values=values, errors=errors_by_field(error.errors),
                       error=error.errors[0].message)  # fmt: skip
    return redirect(f"/exchange/clients/{client.id}?done=rate")


@router.post("/exchange/clients/{client_id}/suspend", response_class=HTMLResponse)
def suspend(request: Request, client_id: Id, db: SessionDep, principal: Approver) -> Response:
    return _set_suspended(request, client_id, db, principal, True)


@router.post("/exchange/clients/{client_id}/resume", response_class=HTMLResponse)
def resume(request: Request, client_id: Id, db: SessionDep, principal: Approver) -> Response:
    return _set_suspended(request, client_id, db, principal, False)


# --- keys --------------------------------------------------------------------------------------


def _key_form(form: Posted) -> tuple[str, bytes | None, dict[str, str]]:
    """The algorithm and the public key (pasted, or uploaded as a file) of a key form."""
    alg = str(form.get("alg") or "")
    pasted = str(form.get("public_key") or "").strip()
    data = form.file("public_key_file")
    if data is not None:
        if len(data) > MAX_PUBLIC_KEY_BYTES:
            raise ValidationFailed(
                errors=[FieldError("public_key", "公钥文件过大，应为几百字节的 PEM 文件")]
            )
        if pasted:
            raise ValidationFailed(
                errors=[FieldError("public_key", "请只提供一种：粘贴公钥或上传公钥文件")]
            )
        if not data.strip():
            raise ValidationFailed(errors=[FieldError("public_key", "上传的公钥文件是空的")])
    elif pasted:
        if len(pasted) > MAX_PUBLIC_KEY_BYTES:
            raise ValidationFailed(
                errors=[FieldError("public_key", "公钥过长，应为几百字节的 PEM")]
            )
        data = pasted.encode("utf-8")
    return alg, data, {"alg": alg, "public_key": pasted}


def _issue(
    request: Request,
    client_id: int,
    db: Session,
    principal: Principal,
    form: Posted,
    *,
    rotate: bool,
) -> Response:
    settings = request.app.state.settings
    client = get_scoped(db, Client, client_id, principal, "apply")
    values: dict[str, str] = {}
    now = utcnow()
    previous = [k for k in client.keys if k.state(now) in {"valid", "not_yet_valid"}]
    try:
        alg, public_key, values = _key_form(form)
        if rotate:
            issued = service.rotate(db, client, settings, alg=alg, public_key=public_key)
        else:
            issued = service.issue_key(db, client, settings, alg=alg, public_key=public_key)
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _detail(
            request,
            db,
            principal,
            client,
            status_code=error.status,
            failed="rotate" if rotate else "issue",
            values=values,
            errors=errors_by_field(error.errors),
            error=error.errors[0].message if error.errors else error.detail,
        )
    shown = issued.as_dict()
    context = {
        "client": client,
        "key": issued.key,
        "secret": shown["secret"],
        "rotated": rotate,
        "previous": previous if rotate else [],
        "overlap_days": settings.exchange_rotation_overlap_days,
        **_CHOICES,
    }
    response = render(request, "exchange/key_issued.html", context)
    # The secret is in this page only: no cache, no history copy, no proxy may keep it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@router.post("/exchange/clients/{client_id}/keys", response_class=HTMLResponse)
@text_fields(multiline=("public_key",))
def issue_key(
    request: Request, client_id: Id, db: SessionDep, principal: Applicant, form: PostedForm
) -> Response:
    return _issue(request, client_id, db, principal, form, rotate=False)


@router.post("/exchange/clients/{client_id}/keys/rotate", response_class=HTMLResponse)
@text_fields(multiline=("public_key",))
def rotate_key(
    request: Request, client_id: Id, db: SessionDep, principal: Applicant, form: PostedForm
) -> Response:
    return _issue(request, client_id, db, principal, form, rotate=True)


KeyId = Annotated[str, Path(max_length=64)]


def _scoped_key(db: Session, principal: Principal, key_id: str, action: str) -> ClientKey:
    stmt = restrict(select(ClientKey).where(ClientKey.key_id == key_id), principal, action)
    key: ClientKey | None = db.scalars(stmt).first()
    if key is None:
        raise NotFound("密钥不存在，或不在本账号的数据范围内")
    return key


def _public_key_view(key: ClientKey) -> dict[str, str] | None:
    if key.alg == ALG_SM2_SM3:
        pem = SM2VerifyingKey(key.key_material).public_pem().decode()
    elif key.alg == ALG_ED25519:
        public = Ed25519PublicKey.from_public_bytes(key.key_material)
        pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    else:
        return None
    return {
        "pem": pem,
        "raw": base64.b64encode(key.key_material).decode(),
        "sha256": hashlib.sha256(key.key_material).hexdigest(),
    }


def _key_page(
    request: Request,
    db: Session,
    principal: Principal,
    key: ClientKey,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "key": key,
        "client": key.client,
        "state": key.state(utcnow()),
        "public": _public_key_view(key),
        "can_revoke": principal.can("exchange_client:approve") and key.revoked_at is None,
        "values": {},
        "errors": {},
        "error": None,
        **_CHOICES,
    }
    context.update(extra)
    return render(request, "exchange/key.html", context, status_code=status_code)


@router.get("/exchange/keys/{key_id}", response_class=HTMLResponse)
def key_page(request: Request, key_id: KeyId, db: SessionDep, principal: Reader) -> Response:
    return _key_page(request, db, principal, _scoped_key(db, principal, key_id, "read"))


@router.post("/exchange/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(
    request: Request, key_id: KeyId, db: SessionDep, principal: Approver, form: PostedForm
) -> Response:
    key = _scoped_key(db, principal, key_id, "approve")
    reason = str(form.get("reason") or "").strip()
    try:
        if len(reason) > 200:
            raise ValidationFailed(errors=[FieldError("reason", "吊销原因不能超过 200 个字符")])
        service.revoke(db, key, reason)
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _key_page(
            request,
            db,
            principal,
            key,
            status_code=error.status,
            values={"reason": reason},
            errors=errors_by_field(error.errors),
            error=error.errors[0].message if error.errors else error.detail,
        )
    return redirect(f"/exchange/clients/{key.client_id}?done=revoked#keys")


# --- monitoring --------------------------------------------------------------------------------


@router.get("/exchange/monitor", response_class=HTMLResponse)
def monitor_page(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS)] = 24,
    client_id: Id | None = None,
) -> Response:
    now = utcnow()
    scoped = restrict(select(Client), principal, "read")
    if client_id is not None:
        scoped = scoped.where(Client.id == client_id)
    ids = restrict(select(Client.id), principal, "read")
    if client_id is not None:
        ids = ids.where(Client.id == client_id)
    seen = traffic(db, ids, hours, now)
    clients = [
        c
        for c in db.scalars(scoped.order_by(Client.name, Client.id))
        if c.status in {ClientStatus.ACTIVE.value, ClientStatus.SUSPENDED.value}
        or c.id in seen.by_client
    ]
    alerts = open_alerts(db, principal, [c.id for c in clients])
    clients.sort(
        key=lambda c: (
            not alerts.get(c.id),
            -seen.by_client[c.id].rejected if c.id in seen.by_client else 0,
            c.name,
        )
    )
    by_id = {c.id: c for c in clients}
    detail = sorted(
        (
            (by_id[cid], mtype, outcome, tally)
            for (cid, mtype, outcome), tally in seen.detail.items()
            if cid in by_id
        ),
        key=lambda row: (row[0].name, row[0].id, row[1], row[3].rejected > 0, row[2]),
    )
    tz = settings.tz
    chart = {
        "hours": [h.astimezone(tz).strftime("%m-%d %H:00") for h, _, _ in seen.hours],
        "accepted": [a for _, a, _ in seen.hours],
        "refused": [r for _, _, r in seen.hours],
    }
    context = {
        "hours": hours,
        "client_id": client_id,
        "filtered": by_id.get(client_id or 0),
        "clients": clients,
        "traffic": seen,
        "detail": detail,
        "alerts": alerts,
        "open_alerts": [a for c in clients for a in alerts.get(c.id, [])],
        "names": institution_names(db, clients),
        "chart": chart,
        "type_label": type_label,
        "outcome_label": outcome_label,
        "size": human_bytes,
        "rule_title": rule_title,
        **_CHOICES,
    }
    return render(request, "exchange/monitor.html", context)
