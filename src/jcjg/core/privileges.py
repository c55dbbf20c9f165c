"""Least privilege in the database (GB/T 22239 level 2, access control down to the database;
docs/operations/security.md): the schema is owned by a migration role (``jcjg db upgrade`` with
``JCJG_MIGRATION_DATABASE_URL``), and the platform's processes connect as an application role
that may read and write its tables but cannot rewrite what must stay as written: the audit
trail, the ledger's leaves and nodes, the raw exchange messages (only where each stands may
change). Each domain declares its tables (``Domain.protected``); ``jcjg db grant ROLE`` grants.
PostgreSQL only: SQLite has no roles (the embedded default is one process on one machine)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, inspect, text

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
KEPT = "alembic_version"  # the migrations' own: read by /readyz, written by the owner only


class PrivilegeError(ValueError):
    pass


def _quoted(name: str) -> str:
    if not _ROLE.match(name):
        raise PrivilegeError(f"角色或表名“{name[:64]}”不合规：只能用小写字母、数字和下划线")
    return f'"{name}"'


def statements(
    role: str, tables: Sequence[str], protected: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """The statements that give ``role`` the application's rights on ``tables``."""
    who = _quoted(role)
    out = [
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {who}",
    ]
    for table in sorted(tables):
        name = _quoted(table)
        out.append(f"REVOKE ALL ON {name} FROM {who}")
        if table == KEPT:
            out.append(f"GRANT SELECT ON {name} TO {who}")
        elif table in protected:
            out.append(f"GRANT SELECT, INSERT ON {name} TO {who}")
            columns = protected[table]
            if columns:
                listed = ", ".join(_quoted(c) for c in columns)
                out.append(f"GRANT UPDATE ({listed}) ON {name} TO {who}")
        else:
            out.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {who}")
    return out


def grant(engine: Engine, role: str, protected: Mapping[str, tuple[str, ...]]) -> int:
    """Grant ``role`` the application's rights on every table (run by the owner after each
    upgrade: new tables need their grants); how many tables."""
    if engine.dialect.name != "postgresql":
        raise PrivilegeError("只有 PostgreSQL 支持数据库角色；内置的 SQLite 数据库无需授权")
    with engine.begin() as conn:
        tables = inspect(conn).get_table_names()
        missing = sorted(set(protected) - set(tables))
        if missing:
            raise PrivilegeError(
                f"数据库中没有这些表：{'、'.join(missing)}（请先运行 jcjg db upgrade）"
            )
        exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if not exists:
            raise PrivilegeError(
                f"数据库中没有角色 {role}：请先 CREATE ROLE {role} LOGIN PASSWORD …"
            )
        for statement in statements(role, tables, protected):
            conn.execute(text(statement))
    return len(tables)
