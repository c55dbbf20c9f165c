"""Columns every model of a kind shares."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import inspect
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import UTCDateTime, utcnow


class IdMixin:
    """An integer surrogate key. Business numbers live in ``code`` / ``number``, never in ``id``."""

    id: Mapped[int] = mapped_column(primary_key=True)


class TimestampMixin:
    """When the row was created and last changed (UTC)."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChangeLogged:
    """Marks a model whose every create, update and delete writes an audit row.

    ``__audit_exclude__`` names columns never copied into the change log (password hashes,
    secrets); ``__audit_mask__`` names personal data stored masked in the change log;
    ``__audit_untracked__`` names bookkeeping columns left out of update rows.
    """

    __audit_exclude__: ClassVar[frozenset[str]] = frozenset()
    # Bookkeeping columns whose change alone is no edit (a login's time is its own event).
    __audit_untracked__: ClassVar[frozenset[str]] = frozenset()
    __audit_mask__: ClassVar[frozenset[str]] = frozenset()

    def audit_repr(self) -> str:
        """A short human label for the change log."""
        for name in ("name", "username", "code", "number"):
            value = getattr(self, name, None)
            if value:
                return str(value)
        return f"#{getattr(self, 'id', '?')}"

    def audit_snapshot(self) -> dict[str, Any]:
        """Column values as JSON-friendly data, secrets left out and personal data masked."""
        from jcjg.core.masking import mask_value  # local: masking imports nothing of ours

        state = inspect(self)
        data: dict[str, Any] = {}
        for attr in state.mapper.column_attrs:
            key = attr.key
            if key in self.__audit_exclude__:
                continue
            value = getattr(self, key)
            if key in self.__audit_mask__ and isinstance(value, str):
                value = mask_value(key, value)
            data[key] = jsonable(value)
        return data


def jsonable(value: Any) -> Any:
    """Turn a column value into something ``json.dumps`` takes."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "value") and not isinstance(value, int | str | float | bool):
        return value.value
    if isinstance(value, int | str | float | bool) or value is None:
        return value
    return str(value)
