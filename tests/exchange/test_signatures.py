"""Tests for jcjg.exchange.signatures: RFC 9421 known answers, structured fields, tampering."""

from __future__ import annotations

import ast
import base64
import dataclasses
import functools
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

import jcjg.exchange
from jcjg.exchange.digest import content_digest, verify_content_digest
from jcjg.exchange.signatures import (
    DERIVED_COMPONENTS,
    BadSignature,
    CreatedOutOfWindow,
    Ed25519SigningKey,
    Ed25519VerifyingKey,
    Expired,
    HmacSha256Key,
    InnerList,
    Item,
    MalformedRequest,
    MalformedSignature,
    Member,
    MissingComponent,
    MissingParameter,
    MissingSignature,
    NotYetValid,
    Request,
    SignatureError,
    SignatureParams,
    StructuredFieldError,
    Token,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedComponent,
    Verified,
    VerifyingKey,
    check_policy,
    parse_dictionary,
    parse_item,
    parse_list,
    serialize_bare_item,
    serialize_dictionary,
    serialize_inner_list,
    serialize_item,
    serialize_list,
    serialize_signature_params,
    sign_request,
    signature_base,
    signing_key,
    verify_request,
    verifying_key,
)
from tests.conftest import examples

# no database: the same on both databases; hypothesis's examples (tests/conftest.py examples)
pytestmark = [pytest.mark.once, pytest.mark.property]

# RFC 9421 via httpwg/http-extensions @ b1b1c72f (draft-19 = RFC 9421) and two cases from
# pyauth/http-message-signatures; see the file's "source" field and
# /work/shared/testdata/README.md, "rfc9421_vectors.json".
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "rfc9421_vectors.json").read_text(encoding="utf-8")
)
CASES: dict[str, dict[str, Any]] = {c["name"]: c for c in VECTORS["signature_cases"]}
NEGATIVES: list[dict[str, Any]] = VECTORS["negative_cases"]
TRANSFORMS: list[dict[str, Any]] = VECTORS["b4_transformation_cases"]
EXAMPLES: dict[str, Any] = VECTORS["component_examples"]
MESSAGES: dict[str, str] = {**VECTORS["messages"], "B.4 original": TRANSFORMS[0]["message"]}
KEYS: dict[str, Any] = VECTORS["keys"]

SHARED_SECRET = base64.b64decode(KEYS["test-shared-secret"]["base64"])
ED25519_SEED = bytes.fromhex(KEYS["test-key-ed25519"]["raw_private_seed_hex"])
ED25519_PUBLIC = bytes.fromhex(KEYS["test-key-ed25519"]["raw_public_hex"])

# Every RFC signature case that signs a request with components this module implements, and
# the message it signs.
REQUEST_CASES = {
    "B.2.1 minimal (sig-b21)": "test-request",
    "B.2.3 full coverage (sig-b23)": "test-request",
    "B.2.5 hmac-sha256 (sig-b25)": "test-request",
    "B.2.6 ed25519 (sig-b26)": "test-request",
    "B.3 TLS-terminating proxy (ttrp)": "B.3 proxy signed request (ttrp)",
    "B.4 transformations (transform)": "B.4 original",
    "2.4 signed request sig1 (constructed base)": "sec2.4 signed request sig1 (rsa-pss)",
    "2.5/3.2 example sig base (sig1)": "test-request",
    "4.3 multiple sigs client sig1 (constructed base)": "sec4.3 client signed request",
    "4.3 multiple sigs proxy_sig": "sec4.3 proxied request with both signatures",
    "pyauth test_http_message_signatures_B27 (ed25519 + tag)": "test-request",
}
# The others, and the component that keeps each out.
NOT_IMPLEMENTED = {
    "B.2.2 selective (sig-b22)": '"@query-param";name="Pet"',
    "B.2.4 response ecdsa (sig-b24)": '"@status"',  # signs a response
    "2.4 request-response (reqres #1)": '"@authority";req',  # a response, with request parts
    "2.4 request-response (reqres #2)": '"@authority";req',
    "pyauth test_http_message_signatures_B24 (older-draft response digest)": '"@status"',
}

SETTINGS = settings(max_examples=examples(100), deadline=None, database=None)


# ---------------------------------------------------------------------------------------------
# Helpers: RFC example messages as Requests, and the RFC's other algorithms as test verifiers.


def header_lines(text: str) -> list[tuple[str, str]]:
    """Field lines of an example message; a line starting with white space continues the
    previous one (obsolete line folding, kept as received)."""
    fields: list[tuple[str, str]] = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value}\n{line}")
        else:
            name, _, value = line.partition(":")
            fields.append((name, value))
    return fields


def http_request(
    message: str, *, scheme: str = "https", extra: Sequence[tuple[str, str]] = ()
) -> Request:
    """A Request from an RFC example request message (request line, then field lines)."""
    head = message.split("\n\n", 1)[0]
    request_line, _, rest = head.partition("\n")
    method, target, _version = request_line.split(" ")
    fields = header_lines(rest) if rest else []
    host = next((v.strip() for n, v in fields if n.lower() == "host"), None)
    if target.startswith("/"):
        url, request_target = f"{scheme}://{host}{target}", None
    elif "://" in target:  # absolute form, to a proxy
        url, request_target = target, target
    else:  # authority form (CONNECT) or asterisk form (OPTIONS *)
        url, request_target = f"{scheme}://{host}/", target
    return Request(method, url, [*fields, *extra], request_target=request_target)


def case_request(name: str, *, signed: bool = True) -> Request:
    """The message of signature case `name`, with its signature fields unless it has them."""
    case = CASES[name]
    request = http_request(MESSAGES[REQUEST_CASES[name]])
    if signed and not request.field_values("signature-input"):
        return http_request(
            MESSAGES[REQUEST_CASES[name]],
            extra=[
                ("Signature-Input", case["signature_input_value"]),
                ("Signature", case["signature_header_value"]),
            ],
        )
    return request


def covered_and_params(signature_input: str, label: str) -> tuple[list[str], SignatureParams]:
    member = parse_dictionary(signature_input)[label]
    assert isinstance(member, InnerList)
    return [str(item.value) for item in member.items], SignatureParams.from_parameters(
        member.params
    )


