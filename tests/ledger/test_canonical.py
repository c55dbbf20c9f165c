"""Tests for jcjg.ledger.canonical: RFC 8785 known answers, Chinese text, and what we refuse."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcjg.ledger import canonical
from jcjg.ledger.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    _es_number,
    canonical_json,
)
from tests.conftest import examples

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

SETTINGS = settings(max_examples=examples(150), deadline=None, database=None)

# RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript serialization.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


@pytest.mark.parametrize(("bits", "want"), APPENDIX_B)
def test_rfc8785_appendix_b_number_formatting(bits: str, want: str) -> None:
    value = _double(bits)
    assert _es_number(value) == want
    if abs(value) <= MAX_SAFE_INTEGER:
        assert canonical_json(value) == want.encode()
    else:
        with pytest.raises(CanonicalJSONError, match="2\\*\\*53"):
            canonical_json(value)


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_rfc8785_nan_and_infinity_are_errors(bits: str) -> None:
    with pytest.raises(CanonicalJSONError, match="not allowed"):
        canonical_json([_double(bits)])
    with pytest.raises(CanonicalJSONError):
        _es_number(_double(bits))


def test_rfc8785_section_3_2_4_example() -> None:
    # The RFC's example, minus 1E30 (beyond our +-(2**53 - 1) range; see the next test).
    value = {
        "numbers": [333333333.33333329, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    want = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == want.encode()
    assert _es_number(1e30) == "1e+30"


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    want = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == want.encode()
    # Code-point order would put U+FB33 before U+1F600; UTF-16 order does not.
    assert sorted(value)[-1] == "\U0001f600"


def test_chinese_text_is_written_verbatim_in_utf8() -> None:
    value = {"结论": "合格", "报告编号": "JC-2024-001", "检测项目": ["抗压强度", "坍落度"]}
    # 报 U+62A5 < 检 U+68C0 < 结 U+7ED3.
    want = '{"报告编号":"JC-2024-001","检测项目":["抗压强度","坍落度"],"结论":"合格"}'
    assert canonical_json(value) == want.encode("utf-8")
    assert canonical_json("混凝土：C30，＂全角＂") == '"混凝土：C30，＂全角＂"'.encode()


def test_escapes_only_what_rfc8785_requires() -> None:
    s = '\u0001\b\f\n\r\t\u001f\u007f\u2028\u2029/"\\é'
    want = '"\\u0001\\b\\f\\n\\r\\t\\u001f\u007f\u2028\u2029/\\"\\\\é"'
    assert canonical_json(s) == want.encode()


def test_nested_empty_and_scalars() -> None:
    value = {"b": [{}, [], {"z": 1, "a": -0.0}], "a": ""}
    assert canonical_json(value) == b'{"a":"","b":[{},[],{"a":0,"z":1}]}'
    assert canonical_json([0, -1, 1.0, 100e-2, 0.5, -2.5e-7]) == b"[0,-1,1,1,0.5,-2.5e-7]"
    assert canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == (
        b"[9007199254740991,-9007199254740991]"
    )
    assert canonical_json(None) == b"null"
    assert canonical_json((True, False)) == b"[true,false]"
    assert canonical_json({"k": (1, (2,))}) == b'{"k":[1,[2]]}'


def test_number_forms_at_the_ecmascript_boundaries() -> None:
    assert _es_number(1e20) == "100000000000000000000"
    assert _es_number(1e21) == "1e+21"
    assert _es_number(123e18) == "123000000000000000000"
    assert _es_number(1e-6) == "0.000001"
    assert _es_number(1e-7) == "1e-7"
    assert _es_number(1.5e-7) == "1.5e-7"
    assert _es_number(123.456) == "123.456"
    assert _es_number(-0.1) == "-0.1"


def test_int_subclasses_serialize_as_numbers() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert canonical_json({"level": Level.HIGH}) == b'{"level":3}'


@pytest.mark.parametrize(
    "value",
    [
        MAX_SAFE_INTEGER + 1,
        -(MAX_SAFE_INTEGER + 1),
        10**30,
        float(2**53),
        1e300,
        math.nan,
        math.inf,
        -math.inf,
        {1: "int key"},
        {None: "null key"},
        {("a",): "tuple key"},
        pytest.param({"a", "b"}, id="set"),  # a set's repr follows the hash seed
        b"bytes",
        Decimal("1.10"),
        dt.date(2024, 1, 1),
        pytest.param(object(), id="object()"),  # repr holds an address
        "lone \ud800 surrogate",
        {"lone \udc00 key": 1},
        {"nested": [1, {"deeper": math.nan}]},
    ],
    ids=repr,
)
def test_rejected_values(value: object) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def test_error_names_the_offending_path() -> None:
    with pytest.raises(CanonicalJSONError, match=r"\$\.a\[1\]\.b"):
        canonical_json({"a": [0, {"b": Decimal(1)}]})


def test_cycles_are_errors_but_shared_values_are_fine() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalJSONError, match="contains itself"):
        canonical_json(loop)
    d: dict[str, Any] = {}
    d["self"] = d
    with pytest.raises(CanonicalJSONError, match="contains itself"):
        canonical_json(d)
    shared = [1, 2]
    assert canonical_json([shared, shared]) == b"[[1,2],[1,2]]"


# ---------------------------------------------------------------------------------------------
# Properties.

SAFE_INT = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
SAFE_FLOAT = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: abs(f) <= MAX_SAFE_INTEGER
)
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


def _json(
    scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str] = TEXT
) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


@SETTINGS
@given(_json(st.none() | st.booleans() | SAFE_INT | SAFE_FLOAT | TEXT))
def test_property_reads_back_and_is_a_fixed_point(value: Any) -> None:
    out = canonical_json(value)
    again = json.loads(out)
    assert again == value  # floats compare by value: 2.0 == 2, -0.0 == 0
    assert canonical_json(again) == out


BMP_TEXT = st.text(st.characters(max_codepoint=0xFFFF, blacklist_categories=["Cs"]), max_size=12)


@SETTINGS
@given(_json(st.none() | st.booleans() | SAFE_INT | BMP_TEXT, keys=BMP_TEXT))
def test_property_matches_sorted_compact_json_without_floats(value: Any) -> None:
    # Without floats and with keys in the Basic Multilingual Plane (where code-point order and
    # UTF-16 order agree), JCS is exactly sorted, compact, non-ASCII-escaping json.dumps.
    want = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == want.encode()


@SETTINGS
@given(SAFE_FLOAT)
def test_property_numbers_are_shortest_round_trip(value: float) -> None:
    text = canonical_json(value).decode()
    assert float(text) == value
    assert "E" not in text
    assert not text.endswith(".0")
    if "e" not in text and "." in text:
        assert not text.rstrip("0").endswith(".")
        assert len(text.replace("-", "").replace(".", "").lstrip("0")) <= 17


NUMBER = st.one_of(
    SAFE_FLOAT,
    st.integers(min_value=-(2**60), max_value=2**60),
    st.sampled_from([0.0, -0.0, 1e-7, 1e21, 2.0**53, 2.0**53 + 2, 1e16, 0.1 + 0.2]),
)


@SETTINGS
@given(st.lists(st.lists(NUMBER, min_size=1, max_size=3), min_size=1, max_size=20))
def test_property_rows_of_numbers_as_the_careful_writer_writes_them(rows: list[Any]) -> None:
    """A curve's points take a fast path (json.dumps, then checked); it writes what writing
    each number on its own writes, or refuses what that refuses."""
    from jcjg.ledger import canonical

    def careful(value: Any) -> bytes:
        return b"[" + b",".join(b"[" + b",".join(canonical_json(x) for x in row) + b"]"
                                for row in value) + b"]"  # fmt: skip

    try:
        want = careful(rows)
    except CanonicalJSONError:
        with pytest.raises(CanonicalJSONError):
            canonical_json(rows)
        return
    assert canonical_json(rows) == want
    flat = [x for row in rows for x in row if type(x) is float]
    if flat:
        assert canonical_json(flat) == b"[" + b",".join(canonical_json(x) for x in flat) + b"]"
    numbers = [x for row in rows for x in row]  # integers and floats in one list
    try:
        want = b"[" + b",".join(canonical_json(x) for x in numbers) + b"]"
    except CanonicalJSONError:
        with pytest.raises(CanonicalJSONError):
            canonical_json(numbers)
    else:
        assert canonical_json(numbers) == want
    assert canonical._float_list([[1.0, -0.0, 2.5]]) == "[[1,0,2.5]]"


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ([[-0.0, 10.0], [-10.0, -0.0]], b"[[0,10],[-10,0]]"),
        ([-0.0, 1.05, 100.0, -20.0], b"[0,1.05,100,-20]"),
        ([[1, 2.5], [3, 4]], b"[[1,2.5],[3,4]]"),
        ([[1.0, "a"], [2.0, "b"]], b'[[1,"a"],[2,"b"]]'),  # not numbers: the careful writer
        ([[1.0, True], [2.0, None]], b"[[1,true],[2,null]]"),
        ([[0.00001, 1e-7]], b"[[0.00001,1e-7]]"),  # exponents: ECMAScript's notation
        ([0.1234567890123456, 2.0], b"[0.1234567890123456,2]"),  # 16 digits: the careful way
        ([[1.0, {"b": 1, "a": 2}]], b'[[1,{"a":2,"b":1}]]'),
        ((1.0, (2.0, 3.5)), b"[1,[2,3.5]]"),
    ],
)
def test_lists_of_numbers_take_json_dumps_only_when_its_text_is_canonical(
    value: Any, want: bytes
) -> None:
    assert canonical_json(value) == want


@pytest.mark.parametrize("value", [[1.0, 2**53], [[1.0, float("nan")]], [[1.0, 1e300]]])
def test_lists_of_numbers_beyond_the_safe_range_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def _careful(value: Any) -> bytes:
    """The careful writer's bytes (what canonical_json wrote before its quick path)."""
    parts: list[str] = []
    canonical._write(value, parts, set())
    return "".join(parts).encode("utf-8")


