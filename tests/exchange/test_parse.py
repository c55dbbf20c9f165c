"""The request's JSON: parse_json's canonical bytes are RFC 8785's whatever the message holds
(its fast path, json.dumps with sorted keys, is taken only where the two agree), and a large
body read by orjson answers what the careful path (json.loads with its checks) answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jcjg.core.errors import AppError, ValidationFailed
from jcjg.exchange import service
from jcjg.exchange.service import MAX_DEPTH, parse_json
from jcjg.ledger.canonical import canonical_json
from tests.ledger.test_canonical import SAFE_FLOAT, SETTINGS, TEXT, _json

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

ANY_INT = st.integers(min_value=-(2**60), max_value=2**60)
ASTRAL = st.text(st.characters(min_codepoint=0x10000, max_codepoint=0x1FFFF), max_size=3)
KEYS = TEXT | ASTRAL | st.sampled_from(["a", "b", "\uff61", "\U0001f600"])


@SETTINGS
@given(
    st.dictionaries(KEYS, _json(st.none() | st.booleans() | ANY_INT | SAFE_FLOAT | TEXT, KEYS)),
    st.booleans(),
)
def test_canonical_bytes_are_rfc_8785s(message: dict[str, Any], ascii_only: bool) -> None:
    body = json.dumps(message, ensure_ascii=ascii_only).encode()
    try:
        want = canonical_json(json.loads(body))
    except ValueError:
        with pytest.raises(ValidationFailed):
            parse_json(body)
        return
    data, canonical = parse_json(body)
    assert data == json.loads(body)
    assert canonical == want


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": 9007199254740992}',  # beyond 2^53 - 1
        b'{"s": "\\ud800"}',  # a lone surrogate, escaped
    ],
)
def test_what_rfc_8785_cannot_write_is_refused(body: bytes) -> None:
    with pytest.raises(ValidationFailed):
        parse_json(body)


def test_the_order_of_keys_is_utf_16s() -> None:
    # U+FF61 sorts after U+1F600 by code point, before it by UTF-16 code units (D83D DE00)
    body = json.dumps({"\uff61": 1, "\U0001f600": 2}).encode()
    assert parse_json(body)[1] == '{"\U0001f600":2,"\uff61":1}'.encode()


def test_every_character_of_the_bmp_is_written_as_rfc_8785_writes_it() -> None:
    """The canonical bytes of a body of text, integers, booleans and null (written by orjson)
    are the reference writer's for every character outside the astral planes, in keys and
    values: the escapes of the control characters, quotes and backslashes, U+2028, U+007F,
    and the keys' order."""
    characters = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(characters), 400):
        text = "".join(characters[start : start + 400])
        message = {text: text, text[::-1]: [text[:7], 1, -(2**53) + 1, True, None, {"k": text}]}
        for ascii_only in (True, False):
            body = json.dumps(message, ensure_ascii=ascii_only).encode()
            assert parse_json(body)[1] == canonical_json(message), start


# a curve's points: a body holding them is large (read by orjson when it can be)
POINTS = [[round(i * 0.01, 2), round(i * 0.37 + 0.001, 3)] for i in range(2000)]


def _outcome(body: bytes) -> Any:
    """What parse_json answers: the parsed body (its repr: 1 is not 1.0, nor 0 -0.0) and its
    canonical bytes, or the refusal."""
    try:
        data, canonical = parse_json(body)
        return repr(data), canonical
    except AppError as exc:
        return type(exc), exc.kind, exc.detail, [e.as_dict() for e in exc.errors]


