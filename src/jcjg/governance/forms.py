"""What the governance forms share: text lengths, numbers, a row by id, the personal fields.

One piece of code per idea (STYLE.md habit 10): the data standard's, the quality rules' and
the sharing forms' checks all come from here, each refusal a Chinese :class:`FieldError`."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.errors import FieldError, NotFound, ValidationFailed
from jcjg.core.masking import mask_value

T = TypeVar("T")

# the last part of a field's path whose values are personal data: masked on pages, and a
# sharing policy must say how each leaves (docs/sharing.md)
PERSONAL = frozenset({"id_number", "mobile", "phone", "email", "revised_by_id_number"})
LARGEST = 2**53 - 1  # beyond, a JSON number is no longer exact


def shown(field: str, value: str) -> str:
    """A value of a message's ``field`` (its path) as a page shows it: personal data masked,
    anything else as it is (an instrument's or a room's name is no person's)."""
    key = field.rsplit(".", 1)[-1]
    if key not in PERSONAL:
        return value
    return mask_value("id_number" if key.endswith("id_number") else key, value)


def text(
    values: Mapping[str, Any], key: str, limit: int, errors: list[FieldError], required: bool = True
) -> str:
    """``values[key]`` trimmed; a blank required field or one over ``limit`` characters adds
    its error to ``errors``."""
    value = str(values.get(key) or "").strip()
    if required and not value:
        errors.append(FieldError(key, "必填", "missing"))
    elif len(value) > limit:
        errors.append(FieldError(key, f"不得超过 {limit} 个字符", "string_too_long"))
    return value


def texts(
    values: Mapping[str, Any], limits: Mapping[str, int], required: tuple[str, ...] = ()
) -> None:
    """Each of ``limits``' fields within its length (``required`` ones filled), else 422."""
    errors: list[FieldError] = []
    for key, limit in limits.items():
        text(values, key, limit, errors, required=key in required)
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)


def number(
    raw: Any, field: str, errors: list[FieldError], *, integer: bool = False
) -> float | int | None:
    """A number typed in a form (None when blank): finite, within JSON's exact integers; a
    whole number comes back as an ``int``."""
    value_text = str(raw if raw is not None else "").strip()
    if not value_text:
        return None
    try:
        value = int(value_text) if integer else float(value_text)
    except ValueError:
        errors.append(FieldError(field, "须为整数" if integer else "须为数值", "number_parsing"))
        return None
    if not math.isfinite(value) or abs(value) > LARGEST:
        errors.append(FieldError(field, "数值超出范围", "number_too_large"))
        return None
    if not integer and float(value).is_integer():
        return int(value)
    return value


def found(row: T | None, what: str) -> T:
    """``row``, or 404 naming ``what`` (``数据集``)."""
    if row is None:
        raise NotFound(f"{what}不存在")
    return row


def get(db: Session, model: type[T], ident: int, what: str) -> T:
    """The ``model`` row of id ``ident``, or 404 naming ``what``."""
    return found(db.get(model, ident), what)


def moment(raw: str, field: str = "effective_at", what: str = "生效时间") -> dt.datetime | None:
    """A form's ``datetime-local`` value (``2026-12-01T08:00``), in the platform's zone, as
    UTC; None when blank; a 422 naming ``field`` otherwise."""
    text = raw.strip()
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            errors=[FieldError(field, f"{what}的格式应为 YYYY-MM-DD HH:MM", "datetime_parsing")]
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=get_settings().tz)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationFailed(
            errors=[FieldError(field, f"{what}超出范围", "datetime_range")]
        ) from None
