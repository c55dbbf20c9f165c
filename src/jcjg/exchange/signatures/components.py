"""The request as signatures see it (`Request`) and the values of its components.

The derived ``@method``, ``@target-uri``, ``@authority``, ``@scheme``, ``@request-target``,
``@path`` and ``@query``, and header fields by lowercase name (each value trimmed, obsolete line
folding replaced by one space, several field lines joined with ``", "``, RFC 9421 section 2.1).
Not implemented, and refused with `UnsupportedComponent`: ``@query-param``, ``@status``
(responses), and the component parameters ``sf``, ``key``, ``bs``, ``tr`` and ``req``. Scheme
and host are lowercased and a default port dropped (RFC 9110 section 4.2.3) in ``@authority``
and ``@target-uri`` alike, so signer and verifier agree however the URL was spelled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from jcjg.exchange.signatures.errors import (
    MalformedRequest,
    MissingComponent,
    UnsupportedComponent,
)

DERIVED_COMPONENTS = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query"}
)
"""The derived components a signature base can hold here."""


_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")
_VCHARS = re.compile(r"[!-~]+")
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
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
