"""Who is acting, from where, in which request: the context a session's writes are made in.

The request's session carries one :class:`AuditContext` (``session.info``): the request id and
address set when the session is opened, the user once the principal is known. The audit trail
reads it for every change row and event; nothing here writes a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

AUDIT_KEY = "audit_context"


@dataclass
class AuditContext:
    """Who is acting, from where, in which request."""

    user_id: int | None = None
    username: str | None = None
    request_id: str | None = None
    ip: str | None = None
    region_code: str | None = None
    institution_id: int | None = None


def context_of(session: Session) -> AuditContext:
    """The session's context, created empty on first use."""
    ctx = session.info.get(AUDIT_KEY)
    if not isinstance(ctx, AuditContext):
        ctx = AuditContext()
        session.info[AUDIT_KEY] = ctx
    return ctx
