"""Sample codes (唯一性编码, 000 2.0.5): ``<region><yy><serial><check>``, 16 characters
(:mod:`jcjg.core.codes`): ``region`` the issuing project's, ``serial`` 7 digits per region
and year."""

from __future__ import annotations

from jcjg.core.codes import CodeFormat, normalise

SAMPLE = CodeFormat("样品编码", serial_digits=7)
CODE_LENGTH = SAMPLE.length
SERIAL_DIGITS = SAMPLE.serial_digits
MAX_SERIAL = SAMPLE.max_serial
make_code = SAMPLE.make
code_problem = SAMPLE.problem
display = SAMPLE.display

__all__ = [
    "CODE_LENGTH",
    "MAX_SERIAL",
    "SAMPLE",
    "SERIAL_DIGITS",
    "code_problem",
    "display",
    "make_code",
    "normalise",
]