class RfcVerifier:
    """RSA-PSS, RSA v1.5 and ECDSA P-256 (RFC 9421 3.3), which the module leaves to plug-ins:
    these prove that `verify_request` takes any `VerifyingKey`-shaped object."""

    def __init__(self, alg: str, public_pem: str) -> None:
        self.alg = alg
        self._key = serialization.load_pem_public_key(public_pem.encode())

    def verify(self, base: bytes, signature: bytes) -> bool:
        key = self._key
        try:
            if self.alg == "rsa-pss-sha512":
                assert isinstance(key, rsa.RSAPublicKey)
                pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
                key.verify(signature, base, pss, hashes.SHA512())
            elif self.alg == "rsa-v1_5-sha256":
                assert isinstance(key, rsa.RSAPublicKey)
                key.verify(signature, base, padding.PKCS1v15(), hashes.SHA256())
            else:  # ecdsa-p256-sha256: raw r || s on the wire, DER for cryptography
                assert isinstance(key, ec.EllipticCurvePublicKey)
                if len(signature) != 64:
                    return False
                r, s = int.from_bytes(signature[:32]), int.from_bytes(signature[32:])
                key.verify(encode_dss_signature(r, s), base, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


RFC_KEYS: dict[str, VerifyingKey] = {
    "test-key-rsa-pss": RfcVerifier("rsa-pss-sha512", KEYS["test-key-rsa-pss"]["public_pem"]),
    "test-key-rsa": RfcVerifier("rsa-v1_5-sha256", KEYS["test-key-rsa"]["public_pem"]),
    "test-key-ecc-p256": RfcVerifier("ecdsa-p256-sha256", KEYS["test-key-ecc-p256"]["public_pem"]),
    "test-key-ed25519": Ed25519VerifyingKey(ED25519_PUBLIC),
    "test-shared-secret": HmacSha256Key(SHARED_SECRET),
}


def failure(action: Callable[[], object]) -> type[SignatureError] | None:
    """The SignatureError subclass `action` raised, or None if it succeeded."""
    try:
        action()
    except SignatureError as exc:
        return type(exc)
    return None


# ---------------------------------------------------------------------------------------------
# RFC 9421 signature cases.


def test_every_signature_case_is_either_covered_or_named_as_not_implemented() -> None:
    assert set(REQUEST_CASES) | set(NOT_IMPLEMENTED) == set(CASES)
    assert not set(REQUEST_CASES) & set(NOT_IMPLEMENTED)
    assert len(CASES) == 16
    assert len(NEGATIVES) == 17


@pytest.mark.parametrize("name", REQUEST_CASES)
def test_rfc_signature_base_byte_for_byte(name: str) -> None:
    case = CASES[name]
    request = case_request(name, signed=False)
    covered, params = covered_and_params(case["signature_input_value"], case["label"])
    base = signature_base(request, covered, params)
    assert base == case["signature_base"].encode("ascii")
    if "signature_base_bytes_sha256" in case:  # the RFC's own cases carry it
        assert hashlib.sha256(base).hexdigest() == case["signature_base_bytes_sha256"]
    # The @signature-params value is exactly the Signature-Input member's value.
    assert (
        f"{case['label']}={serialize_signature_params(covered, params)}"
        == (case["signature_input_value"])
    )


@pytest.mark.parametrize("name", REQUEST_CASES)
def test_rfc_signed_requests_verify(name: str) -> None:
    case = CASES[name]
    verified = verify_request(case_request(name), label=case["label"], resolve_key=RFC_KEYS.get)
    covered, params = covered_and_params(case["signature_input_value"], case["label"])
    assert verified.label == case["label"]
    assert verified.keyid == case["keyid"]
    assert verified.covered == tuple(covered)
    assert (verified.created, verified.expires, verified.nonce, verified.tag, verified.alg) == (
        params.created,
        params.expires,
        params.nonce,
        params.tag,
        params.alg,
    )
    assert verified.signature == base64.b64decode(case["signature_b64"])
    assert f"{case['label']}={verified.signature_params}" == case["signature_input_value"]


DETERMINISTIC = [name for name in REQUEST_CASES if CASES[name]["deterministic"]]


def test_deterministic_cases_are_the_hmac_and_ed25519_ones() -> None:
    assert sorted(CASES[n]["rfc9421_section"] or n for n in DETERMINISTIC) == [
        "B.2.5",
        "B.2.6",
        "B.4",
        "pyauth test_http_message_signatures_B27 (ed25519 + tag)",
    ]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_rfc_signatures_reproduced_byte_for_byte(name: str) -> None:
    # HMAC and Ed25519 are deterministic: signing the RFC's message must give the RFC's fields.
    case = CASES[name]
    covered, params = covered_and_params(case["signature_input_value"], case["label"])
    raw_key = SHARED_SECRET if case["alg"] == "hmac-sha256" else ED25519_SEED
    fields = sign_request(
        case_request(name, signed=False),
        label=case["label"],
        key_id=case["keyid"],
        alg=case["alg"],
        key=raw_key,
        covered=covered,
        created=params.created or 0,
        nonce=params.nonce,
        expires=params.expires,
        tag=params.tag,
    )
    assert fields == {
        "Signature-Input": case["signature_input_value"],
        "Signature": case["signature_header_value"],
    }


def test_b26_with_key_objects_from_pem() -> None:
    case = CASES["B.2.6 ed25519 (sig-b26)"]
    private = serialization.load_pem_private_key(
        KEYS["test-key-ed25519"]["private_pem"].encode(), password=None
    )
    assert isinstance(private, Ed25519PrivateKey)
    public = serialization.load_pem_public_key(KEYS["test-key-ed25519"]["public_pem"].encode())
    assert isinstance(public, Ed25519PublicKey)
    covered, _ = covered_and_params(case["signature_input_value"], case["label"])
    request = case_request("B.2.6 ed25519 (sig-b26)", signed=False)
    for key in (private, Ed25519SigningKey(private), signing_key("ed25519", ED25519_SEED)):
        fields = sign_request(
            request,
            label="sig-b26",
            key_id="test-key-ed25519",
            alg="ed25519",
            key=key,
            covered=covered,
            created=1618884473,
            nonce=None,
        )
        assert fields["Signature"] == case["signature_header_value"]
    assert Ed25519SigningKey(private).verifying_key().public_bytes == ED25519_PUBLIC
    vkey = verifying_key("ed25519", public)
    assert vkey.verify(case["signature_base"].encode(), base64.b64decode(case["signature_b64"]))


def test_b25_hmac_signature_value() -> None:
    case = CASES["B.2.5 hmac-sha256 (sig-b25)"]
    key = HmacSha256Key(SHARED_SECRET)
    assert key.sign(case["signature_base"].encode()) == base64.b64decode(case["signature_b64"])
    assert base64.b64encode(key.sign(case["signature_base"].encode())).decode() == (
        "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="
    )


@pytest.mark.parametrize("name", NOT_IMPLEMENTED)
def test_not_implemented_cases_are_refused_not_misread(name: str) -> None:
    case = CASES[name]
    assert NOT_IMPLEMENTED[name] in case["signature_input_value"]
    if name == "B.2.2 selective (sig-b22)":
        request = http_request(
            MESSAGES["test-request"],
            extra=[
                ("Signature-Input", case["signature_input_value"]),
                ("Signature", case["signature_header_value"]),
            ],
        )
        with pytest.raises(UnsupportedComponent, match="@query-param"):
            verify_request(request, resolve_key=RFC_KEYS.get)
    # The signatures themselves are sound: their RFC bases verify with the RFC keys.
    key = RFC_KEYS[case["keyid"]]
    assert key.verify(case["signature_base"].encode(), base64.b64decode(case["signature_b64"]))


def test_section_4_3_two_signatures_pick_by_label() -> None:
    proxied = http_request(MESSAGES["sec4.3 proxied request with both signatures"])
    assert verify_request(proxied, label="proxy_sig", resolve_key=RFC_KEYS.get).keyid == (
        "test-key-rsa"
    )
    # The client's sig1 covered @authority example.com; the proxy changed it.
    with pytest.raises(BadSignature):
        verify_request(proxied, label="sig1", resolve_key=RFC_KEYS.get)
    # Two signatures and no label: the verifier must choose, not guess.
    with pytest.raises(MissingSignature, match="pick a label"):
        verify_request(proxied, resolve_key=RFC_KEYS.get)
    with pytest.raises(MissingSignature, match="sig2"):
        verify_request(proxied, label="sig2", resolve_key=RFC_KEYS.get)


@pytest.mark.parametrize("case", TRANSFORMS, ids=[c["desc"] for c in TRANSFORMS])
def test_b4_transformations(case: dict[str, Any]) -> None:
    request = http_request(case["message"])
    covered, params = covered_and_params(request.field_values("signature-input")[0], "transform")
    assert signature_base(request, covered, params) == case["collector_signature_base"].encode()
    outcome = failure(lambda: verify_request(request, resolve_key=RFC_KEYS.get))
    assert outcome is (None if case["expect_valid"] else BadSignature)


@pytest.mark.parametrize("case", NEGATIVES, ids=[c["from"] for c in NEGATIVES])
def test_negative_cases_fail(case: dict[str, Any]) -> None:
    # The mutated base does not verify with the RFC key ...
    key = RFC_KEYS[case["keyid"]]
    signature = base64.b64decode(case["signature_b64"])
    assert not key.verify(case["signature_base"].encode(), signature)
    origin = case["from"]
    if origin in REQUEST_CASES:
        # ... and the same mutation carried in the Signature-Input fails verify_request with
        # BadSignature, over exactly the negative case's base.
        original = CASES[origin]
        mutated = original["signature_input_value"].replace(";created=", ";created=9", 1)
        covered, params = covered_and_params(mutated, original["label"])
        request = case_request(origin, signed=False)
        assert signature_base(request, covered, params) == case["signature_base"].encode()
        signed = http_request(
            MESSAGES[REQUEST_CASES[origin]].split("\nSignature-Input:")[0],
            extra=[("Signature-Input", mutated), ("Signature", original["signature_header_value"])],
        )
        with pytest.raises(BadSignature):
            verify_request(signed, label=original["label"], resolve_key=RFC_KEYS.get)
    elif origin.startswith("B.2.6 signature checked as hmac-sha256"):
        # Algorithm confusion: B.2.6's Ed25519 signature checked as an HMAC by the shared secret.
        request = case_request("B.2.6 ed25519 (sig-b26)")
        with pytest.raises(BadSignature):
            verify_request(request, resolve_key=lambda _: HmacSha256Key(SHARED_SECRET))
    else:
        assert origin in NOT_IMPLEMENTED


def test_alg_parameter_must_match_the_key() -> None:
    request = case_request("B.2.6 ed25519 (sig-b26)", signed=False)
    covered, _ = covered_and_params(
        CASES["B.2.6 ed25519 (sig-b26)"]["signature_input_value"], "sig-b26"
    )
    fields = sign_request(
        request,
        key_id="k",
        alg="ed25519",
        key=ED25519_SEED,
        covered=covered,
        created=1618884473,
        nonce="n",
        include_alg=True,
    )
    assert ';alg="ed25519"' in fields["Signature-Input"]
    signed = dataclasses.replace(request, headers=[*request.fields, *fields.items()])
    assert (
        verify_request(signed, resolve_key=lambda _: RFC_KEYS["test-key-ed25519"]).alg == "ed25519"
    )
    # The signature is good, but the key on file is an HMAC key: never let "alg" choose.
    with pytest.raises(BadSignature, match="alg"):
        verify_request(signed, resolve_key=lambda _: HmacSha256Key(SHARED_SECRET))


# ---------------------------------------------------------------------------------------------
# RFC 9421 2.1-2.2 component examples.


def test_http_field_examples() -> None:
    example = EXAMPLES["http_fields"]
    request = Request("GET", "https://www.example.com/", header_lines(example["message"]))
    lines = example["expected_lines"].split("\n")
    assert len(lines) == 6
    for line in lines:
        name = line.split('"')[1]
        assert f'"{name}": {request.component_value(name)}' == line


def test_empty_field_example() -> None:
    example = EXAMPLES["empty_field"]
    request = Request("GET", "https://www.example.com/", header_lines(example["message"]))
    assert (
        f'"x-empty-header": {request.component_value("x-empty-header")}'
        == (example["expected_line"])
    )


def test_multiple_field_lines_join_like_one() -> None:
    # The collision RFC 9421 2.1.3 warns of, which ";bs" (not implemented) exists to prevent.
    example = EXAMPLES["bs_param"]
    two = Request("GET", "https://h/", header_lines(example["message_two_lines"]))
    one = Request("GET", "https://h/", header_lines(example["message_one_line"]))
    for request in (two, one):
        assert (
            f'"example-header": {request.component_value("example-header")}'
            == (example["expected_plain"])
        )


def _derived_examples() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name in sorted(DERIVED_COMPONENTS):
        examples = EXAMPLES[name]
        for example in examples if isinstance(examples, list) else [examples]:
            out.append((name, example))
    return out


@pytest.mark.parametrize(("name", "example"), _derived_examples())
def test_derived_component_examples(name: str, example: dict[str, Any]) -> None:
    scheme = "http" if "plain HTTP" in example.get("context", "") else "https"
    if example["message"] == "request with no query string":
        request = Request("GET", "https://www.example.com/path")
    else:
        request = http_request(example["message"], scheme=scheme)
    assert f'"{name}": {request.component_value(name)}' == example["expected_line"]


def test_every_derived_component_has_an_rfc_example() -> None:
    assert len(_derived_examples()) == 12
    assert {name for name, _ in _derived_examples()} == DERIVED_COMPONENTS


def test_signature_params_example_round_trips() -> None:
    text = EXAMPLES["signature_params_example"]
    member = parse_dictionary(f"sig={text}")["sig"]
    assert isinstance(member, InnerList)
    assert serialize_inner_list(member) == text
    assert list(member.params) == ["keyid", "alg", "created", "expires"]  # order kept


@pytest.mark.parametrize(
    ("component", "match"),
    [
        ('"@query-param";name="Pet"', "@query-param"),
        ('"@status"', "@status"),
        ('"@method";req', "@method"),
        ('"example-dict";sf', "example-dict"),
        ('"example-dict";key="a"', "example-dict"),
        ('"example-header";bs', "example-header"),
        ('"expires";tr', "expires"),
        ('"@unknown"', "@unknown"),
    ],
)
def test_unimplemented_components_are_refused(component: str, match: str) -> None:
    request = Request(
        "GET",
        "https://www.example.com/path?Pet=dog",
        [
            ("Example-Dict", "a=1"),
            ("Example-Header", "x"),
            ("Expires", "now"),
            ("Signature-Input", f'sig=({component});keyid="test-key-ed25519"'),
            ("Signature", "sig=:" + "A" * 86 + "==:"),
        ],
    )
    with pytest.raises(UnsupportedComponent, match=match):
        verify_request(request, resolve_key=RFC_KEYS.get)


# ---------------------------------------------------------------------------------------------
# The request model.


@pytest.mark.parametrize(
    ("url", "authority", "target"),
    [
        ("https://Example.COM/x", "example.com", "https://example.com/x"),
        ("HTTPS://example.com:443/x?", "example.com", "https://example.com/x?"),
        ("http://example.com:80", "example.com", "http://example.com/"),
        ("https://example.com:80/", "example.com:80", "https://example.com:80/"),
        ("http://example.com:443/", "example.com:443", "http://example.com:443/"),
        ("https://example.com:/a%2Fb", "example.com", "https://example.com/a%2Fb"),
        (
            "https://[2001:DB8::1]:8443/p?q=1",
            "[2001:db8::1]:8443",
            "https://[2001:db8::1]:8443/p?q=1",
        ),
    ],
)
def test_authority_and_target_uri_are_normalized(url: str, authority: str, target: str) -> None:
    request = Request("GET", url)
    assert request.component_value("@authority") == authority
    assert request.component_value("@target-uri") == target
    assert request.component_value("@scheme") == target.split(":")[0]


def test_path_query_and_request_target() -> None:
    request = Request("GET", "https://h")
    assert [request.component_value(c) for c in ("@path", "@query", "@request-target")] == [
        "/",
        "?",
        "/",
    ]
    request = Request("GET", "https://h/a%20b?")
    assert [request.component_value(c) for c in ("@path", "@query", "@request-target")] == [
        "/a%20b",
        "?",
        "/a%20b?",
    ]
    request = Request("OPTIONS", "https://h/", request_target="*")
    assert request.component_value("@request-target") == "*"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/relative"),
        ("GET", "https://user@h/"),
        ("GET", "https://h/#fragment"),
        ("GET", "ftp://h/"),
        ("GET", "https:///path"),
        ("GET", "https://h:port/"),
        ("GET", "https://[::1/"),
        ("GET", "https://h/a b"),
        ("GET", "https://h/\u00e9"),
        ("GET", ""),
        ("G ET", "https://h/"),
        ("", "https://h/"),
    ],
)
def test_malformed_requests_are_refused(method: str, url: str) -> None:
    with pytest.raises(MalformedRequest):
        Request(method, url)


