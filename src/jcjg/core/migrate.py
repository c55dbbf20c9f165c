"""Alembic, driven from code: ``jcjg db upgrade`` / ``db check`` and the readiness probe.

Alembic is imported when it is used (a command, the first readiness probe), not when a process
starts: every process would otherwise pay for it.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` using the migrations shipped inside the package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("jcjg") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Fail when the models and the migrations disagree (``alembic check``)."""
    from alembic import command

    command.check(alembic_config(url))


def head_revision(url: str) -> str | None:
    """The head of the migrations shipped in the package (``url`` names no other: they are
    read once a process, since the readiness probe asks on every call, ~30-200 ms a read)."""
    del url
    return _shipped_head()


@functools.cache
def _shipped_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def is_current(conn: Connection) -> bool:
    """Whether the database behind ``conn`` is at the migrations' head."""
    url = conn.engine.url.render_as_string(hide_password=False)
    return current_revision(conn) == head_revision(url)
