"""Every failure of this package: `StructuredFieldError` for RFC 8941 text and values, and
`SignatureError` with one subclass per cause, so that a server can answer each with its own
problem type."""

from __future__ import annotations

from collections.abc import Sequence


class StructuredFieldError(ValueError):
    """Text is not a valid RFC 8941 structured field, or a value cannot be serialized as one."""


class SignatureError(ValueError):
    """Base class of every message-signature failure."""


class MissingSignature(SignatureError):
    """No ``Signature-Input``/``Signature`` pair, or none with the label asked for."""


class MalformedSignature(SignatureError):
    """``Signature-Input`` or ``Signature`` does not parse, or holds values of the wrong type."""


class MalformedRequest(SignatureError):
    """The request cannot be modelled: bad method or URL, or a control character in a field."""


class UnsupportedComponent(SignatureError):
    """A covered component this package cannot canonicalize (unknown name, parameters, bytes)."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"unsupported component {component!r}: {detail}")
        self.component = component


class UnsupportedAlgorithm(SignatureError):
    """An algorithm name this package has no keys for."""

    def __init__(self, alg: str) -> None:
        super().__init__(f"unsupported signature algorithm {alg!r}")
        self.alg = alg


class UnknownKey(SignatureError):
    """The key resolver knows no key by the signature's ``keyid``."""

    def __init__(self, keyid: str) -> None:
        super().__init__(f"unknown key {keyid!r}")
        self.keyid = keyid


class BadSignature(SignatureError):
    """The signature does not verify, or its ``alg`` is not the key's algorithm."""


class MissingComponent(SignatureError):
    """A component is covered but absent from the request, or required but not covered."""

    def __init__(self, components: Sequence[str], detail: str) -> None:
        super().__init__(f"{detail}: {', '.join(components)}")
        self.components = tuple(components)


class MissingParameter(SignatureError):
    """A signature parameter the verifier needs (``keyid``, ``created``, ``nonce``) is absent."""

    def __init__(self, parameter: str) -> None:
        super().__init__(f"signature parameter {parameter!r} is missing")
        self.parameter = parameter


class Expired(SignatureError):
    """The signature's ``expires`` time has passed."""


class CreatedOutOfWindow(SignatureError):
    """The signature's ``created`` time is further from now than the allowed clock skew."""


class NotYetValid(CreatedOutOfWindow):
    """The signature's ``created`` time is in the future, beyond the allowed clock skew."""