@SETTINGS
@given(_json(st.none() | st.booleans() | SAFE_INT | TEXT))
def test_property_the_quick_path_writes_what_the_careful_writer_writes(value: Any) -> None:
    """A value of strings (any plane), booleans, nulls and safe integers: orjson's sorted text
    when it takes it (no character beyond U+FFFF), else the careful writer's, the same bytes."""
    quick = canonical._plain_quickly(value)
    text = json.dumps(value, ensure_ascii=False)
    astral = any(ord(ch) > 0xFFFF for ch in text)
    assert (quick is None) == astral
    assert canonical_json(value) == _careful(value)


def test_a_ledger_envelope_takes_the_quick_path() -> None:
    entry = {"message_type": "registry.labs", "message_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
             "institution_code": "JC360403-0001", "content_sha256": "ab" * 32}  # fmt: skip
    envelope = {"entry_type": "exchange:registry.labs", "notarised_at": "2026-11-30T07:00:00Z",
                "data": entry, "n": MAX_SAFE_INTEGER, "no": None, "yes": True,
                "list": [1, "二", "\u001f"]}  # fmt: skip
    assert canonical._plain_quickly(envelope) == _careful(envelope)
    for slow in ({"x": 1.5}, {"x": MAX_SAFE_INTEGER + 1}, {"\U0001f600": 1}, {"e": Decimal(1)}):
        assert canonical._plain_quickly(slow) is None
