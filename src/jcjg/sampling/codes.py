"""Sample codes (唯一性编码, 000 2.0.5): ``<region><yy><serial><check>``, 16 characters.

``region`` is the issuing project's GB/T 2260 code (6 digits), so codes are unique across
platforms too; ``yy`` the year of issue; ``serial`` 7 digits counted per region and year; the
last character is an ISO 7064 MOD 37-36 check character (0-9, A-Z) over the first 15, so a
mistyped or misread code is caught on the phone before it reaches the platform: every single
character error and every swap of neighbours changes it.
"""

from __future__ import annotations

import re

from stdnum.iso7064 import mod_37_36

CODE_LENGTH = 16
SERIAL_DIGITS = 7
MAX_SERIAL = 10**SERIAL_DIGITS - 1
_SHAPE = re.compile(r"[0-9]{15}[0-9A-Z]")


def make_code(region_code: str, year: int, serial: int) -> str:
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise ValueError("region code must be 6 digits")
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError("serial out of range")
    body = f"{region_code}{year % 100:02d}{serial:0{SERIAL_DIGITS}d}"
    return body + mod_37_36.calc_check_digit(body)


def normalise(raw: str) -> str:
    """What a person typed or a scanner read, as a code: spaces and dashes dropped, upper case;
    a scanned URL ``.../s/<code>`` gives its last segment."""
    text = raw.strip()
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[\s\-]", "", text).upper()


def code_problem(code: str) -> str | None:
    """Why ``code`` is not a well-formed sample code (None when it is)."""
    if len(code) != CODE_LENGTH:
        return f"样品编码应为 {CODE_LENGTH} 位"
    if not _SHAPE.fullmatch(code):
        return "样品编码前 15 位应为数字，最后 1 位为校验字符（数字或大写字母）"
    if not mod_37_36.is_valid(code):
        return "样品编码校验字符不符：请核对是否输错或标识破损"
    return None


def display(code: str) -> str:
    """Grouped for reading aloud and printing: ``360402 26 0000123 K``."""
    return f"{code[:6]} {code[6:8]} {code[8:15]} {code[15:]}" if len(code) == CODE_LENGTH else code
