"""Masking of personal data (DESIGN.md decision 7): ID numbers, phones, names, e-mails."""

from __future__ import annotations

import re


def mask_id_number(value: str) -> str:
    """``110101199003071234`` -> ``110101********1234``: region kept, birth date hidden.

    Only the resident ID shapes (15 or 18 characters, or longer) keep region and last four;
    anything shorter is hidden whole, so that no short number is shown almost entire.
    """
    if len(value) < 15:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678``; ``87654321`` -> ``****4321``.

    At least four characters are always hidden: shorter numbers (landlines without area code)
    keep only their last four, and numbers under eight characters are hidden whole.
    """
    if len(value) >= 11:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    if len(value) >= 8:
        return "*" * (len(value) - 4) + value[-4:]
    return "*" * len(value)


_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def mask_phones(text: str) -> str:
    """``text`` with every mainland mobile number in it masked like :func:`mask_phone` (a
    published document may name an official's mobile; a page shows it masked)."""
    return _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)


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
    "contact_phone": mask_phone,
    "email": mask_email,
}


def mask_value(field: str, value: str) -> str:
    """Mask ``value`` by the kind of field it is; unknown kinds are masked as names."""
    return _BY_FIELD.get(field, mask_name)(value)