def test_headers_as_mapping_or_pairs_case_insensitive() -> None:
    pairs = [("Accept", "a/b"), ("X-Thing", " one "), ("accept", "c/d")]
    request = Request("GET", "https://h/", pairs)
    assert request.component_value("accept") == "a/b, c/d"
    assert request.component_value("x-thing") == "one"
    assert request.field_values("ACCEPT") == ["a/b", "c/d"]
    mapped = Request("GET", "https://h/", {"Content-Type": "text/plain"})
    assert mapped.component_value("content-type") == "text/plain"
    once = Request("GET", "https://h/", iter(pairs))  # a one-shot iterable is kept readable
    assert once.headers == tuple(pairs)
    assert once.component_value("accept") == "a/b, c/d"


def test_field_values_that_cannot_be_signed() -> None:
    request = Request(
        "GET",
        "https://h/",
        [("X-Newline", "a\r\nb"), ("X-Nul", "a\x00b"), ("X-Utf8", "caf\u00e9"), ("X-Tab", "a\tb")],
    )
    with pytest.raises(MalformedRequest, match="control"):
        request.component_value("x-newline")  # would forge a line of the signature base
    with pytest.raises(MalformedRequest, match="control"):
        request.component_value("x-nul")
    with pytest.raises(UnsupportedComponent, match="non-ASCII"):
        request.component_value("x-utf8")
    assert request.component_value("x-tab") == "a\tb"
    with pytest.raises(MissingComponent, match="x-absent") as info:
        request.component_value("x-absent")
    assert info.value.components == ("x-absent",)
    with pytest.raises(UnsupportedComponent):
        request.component_value("@status")


