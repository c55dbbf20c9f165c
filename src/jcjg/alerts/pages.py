"""Alert pages: open alerts with filters and counts per rule, one alert, the rules and their
thresholds per region (set by principals with ``rule:configure``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from jcjg.alerts import cases, evidence, service
from jcjg.alerts import lists as alert_lists
from jcjg.alerts.choices import FIGURE, AlertStatus, CaseAction, CaseStatus, Severity
from jcjg.alerts.engine import Rule, rule_of, rules
from jcjg.alerts.lists import ALERTS
from jcjg.alerts.models import Alert
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.catalogue.regulations import citer
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import BadRequest, FieldError, NotFound, ValidationFailed, errors_by_field
from jcjg.core.evidence import serve as serve_evidence
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.memo import TimedMemo
from jcjg.core.pagecache import shared_page
from jcjg.core.pagination import Order, PageParams, page_params
from jcjg.core.regioncodes import is_valid_code
from jcjg.core.templating import redirect, render, render_list
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
# a fact drawn, not listed: the path of an image of the evidence (a re-used curve's overlay),
# shown to who may read test records
FIGURE_READ = "test_record:read"
AlertReader = Annotated[Principal, Depends(requires("alert:read"))]
RuleConfigurer = Annotated[Principal, Depends(requires("rule:configure"))]
SEVERITY_PATTERN = "^(" + "|".join(s.value for s in Severity) + ")?$"

_CHOICES: dict[str, Any] = {
    "severities": {s.value: s for s in Severity},
    "statuses": {s.value: s for s in AlertStatus},
    "case_statuses": {s.value: s for s in CaseStatus},
    "case_actions": CaseAction,
}


@router.get("/alerts", response_class=HTMLResponse)
@shared_page  # its scope's readers share it a few seconds (core.pagecache)
def alerts_page(
    request: Request,
    db: SessionDep,
    principal: AlertReader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    rule_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str, Query(pattern=r"^(open|closed|withdrawn|all)$")] = "open",
    region_code: Annotated[str | None, Query(max_length=16)] = None,
    institution_id: Annotated[str | None, Query(max_length=12)] = None,
    handling: Annotated[str | None, Query(pattern=service.HANDLING_PATTERN)] = None,
    severity: Annotated[str | None, Query(pattern=SEVERITY_PATTERN)] = None,
    project_id: Annotated[str | None, Query(max_length=12)] = None,
    age: Annotated[str | None, Query(pattern=service.AGE_PATTERN)] = None,
) -> Response:
    """The alerts within scope, filtered and sorted; an htmx request from the filters, the
    headers or the pager gets the results alone (``render_list``); ``?format=xlsx`` the
    filtered alerts as a spreadsheet (``core.listing``)."""
    chosen = _ListFilters.read(
        status=status,
        region_code=region_code,
        institution_id=institution_id,
        handling=handling,
        severity=severity,
        project_id=project_id,
        age=age,
    )
    figures = request.app.state.figures
    chosen.check_region(_choices(db, principal, figures)[2])
    if params.exporting:
        if chosen.errors:
            raise BadRequest("；".join(chosen.errors.values()))
        stmt = service.scoped(principal=principal, rule_id=rule_id or None, **chosen.search)
        return listing.export(request, db, ALERTS, stmt, params, user_id=principal.user_id)
    context = _list_context(db, principal, paging, rule_id or None, chosen, figures,
                            ALERTS.order_for(params))  # fmt: skip
    context["listing"] = Listing.of(request, ALERTS, params)
    return render_list(
        request,
        "alerts/list.html",
        context,
        results="alerts/_results.html",
        filters="alerts/_filters.html",
    )


@dataclass(frozen=True)
class _ListFilters:
    """The alert list's filters as the service takes them (``search``), as the form shows them
    again (``shown``), and what was wrong with them (by field, in Chinese)."""

    search: dict[str, Any]
    shown: dict[str, str]
    errors: dict[str, str]

    @classmethod
    def read(
        cls,
        *,
        status: str,
        region_code: str | None,
        institution_id: str | None,
        handling: str | None,
        severity: str | None,
        project_id: str | None,
        age: str | None,
    ) -> _ListFilters:
        errors: dict[str, str] = {}
        region = (region_code or "").strip() or None
        if region and not is_valid_code(region):
            errors["region_code"] = "行政区划代码应为 6 位数字，如 360400"
            region = None
        institution = _chosen_id(institution_id, "institution_id", "请选择检测机构", errors)
        project = _chosen_id(project_id, "project_id", "请选择工程项目", errors)
        now = utcnow()
        search: dict[str, Any] = {
            "status": status,
            "region_code": region,
            "institution_id": institution,
            "handling": handling or None,
            "today": beijing_date(now),
            "severity": severity or None,
            "project_id": project,
            "age": age or None,
            "now": now,
        }
        shown = {
            "status": status,
            "region_code": (region_code or "").strip(),
            "institution_id": str(institution or ""),
            "handling": handling or "",
            "severity": severity or "",
            "project_id": str(project or ""),
            "age": age or "",
        }
        return cls(search, shown, errors)

    def check_region(self, offered: list[tuple[str, str]]) -> None:
        """A region the filter's menu does not offer (none of the alerts within scope is in
        it) is said beside the filter; the list then finds nothing."""
        region = self.search["region_code"]
        if region and region not in dict(offered):
            self.errors["region_code"] = "该行政区划不在当前账号的数据范围内，或其中没有预警"


def _chosen_id(raw: str | None, name: str, message: str, errors: dict[str, str]) -> int | None:
    """The id a filter's menu chose (None for all); ``message`` in ``errors`` when not an id."""
    if not raw or not raw.strip():
        return None
    chosen = form_id(raw)
    if chosen is None:
        errors[name] = message
    return chosen


