"""RFC 9421 HTTP Message Signatures for requests, and the RFC 8941 structured fields they use.

Wire-compatible with RFC 9421: the signature base of each example in its Appendix B that uses
only the components below is reproduced byte for byte, and ``hmac-sha256`` and ``ed25519``
signatures (both deterministic) match the RFC's.

Structured fields (RFC 8941): `parse_item`, `parse_list` and `parse_dictionary` follow the
parsing algorithms of section 4.2 exactly, and the ``serialize_*`` functions those of section 4.1,
for every type RFC 8941 has (integers, decimals, strings, tokens, byte sequences, booleans, inner
lists and parameters). One deliberate deviation: a byte sequence must be canonical base64, with
its ``=`` padding and zero pad bits. RFC 8941 says parsers SHOULD accept both, but then one
signature has several spellings of the ``Signature`` field; every base64 encoder in use emits the
canonical form anyway.

Components of a request (`Request`): the derived ``@method``, ``@target-uri``, ``@authority``,
``@scheme``, ``@request-target``, ``@path`` and ``@query``, and header fields by lowercase name
(each value trimmed, obsolete line folding replaced by one space, several field lines joined with
``", "``, RFC 9421 section 2.1). Not implemented, and refused with `UnsupportedComponent`:
``@query-param``, ``@status`` (responses), and the component parameters ``sf``, ``key``, ``bs``,
``tr`` and ``req``. Scheme and host are lowercased and a default port dropped (RFC 9110 section
4.2.3) in ``@authority`` and ``@target-uri`` alike, so signer and verifier agree however the URL
was spelled.

Signing and verifying: `sign_request` returns the ``Signature-Input`` and ``Signature`` field
values; `verify_request` parses both, picks a label, rebuilds the base from the received
parameters (unknown ones included, in their order) and checks the signature with the key that
``resolve_key(keyid)`` returns. Keys are objects with an ``alg`` name and ``sign`` or ``verify``:
`Ed25519SigningKey`, `Ed25519VerifyingKey` and `HmacSha256Key` are provided, and any other object
with the `VerifyingKey` shape works (the tests verify the RFC's RSA and ECDSA examples that way).
If the signature names an ``alg``, it must be the key's.

Every failure is a `SignatureError`, one subclass per cause, so that a server can answer each
with its own problem type. Policy (required components, the created window, expiry, the presence
of a nonce) is the verifier's: `check_policy` applies it to what `verify_request` returned; nonce
replay needs storage and stays with the server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import NoReturn, Protocol, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ALG_ED25519",
    "ALG_HMAC_SHA256",
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

ALG_ED25519 = "ed25519"
ALG_HMAC_SHA256 = "hmac-sha256"

DERIVED_COMPONENTS = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"}
)
"""The derived components this module can put in a signature base."""

# ---------------------------------------------------------------------------------------------
# Errors.


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
    """A covered component this module cannot canonicalize (unknown name, parameters, bytes)."""

    def __init__(self, component: str, detail: str) -> None:
        super().__init__(f"unsupported component {component!r}: {detail}")
        self.component = component


class UnsupportedAlgorithm(SignatureError):
    """An algorithm name this module has no keys for."""

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


# ---------------------------------------------------------------------------------------------
# RFC 8941 structured fields.


@dataclass(frozen=True, slots=True)
class Token:
    """An RFC 8941 Token (distinct from a String, which is a plain `str`)."""

    value: str


BareItem: TypeAlias = bool | int | Decimal | str | Token | bytes
"""An RFC 8941 bare item. `bool` is tested before `int`: True is an int in Python."""

Parameters: TypeAlias = Mapping[str, BareItem]


@dataclass(frozen=True, slots=True)
class Item:
    """A bare item with its (ordered) parameters."""

    value: BareItem
    params: Parameters = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InnerList:
    """A parenthesized list of items with its (ordered) parameters."""

    items: tuple[Item, ...]
    params: Parameters = field(default_factory=dict)


Member: TypeAlias = Item | InnerList
"""A member of a List or a Dictionary."""

_DIGITS = frozenset(string.digits)
_ALPHA = frozenset(string.ascii_letters)
_KEY_FIRST = frozenset(string.ascii_lowercase + "*")
_KEY_CHARS = frozenset(string.ascii_lowercase + string.digits + "_-.*")
_TCHAR = _ALPHA | _DIGITS | frozenset("!#$%&'*+-.^_`|~")
_TOKEN_CHARS = _TCHAR | frozenset(":/")
_BASE64_CHARS = _ALPHA | _DIGITS | frozenset("+/=")
_OWS = frozenset(" \t")
_INNER_LIST_NEXT = frozenset(" )")
_MAX_INTEGER = 999_999_999_999_999
_MILLI = Decimal("0.001")


def _b64decode(text: str) -> bytes:
    """Decode canonical base64 only (see the module docstring), else StructuredFieldError."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise StructuredFieldError(f"invalid base64 {text!r}") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise StructuredFieldError(f"base64 {text!r} is not canonical (padding or pad bits)")
    return raw


