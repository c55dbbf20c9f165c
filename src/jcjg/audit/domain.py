"""The audit domain: the audit trail and its pages."""

from fastapi import Request

from jcjg.audit import exports, jobs, models
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_denial
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.deps import audit_context
from jcjg.core.domains import AppSetup, Domain, NavEntry
from jcjg.core.errors import AppError, CsrfFailed, PermissionDenied


def _audit_denials(request: Request, error: AppError) -> None:
    """Permission denials and CSRF failures are audited even though the request rolled back:
    the first per principal, route (its pattern: ids in the address make no new rows) and
    minute in full, the repeats counted."""
    if not isinstance(error, PermissionDenied | CsrfFailed):
        return
    action = AuditAction.CSRF_FAILED if isinstance(error, CsrfFailed) else AuditAction.DENIED
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    record_denial(
        request.app.state.sessionmaker,
        action,
        context=audit_context(request),
        route=f"{request.method} {route}",
        detail=f"{request.method} {request.url.path}: {error.detail}"[:1000],
    )


def _setup(setup: AppSetup) -> None:
    setup.app.state.on_app_error = _audit_denials


# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {"audit_log": "审计记录"}

DOMAIN = Domain(
    name="audit",
    title="审计日志",
    models=(models,),
    routers=("jcjg.audit.pages:router", "jcjg.audit.api:router", "jcjg.audit.exports:router"),
    jobs=(jobs.exports_cleanup,),
    permissions={"audit:read": "查看审计日志"},
    grants=by_permission({"audit:read": (*AUTHORITIES, Role.INSTITUTION_ADMIN, Role.AUDITOR)}),
    nav=(
        NavEntry(
            title="审计日志",
            href="/audit",
            group="系统管理",
            permission="audit:read",
            order=30,
            text="检索登录、越权、数据修改和个人信息查看记录",
        ),
    ),
    labels={"entity": ENTITIES, "action": AuditAction},
    setup_app=_setup,
    hooks={"list.exported": exports.record_export},
    protected={"audit_log": ()},  # the trail: append-only, in the role too
)