@pytest.mark.parametrize(
    ("covered", "error", "match"),
    [
        (["Content-Type"], MalformedSignature, "lowercase"),
        (["date", "date"], MalformedSignature, "twice"),
        (["@signature-params"], MalformedSignature, "@signature-params"),
        (["@status"], UnsupportedComponent, "@status"),
        (["x-absent"], MissingComponent, "x-absent"),
        (['"quoted"'], MalformedSignature, "lowercase"),
    ],
)
def test_signature_base_refuses_bad_covered_lists(
    covered: list[str], error: type[SignatureError], match: str
) -> None:
    request = http_request(MESSAGES["test-request"])
    with pytest.raises(error, match=match):
        signature_base(request, covered, SignatureParams(created=1, keyid="k"))


def test_covered_must_not_be_a_plain_string() -> None:
    with pytest.raises(TypeError, match="sequence"):
        signature_base(Request("GET", "https://h/"), "@method", SignatureParams())


# ---------------------------------------------------------------------------------------------
# Round trip, tampering, failures and policy, on a request shaped like the lab exchange API.

NOW = 1_750_000_000
BODY = b'{"report": "R-2025-0001", "value": 12.5}'
URL = "https://api.jcjg.example/exchange/v1/reports?draft=1"
COVERED = ["@method", "@target-uri", "content-type", "content-digest"]
HMAC_SECRET = bytes(range(32, 96))