class _Parser:
    """One pass over an ASCII string, per RFC 8941 section 4.2."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> NoReturn:
        raise StructuredFieldError(f"{what} at offset {self.pos} of {self.text!r}")

    def peek(self) -> str:
        """The next character, or "" at the end (never a member of any character set)."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def skip_sp(self) -> None:
        while self.peek() == " ":
            self.pos += 1

    def skip_ows(self) -> None:
        while self.peek() in _OWS:
            self.pos += 1

    def finish(self) -> None:
        self.skip_sp()
        if not self.done():
            self.fail("unexpected character")

    def separator(self) -> bool:
        """After a List or Dictionary member: True if another member follows."""
        self.skip_ows()
        if self.done():
            return False
        if self.peek() != ",":
            self.fail("expected ','")
        self.pos += 1
        self.skip_ows()
        if self.done():
            self.fail("trailing ','")
        return True

    def list(self) -> list[Member]:
        members: list[Member] = []
        while not self.done():
            members.append(self.item_or_inner_list())
            if not self.separator():
                break
        return members

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        while not self.done():
            key = self.key()
            if self.peek() == "=":
                self.pos += 1
                member = self.item_or_inner_list()
            else:
                member = Item(True, self.parameters())
            members[key] = member  # a repeated key overwrites the value in place, as 8941 says
            if not self.separator():
                break
        return members

    def item_or_inner_list(self) -> Member:
        return self.inner_list() if self.peek() == "(" else self.item()

    def inner_list(self) -> InnerList:
        self.pos += 1  # "("
        items: list[Item] = []
        while not self.done():
            self.skip_sp()
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.parameters())
            items.append(self.item())
            if self.peek() not in _INNER_LIST_NEXT:
                self.fail("expected ' ' or ')' in inner list")
        self.fail("unterminated inner list")

    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.parameters())

    def parameters(self) -> dict[str, BareItem]:
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip_sp()
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        if self.peek() not in _KEY_FIRST:
            self.fail("expected a key (lowercase letter or '*')")
        start = self.pos
        self.pos += 1
        while self.peek() in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def bare_item(self) -> BareItem:
        c = self.peek()
        if c == "-" or c in _DIGITS:
            return self.number()
        if c == '"':
            return self.string()
        if c == "*" or c in _ALPHA:
            return self.token()
        if c == ":":
            return self.byte_sequence()
        if c == "?":
            return self.boolean()
        self.fail("expected an item")

    def number(self) -> int | Decimal:
        negative = self.peek() == "-"
        if negative:
            self.pos += 1
        if self.peek() not in _DIGITS:
            self.fail("expected a digit")
        start = self.pos
        is_decimal = False
        while (c := self.peek()) in _DIGITS or (c == "." and not is_decimal):
            if c == ".":
                if self.pos - start > 12:
                    self.fail("a decimal has at most 12 integer digits")
                is_decimal = True
            self.pos += 1
            if self.pos - start > (16 if is_decimal else 15):
                self.fail("number too long")
        digits = self.text[start : self.pos]
        if not is_decimal:
            return -int(digits) if negative else int(digits)
        if digits.endswith("."):
            self.fail("a decimal needs a fractional digit")
        if len(digits) - digits.index(".") - 1 > 3:
            self.fail("a decimal has at most 3 fractional digits")
        return -Decimal(digits) if negative else Decimal(digits)

    def string(self) -> str:
        self.pos += 1  # opening quote
        out: list[str] = []
        while not self.done():
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\") or not nxt:
                    self.fail("a string may escape only '\"' and '\\'")
                self.pos += 1
                out.append(nxt)
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                self.fail("a string holds printable ASCII only")
            else:
                out.append(c)
        self.fail("unterminated string")

    def token(self) -> Token:
        start = self.pos
        self.pos += 1
        while self.peek() in _TOKEN_CHARS:
            self.pos += 1
        return Token(self.text[start : self.pos])

    def byte_sequence(self) -> bytes:
        self.pos += 1  # opening colon
        end = self.text.find(":", self.pos)
        if end < 0:
            self.fail("unterminated byte sequence")
        content = self.text[self.pos : end]
        if any(c not in _BASE64_CHARS for c in content):
            self.fail("a byte sequence holds base64 only")
        self.pos = end + 1
        return _b64decode(content)

    def boolean(self) -> bool:
        self.pos += 1  # "?"
        c = self.peek()
        if c not in ("0", "1") or not c:
            self.fail("a boolean is ?0 or ?1")
        self.pos += 1
        return c == "1"


