"""Plausibility bounds on what the platform takes in, whatever the field: a day (a date, or a
time's date) between 1900-01-01 and 2100-12-31 (an employment from 0001-01-01 or a record
dated 9999 is a typing or conversion error, and far days break a day's arithmetic), and no
subnormal number (a non-zero value nearer to 0 than 1e-300, such as 5e-324: no measurement is,
and such values lose their precision and break the arithmetic done on them).

:class:`~jcjg.core.text.TextModel` applies both to every field of every input model (values in
lists and dicts too; a field of numbers only is taken as it is when its message's text holds
no number written small enough: :func:`numbers_plain`); the registry's field parser and the
query's days (``core.forms.Day``) apply the same days."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import numpy.typing as npt

EARLIEST_DAY, LATEST_DAY = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
SMALLEST_NUMBER = 1e-300
"""The least magnitude of a non-zero number taken in."""

DAY_PROBLEM = "日期应在 1900-01-01 至 2100-12-31 之间"
NUMBER_PROBLEM = "数值过小：非零数的绝对值不应小于 1e-300（为零请填 0）"
DAY_CODE, NUMBER_CODE = "date_out_of_range", "number_too_small"


def day_problem(value: dt.date) -> str | None:
    """Why a date or a time lies outside the plausible days (None if it does not)."""
    day = value.date() if isinstance(value, dt.datetime) else value
    return None if EARLIEST_DAY <= day <= LATEST_DAY else DAY_PROBLEM


def number_problem(value: float) -> str | None:
    """Why a float is refused: finite, not zero, and smaller in magnitude than 1e-300."""
    if math.isfinite(value) and value != 0 and abs(value) < SMALLEST_NUMBER:
        return NUMBER_PROBLEM
    return None


def problems(value: Any, path: str = "") -> Iterator[tuple[str, str, str]]:
    """``(path, code, message)`` for each implausible day or number in a parsed value (lists,
    tuples, sets and dict values walked; ``path`` like ``0.peak_kn``)."""
    if isinstance(value, dt.date):
        reason = day_problem(value)
        if reason:
            yield path, DAY_CODE, reason
    elif isinstance(value, float):
        reason = number_problem(value)
        if reason:
            yield path, NUMBER_CODE, reason
    elif isinstance(value, list | tuple | set | frozenset):
        at_once = _numbers(value, path) if isinstance(value, list | tuple) else None
        if at_once is not None:
            yield from at_once
            return
        for n, item in enumerate(value):
            yield from problems(item, f"{path}.{n}" if path else str(n))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from problems(item, f"{path}.{key}" if path else str(key))


# set while the numbers validated were all found written plainly (see numbers_plain)
_PLAIN_NUMBERS: ContextVar[bool] = ContextVar("jcjg_plausible_plain_numbers", default=False)
# digits as "0", every other byte as a space: 300 digits in a row are then 300 zeros
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGITS = b"0" * 300


def plain_numbers(bare: bytes) -> bool:
    """Whether no number of a JSON text given without its strings (``bare``: its brackets,
    numbers and literals) can be a non-zero one smaller in magnitude than 1e-300: none has an
    exponent (a letter e outside strings: ``true`` and ``false`` hold the only others) and
    none runs to 300 digits (``0.000…1``). Counted in C: a curve record's 160 kB in ~0.3 ms,
    where its three curves' points read as arrays take ~1 ms."""
    letters = bare.count(b"e") + bare.count(b"E")
    if letters != bare.count(b"true") + bare.count(b"false"):
        return False
    return _LONG_DIGITS not in bare.translate(_DIGITS_AS_ZEROS)


@contextmanager
def numbers_plain() -> Iterator[None]:
    """Within it the fields that hold numbers only are taken as plausible (a message whose
    text :func:`plain_numbers` found so is validated within it); days are still checked."""
    token = _PLAIN_NUMBERS.set(True)
    try:
        yield
    finally:
        _PLAIN_NUMBERS.reset(token)


def numbers_known_fine() -> bool:
    """Whether values are validated within :func:`numbers_plain`."""
    return _PLAIN_NUMBERS.get()


def fine(value: Any) -> bool:
    """Whether :func:`problems` would find nothing in ``value``, found without building its
    paths (the common case, asked of every date and number field of every input model); a
    list or tuple longer than ``_AT_ONCE`` is left to :func:`problems` (False)."""
    if isinstance(value, float):
        return not (-SMALLEST_NUMBER < value < SMALLEST_NUMBER) or value == 0
    if isinstance(value, dt.date):
        return day_problem(value) is None
    if isinstance(value, list | tuple):
        if len(value) > _AT_ONCE:
            return False
    elif isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, set | frozenset):
        return True
    return all(isinstance(item, str | int) or fine(item) for item in value)


def _small(array: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Where ``array`` holds a subnormal number (finite, not 0, nearer 0 than 1e-300)."""
    small: npt.NDArray[np.bool_] = (
        np.isfinite(array) & (array != 0) & (np.abs(array) < SMALLEST_NUMBER)
    )
    return small


_AT_ONCE = 64  # a longer list of numbers (a curve's points) is checked as one array


def _numbers(value: list[Any] | tuple[Any, ...], path: str) -> list[tuple[str, str, str]] | None:
    """The subnormal numbers of a long list of numbers (or of rows of numbers), found in one
    pass of numpy (a curve of 20,000 points: 1 ms, where walking it took 30); None for a short
    list or one that is not all numbers (it is walked). Rows are read as one flat list (numpy
    reads nested lists a third as fast); when they hold a subnormal number they are walked, to
    name it."""
    if len(value) <= _AT_ONCE:
        return None
    if type(value[0]) in (list, tuple) and set(map(type, value)) <= {list, tuple}:
        try:  # read straight from the rows' items; a row of rows raises ValueError
            flat = np.fromiter(itertools.chain.from_iterable(value), dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None
        return [] if not _small(flat).any() else None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None
    found = np.argwhere(_small(array))
    if not found.size:
        return []
    where = ".".join(str(int(i)) for i in found[0])
    return [(f"{path}.{where}" if path else where, NUMBER_CODE, NUMBER_PROBLEM)]
