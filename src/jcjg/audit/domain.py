"""The audit domain: the audit trail and its pages."""

from fastapi import Request

from jcjg.audit import api, models, pages
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event_now
from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, by_permission
from jcjg.core.deps import audit_context
from jcjg.core.domains import AppSetup, Domain, NavEntry
from jcjg.core.errors import AppError, CsrfFailed, PermissionDenied


def _audit_denials(request: Request, error: AppError) -> None:
    """Permission denials and CSRF failures are audited even though the request rolled back."""
    if not isinstance(error, PermissionDenied | CsrfFailed):
        return
    action = AuditAction.CSRF_FAILED if isinstance(error, CsrfFailed) else AuditAction.DENIED
    record_event_now(
        request.app.state.sessionmaker,
        action,
        context=audit_context(request),
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
    routers=(pages.router, api.router),
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
)
