"""Alert pages: open alerts with filters and counts per rule, one alert, the rules and their
thresholds per region (set by principals with ``rule:configure``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from jcjg.alerts import service
from jcjg.alerts.choices import AlertStatus, Severity
from jcjg.alerts.engine import RULES
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import FieldError, NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import PostedForm
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.templating import redirect, render
from jcjg.regions import service as regions
from jcjg.regions.codes import is_valid_code
from jcjg.regions.models import Region
from jcjg.registry.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
AlertReader = Annotated[Principal, Depends(requires("alert:read"))]
RuleConfigurer = Annotated[Principal, Depends(requires("rule:configure"))]

_CHOICES: dict[str, Any] = {
    "severities": {s.value: s for s in Severity},
    "statuses": {s.value: s for s in AlertStatus},
}


def _region_name(db: Session, code: str | None) -> str:
    if not code or not is_valid_code(code) or db.get(Region, code) is None:
        return ""
    return regions.full_name(db=db, code=code)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    db: SessionDep,
    principal: AlertReader,
    paging: Annotated[PageParams, Depends(page_params)],
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str, Query(pattern=r"^(open|closed|all)$")] = "open",
    region_code: Annotated[str | None, Query(max_length=16)] = None,
    institution_id: Annotated[str | None, Query(max_length=12)] = None,
) -> Response:
    errors: dict[str, str] = {}
    region = (region_code or "").strip() or None
    if region and not is_valid_code(region):
        errors["region_code"] = "行政区划代码应为 6 位数字，如 360400"
        region = None
    institution: int | None = None
    if institution_id and institution_id.strip():
        if institution_id.strip().isdecimal():
            institution = int(institution_id.strip())
        else:
            errors["institution_id"] = "请选择检测机构"
    filters: dict[str, Any] = {
        "status": status,
        "region_code": region,
        "institution_id": institution,
    }
    rows, total = service.search(
        db=db,
        principal=principal,
        offset=paging.offset,
        limit=paging.limit,
        rule_id=rule_id or None,
        **filters,
    )
    counts = service.counts_by_rule(db=db, principal=principal, **filters)
    institutions = service.institutions_with_alerts(db=db, principal=principal)
    names = dict(institutions)
    rule_ids = sorted(set(RULES) | set(counts))
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "counts": [(i, service.rule_title(i), counts.get(i, 0)) for i in rule_ids],
        "institutions": institutions,
        "names": names,
        "errors": errors,
        "filters": {
            "rule_id": rule_id or "",
            "status": status,
            "region_code": (region_code or "").strip(),
            "institution_id": str(institution or ""),
        },
        "rule_title": service.rule_title,
        **_CHOICES,
    }
    return render(request, "alerts/list.html", context)


@router.get("/alerts/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    db: SessionDep,
    principal: AlertReader,
    region_code: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    region = service.viewing_region(
        db=db, principal=principal, region_code=(region_code or "").strip() or None
    )
    return render(request, "alerts/rules.html", _rules_context(db, principal, region))


def _rules_context(
    db: Session, principal: Principal, region: str | None, **extra: Any
) -> dict[str, Any]:
    can_configure = (
        principal.can("rule:configure") and region is not None and principal.covers_region(region)
    )
    context: dict[str, Any] = {
        "views": service.rule_views(db=db, region_code=region),
        "region": region,
        "region_name": _region_name(db, region),
        "can_configure": can_configure,
        "failed_rule": None,
        "values": {},
        "errors": {},
        "error": None,
        **_CHOICES,
    }
    context.update(extra)
    return context


@router.post("/alerts/rules/{rule_id}/thresholds", response_class=HTMLResponse)
def thresholds_form(
    request: Request, rule_id: str, db: SessionDep, principal: RuleConfigurer, form: PostedForm
) -> Response:
    rule = service.get_rule(rule_id)
    raw = form.values()
    region = raw.get("region_code", "")
    if not is_valid_code(region):
        raise NotFound(f"行政区划 {region} 不存在")
    values: dict[str, float] = {}
    errors: list[FieldError] = []
    for key in rule.defaults:
        text = raw.get(f"t_{key}", "")
        if not text:
            continue
        try:
            values[key] = float(text)
        except ValueError:
            errors.append(FieldError(f"body.{key}", "应为数字", "float_type"))
    try:
        if errors:
            raise ValidationFailed("阈值设置有误", errors=errors)
        service.set_thresholds(
            db=db, principal=principal, rule_id=rule.id, region_code=region, values=values
        )
    except ValidationFailed as error:
        db.rollback()
        field_errors = errors_by_field(error.errors)
        submitted = {k: raw.get(f"t_{k}", "") for k in rule.defaults}
        context = _rules_context(
            db,
            principal,
            service.viewing_region(db=db, principal=principal, region_code=region),
            failed_rule=rule.id,
            values=submitted,
            errors=field_errors,
            error=error.detail,
        )
        return render(request, "alerts/rules.html", context, status_code=422)
    return redirect(f"/alerts/rules?region_code={region}&saved={rule.id}#rule-{rule.id}")


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_detail(
    request: Request, alert_id: int, db: SessionDep, principal: AlertReader
) -> Response:
    alert = service.get_alert(db=db, principal=principal, alert_id=alert_id)
    rule = RULES.get(alert.rule_id)
    institution = db.get(Institution, alert.institution_id) if alert.institution_id else None
    facts = [(rule.label(k) if rule else k, k, v) for k, v in (alert.facts or {}).items()]
    context = {
        "alert": alert,
        "rule": rule,
        "rule_title": service.rule_title(alert.rule_id),
        "institution": institution,
        "region_name": _region_name(db, alert.region_code),
        "facts": facts,
        **_CHOICES,
    }
    return render(request, "alerts/detail.html", context)