def _choices(db: Session, principal: Principal, figures: TimedMemo) -> tuple[Any, Any, Any]:
    """The filters' choices (institutions, projects, regions), those of the whole scope, kept
    for a while (core.memo)."""
    found, _ = figures.get(
        ("alerts:choices", principal.scope_key),
        lambda: (
            service.institutions_with_alerts(db=db, principal=principal),
            service.projects_with_alerts(db=db, principal=principal),
            service.regions_with_alerts(db=db, principal=principal),
        ),
    )
    return found


def _list_context(
    db: Session,
    principal: Principal,
    paging: PageParams,
    rule_id: str | None,
    chosen: _ListFilters,
    figures: TimedMemo,
    order: Order,
) -> dict[str, Any]:
    paged, total, counts = service.page(
        db=db, principal=principal, paging=paging, rule_id=rule_id, order=order, view=ALERTS,
        **chosen.search,
    )  # fmt: skip
    rows = paged.rows
    institutions, projects, places = _choices(db, principal, figures)
    rule_ids = sorted(set(rules()) | set(counts))
    return {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "counts": [(i, service.rule_title(i), counts.get(i, 0)) for i in rule_ids],
        "institutions": institutions,
        "names": dict(institutions),
        "errors": chosen.errors,
        "filters": chosen.shown | {"rule_id": rule_id or ""},
        # the filters but the rule, for the links of the counts and (with the rule) the pager
        "query": urlencode(chosen.shown),
        "handlings": service.HANDLINGS,
        "ages": [(k, v[0]) for k, v in service.AGES.items()],
        "projects": projects,
        "places": places,
        "place_names": alert_lists.region_names(db, rows),
        "status_of": alert_lists.status,
        "bulk": principal.can(cases.HANDLE),
        "filters_today": chosen.search["today"],
        "case_of": {c.alert_id: c for c in cases.cases_of(db, [r.id for r in rows])},
        "rule_title": service.rule_title,
        **_CHOICES,
    }


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
        "cite": citer(db, links=True),
        "views": service.rule_views(db=db, region_code=region),
        "region": region,
        "region_name": regions.display_name(db=db, code=region),
        "can_configure": can_configure,
        "failed_rule": None,
        "failed_basis": None,
        "values": {},
        "errors": {},
        "error": None,
        **_CHOICES,
    }
    context.update(extra)
    return context


