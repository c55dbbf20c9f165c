"""Check characters of the unified social credit code (GB 32100-2015) and of the resident
ID number (GB 11643-1999, ISO 7064 MOD 11-2)."""

from __future__ import annotations

import datetime as dt

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def check_character(first17: str) -> str:
    """The 18th character of a credit code for the first 17 (GB 32100-2015 clause 5.2)."""
    if len(first17) != 17 or any(c not in ALPHABET for c in first17):
        raise ValueError("need 17 characters from the GB 32100 alphabet")
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    code = code.strip().upper()
    if len(code) != 18 or any(c not in ALPHABET for c in code):
        return False
    return check_character(code[:17]) == code[17]


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_character(first17: str) -> str:
    """The 18th character of a resident ID number (ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need 17 digits")
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


ID_NUMBER_PATTERN = (
    r"^[0-9]{6}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]$"
)
"""The form of a resident ID number, for JSON Schemas (:func:`id_number_problem` decides)."""
ID_NUMBER_RULE = (
    "出生日期须真实存在、不早于 1900 年且不晚于今天，第 18 位须为 GB 11643 校验码（x 按 X）"
)


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 18-character resident ID number, in Chinese; None if it is."""
    value = value.strip().upper()
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return "身份证号应为 18 位（前 17 位为数字）"
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "身份证号中的出生日期不存在"
    if born.year < 1900 or born > dt.datetime.now(dt.UTC).date():
        return "身份证号中的出生日期不合理"
    if id_check_character(value[:17]) != value[17]:
        return "身份证号校验码不正确"
    return None