def _parser(text: str | bytes) -> _Parser:
    # RFC 8941 4.2: the field value is ASCII; leading spaces are discarded.
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as exc:
            raise StructuredFieldError("a structured field is ASCII") from exc
    elif not isinstance(text, str):
        raise StructuredFieldError("a structured field is text")
    elif not text.isascii():
        raise StructuredFieldError("a structured field is ASCII")
    parser = _Parser(text)
    parser.skip_sp()
    return parser


def parse_item(text: str | bytes) -> Item:
    """Parse a structured field Item; raise StructuredFieldError if malformed."""
    parser = _parser(text)
    item = parser.item()
    parser.finish()
    return item


def parse_list(text: str | bytes) -> list[Member]:
    """Parse a structured field List (empty text is an empty list)."""
    parser = _parser(text)
    members = parser.list()
    parser.finish()
    return members


def parse_dictionary(text: str | bytes) -> dict[str, Member]:
    """Parse a structured field Dictionary (empty text is an empty dictionary)."""
    parser = _parser(text)
    members = parser.dictionary()
    parser.finish()
    return members


def _check_key(key: object) -> str:
    if (
        not isinstance(key, str)
        or not key
        or key[0] not in _KEY_FIRST
        or any(c not in _KEY_CHARS for c in key)
    ):
        raise StructuredFieldError(f"invalid key {key!r}")
    return key