def _rule_form(rule_id: str, form: Any) -> tuple[Rule, dict[str, str], str]:
    """A rule form's rule, its fields and the region it sets (an unknown one: not found)."""
    rule = service.get_rule(rule_id)
    raw = form.values()
    region = raw.get("region_code", "")
    if not is_valid_code(region):
        raise NotFound(f"行政区划 {region} 不存在")
    return rule, raw, region


def _refused(
    request: Request, db: Session, principal: Principal, region: str, rule: Rule,
    error: ValidationFailed, **extra: Any,
) -> Response:  # fmt: skip
    """The rules page again, the refused form open with its errors (nothing written)."""
    db.rollback()
    context = _rules_context(
        db,
        principal,
        service.viewing_region(db=db, principal=principal, region_code=region),
        failed_rule=rule.id,
        errors=errors_by_field(error.errors),
        error=error.detail,
        **extra,
    )
    return render(request, "alerts/rules.html", context, status_code=422)


@router.post("/alerts/rules/{rule_id}/thresholds", response_class=HTMLResponse)
def thresholds_form(
    request: Request, rule_id: str, db: SessionDep, principal: RuleConfigurer, form: PostedForm
) -> Response:
    rule, raw, region = _rule_form(rule_id, form)
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
        submitted = {k: raw.get(f"t_{k}", "") for k in rule.defaults}
        return _refused(request, db, principal, region, rule, error, values=submitted)
    return redirect(f"/alerts/rules?region_code={region}&saved={rule.id}#rule-{rule.id}")


@router.post("/alerts/rules/{rule_id}/basis", response_class=HTMLResponse)
def basis_form(
    request: Request, rule_id: str, db: SessionDep, principal: RuleConfigurer, form: PostedForm
) -> Response:
    """A region's own basis for a rule (its documents' articles, cited after the national)."""
    rule, raw, region = _rule_form(rule_id, form)
    clause = raw.get("clause", "")
    try:
        service.set_basis(
            db=db, principal=principal, rule_id=rule.id, region_code=region, clause=clause
        )
    except ValidationFailed as error:
        return _refused(request, db, principal, region, rule, error, failed_basis=clause)
    return redirect(f"/alerts/rules?region_code={region}&based={rule.id}#rule-{rule.id}")


def _detail_context(db: Session, principal: Principal, alert: Alert) -> dict[str, Any]:
    rule = rule_of(alert.rule_id)
    institution = db.get(Institution, alert.institution_id) if alert.institution_id else None
    raw = alert.facts or {}
    facts = [(rule.label(k) if rule else k, k, v) for k, v in raw.items() if k != FIGURE]
    figure = raw.get(FIGURE)
    if not (isinstance(figure, str) and figure.startswith("/") and principal.can(FIGURE_READ)):
        figure = None
    case = cases.case_of(db, alert)
    return {
        "alert": alert,
        "rule": rule,
        "rule_clause": service.rule_clause(db, rule, alert.region_code) if rule else "",
        "responsible_choices": cases.responsible_choices(db, alert),
        "cite": citer(db, links=True),
        "rule_title": service.rule_title(alert.rule_id),
        "institution": institution,
        "region_name": regions.display_name(db=db, code=alert.region_code),
        "facts": facts,
        "figure": figure,
        # the rule's own words for its drawing (its label of the ``figure`` fact)
        "figure_caption": (rule.labels.get(FIGURE, "") if rule else "") or "证据图",
        "evidence": evidence.links(db, alert, principal.can),
        "case": case,
        "case_status": cases.status_of(case),
        "events": cases.events_of(db, case),
        "actions": cases.allowed_actions(principal, alert, case),
        "needs_note": cases.NEEDS_NOTE,
        "needs_deadline": cases.NEEDS_DEADLINE,
        "escalated_name": regions.display_name(db=db, code=case.escalated_to) if case else "",
        "default_deadline": cases.default_deadline(utcnow()),
        "today": beijing_date(utcnow()),
        "form": {},
        "errors": {},
        "done": None,
        **_CHOICES,
    }


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_detail(
    request: Request, alert_id: Id, db: SessionDep, principal: AlertReader
) -> Response:
    alert = service.get_alert(db=db, principal=principal, alert_id=alert_id)
    context = _detail_context(db, principal, alert)
    done = request.query_params.get("done", "")
    context["done"] = CaseAction(done) if done in set(CaseAction) else None  # the step just taken
    return render(request, "alerts/detail.html", context)