def _fields() -> list[tuple[str, str]]:
    return [
        ("Host", "api.jcjg.example"),
        ("Content-Type", "application/json"),
        ("Content-Digest", content_digest(BODY)),
        ("X-Request-Id", "req-42"),
    ]


KEY_MATERIAL: dict[str, tuple[bytes, VerifyingKey]] = {
    "ed25519": (ED25519_SEED, Ed25519VerifyingKey(ED25519_PUBLIC)),
    "hmac-sha256": (HMAC_SECRET, HmacSha256Key(HMAC_SECRET)),
}


def _sign(alg: str, **overrides: Any) -> dict[str, str]:
    kwargs: dict[str, Any] = {
        "key_id": "lab-0001",
        "alg": alg,
        "key": KEY_MATERIAL[alg][0],
        "covered": COVERED,
        "created": NOW,
        "nonce": "n-7f3a9c",
        "expires": NOW + 300,
    }
    kwargs.update(overrides)
    return sign_request(Request("POST", URL, _fields()), **kwargs)


def _verify(
    alg: str,
    fields: dict[str, str],
    *,
    method: str = "POST",
    url: str = URL,
    headers: list[tuple[str, str]] | None = None,
    label: str | None = None,
) -> Verified:
    request = Request(method, url, [*(headers or _fields()), *fields.items()])
    return verify_request(request, label=label, resolve_key={"lab-0001": KEY_MATERIAL[alg][1]}.get)


@pytest.mark.parametrize("alg", ["ed25519", "hmac-sha256"])
def test_round_trip(alg: str) -> None:
    fields = _sign(alg)
    assert set(fields) == {"Signature-Input", "Signature"}
    assert fields["Signature-Input"] == (
        'sig1=("@method" "@target-uri" "content-type" "content-digest");'
        f'created={NOW};keyid="lab-0001";expires={NOW + 300};nonce="n-7f3a9c"'
    )
    verified = _verify(alg, fields)
    assert verified == Verified(
        label="sig1",
        keyid="lab-0001",
        alg=None,
        created=NOW,
        expires=NOW + 300,
        nonce="n-7f3a9c",
        tag=None,
        covered=tuple(COVERED),
        params={"created": NOW, "keyid": "lab-0001", "expires": NOW + 300, "nonce": "n-7f3a9c"},
        signature_params=fields["Signature-Input"].removeprefix("sig1="),
        signature=verified.signature,
    )
    assert len(verified.signature) == (64 if alg == "ed25519" else 32)
    check_policy(verified, required=COVERED, now=NOW)
    # The server checks the body against the signed digest separately.
    assert verify_content_digest(dict(_fields())["Content-Digest"], BODY)
    # An uncovered field may change; the signature does not notice.
    changed = [(n, "req-43" if n == "X-Request-Id" else v) for n, v in _fields()]
    assert _verify(alg, fields, headers=changed).nonce == "n-7f3a9c"


def _flips(text: str) -> list[str]:
    """`text` with each character in turn changed to another (its lowest bit flipped, which
    never changes letter case, so case-insensitive parts are changed too)."""
    return [text[:i] + chr(ord(c) ^ 1) + text[i + 1 :] for i, c in enumerate(text)]


@pytest.mark.parametrize("alg", ["ed25519", "hmac-sha256"])
def test_every_single_character_change_fails(alg: str) -> None:
    fields = _sign(alg)
    outcomes: dict[str, set[type[SignatureError] | None]] = {}

    def record(what: str, action: Callable[[], object]) -> None:
        outcomes.setdefault(what, set()).add(failure(action))

    for method in _flips("POST"):
        record("method", functools.partial(_verify, alg, fields, method=method))
    for url in _flips(URL):
        record("url", functools.partial(_verify, alg, fields, url=url))
    for name in ("Content-Type", "Content-Digest"):
        for value in _flips(dict(_fields())[name]):
            headers = [(n, value if n == name else v) for n, v in _fields()]
            record(name, functools.partial(_verify, alg, fields, headers=headers))
    for name in ("Signature-Input", "Signature"):
        for value in _flips(fields[name]):
            tampered = {**fields, name: value}
            record(name, functools.partial(_verify, alg, tampered))

    for what, seen in outcomes.items():
        assert None not in seen, f"a change to {what} still verified"
    assert outcomes["method"] == {BadSignature}
    assert outcomes["Content-Digest"] == {BadSignature}
    assert outcomes["url"] >= {BadSignature, MalformedRequest}
    assert outcomes["Signature"] >= {BadSignature, MalformedSignature, MissingSignature}
    assert outcomes["Signature-Input"] >= {
        BadSignature,
        MalformedSignature,
        MissingSignature,
        UnknownKey,
        UnsupportedComponent,
    }


