"""Masking of personal data (DESIGN.md decision 7): ID numbers, phones, names, e-mails."""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    """``110101199003071234`` -> ``110101********1234``: region kept, birth date hidden."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678``."""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_email(value: str) -> str:
    """``zhang.san@example.com`` -> ``z***@example.com``."""
    local, _, domain = value.partition("@")
    if not domain:
        return mask_name(value)
    return (local[:1] + "***@" + domain) if local else "***@" + domain


def mask_name(value: str) -> str:
    """``张三丰`` -> ``张**``: family name kept."""
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


_BY_FIELD = {
    "id_number": mask_id_number,
    "phone": mask_phone,
    "mobile": mask_phone,
    "email": mask_email,
}


def mask_value(field: str, value: str) -> str:
    """Mask ``value`` by the kind of field it is; unknown kinds are masked as names."""
    return _BY_FIELD.get(field, mask_name)(value)
