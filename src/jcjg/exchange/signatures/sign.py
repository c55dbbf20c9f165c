"""Signing a request: the ``Signature-Input`` and ``Signature`` field values."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.exchange.signatures.base import SignatureParams, build_base, inner_list
from jcjg.exchange.signatures.components import Request
from jcjg.exchange.signatures.errors import StructuredFieldError
from jcjg.exchange.signatures.keys import SigningKey, signing_key
from jcjg.exchange.signatures.structured import Item, check_key, serialize_dictionary


def sign_request(
    request: Request,
    *,
    label: str = "sig1",
    key_id: str,
    alg: str,
    key: SigningKey | Ed25519PrivateKey | bytes,
    covered: Sequence[str],
    created: int,
    nonce: str | None,
    expires: int | None = None,
    tag: str | None = None,
    include_alg: bool = False,
) -> dict[str, str]:
    """Sign `request`; return the ``Signature-Input`` and ``Signature`` field values.

    `key` is a `SigningKey` for `alg`, or key material for `signing_key`. Parameters are
    written in the order created, keyid, alg (only if `include_alg`), expires, nonce, tag.
    Add the two fields to the request as they are (or append them, after ``", "``, to fields
    already carrying other signatures).
    """
    signer = key if not isinstance(key, Ed25519PrivateKey | bytes) else signing_key(alg, key)
    if signer.alg != alg:
        raise ValueError(f"the key is for {signer.alg!r}, not {alg!r}")
    try:
        check_key(label)
    except StructuredFieldError as exc:
        raise ValueError(f"a label is a structured-field key: {label!r}") from exc
    if expires is not None and expires <= created:
        raise ValueError("expires must be after created")
    params = SignatureParams(
        created=created,
        keyid=key_id,
        alg=alg if include_alg else None,
        expires=expires,
        nonce=nonce,
        tag=tag,
    )
    inner = inner_list(covered, params)
    base = build_base(request, inner)
    return {
        "Signature-Input": serialize_dictionary({label: inner}),
        "Signature": serialize_dictionary({label: Item(signer.sign(base))}),
    }