def test_unsigned_requests_and_broken_fields() -> None:
    fields = _sign("ed25519")
    signature_only = {"Signature": fields["Signature"]}
    input_only = {"Signature-Input": fields["Signature-Input"]}
    cases: list[tuple[dict[str, str], type[SignatureError], str]] = [
        ({}, MissingSignature, "signature-input"),
        (signature_only, MissingSignature, "signature-input"),
        (input_only, MissingSignature, "no signature field"),
        (
            {**fields, "Signature-Input": "sig1=("},
            MalformedSignature,
            "Signature-Input|signature-input",
        ),
        ({**fields, "Signature": "sig1"}, MalformedSignature, "byte sequence"),
        ({**fields, "Signature": 'sig1="abc"'}, MalformedSignature, "byte sequence"),
        ({**fields, "Signature-Input": 'sig1="abc"'}, MalformedSignature, "inner list"),
        ({**fields, "Signature-Input": "sig1=();created=1"}, MissingParameter, "keyid"),
        ({**fields, "Signature-Input": 'sig1=();keyid="nobody"'}, UnknownKey, "nobody"),
        (
            {**fields, "Signature-Input": 'sig1=();keyid="lab-0001";created="1"'},
            MalformedSignature,
            "created",
        ),
        (
            {**fields, "Signature-Input": 'sig1=();keyid="lab-0001";created=-1'},
            MalformedSignature,
            "created",
        ),
        (
            {**fields, "Signature-Input": 'sig1=();keyid="lab-0001";created'},
            MalformedSignature,
            "created",
        ),
        ({**fields, "Signature-Input": "sig1=();keyid=lab"}, MalformedSignature, "keyid"),
        (
            {**fields, "Signature-Input": 'sig1=();keyid="lab-0001";nonce=1'},
            MalformedSignature,
            "nonce",
        ),
        (
            {**fields, "Signature-Input": 'sig1=(method);keyid="lab-0001"'},
            MalformedSignature,
            "string",
        ),
        ({**fields, "Signature-Input": 'sig1=("date");keyid="lab-0001"'}, MissingComponent, "date"),
        (
            {**fields, "Signature-Input": 'sig1=("Date");keyid="lab-0001"'},
            MalformedSignature,
            "lowercase",
        ),
        (
            {**fields, "Signature-Input": 'sig1=("@path" "@path");keyid="lab-0001"'},
            MalformedSignature,
            "twice",
        ),
        (
            {**fields, "Signature-Input": 'sig1=();keyid="lab-0001";alg="rsa-pss-sha512"'},
            BadSignature,
            "alg",
        ),
    ]
    for extra, error, match in cases:
        with pytest.raises(error, match=match):
            _verify("ed25519", extra)


def test_a_label_must_be_in_both_fields() -> None:
    fields = _sign("ed25519")
    other = _sign("ed25519", label="other")
    both = {
        "Signature-Input": f"{fields['Signature-Input']}, {other['Signature-Input']}",
        "Signature": fields["Signature"],
    }
    assert _verify("ed25519", both, label="sig1").label == "sig1"
    with pytest.raises(MissingSignature, match="other"):
        _verify("ed25519", both, label="other")


def test_field_lines_are_combined() -> None:
    # Two Signature-Input lines (two signatures) arrive as two field lines; RFC 9110 joins them.
    first = _sign("ed25519")
    second = _sign("hmac-sha256", label="sig2", key_id="lab-0002")
    request = Request(
        "POST",
        URL,
        [
            *_fields(),
            ("Signature-Input", first["Signature-Input"]),
            ("Signature-Input", second["Signature-Input"]),
            ("Signature", second["Signature"]),
            ("Signature", first["Signature"]),
        ],
    )
    keys: dict[str, VerifyingKey] = {
        "lab-0001": KEY_MATERIAL["ed25519"][1],
        "lab-0002": KEY_MATERIAL["hmac-sha256"][1],
    }
    assert verify_request(request, label="sig1", resolve_key=keys.get).keyid == "lab-0001"
    assert verify_request(request, label="sig2", resolve_key=keys.get).keyid == "lab-0002"


def test_sign_request_refuses_misuse() -> None:
    with pytest.raises(ValueError, match="not 'hmac-sha256'"):
        _sign("hmac-sha256", key=Ed25519SigningKey(ED25519_SEED))
    with pytest.raises(ValueError, match="label"):
        _sign("ed25519", label="Sig1")
    with pytest.raises(ValueError, match="expires"):
        _sign("ed25519", expires=NOW)
    with pytest.raises(ValueError, match="created"):
        _sign("ed25519", created=True)
    with pytest.raises(MalformedSignature, match="printable"):
        _sign("ed25519", nonce="n\u00e9")
    with pytest.raises(UnsupportedAlgorithm, match="rsa-pss-sha512"):
        sign_request(
            Request("POST", URL, _fields()),
            key_id="lab-0001",
            alg="rsa-pss-sha512",
            key=b"x" * 32,
            covered=COVERED,
            created=NOW,
            nonce="n",
        )
    with pytest.raises(ValueError, match="32 bytes"):
        _sign("hmac-sha256", key=b"short")


