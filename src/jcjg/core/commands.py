"""What a domain's commands share with the process-level ones in ``jcjg.cli``: sessions on the
configured database and how a refusal reads on a terminal. A domain declares its commands in
its ``domain.py`` (``Domain.commands``); ``jcjg`` finds them by name when it is not one of its
own (``docs/development/adding-a-domain.md``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from jcjg.config import get_settings


def session_factory(**engine_options: Any) -> sessionmaker[Session]:
    """Sessions on the configured database, with the platform's domains (installed by ``jcjg``
    before it runs a command) configured: every mapper known, the ledger's key, the rules."""
    from jcjg.core.db import make_engine, make_sessionmaker
    from jcjg.core.domains import configure_installed

    settings = get_settings()
    configure_installed(settings)
    return make_sessionmaker(make_engine(settings.database_url, **engine_options))


def cli_session() -> Session:
    """One session for a one-shot command: its connection closes with it, no pool left behind;
    its changes are audited as the command line's."""
    from sqlalchemy.pool import NullPool

    from jcjg.core.context import context_of

    db = session_factory(poolclass=NullPool)()
    ctx = context_of(db)
    ctx.username = "cli"
    ctx.ip = "local"
    return db


def problem_text(error: Any) -> str:
    """A refusal (``core.errors.AppError``) as one line: each field's problem, else its
    detail."""
    details = [f"{e.field}：{e.message}" for e in getattr(error, "errors", None) or ()]
    return "；".join(details) or str(error.detail)
