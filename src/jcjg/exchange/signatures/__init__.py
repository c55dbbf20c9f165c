"""RFC 9421 HTTP Message Signatures for requests, and the RFC 8941 structured fields they use.

Wire-compatible with RFC 9421: the signature base of each example in its Appendix B that uses
only the components below is reproduced byte for byte, and ``hmac-sha256`` and ``ed25519``
signatures (both deterministic) match the RFC's. A pure wire package: the standard library and
``cryptography`` only, no web framework or database, so that the lab's client uses it as is.

One module per part of the RFC:

- `structured`: RFC 8941 structured fields (`parse_dictionary`, `serialize_item`, ...);
- `components`: the request as signatures see it (`Request`) and its component values;
- `base`: the signature parameters (`SignatureParams`) and the signature base;
- `keys`: `Ed25519SigningKey`, `Ed25519VerifyingKey`, `HmacSha256Key` and the key protocols;
- ``sm2-sm3`` keys (`SM2SigningKey`, `SM2VerifyingKey`) come from `jcjg.ledger.sm`, through
  the optional ``tongsuopy`` (the national profile, ``JCJG_CRYPTO=sm``);
- `sign`: `sign_request`, which returns the ``Signature-Input`` and ``Signature`` values;
- `verify`: `verify_request` and the verifier's policy, `check_policy`;
- `errors`: every failure is a `SignatureError`, one subclass per cause, so that a server can
  answer each with its own problem type.

Import the names from here (``from jcjg.exchange.signatures import sign_request``).
"""

from __future__ import annotations

from jcjg.exchange.signatures.base import (
    SignatureParams,
    serialize_signature_params,
    signature_base,
)
from jcjg.exchange.signatures.components import DERIVED_COMPONENTS, Request
from jcjg.exchange.signatures.errors import (
    BadSignature,
    CreatedOutOfWindow,
    Expired,
    MalformedRequest,
    MalformedSignature,
    MissingComponent,
    MissingParameter,
    MissingSignature,
    NotYetValid,
    SignatureError,
    StructuredFieldError,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedComponent,
)
from jcjg.exchange.signatures.keys import (
    ALG_ED25519,
    ALG_HMAC_SHA256,
    Ed25519SigningKey,
    Ed25519VerifyingKey,
    HmacSha256Key,
    SigningKey,
    VerifyingKey,
    signing_key,
    verifying_key,
)
from jcjg.exchange.signatures.sign import sign_request
from jcjg.exchange.signatures.structured import (
    BareItem,
    InnerList,
    Item,
    Member,
    Token,
    parse_dictionary,
    parse_item,
    parse_list,
    serialize_bare_item,
    serialize_dictionary,
    serialize_inner_list,
    serialize_item,
    serialize_list,
)
from jcjg.exchange.signatures.verify import Verified, check_policy, verify_request
from jcjg.ledger.sm import ALG_SM2_SM3, SM2SigningKey, SM2VerifyingKey

__all__ = [
    "ALG_ED25519",
    "ALG_HMAC_SHA256",
    "ALG_SM2_SM3",
    "DERIVED_COMPONENTS",
    "BadSignature",
    "BareItem",
    "CreatedOutOfWindow",
    "Ed25519SigningKey",
    "Ed25519VerifyingKey",
    "Expired",
    "HmacSha256Key",
    "InnerList",
    "Item",
    "MalformedRequest",
    "MalformedSignature",
    "Member",
    "MissingComponent",
    "MissingParameter",
    "MissingSignature",
    "NotYetValid",
    "Request",
    "SM2SigningKey",
    "SM2VerifyingKey",
    "SignatureError",
    "SignatureParams",
    "SigningKey",
    "StructuredFieldError",
    "Token",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "UnsupportedComponent",
    "Verified",
    "VerifyingKey",
    "check_policy",
    "parse_dictionary",
    "parse_item",
    "parse_list",
    "serialize_bare_item",
    "serialize_dictionary",
    "serialize_inner_list",
    "serialize_item",
    "serialize_list",
    "serialize_signature_params",
    "sign_request",
    "signature_base",
    "signing_key",
    "verify_request",
    "verifying_key",
]