def test_keys() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Ed25519SigningKey(b"\x00" * 31)
    with pytest.raises(ValueError, match="32 bytes"):
        Ed25519VerifyingKey(b"\x00" * 33)
    with pytest.raises(TypeError, match="Ed25519"):
        Ed25519SigningKey("seed")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="secret"):
        signing_key("hmac-sha256", Ed25519PrivateKey.generate())
    with pytest.raises(UnsupportedAlgorithm):
        verifying_key("ecdsa-p256-sha256", ED25519_PUBLIC)
    assert "bb3b" not in repr(HmacSha256Key(SHARED_SECRET))
    assert ED25519_SEED.hex() not in repr(Ed25519SigningKey(ED25519_SEED))
    key = Ed25519VerifyingKey(ED25519_PUBLIC)
    assert not key.verify(b"x", b"\x00" * 63)
    assert not key.verify(b"x", b"\x00" * 64)
    assert not HmacSha256Key(SHARED_SECRET).verify(b"x", b"")


def test_every_failure_is_a_signature_error() -> None:
    for error in (
        MissingSignature,
        MalformedSignature,
        MalformedRequest,
        UnsupportedComponent,
        UnsupportedAlgorithm,
        UnknownKey,
        BadSignature,
        MissingComponent,
        MissingParameter,
        Expired,
        CreatedOutOfWindow,
        NotYetValid,
    ):
        assert issubclass(error, SignatureError)
        assert issubclass(error, ValueError)
    assert issubclass(NotYetValid, CreatedOutOfWindow)


def test_check_policy() -> None:
    good = _verify("ed25519", _sign("ed25519"))
    check_policy(good, required=COVERED, now=NOW)
    check_policy(good, required=["@method"], now=NOW - 300)  # the window's edges are inside
    check_policy(good, required=[], now=NOW + 300)
    cases: list[tuple[Verified, int, type[SignatureError], str]] = [
        (dataclasses.replace(good, created=None), NOW, MissingParameter, "created"),
        (dataclasses.replace(good, keyid=""), NOW, MissingParameter, "keyid"),
        (dataclasses.replace(good, nonce=None), NOW, MissingParameter, "nonce"),
        (dataclasses.replace(good, nonce=""), NOW, MissingParameter, "nonce"),
        (dataclasses.replace(good, covered=("@method",)), NOW, MissingComponent, "content-digest"),
        (good, NOW + 301, Expired, "expired"),
        (dataclasses.replace(good, expires=None), NOW + 301, CreatedOutOfWindow, "before"),
        (good, NOW - 301, NotYetValid, "ahead"),
    ]
    for verified, now, error, match in cases:
        with pytest.raises(error, match=match):
            check_policy(verified, required=COVERED, now=now)
    with pytest.raises(MissingComponent) as info:
        check_policy(good, required=["@method", "@authority", "x-lab"], now=NOW)
    assert info.value.components == ("@authority", "x-lab")
    # No expires is no expiry; a tighter window applies.
    check_policy(dataclasses.replace(good, expires=None), required=[], now=NOW + 300)
    with pytest.raises(CreatedOutOfWindow):
        check_policy(good, required=[], now=NOW + 61, max_skew=60)
    with pytest.raises(ValueError, match="max_skew"):
        check_policy(good, required=[], now=NOW, max_skew=-1)


def test_modules_import_only_stdlib_and_cryptography() -> None:
    # jcjg.client will reuse these with only httpx and cryptography installed, and the `sm`
    # extra (tongsuopy, for SM2) when the lab signs with sm2-sm3: that extra, and nothing else,
    # and only inside functions, so that the client imports without it.
    package = Path(jcjg.exchange.__file__).parent
    allowed = set(sys.stdlib_module_names) | {"cryptography", "__future__"}
    modules = [package / "__init__.py", package / "digest.py"]
    modules += sorted((package / "signatures").glob("*.py"))
    modules.append(package.parent / "ledger" / "sm.py")  # SM2 and SM3, for sm2-sm3
    assert len(modules) > 3, "the signatures package is where it was"
    extra = []
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "tongsuopy":
                    assert id(node) not in top_level, f"{path.name} imports {name} at load"
                    extra.append(path.name)
                    continue
                assert name.split(".")[0] in allowed or name.startswith(
                    ("jcjg.exchange.signatures", "jcjg.ledger.sm")
                ), f"{path.name} imports {name}"
    assert set(extra) == {"sm.py"}


# ---------------------------------------------------------------------------------------------
# RFC 8941 structured fields.


def test_sf_serialization_examples_from_rfc9421() -> None:
    # ";sf" and ";key" (RFC 9421 2.1.1-2.1.2) are strict re-serializations: known answers for
    # the serializer even though those component parameters are not implemented.
    raw = EXAMPLES["sf_param"]["message"].partition(":")[2]
    assert (
        '"example-dict";sf: ' + serialize_dictionary(parse_dictionary(raw))
        == (EXAMPLES["sf_param"]["expected_lines"][1])
    )
    members = parse_dictionary(EXAMPLES["key_param"]["message"].partition(":")[2])
    for line in EXAMPLES["key_param"]["expected_lines"].split("\n"):
        key = line.split('key="')[1][0]
        member = members[key]
        value = (
            serialize_inner_list(member)
            if isinstance(member, InnerList)
            else serialize_item(member)
        )
        assert f'"example-dict";key="{key}": {value}' == line
    # ";bs" wraps each field line as a byte sequence in a List (RFC 9421 2.1.3).
    lines = [v.strip() for _, v in header_lines(EXAMPLES["bs_param"]["message_two_lines"])]
    assert (
        '"example-header";bs: ' + serialize_list([Item(v.encode()) for v in lines])
        == (EXAMPLES["bs_param"]["expected_bs_two_lines"])
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "?1"),
        (False, "?0"),
        (0, "0"),
        (-999_999_999_999_999, "-999999999999999"),
        (Decimal("1.5"), "1.5"),
        (Decimal("2"), "2.0"),
        (Decimal("-0.25"), "-0.25"),
        (Decimal("1.2345"), "1.234"),  # round half to even
        (Decimal("1.2355"), "1.236"),
        (Decimal("-0.0001"), "0.0"),
        (Decimal("999999999999.999"), "999999999999.999"),
        ("", '""'),
        ('say "hi" \\o/', '"say \\"hi\\" \\\\o/"'),
        (Token("*foo:bar/baz"), "*foo:bar/baz"),
        (b"", "::"),
        (b"\xff\xfe", "://4=:"),
    ],
)
def test_sf_bare_item_serialization(value: Any, text: str) -> None:
    assert serialize_bare_item(value) == text
    reparsed = parse_item(text).value
    assert type(reparsed) is type(value)


