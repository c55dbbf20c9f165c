"""Canonical JSON (RFC 8785, JSON Canonicalization Scheme) for hashing structured leaves.

`canonical_json` returns the one byte string that RFC 8785 assigns to a value, so that another
implementation (Go, Java, JavaScript) re-deriving a leaf from the same data gets the same hash:

- objects: members sorted by their names' UTF-16 code units (RFC 8785 section 3.2.3; this
  differs from code-point order only for characters above U+FFFF), no whitespace;
- strings: UTF-8, only ``"``, ``\\`` and U+0000..U+001F escaped (the short forms ``\\b \\t \\n
  \\f \\r``, otherwise ``\\u00xx`` in lower case); everything else, Chinese included, verbatim;
- numbers: ECMAScript's shortest round-trip form (``1.5``, ``0.000001``, ``1e-7``), with
  ``-0`` written ``0`` and integral floats written as integers (``2.0`` is ``2``).

What we accept is deliberately narrower than JSON, so that every output also reads back
unchanged in any language:

- dict (string keys only), list, tuple, str, int, float, bool and None; anything else
  (Decimal, datetime, bytes, sets, non-string keys) is a `CanonicalJSONError`;
- numbers must be finite and within +-(2**53 - 1), the range where an IEEE double, and hence
  every JSON parser, holds integers exactly. Larger values (big identifiers, exact money
  amounts with many digits) must be passed as strings; amounts should be strings or integers
  of the smallest unit anyway, never floats;
- strings must be valid Unicode (no lone surrogates).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["FOUR_BYTE_LEADS", "MAX_SAFE_INTEGER", "CanonicalJSONError", "canonical_json"]

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer magnitude accepted (JavaScript's Number.MAX_SAFE_INTEGER)."""


class CanonicalJSONError(ValueError):
    """The value cannot be written as canonical JSON under this module's rules."""


# json.encoder's ensure_ascii=False string writer escapes exactly RFC 8785's set, in lower case.
_encode_string = json.encoder.encode_basestring


def canonical_json(obj: object) -> bytes:
    """Return the RFC 8785 canonical JSON encoding of `obj` as UTF-8 bytes."""
    quick = _plain_quickly(obj)
    if quick is not None:
        return quick
    parts: list[str] = []
    try:
        _write(obj, parts, set())
    except _Problem as problem:
        raise CanonicalJSONError(f"${''.join(reversed(problem.path))}: {problem.message}") from None
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError(f"string is not valid Unicode: {exc}") from exc


# the lead bytes of a character beyond U+FFFF in UTF-8 (valid UTF-8 has no more)
FOUR_BYTE_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")
_QUICK_DEPTH = 32  # deeper (or a value that contains itself): the careful writer


def _plain_quickly(obj: object) -> bytes | None:
    """The canonical bytes of a value of strings, booleans, nulls and integers within
    ±(2**53 - 1), in dicts (string keys) and lists, written by orjson with sorted keys (a
    ledger entry's envelope: a quarter of the careful writer's time). Its text of such a value
    is RFC 8785's: the same escapes, compact, UTF-8, keys in code points' order, which is
    UTF-16's but for characters beyond U+FFFF (such a text goes the careful way). None for
    any other value (a float, an object of another type, a lone surrogate): the careful
    writer decides, and names what is wrong."""
    if not _plain(obj, 0):
        return None
    try:
        raw = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # a lone surrogate
        return None
    if not raw.isascii() and any(lead in raw for lead in FOUR_BYTE_LEADS):
        return None
    return raw


def _plain(obj: object, depth: int) -> bool:
    kind = type(obj)
    if kind is str or kind is bool or obj is None:
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER  # type: ignore[operator]
    if depth >= _QUICK_DEPTH:
        return False
    if kind is dict:
        items = obj.items()  # type: ignore[attr-defined]
        return all(type(key) is str and _plain(value, depth + 1) for key, value in items)
    if kind is list or kind is tuple:
        return all(_plain(item, depth + 1) for item in obj)  # type: ignore[attr-defined]
    return False


