"""Verifying a request's signature, and the verifier's policy.

`verify_request` parses ``Signature-Input`` and ``Signature``, picks a label, rebuilds the base
from the received parameters (unknown ones included, in their order) and checks the signature
with the key that ``resolve_key(keyid)`` returns; if the signature names an ``alg``, it must be
the key's. Policy (required components, the created window, expiry, the presence of a nonce) is
the verifier's: `check_policy` applies it to what `verify_request` returned; nonce replay needs
storage and stays with the server.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jcjg.exchange.signatures.base import SignatureParams, base_and_params, covered_names
from jcjg.exchange.signatures.components import Request
from jcjg.exchange.signatures.errors import (
    BadSignature,
    CreatedOutOfWindow,
    Expired,
    MalformedSignature,
    MissingComponent,
    MissingParameter,
    MissingSignature,
    NotYetValid,
    StructuredFieldError,
    UnknownKey,
)
from jcjg.exchange.signatures.keys import VerifyingKey
from jcjg.exchange.signatures.structured import (
    InnerList,
    Item,
    Member,
    Parameters,
    parse_dictionary,
)


@dataclass(frozen=True, slots=True)
class Verified:
    """A signature that verified: its label, parameters and covered components."""

    label: str
    keyid: str
    alg: str | None
    created: int | None
    expires: int | None
    nonce: str | None
    tag: str | None
    covered: tuple[str, ...]
    params: Parameters
    """Every signature parameter as received, in order, unknown ones included."""
    signature_params: str
    """The ``@signature-params`` value the signature covers."""
    signature: bytes


def _dictionary_field(request: Request, name: str) -> dict[str, Member]:
    values = request.field_values(name)
    if not values:
        raise MissingSignature(f"no {name} field")
    try:
        return parse_dictionary(", ".join(values))
    except StructuredFieldError as exc:
        raise MalformedSignature(f"{name} is not a structured dictionary: {exc}") from exc


def verify_request(
    request: Request,
    *,
    label: str | None = None,
    resolve_key: Callable[[str], VerifyingKey | None],
) -> Verified:
    """Verify one signature of `request`; return its parameters, or raise a SignatureError.

    With `label` None the request must carry exactly one signature. The base is rebuilt from
    the received Signature-Input member; `resolve_key` is called with its ``keyid`` (only after
    the base could be built) and returns the key or None. Policy is `check_policy`'s job.
    """
    inputs = _dictionary_field(request, "signature-input")
    signatures = _dictionary_field(request, "signature")
    if label is None:
        if len(inputs) != 1:
            raise MissingSignature(
                f"{len(inputs)} signatures ({', '.join(inputs)}): the verifier must pick a label"
            )
        label = next(iter(inputs))
    if label not in inputs or label not in signatures:
        raise MissingSignature(f"no signature labelled {label!r} in both fields")
    inner = inputs[label]
    signed = signatures[label]
    if not isinstance(inner, InnerList):
        raise MalformedSignature(f"Signature-Input {label!r} is not an inner list")
    if not isinstance(signed, Item) or not isinstance(signed.value, bytes):
        raise MalformedSignature(f"Signature {label!r} is not a byte sequence")
    params = SignatureParams.from_parameters(inner.params)
    covered = covered_names(inner)
    if params.keyid is None:
        raise MissingParameter("keyid")
    base, signature_params = base_and_params(request, inner, covered)
    key = resolve_key(params.keyid)
    if key is None:
        raise UnknownKey(params.keyid)
    # RFC 9421 3.2 step 6: an alg named in the signature must be the key's.
    if params.alg is not None and params.alg != key.alg:
        raise BadSignature(
            f"signature says alg {params.alg!r}, key {params.keyid!r} is {key.alg!r}"
        )
    if not key.verify(base, signed.value):
        raise BadSignature(f"signature {label!r} does not verify with key {params.keyid!r}")
    return Verified(
        label=label,
        keyid=params.keyid,
        alg=params.alg,
        created=params.created,
        expires=params.expires,
        nonce=params.nonce,
        tag=params.tag,
        covered=covered,
        params=dict(inner.params),
        signature_params=signature_params,
        signature=signed.value,
    )


def check_policy(
    verified: Verified, *, required: Sequence[str], now: int, max_skew: int = 300
) -> None:
    """Apply the verifier's policy to a verified signature; raise a SignatureError if unmet.

    ``created``, ``keyid`` and a non-empty ``nonce`` must be present (MissingParameter); every
    `required` component covered (MissingComponent); ``expires``, if any, not passed
    (Expired: valid up to and including that second); and ``created`` within `max_skew`
    seconds of `now` (NotYetValid if ahead, CreatedOutOfWindow if behind). Replay of the nonce
    is for the caller to check, after this.
    """
    if max_skew < 0:
        raise ValueError("max_skew is not negative")
    if verified.created is None:
        raise MissingParameter("created")
    if not verified.keyid:
        raise MissingParameter("keyid")
    if not verified.nonce:
        raise MissingParameter("nonce")
    missing = [name for name in required if name not in verified.covered]
    if missing:
        raise MissingComponent(missing, "required components not covered by the signature")
    if verified.expires is not None and now > verified.expires:
        raise Expired(f"signature expired at {verified.expires}, now {now}")
    if verified.created > now + max_skew:
        raise NotYetValid(f"signature created at {verified.created}, ahead of now {now}")
    if verified.created < now - max_skew:
        raise CreatedOutOfWindow(
            f"signature created at {verified.created}, more than {max_skew} s before {now}"
        )