@pytest.mark.parametrize(
    "value",
    [
        10**15,
        -(10**15),
        Decimal("1000000000000"),
        Decimal("NaN"),
        Decimal("1e30"),
        "caf\u00e9",
        "tab\there",
        Token(""),
        Token("1abc"),
        Token("a b"),
        1.5,
        None,
    ],
)
def test_sf_unserializable_values(value: Any) -> None:
    with pytest.raises(StructuredFieldError):
        serialize_bare_item(value)


def test_sf_unserializable_structures() -> None:
    with pytest.raises(StructuredFieldError, match="key"):
        serialize_dictionary({"A": Item(1)})
    with pytest.raises(StructuredFieldError, match="key"):
        serialize_item(Item(1, {"1a": 1}))
    with pytest.raises(StructuredFieldError, match="Item"):
        serialize_inner_list(InnerList((1,)))  # type: ignore[arg-type]
    with pytest.raises(StructuredFieldError, match="InnerList"):
        serialize_inner_list(Item(1))  # type: ignore[arg-type]


def test_sf_parsing_details() -> None:
    assert parse_dictionary("") == {}
    assert parse_list("   ") == []
    assert parse_dictionary("a=1, a=2, b") == {"a": Item(2), "b": Item(True)}
    assert list(parse_dictionary("b=1, a=2, b=3")) == ["b", "a"]  # an overwrite keeps its place
    assert parse_dictionary("a=( 1  2 );x, b;y=?0") == {
        "a": InnerList((Item(1), Item(2)), {"x": True}),
        "b": Item(True, {"y": False}),
    }
    assert parse_list("1,\t2 ,3") == [Item(1), Item(2), Item(3)]
    assert parse_item(b"  token;a=1  ") == Item(Token("token"), {"a": 1})
    assert parse_item('"\\"\\\\"').value == '"\\'
    assert parse_item("1;a; b=2").params == {"a": True, "b": 2}
    assert parse_item("123456789012.123").value == Decimal("123456789012.123")
    assert parse_item("-0").value == 0


@pytest.mark.parametrize(
    "text",
    [
        "a=",
        "a=(",
        'a=("x"',
        "a=(1 2)x",
        "a=1,",
        "a=1 ,",
        "a=1,,b=2",
        "a=1 b=2",
        "A=1",
        "\ta=1",
        "a=1;",
        "a=1;B=2",
        "a=-",
        "a=-a",
        "a=1234567890123456",
        "a=1234567890123.1",
        "a=1.2345",
        "a=1.",
        "a=1.2.3",
        "a=?2",
        "a=?",
        'a="unterminated',
        'a="\\q"',
        'a="\x01"',
        'a="caf\u00e9"',
        "a=:unterminated",
        "a=:YQ:",
        "a=:YR==:",
        "a=:Y_==:",
        "a=:YQ===:",
        "a=$",
        "a=\u00e9",
    ],
)
def test_sf_malformed_dictionaries(text: str) -> None:
    with pytest.raises(StructuredFieldError):
        parse_dictionary(text)


def test_sf_input_type() -> None:
    with pytest.raises(StructuredFieldError, match="expected an item"):
        parse_item("")  # unlike a List or Dictionary, an Item cannot be empty
    with pytest.raises(StructuredFieldError, match="ASCII"):
        parse_item(b"\xff")
    with pytest.raises(StructuredFieldError, match="text"):
        parse_item(1)  # type: ignore[arg-type]


# Property tests: every structure serializes to text that parses back to it.
_keys = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,5}", fullmatch=True)
_bare = st.one_of(
    st.booleans(),
    st.integers(min_value=-999_999_999_999_999, max_value=999_999_999_999_999),
    st.decimals(
        min_value=Decimal("-999999999999.999"),
        max_value=Decimal("999999999999.999"),
        places=3,
        allow_nan=False,
        allow_infinity=False,
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10),
    st.from_regex(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]{0,8}", fullmatch=True).map(Token),
    st.binary(max_size=12),
)
_params = st.dictionaries(_keys, _bare, max_size=3)
_items = st.builds(Item, _bare, _params)
_members: st.SearchStrategy[Member] = st.one_of(
    _items, st.builds(InnerList, st.lists(_items, max_size=4).map(tuple), _params)
)


def _typed(value: Any) -> Any:
    """A form of a structure where True and 1, or Token("a") and "a", differ."""
    if isinstance(value, Item):
        return ("item", _typed(value.value), _typed(dict(value.params)))
    if isinstance(value, InnerList):
        return ("inner", [_typed(i) for i in value.items], _typed(dict(value.params)))
    if isinstance(value, dict):
        return [(k, _typed(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


@SETTINGS
@given(st.dictionaries(_keys, _members, max_size=4))
def test_sf_dictionary_round_trip(members: dict[str, Member]) -> None:
    text = serialize_dictionary(members)
    parsed = parse_dictionary(text)
    assert _typed(parsed) == _typed(members)
    assert serialize_dictionary(parsed) == text


@SETTINGS
@given(st.lists(_members, max_size=4), _items)
def test_sf_list_and_item_round_trip(members: list[Member], item: Item) -> None:
    text = serialize_list(members)
    assert _typed(parse_list(text)) == _typed(members)
    assert serialize_list(parse_list(text)) == text
    assert _typed(parse_item(serialize_item(item))) == _typed(item)


@SETTINGS
@given(st.text(alphabet=' \t,;=()":?*-.0123456789abcAB/+\\', max_size=30))
def test_sf_parsers_fail_only_with_their_error(text: str) -> None:
    round_trips: list[tuple[Callable[[str], Any], Callable[[Any], str]]] = [
        (parse_dictionary, serialize_dictionary),
        (parse_list, serialize_list),
        (parse_item, serialize_item),
    ]
    for parse, serialize in round_trips:
        try:
            parsed = parse(text)
        except StructuredFieldError:
            continue
        # Whatever parses is re-serialized canonically, and that parses to the same thing.
        assert _typed(parse(serialize(parsed))) == _typed(parsed)