@router.post("/alerts/{alert_id}/case", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def alert_case_action(
    request: Request,
    alert_id: Id,
    db: SessionDep,
    settings: SettingsDep,
    principal: AlertReader,
    form: PostedForm,
) -> Response:
    """One step of the alert's handling, from the alert's page (PC or phone)."""
    alert = service.get_alert(db=db, principal=principal, alert_id=alert_id)
    values = form.values()
    if not values.get("action"):  # no action is preselected: the form says what is missing
        context = _detail_context(db, principal, alert)
        context |= {"form": values, "errors": {"action": "请选择处理操作"}}
        return render(request, "alerts/detail.html", context, status_code=422)
    try:
        action = CaseAction(values.get("action", ""))
    except ValueError:
        raise ValidationFailed(errors=[FieldError("action", "未知的处理操作")]) from None
    try:
        evidence = [cases.Upload(f.filename, f.data) for f in form.files_of("evidence")]
        cases.act(
            db=db, settings=settings, principal=principal, alert=alert, action=action,
            now=utcnow(), note=values.get("note", ""), deadline=values.get("deadline"),
            responsible=values.get("responsible", ""), evidence=evidence,
        )  # fmt: skip
    except ValidationFailed as error:
        db.rollback()
        context = _detail_context(db, principal, alert)
        context |= {"form": values | {"action": action.value},
                    "errors": errors_by_field(error.errors)}  # fmt: skip
        return render(request, "alerts/detail.html", context, status_code=422)
    return redirect(f"/alerts/{alert.id}?done={action.value}#case")


BULK_ACTIONS = (CaseAction.CONFIRM, CaseAction.DISMISS)
MAX_BULK = 200


@router.post("/alerts/bulk", response_class=HTMLResponse)
def alerts_bulk(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: AlertReader,
    form: PostedForm,
) -> Response:
    """Confirm or dismiss (with one reason) the alerts ticked on the list: all of them or, when
    one cannot be (out of scope, already handled, no reason), none."""
    raw = form.getlist("alert_id")
    if not raw:
        raise ValidationFailed(errors=[FieldError("alert_id", "请先勾选预警")])
    if len(raw) > MAX_BULK:
        raise ValidationFailed(errors=[FieldError("alert_id", f"一次最多处理 {MAX_BULK} 条预警")])
    ids = {form_id(v) for v in raw}
    if None in ids:
        raise ValidationFailed(errors=[FieldError("alert_id", "所选预警的编号无效")])
    try:
        action = CaseAction(form.values().get("action", ""))
    except ValueError:
        action = None
    if action not in BULK_ACTIONS:
        raise ValidationFailed(errors=[FieldError("action", "批量操作只能是确认或排除")])
    now = utcnow()
    note = form.values().get("note", "")
    for alert_id in sorted(i for i in ids if i is not None):
        alert = service.get_alert(db=db, principal=principal, alert_id=alert_id)
        cases.act(db=db, settings=settings, principal=principal, alert=alert, action=action,
                  now=now, note=note)  # fmt: skip
    return redirect(f"/alerts?done={action.value}&n={len(set(raw))}")


@router.get("/alerts/{alert_id}/case/evidence/{sha256}")
def alert_case_evidence(
    alert_id: Id,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    db: SessionDep,
    settings: SettingsDep,
    principal: AlertReader,
) -> Response:
    """A file the institution uploaded as evidence of its rectification (to those who see the
    alert)."""
    alert = service.get_alert(db=db, principal=principal, alert_id=alert_id)
    files = [e for event in cases.events_of(db, cases.case_of(db, alert)) for e in event.evidence]
    return serve_evidence(settings, files, sha256)
