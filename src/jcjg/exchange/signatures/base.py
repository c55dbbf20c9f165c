"""Signature parameters (`SignatureParams`) and the RFC 9421 signature base (section 2.5):
one line per covered component, then the ``@signature-params`` line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from jcjg.exchange.signatures.components import DERIVED_COMPONENTS, Request
from jcjg.exchange.signatures.errors import (
    MalformedSignature,
    StructuredFieldError,
    UnsupportedComponent,
)
from jcjg.exchange.signatures.structured import (
    MAX_INTEGER,
    BareItem,
    InnerList,
    Item,
    Parameters,
    serialize_inner_list,
    serialize_item,
)

_COMPONENT_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")  # a lowercase field name


def _timestamp(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTEGER:
        raise MalformedSignature(f"signature parameter {name!r} is a non-negative integer")
    return value


def _text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedSignature(f"signature parameter {name!r} is a string")
    return value


@dataclass(frozen=True, slots=True)
class SignatureParams:
    """The RFC 9421 signature parameters, serialized in this field order when present."""

    created: int | None = None
    keyid: str | None = None
    alg: str | None = None
    expires: int | None = None
    nonce: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        for name in ("created", "expires"):
            _timestamp(name, getattr(self, name))
        for name in ("keyid", "alg", "nonce", "tag"):
            _text(name, getattr(self, name))

    @classmethod
    def from_parameters(cls, params: Parameters) -> SignatureParams:
        """The known parameters of a parsed Signature-Input member; MalformedSignature if typed
        wrongly. Unknown parameters are left out here (they stay in the signature base)."""
        return cls(
            created=_timestamp("created", params.get("created")),
            keyid=_text("keyid", params.get("keyid")),
            alg=_text("alg", params.get("alg")),
            expires=_timestamp("expires", params.get("expires")),
            nonce=_text("nonce", params.get("nonce")),
            tag=_text("tag", params.get("tag")),
        )

    def to_parameters(self) -> dict[str, BareItem]:
        """The parameters present, in serialization order."""
        out: dict[str, BareItem] = {}
        for name in ("created", "keyid", "alg", "expires", "nonce", "tag"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def covered_names(inner: InnerList) -> tuple[str, ...]:
    """Check the covered component identifiers of a signature; return their names."""
    names: list[str] = []
    for item in inner.items:
        name = item.value
        if not isinstance(name, str):
            raise MalformedSignature(f"a component identifier is a string, got {name!r}")
        if item.params:
            raise UnsupportedComponent(
                serialize_item(item), "component parameters are not implemented"
            )
        if name == "@signature-params":
            raise MalformedSignature("'@signature-params' cannot be covered")
        if name.startswith("@"):
            if name not in DERIVED_COMPONENTS:
                raise UnsupportedComponent(name, "derived component not implemented for requests")
        elif not _COMPONENT_FIELD_NAME.fullmatch(name):
            raise MalformedSignature(f"{name!r} is not a lowercase field name")
        if name in names:
            raise MalformedSignature(f"component {name!r} is covered twice")
        names.append(name)
    return tuple(names)


def build_base(request: Request, inner: InnerList) -> bytes:
    """RFC 9421 2.5: one line per covered component, then the ``@signature-params`` line."""
    return base_and_params(request, inner, covered_names(inner))[0]


def base_and_params(
    request: Request, inner: InnerList, names: tuple[str, ...]
) -> tuple[bytes, str]:
    """The signature base and the ``@signature-params`` value, ``names`` being what
    :func:`covered_names` returned for ``inner`` (a verifier checks them once)."""
    # A covered name is a derived component or a lowercase field name (covered_names), with no
    # parameters: its identifier serializes as the name in quotes, nothing to escape.
    lines = [f'"{name}": {request.component_value(name)}' for name in names]
    try:
        params = serialize_inner_list(inner)
    except StructuredFieldError as exc:
        raise MalformedSignature(f"signature parameters cannot be serialized: {exc}") from exc
    lines.append(f'"@signature-params": {params}')
    # Every value was checked to be ASCII, and serialized structured fields are ASCII.
    return "\n".join(lines).encode("ascii"), params


def inner_list(covered: Sequence[str], params: SignatureParams) -> InnerList:
    if isinstance(covered, str):
        raise TypeError("covered is a sequence of component names, not one string")
    return InnerList(tuple(Item(name) for name in covered), params.to_parameters())


def serialize_signature_params(covered: Sequence[str], params: SignatureParams) -> str:
    """The ``@signature-params`` value, which is also the Signature-Input member's value."""
    inner = inner_list(covered, params)
    covered_names(inner)
    return serialize_inner_list(inner)


def signature_base(request: Request, covered: Sequence[str], params: SignatureParams) -> bytes:
    """The RFC 9421 signature base of `request` for these covered components and parameters.

    Raises MissingComponent, UnsupportedComponent, MalformedSignature (bad identifiers:
    uppercase, duplicated, ``@signature-params``) or MalformedRequest.
    """
    return build_base(request, inner_list(covered, params))