class _Problem(Exception):
    """A value that cannot be encoded; containers add their step to ``path`` on the way out,
    so no path is built for the values that encode fine (most of them, in long lists)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


def _write(obj: object, out: list[str], active: set[int]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_string(obj))
    elif isinstance(obj, int | float):
        out.append(_number(obj))
    elif isinstance(obj, dict | list | tuple):
        _write_container(obj, out, active)
    else:
        raise _Problem(f"{type(obj).__name__} is not a JSON value")


def _number(obj: int | float) -> str:
    if isinstance(obj, int):
        if not -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
            raise _Problem(f"integer {obj} beyond 2**53 - 1; pass it as a string")
        return str(int(obj))  # int() drops any int subclass's own __str__ (IntEnum)
    try:
        return _format_number(obj)
    except CanonicalJSONError as exc:
        raise _Problem(str(exc).removeprefix("$: ")) from None


def _write_container(
    obj: dict[Any, Any] | list[Any] | tuple[Any, ...],
    out: list[str],
    active: set[int],
) -> None:
    if id(obj) in active:
        raise _Problem("value contains itself")
    active.add(id(obj))
    if isinstance(obj, dict):
        _write_object(obj, out, active)
    elif obj and _numbers_first(obj):
        # lists of numbers, and lists of rows of numbers (a curve's points: [[t, f], ...]), are
        # most of a large message: written by orjson when its text is canonical as it is
        text = _float_list(obj)
        if text is not None:
            out.append(text)
        elif all(type(item) is float for item in obj):
            out.append(_float_items(obj, out, active))
        else:
            _write_items(obj, out, active)
    else:
        _write_items(obj, out, active)
    active.discard(id(obj))


# orjson writes a float with the shortest digits that round-trip, as ECMAScript chooses them,
# and in plain notation (for 1e-5 <= |x| < 1e16) as ECMAScript writes them too, but for the
# ".0" of an integral value and the sign of -0.0. Its text of a list is canonical
# once those are dropped if it holds nothing but brackets, commas, digits, points and minus
# signs (no exponent, no string, object, literal, NaN or infinity) and no run of 16 digits
# (an integer beyond 2**53 - 1 has one; a long fraction, which is fine, goes the careful way).
_NUMBERS = (float, int)  # not bool: its type is bool
_PLAIN_BYTES = b"0123456789.-,[]"
# digits as "0", every other byte as a space: a run of 16 digits is then 16 zeros in a row
_DIGITS_AS_ZEROS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 16


def _numbers_first(obj: list[Any] | tuple[Any, ...]) -> bool:
    """Whether a list looks like numbers or rows of numbers (its first item says; the text
    orjson writes of it decides)."""
    first = obj[0]
    if type(first) in _NUMBERS:
        return True
    return type(first) is list and bool(first) and type(first[0]) in _NUMBERS


def _float_list(obj: list[Any] | tuple[Any, ...]) -> str | None:
    """``obj`` (numbers, or lists of numbers) as canonical JSON written by orjson (fifteen
    times as fast as ``json.dumps`` for a curve's points); None when the careful writer must
    decide (an exponent, a large or non-finite value, anything but a number).

    orjson writes a float's shortest round-trip digits, as ``repr`` does, in plain notation for
    1e-5 <= |x| < 1e16 (``json.dumps`` from 1e-4), where ECMAScript writes them the same way
    (``0.00001``); a non-finite one as ``null`` and a boolean as ``true``/``false`` (letters:
    the careful writer decides)."""
    try:
        raw = orjson.dumps(obj)
    except (orjson.JSONEncodeError, TypeError, RecursionError):  # an integer beyond 64 bits
        return None
    if raw.translate(None, _PLAIN_BYTES):
        return None
    # a run of 16 digits, found in C (a third of the time numpy took to measure every run)
    if _LONG_RUN in raw.translate(_DIGITS_AS_ZEROS):
        return None
    # "-0.0" is 0 (it follows "[" or "," and ends at "," or "]"); then an integral value's ".0"
    # (a plain repr ending ".0" is integral: repr writes no other trailing zero)
    if b"-0.0" in raw:  # rare: one search instead of two passes that change nothing
        raw = raw.replace(b"-0.0,", b"0,").replace(b"-0.0]", b"0]")
    return raw.replace(b".0,", b",").replace(b".0]", b"]").decode("ascii")


def _float_items(obj: list[Any] | tuple[Any, ...], out: list[str], active: set[int]) -> str:
    try:
        return "[" + ",".join(map(_format_number, obj)) + "]"
    except CanonicalJSONError:
        _write_items(obj, out, active)  # again, slowly, to name the bad item
        return ""


def _write_items(obj: list[object] | tuple[object, ...], out: list[str], active: set[int]) -> None:
    out.append("[")
    for i, item in enumerate(obj):
        if i:
            out.append(",")
        try:
            _write(item, out, active)
        except _Problem as problem:
            problem.path.append(f"[{i}]")
            raise
    out.append("]")


def _write_object(obj: dict[object, object], out: list[str], active: set[int]) -> None:
    keys: list[str] = []
    for key in obj:
        if not isinstance(key, str):
            raise _Problem(f"object key {key!r} is not a string")
        keys.append(key)
    try:
        keys.sort(key=_utf16_key)
    except UnicodeEncodeError as exc:
        raise _Problem("object key is not valid Unicode") from exc
    out.append("{")
    for i, key in enumerate(keys):
        if i:
            out.append(",")
        out.append(_encode_string(key))
        out.append(":")
        try:
            _write(obj[key], out, active)
        except _Problem as problem:
            problem.path.append(f".{key}")
            raise
    out.append("}")


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like the sequence of UTF-16 code units.
    return key.encode("utf-16-be")


def _format_number(value: float, path: str = "$") -> str:
    """Format a finite double as ECMAScript Number.prototype.toString does (RFC 8785 3.2.2.3)."""
    if not math.isfinite(value):
        raise CanonicalJSONError(f"{path}: {value} is not allowed in JSON")
    if abs(value) > MAX_SAFE_INTEGER:
        raise CanonicalJSONError(f"{path}: number {value!r} beyond 2**53 - 1; pass it as a string")
    return _es_number(value)


def _es_number(value: float) -> str:
    """ECMAScript formatting of any finite double (no range check; exposed for the RFC tests)."""
    if value == 0:
        return "0"  # also -0
    shortest = float.__repr__(value)
    if "e" not in shortest and "n" not in shortest:
        # Plain notation: Python and ECMAScript agree on the digits and, for 1e-4 <= |x| <
        # 1e16, on the notation; only an integral value loses Python's ".0".
        return shortest[:-2] if shortest.endswith(".0") else shortest
    # repr() gives the shortest digits that round-trip, the same digits ECMAScript chooses.
    sign, digit_tuple, exponent = Decimal(float.__repr__(value)).as_tuple()
    if not isinstance(exponent, int):  # 'n', 'N' or 'F': NaN or infinity
        raise CanonicalJSONError(f"{value} is not allowed in JSON")
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = k + exponent  # value = 0.digits * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = f"0.{'0' * -n}{digits}"
    else:
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if n > 0 else '-'}{abs(n - 1)}"
    return f"-{text}" if sign else text
