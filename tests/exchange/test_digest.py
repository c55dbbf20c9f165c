"""Tests for jcjg.exchange.digest: RFC 9530 known answers, its printed errata, malformed values."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcjg.exchange.digest import (
    SUPPORTED_ALGORITHMS,
    DigestError,
    content_digest,
    parse_content_digest,
    verify_content_digest,
)
from tests.conftest import examples

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

# RFC 9530 (and RFC 9421's messages) via httpwg/http-extensions @ b1b1c72f; see the file's
# "source" field and /work/shared/testdata/README.md, "rfc9421_vectors.json".
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "rfc9421_vectors.json").read_text(encoding="utf-8")
)
DIGESTS: list[dict[str, Any]] = VECTORS["content_digest_rfc9530"]["vectors"]
# The vector file names algorithms as hashlib does; the field uses the IANA names.
FIELD_NAME = {
    "sha256": "sha-256",
    "sha512": "sha-512",
    "md5": "md5",
    "sha1": "sha",
    "crc32c": "crc32c",
    "adler32": "adler",
}
ACTIVE = [v for v in DIGESTS if v["algorithm"] in ("sha256", "sha512") and v["match"]]
DEPRECATED = [v for v in DIGESTS if v["algorithm"] not in ("sha256", "sha512")]
SETTINGS = settings(max_examples=examples(80), deadline=None, database=None)

HELLO = b'{"hello": "world"}'
HELLO_SHA256 = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
HELLO_SHA512 = (
    "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew"
    "==:"
)


def _field(vector: dict[str, Any], b64: str | None = None) -> str:
    return f"{FIELD_NAME[vector['algorithm']]}=:{b64 or vector['expected_b64']}:"


def test_vector_file_has_what_the_readme_says() -> None:
    assert len(DIGESTS) == 20
    assert len(ACTIVE) == 15  # 16 sha-256/512 vectors, less the test-response erratum,
    assert sum(not v["match"] for v in DIGESTS) == 1  # the only one that disagrees


@pytest.mark.parametrize("vector", ACTIVE, ids=[v["desc"] for v in ACTIVE])
def test_rfc_digests_known_answers(vector: dict[str, Any]) -> None:
    body = bytes.fromhex(vector["body_hex"])
    alg = FIELD_NAME[vector["algorithm"]]
    assert content_digest(body, alg) == _field(vector)
    assert verify_content_digest(_field(vector), body)
    assert parse_content_digest(_field(vector)) == {alg: base64.b64decode(vector["expected_b64"])}
    # Any other content fails.
    assert not verify_content_digest(_field(vector), body + b"\n")
    assert not verify_content_digest(_field(vector), b"x" + body[1:])


def test_default_algorithm_is_sha256() -> None:
    assert content_digest(HELLO) == HELLO_SHA256
    assert content_digest(HELLO, "sha-512") == HELLO_SHA512


def test_rfc9421_test_response_digest_as_printed_is_wrong() -> None:
    # README "known problems": the test-response message prints JlEy2b..., which is not the
    # SHA-512 of its body; the real digest mEWXIS7... is what B.2.4's signature base carries.
    (vector,) = [v for v in DIGESTS if not v["match"]]
    body = bytes.fromhex(vector["body_hex"])
    assert body == b'{"message": "good dog"}'
    assert not verify_content_digest(_field(vector), body)
    assert verify_content_digest(_field(vector, vector["computed_b64"]), body)
    assert content_digest(body, "sha-512") == _field(vector, vector["computed_b64"])


def test_rfc9530_brotli_bytes_as_printed_are_a_typo() -> None:
    # README "known problems": the digests are over the real brotli output 0b0980...,
    # not over the 8b0880... printed in RFC 9530 B.4/B.6.
    brotli = [v for v in ACTIVE if "body_hex_as_printed" in v]
    assert len(brotli) == 2
    for vector in brotli:
        assert vector["body_hex"].startswith("0b0980")
        assert verify_content_digest(_field(vector), bytes.fromhex(vector["body_hex"]))
        assert not verify_content_digest(
            _field(vector), bytes.fromhex(vector["body_hex_as_printed"])
        )


def test_rfc9530_extra_padding_is_rejected() -> None:
    # README "known problems": some lines print RK/0q...Dg== with one "=" too many.
    good = "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
    body = b'{"hello": "world"}\n'
    assert verify_content_digest(good, body)
    bad = good.replace("Dg=:", "Dg==:")
    with pytest.raises(DigestError, match="base64"):
        parse_content_digest(bad)
    assert not verify_content_digest(bad, body)


@pytest.mark.parametrize("vector", DEPRECATED, ids=[v["desc"] for v in DEPRECATED])
def test_deprecated_algorithms_parse_but_are_never_trusted(vector: dict[str, Any]) -> None:
    body = bytes.fromhex(vector["body_hex"])
    alg = FIELD_NAME[vector["algorithm"]]
    assert vector["match"]
    assert parse_content_digest(_field(vector)) == {alg: base64.b64decode(vector["expected_b64"])}
    # Alone, a deprecated digest proves nothing, even when it is right ...
    assert not verify_content_digest(_field(vector), body)
    # ... beside a supported one it is ignored, even when it is wrong.
    assert verify_content_digest(f"{_field(vector)}, {HELLO_SHA256}", HELLO)
    wrong = _field(vector, base64.b64encode(b"\x00" * 4).decode())
    assert verify_content_digest(f"{wrong}, {HELLO_SHA256}", HELLO)
    with pytest.raises(DigestError, match="unsupported"):
        content_digest(body, alg)


def test_every_supported_digest_present_must_match() -> None:
    assert SUPPORTED_ALGORITHMS == ("sha-256", "sha-512")
    assert verify_content_digest(f"{HELLO_SHA256}, {HELLO_SHA512}", HELLO)
    assert verify_content_digest(f"{HELLO_SHA512},{HELLO_SHA256}", HELLO)
    other_sha512 = content_digest(b"other", "sha-512")
    assert not verify_content_digest(f"{HELLO_SHA256}, {other_sha512}", HELLO)
    assert not verify_content_digest(f"{other_sha512}, {HELLO_SHA256}", HELLO)
    # A truncated digest is a mismatch, not a prefix match.
    assert not verify_content_digest("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWx:", HELLO)
    # Several field lines arrive joined with ", ", which is still one dictionary.
    assert parse_content_digest(f"{HELLO_SHA256}, {HELLO_SHA512}").keys() == {
        "sha-256",
        "sha-512",
    }


def test_unknown_algorithms_are_ignored() -> None:
    assert verify_content_digest(f"sha3-256=:AAAA:, {HELLO_SHA256}", HELLO)
    assert not verify_content_digest("sha3-256=:AAAA:", HELLO)
    assert not verify_content_digest("", HELLO)
    assert not verify_content_digest(None, HELLO)
    assert parse_content_digest("") == {}


def test_parameters_are_ignored_and_bytes_accepted() -> None:
    assert parse_content_digest(HELLO_SHA256 + ";x=1") == parse_content_digest(HELLO_SHA256)
    assert verify_content_digest(HELLO_SHA256.encode(), HELLO)


@pytest.mark.parametrize(
    "value",
    [
        "sha-256=1",  # an integer, not bytes
        'sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="',  # a string
        "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE",  # a token
        "sha-256=(:AAAA:)",  # an inner list
        "sha-256",  # a bare key is boolean true
        "SHA-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",  # keys are lowercase
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:",  # padding missing
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPF=:",  # non-zero pad bits
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",  # unterminated
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDU_yWxBf7kbu9DBPE=:",  # base64url
        f"{HELLO_SHA256},",  # trailing comma
        f"{HELLO_SHA256} {HELLO_SHA512}",  # no comma
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:\u00e9",  # not ASCII
    ],
)
def test_malformed_values_raise_and_never_verify(value: str) -> None:
    with pytest.raises(DigestError, match="Content-Digest"):
        parse_content_digest(value)
    assert not verify_content_digest(value, HELLO)


@SETTINGS
@given(body=st.binary(max_size=256), alg=st.sampled_from(SUPPORTED_ALGORITHMS), data=st.data())
def test_digest_round_trip_and_tamper(body: bytes, alg: str, data: st.DataObject) -> None:
    value = content_digest(body, alg)
    assert verify_content_digest(value, body)
    if body:
        i = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=7))
        tampered = body[:i] + bytes([body[i] ^ (1 << bit)]) + body[i + 1 :]
        assert not verify_content_digest(value, tampered)


@SETTINGS
@given(value=st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=80))
def test_verify_never_raises(value: str) -> None:
    assert verify_content_digest(value, HELLO) in (True, False)
    with contextlib.suppress(DigestError):  # its own error only, never another exception
        parse_content_digest(value)
