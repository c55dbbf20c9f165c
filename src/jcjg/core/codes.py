"""Platform-issued codes: ``<region><yy><serial><check>``.

``region`` is a GB/T 2260 code (6 digits), so codes are unique across platforms too; ``yy`` the
year of issue; ``serial`` counted per region and year; the last character is an ISO 7064
MOD 37-36 check character (0-9, A-Z) over the rest, so a mistyped or misread code is caught
offline, before it reaches the platform: every single character error and every swap of
neighbours changes it. Sample codes (16 characters) and supervision codes of reports (17) are
two formats of this kind, told apart by their length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.iso7064 import mod_37_36


@dataclass(frozen=True)
class CodeFormat:
    name: str  # what the code is called on pages and in errors: 样品编码, 监管码
    serial_digits: int

    @property
    def length(self) -> int:
        return 6 + 2 + self.serial_digits + 1

    @property
    def max_serial(self) -> int:
        return int(10**self.serial_digits) - 1

    def make(self, region_code: str, year: int, serial: int) -> str:
        if not (len(region_code) == 6 and region_code.isdigit()):
            raise ValueError("region code must be 6 digits")
        if not 1 <= serial <= self.max_serial:
            raise ValueError("serial out of range")
        body = f"{region_code}{year % 100:02d}{serial:0{self.serial_digits}d}"
        return body + mod_37_36.calc_check_digit(body)

    def problem(self, code: str) -> str | None:
        """Why ``code`` is not a well-formed code of this format (None when it is)."""
        if len(code) != self.length:
            return f"{self.name}应为 {self.length} 位"
        if not re.fullmatch(rf"[0-9]{{{self.length - 1}}}[0-9A-Z]", code):
            digits = self.length - 1
            return f"{self.name}前 {digits} 位应为数字，最后 1 位为校验字符（数字或大写字母）"
        if not mod_37_36.is_valid(code):
            return f"{self.name}校验字符不符：请核对是否输错或标识破损"
        return None

    def display(self, code: str) -> str:
        """Grouped for reading aloud and printing: ``360402 26 0000123 K``."""
        if len(code) != self.length:
            return code
        return f"{code[:6]} {code[6:8]} {code[8:-1]} {code[-1]}"


def normalise(raw: str) -> str:
    """What a person typed or a scanner read, as a code: spaces and dashes dropped, upper case;
    a scanned URL ``.../s/<code>`` or ``.../v/<code>?t=...`` gives its last path segment."""
    text = raw.strip().split("?", 1)[0].split("#", 1)[0]
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[\s\-]", "", text).upper()
