"""Pure functions on GB/T 2260 codes: shape, level, parent and the prefix of a subtree.

The syntax of the national standard's six-digit codes, which data scopes, thresholds and
validators need below any domain (like the statutory calendar in :mod:`jcjg.core.workdays`).
The regions themselves (names, tree, editions) are the ``regions`` domain's reference data.
"""

from __future__ import annotations

import re
from enum import StrEnum


class RegionLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"

    @property
    def label(self) -> str:
        return {"province": "省级", "city": "市级", "county": "县级"}[self.value]


_CODE = re.compile(r"[1-9][0-9]{5}")  # ASCII only: \d would accept "３６０４００"


def is_valid_code(code: str) -> bool:
    """Six digits, first not zero, province part 11-82 (GB/T 2260 range)."""
    return bool(_CODE.fullmatch(code)) and 11 <= int(code[:2]) <= 82


def level_of(code: str) -> RegionLevel:
    """``360000`` province, ``360400`` city, anything else county-level."""
    if code.endswith("0000"):
        return RegionLevel.PROVINCE
    if code.endswith("00"):
        return RegionLevel.CITY
    return RegionLevel.COUNTY


def scope_prefix(code: str) -> str:
    """The code prefix shared by every region in ``code``'s subtree.

    ``360000`` -> ``36``, ``360400`` -> ``3604``, ``360402`` -> ``360402``.
    """
    level = level_of(code)
    if level is RegionLevel.PROVINCE:
        return code[:2]
    if level is RegionLevel.CITY:
        return code[:4]
    return code


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """The codes starting with ``prefix`` (digits) are those ``>= low`` and ``< high``:
    ``"3604"`` -> ``("3604", "3605")``, ``"39"`` -> ``("39", "3:")``."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def in_subtree(code: str, root: str) -> bool:
    """Whether region ``code`` lies in the subtree of ``root`` (itself included)."""
    return code.startswith(scope_prefix(root))


def parent_candidates(code: str) -> list[str]:
    """Possible parents nearest first: the city, then the province (for directly
    administered counties and municipal districts the city code does not exist)."""
    level = level_of(code)
    if level is RegionLevel.PROVINCE:
        return []
    if level is RegionLevel.CITY:
        return [code[:2] + "0000"]
    return [code[:4] + "00", code[:2] + "0000"]
