"""The request's JSON: parse_json's canonical bytes are RFC 8785's whatever the message holds
(its fast path, json.dumps with sorted keys, is taken only where the two agree)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jcjg.core.errors import ValidationFailed
from jcjg.exchange.service import parse_json
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