def _careful(body: bytes) -> Any:
    """:func:`_outcome` with every body read by json.loads and its checks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "_parsed_quickly", lambda body: None)
        return _outcome(body)


def _large(body: bytes) -> bytes:
    """``body`` (an object) with the points as its first member."""
    assert body.startswith(b"{")
    padded = b'{"points":' + json.dumps(POINTS).encode() + (b"," if body != b"{}" else b"")
    return padded + body[1:]


def test_a_curve_record_is_read_by_orjson() -> None:
    body = _large(b'{"kind": "concrete_compression", "values": {"peak_kn": 812.5}}')
    assert len(body) > 16 * 1024
    quickly = service._parsed_quickly(body)
    assert quickly is not None
    assert (repr(quickly[0]), quickly[1]) == _careful(body) == _outcome(body)
    assert quickly[0]["points"][1] == [0.01, 0.371]


@SETTINGS
@given(
    st.dictionaries(KEYS, _json(st.none() | st.booleans() | ANY_INT | SAFE_FLOAT | TEXT, KEYS)),
    st.booleans(),
)
def test_a_large_body_is_read_as_the_careful_path_reads_it(
    message: dict[str, Any], ascii_only: bool
) -> None:
    body = _large(json.dumps(message, ensure_ascii=ascii_only).encode())
    assert _outcome(body) == _careful(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "a": 2}',  # a key twice
        b'{"a": "x:y", "b": {"c": ":", "c": "::"}}',  # twice in an inner object, colons in strings
        b'{"x": {"a": 1, "a": 2, "s": "\\u003a"}}',  # an escaped colon is in a string: not counted
        b'{"a": 1, "\\u0061": 2}',  # the same key, once escaped
        b'{"r": [{"k": 1}, {"k": 1, "k": 1}]}',  # twice in an object of a list
        b'{"n": 123456789012345678901234567890}',  # beyond 64 bits: orjson reads a float
        b'{"n": 18446744073709551616}',
        b'{"n": 9007199254740993}',  # beyond 2^53 - 1, within 64 bits
        b'{"n": 0.1234567890123456789}',  # a long mantissa
        b'{"s": "\\ud800"}',  # a lone surrogate, escaped (orjson refuses it, json.loads not)
        b'{"s": "\\ud83d\\ude00", "\\ud83d\\ude00": 1}',  # beyond U+FFFF, escaped
        b'{"f": NaN}',
        b'{"f": 1e400}',
        b'{"f": -0.0, "g": -0, "h": 5e-324}',
        b'{"d": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}",  # too deep
        b'{"d": ' + b"[" * 1025 + b"]" * 1025 + b"}",  # deeper than orjson reads
        b'{"w": 1' + b" \r\n\t" * 5000 + b"}",  # mostly whitespace
        b'{"s": "\xff"}',  # not UTF-8
        b'{"a": 1,}',
    ],
)
def test_a_large_bodys_edge_cases_are_answered_as_by_the_careful_path(body: bytes) -> None:
    large = _large(body)
    assert _outcome(large) == _careful(large)


# keys that are often the same, each written plainly or escaped (\\u0061 for a)
TWICE = st.tuples(st.sampled_from(["a", "b", ":", '"', "\\"]), st.booleans())
PAIRS = st.lists(st.tuples(TWICE, st.none() | ANY_INT | SAFE_FLOAT | TEXT), max_size=5)


def _object(pairs: list[tuple[tuple[str, bool], Any]], *inner: str) -> str:
    """A JSON object's text of ``pairs`` (keys may repeat), then the ``inner`` members."""

    def key(name: str, escaped: bool) -> str:
        if escaped:
            return '"' + "".join(f"\\u{ord(c):04x}" for c in name) + '"'
        return json.dumps(name)

    members = [f"{key(*k)}:{json.dumps(v)}" for k, v in pairs] + list(inner)
    return "{" + ",".join(members) + "}"


@SETTINGS
@given(PAIRS, PAIRS, st.booleans())
def test_a_large_body_with_keys_maybe_twice_is_read_as_the_careful_path_reads_it(
    outer: list[tuple[tuple[str, bool], Any]],
    inner: list[tuple[tuple[str, bool], Any]],
    in_a_list: bool,
) -> None:
    nested = _object(inner)
    nested = f"[{nested},{nested}]" if in_a_list else nested
    body = _large(_object(outer, f'"inner":{nested}').encode())
    assert _outcome(body) == _careful(body)


def test_a_large_body_with_a_key_twice_is_refused_naming_it() -> None:
    found = _outcome(_large(b'{"a": "x:y", "b": {"c": ":", "c": "::"}}'))
    assert found[0] is ValidationFailed
    assert found[3] == [
        {"field": "body", "message": "键“c”在同一个对象中出现多次：每个键只能出现一次",
         "code": "duplicate_key"}
    ]  # fmt: skip


def test_a_large_body_that_is_no_object_is_refused() -> None:
    assert _outcome(json.dumps(POINTS).encode())[2] == "请求体须是 JSON 对象"
