"""Alembic environment: batch mode on SQLite so ALTERs work there too."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from jcjg.core.db import Base
from jcjg.domains import DOMAINS

assert DOMAINS  # every domain's models imported: the metadata is whole

config = context.config
target_metadata = Base.metadata
if not config.get_main_option("sqlalchemy.url"):
    # Run from alembic.ini by a developer: the same database the platform uses.
    from jcjg.config import Settings

    config.set_main_option("sqlalchemy.url", Settings().database_url.replace("%", "%%"))


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