def _serialize_decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise StructuredFieldError(f"a decimal is finite, got {value}")
    try:
        rounded = value.quantize(_MILLI, rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:
        raise StructuredFieldError(f"decimal {value} is too large") from exc
    sign = "-" if rounded < 0 else ""
    integer, fraction = f"{abs(rounded):f}".split(".")
    if len(integer) > 12:
        raise StructuredFieldError(f"decimal {value} has more than 12 integer digits")
    return f"{sign}{integer}.{fraction.rstrip('0') or '0'}"


def serialize_bare_item(value: BareItem) -> str:
    """Serialize a bare item (RFC 8941 4.1.3.1); raise StructuredFieldError if it cannot be."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > _MAX_INTEGER:
            raise StructuredFieldError(f"integer {value} out of range")
        return str(value)
    if isinstance(value, Decimal):
        return _serialize_decimal(value)
    if isinstance(value, str):
        if any(not " " <= c <= "~" for c in value):
            raise StructuredFieldError(f"a string holds printable ASCII only: {value!r}")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Token):
        text = value.value
        if (
            not isinstance(text, str)
            or not text
            or not (text[0] == "*" or text[0] in _ALPHA)
            or any(c not in _TOKEN_CHARS for c in text)
        ):
            raise StructuredFieldError(f"invalid token {text!r}")
        return text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise StructuredFieldError(f"cannot serialize {type(value).__name__} as a structured field")


def _serialize_params(params: Parameters) -> str:
    out = []
    for key, value in params.items():
        # A parameter whose value is True is written as the bare key.
        if value is True:
            out.append(f";{_check_key(key)}")
        else:
            out.append(f";{_check_key(key)}={serialize_bare_item(value)}")
    return "".join(out)


def serialize_item(item: Item) -> str:
    """Serialize an Item with its parameters."""
    if not isinstance(item, Item):
        raise StructuredFieldError(f"expected an Item, got {type(item).__name__}")
    return serialize_bare_item(item.value) + _serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """Serialize an Inner List with its parameters: ``("a" "b");p=1``."""
    if not isinstance(inner, InnerList):
        raise StructuredFieldError(f"expected an InnerList, got {type(inner).__name__}")
    items = " ".join(serialize_item(item) for item in inner.items)
    return f"({items}){_serialize_params(inner.params)}"


def _serialize_member(member: Member) -> str:
    if isinstance(member, InnerList):
        return serialize_inner_list(member)
    return serialize_item(member)


def serialize_list(members: Sequence[Member]) -> str:
    """Serialize a List: members joined by ``", "``."""
    return ", ".join(_serialize_member(m) for m in members)


def serialize_dictionary(members: Mapping[str, Member]) -> str:
    """Serialize a Dictionary; a member whose value is True is written as its key alone."""
    out = []
    for key, member in members.items():
        _check_key(key)
        if isinstance(member, Item) and member.value is True:
            out.append(key + _serialize_params(member.params))
        else:
            out.append(f"{key}={_serialize_member(member)}")
    return ", ".join(out)


# ---------------------------------------------------------------------------------------------
# The request and its components.

_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")
_VCHARS = re.compile(r"[!-~]+")
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COMPONENT_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")  # a lowercase field name
_PORT = re.compile(r"[0-9]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_OBS_FOLD = re.compile(r"[ \t]*\r?\n[ \t]+")
_FIELD_CONTENT = re.compile(r"[\t\x20-\x7e]*")


def _normalize_authority(scheme: str, authority: str) -> str:
    """Lowercase the host and drop the scheme's default port (RFC 9110 4.2.3)."""
    if not authority or "@" in authority:
        raise MalformedRequest(f"bad authority {authority!r} (empty, or with user information)")
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise MalformedRequest(f"bad IP literal in authority {authority!r}")
        port = rest[1:] if rest else ""
    else:
        host, _, port = authority.partition(":")
    if not host or not _PORT.fullmatch(port):
        raise MalformedRequest(f"bad authority {authority!r}")
    host = host.lower()
    if not port or int(port) == _DEFAULT_PORTS[scheme]:
        return host
    return f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as signatures see it; adapt any HTTP library's request to this.

    ``url`` is the absolute target URI (``https://host[:port]/path[?query]``, no user
    information or fragment). ``headers`` is a mapping or a sequence of (name, value) pairs; a
    mapping whose ``items()`` yields one pair per field line (Starlette's ``Headers``) keeps
    repeated fields apart, and so does a list of pairs (httpx: ``headers.multi_items()``).
    Names are matched case-insensitively; the repr shows no header values.
    ``request_target`` is the request line's target when it is not in origin form (absolute
    form through a proxy, authority form for CONNECT, ``*`` for OPTIONS); by default
    ``@request-target`` is the origin form, path and query. Raises MalformedRequest.
    """

    method: str
    url: str
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = field(default=(), repr=False)
    request_target: str | None = None
    fields: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    """The header fields as (lowercase name, value) pairs, in message order."""
    scheme: str = field(init=False, repr=False, compare=False)
    authority: str = field(init=False, repr=False, compare=False)
    path: str = field(init=False, repr=False, compare=False)
    query: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or not _METHOD.fullmatch(self.method):
            raise MalformedRequest(f"bad method {self.method!r}")
        if not isinstance(self.url, str) or not _VCHARS.fullmatch(self.url):
            raise MalformedRequest(f"bad URL {self.url!r}")
        match = _URL.fullmatch(self.url)
        if match is None:
            raise MalformedRequest(f"not an absolute URL without fragment: {self.url!r}")
        scheme, authority, path, query = match.groups()
        scheme = scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise MalformedRequest(f"scheme {scheme!r} is not http or https")
        if self.request_target is not None and not _VCHARS.fullmatch(self.request_target):
            raise MalformedRequest(f"bad request target {self.request_target!r}")
        if isinstance(self.headers, Mapping):
            pairs = tuple(self.headers.items())
        else:  # keep a one-shot iterable readable after construction
            pairs = tuple(self.headers)
            object.__setattr__(self, "headers", pairs)
        fields: list[tuple[str, str]] = []
        for name, value in pairs:
            if not isinstance(name, str) or not isinstance(value, str):
                raise MalformedRequest("header names and values are str")
            fields.append((name.lower(), value))
        # A frozen dataclass sets its derived fields through object.__setattr__.
        object.__setattr__(self, "fields", tuple(fields))
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "authority", _normalize_authority(scheme, authority))
        object.__setattr__(self, "path", path or "/")  # RFC 9110 4.2.3: empty path is "/"
        object.__setattr__(self, "query", query)

    def field_values(self, name: str) -> list[str]:
        """Every field line's value for `name` (case-insensitive), in message order, as given."""
        wanted = name.lower()
        return [value for key, value in self.fields if key == wanted]

    @property
    def target_uri(self) -> str:
        """The normalized absolute target URI (``@target-uri``)."""
        query = "" if self.query is None else f"?{self.query}"
        return f"{self.scheme}://{self.authority}{self.path}{query}"

    def component_value(self, name: str) -> str:
        """The canonical value of component `name` (a derived name or a lowercase field name).

        Raises MissingComponent for an absent field, UnsupportedComponent for a derived name
        not implemented or a value that is not ASCII, MalformedRequest for control characters.
        """
        if name.startswith("@"):
            return self._derived(name)
        values = self.field_values(name)
        if not values:
            raise MissingComponent([name], "covered field absent from the request")
        # RFC 9421 2.1: replace obsolete line folding by one space, trim, join with ", ".
        value = ", ".join(_OBS_FOLD.sub(" ", v).strip(" \t") for v in values)
        if not value.isascii():
            raise UnsupportedComponent(name, "a non-ASCII value needs ';bs', not implemented")
        if not _FIELD_CONTENT.fullmatch(value):
            raise MalformedRequest(f"field {name!r} holds a control character")
        return value

    def _derived(self, name: str) -> str:
        query = "" if self.query is None else f"?{self.query}"
        if name == "@method":
            return self.method
        if name == "@target-uri":
            return self.target_uri
        if name == "@authority":
            return self.authority
        if name == "@scheme":
            return self.scheme
        if name == "@request-target":
            return self.request_target if self.request_target is not None else self.path + query
        if name == "@path":
            return self.path
        if name == "@query":
            return f"?{self.query or ''}"  # an absent query is "?" alone (RFC 9421 2.2.7)
        raise UnsupportedComponent(name, "derived component not implemented for requests")


# ---------------------------------------------------------------------------------------------
# Signature parameters and the signature base.


def _timestamp(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INTEGER:
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


def _covered_names(inner: InnerList) -> tuple[str, ...]:
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


def _base(request: Request, inner: InnerList) -> bytes:
    """RFC 9421 2.5: one line per covered component, then the ``@signature-params`` line."""
    lines = [
        f"{serialize_item(item)}: {request.component_value(name)}"
        for item, name in zip(inner.items, _covered_names(inner), strict=True)
    ]
    try:
        lines.append(f'"@signature-params": {serialize_inner_list(inner)}')
    except StructuredFieldError as exc:
        raise MalformedSignature(f"signature parameters cannot be serialized: {exc}") from exc
    # Every value was checked to be ASCII, and serialized structured fields are ASCII.
    return "\n".join(lines).encode("ascii")


def _inner_list(covered: Sequence[str], params: SignatureParams) -> InnerList:
    if isinstance(covered, str):
        raise TypeError("covered is a sequence of component names, not one string")
    return InnerList(tuple(Item(name) for name in covered), params.to_parameters())


def serialize_signature_params(covered: Sequence[str], params: SignatureParams) -> str:
    """The ``@signature-params`` value, which is also the Signature-Input member's value."""
    inner = _inner_list(covered, params)
    _covered_names(inner)
    return serialize_inner_list(inner)


def signature_base(request: Request, covered: Sequence[str], params: SignatureParams) -> bytes:
    """The RFC 9421 signature base of `request` for these covered components and parameters.

    Raises MissingComponent, UnsupportedComponent, MalformedSignature (bad identifiers:
    uppercase, duplicated, ``@signature-params``) or MalformedRequest.
    """
    return _base(request, _inner_list(covered, params))


# ---------------------------------------------------------------------------------------------
# Keys.


class SigningKey(Protocol):
    """What `sign_request` needs of a key: its RFC 9421 algorithm name and a sign function."""

    @property
    def alg(self) -> str: ...

    def sign(self, base: bytes) -> bytes: ...


class VerifyingKey(Protocol):
    """What `verify_request` needs of a key: its algorithm name and a verify function."""

    @property
    def alg(self) -> str: ...

    def verify(self, base: bytes, signature: bytes) -> bool: ...


class Ed25519SigningKey:
    """An Ed25519 private key (``ed25519``), from a key object or its raw 32-byte seed."""

    __slots__ = ("_key",)

    def __init__(self, key: Ed25519PrivateKey | bytes) -> None:
        if isinstance(key, bytes):
            if len(key) != 32:
                raise ValueError("a raw Ed25519 private key is 32 bytes")
            key = Ed25519PrivateKey.from_private_bytes(key)
        elif not isinstance(key, Ed25519PrivateKey):
            raise TypeError("expected an Ed25519PrivateKey or its 32 raw bytes")
        self._key = key

    @property
    def alg(self) -> str:
        return ALG_ED25519

    def sign(self, base: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `base` (deterministic)."""
        return self._key.sign(base)

    def verifying_key(self) -> Ed25519VerifyingKey:
        """The matching public key."""
        return Ed25519VerifyingKey(self._key.public_key())

    def __repr__(self) -> str:
        return f"Ed25519SigningKey(public={self.verifying_key().public_bytes.hex()})"


class Ed25519VerifyingKey:
    """An Ed25519 public key (``ed25519``), from a key object or its raw 32 bytes."""

    __slots__ = ("_key",)

    def __init__(self, key: Ed25519PublicKey | bytes) -> None:
        if isinstance(key, bytes):
            if len(key) != 32:
                raise ValueError("a raw Ed25519 public key is 32 bytes")
            key = Ed25519PublicKey.from_public_bytes(key)
        elif not isinstance(key, Ed25519PublicKey):
            raise TypeError("expected an Ed25519PublicKey or its 32 raw bytes")
        self._key = key

    @property
    def alg(self) -> str:
        return ALG_ED25519

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._key.public_bytes_raw()

    def verify(self, base: bytes, signature: bytes) -> bool:
        """True iff `signature` is this key's Ed25519 signature of `base`."""
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, base)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Ed25519VerifyingKey({self.public_bytes.hex()})"


class HmacSha256Key:
    """A shared secret for ``hmac-sha256``; signs and verifies. At least 32 bytes (RFC 2104
    recommends no less than the hash output: a shorter secret is easier to guess than to forge).
    """

    __slots__ = ("_secret",)
    MIN_SECRET_BYTES = 32

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes):
            raise TypeError("an HMAC secret is bytes")
        if len(secret) < self.MIN_SECRET_BYTES:
            raise ValueError(f"an HMAC secret has at least {self.MIN_SECRET_BYTES} bytes")
        self._secret = secret

    @property
    def alg(self) -> str:
        return ALG_HMAC_SHA256

    def sign(self, base: bytes) -> bytes:
        """HMAC-SHA256 of `base` (32 bytes)."""
        return hmac.new(self._secret, base, hashlib.sha256).digest()

    def verify(self, base: bytes, signature: bytes) -> bool:
        """True iff `signature` is the HMAC of `base`, compared in constant time."""
        return hmac.compare_digest(self.sign(base), signature)

    def __repr__(self) -> str:
        return "HmacSha256Key(<secret>)"  # never print the secret


def signing_key(alg: str, key: Ed25519PrivateKey | bytes) -> SigningKey:
    """A signing key for `alg` from a key object or raw bytes (HMAC: the secret)."""
    if alg == ALG_ED25519:
        return Ed25519SigningKey(key)
    if alg == ALG_HMAC_SHA256:
        if not isinstance(key, bytes):
            raise TypeError("an hmac-sha256 key is the secret's bytes")
        return HmacSha256Key(key)
    raise UnsupportedAlgorithm(alg)


def verifying_key(alg: str, key: Ed25519PublicKey | bytes) -> VerifyingKey:
    """A verifying key for `alg` from a key object or raw bytes (HMAC: the secret)."""
    if alg == ALG_ED25519:
        return Ed25519VerifyingKey(key)
    if alg == ALG_HMAC_SHA256:
        if not isinstance(key, bytes):
            raise TypeError("an hmac-sha256 key is the secret's bytes")
        return HmacSha256Key(key)
    raise UnsupportedAlgorithm(alg)


# ---------------------------------------------------------------------------------------------
# Signing and verifying.


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
        _check_key(label)
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
    inner = _inner_list(covered, params)
    base = _base(request, inner)
    return {
        "Signature-Input": serialize_dictionary({label: inner}),
        "Signature": serialize_dictionary({label: Item(signer.sign(base))}),
    }


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
    covered = _covered_names(inner)
    if params.keyid is None:
        raise MissingParameter("keyid")
    base = _base(request, inner)
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
        signature_params=serialize_inner_list(inner),
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
