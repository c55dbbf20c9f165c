"""RFC 8941 structured fields: the items, lists and dictionaries signatures are written in.

`parse_item`, `parse_list` and `parse_dictionary` follow the parsing algorithms of RFC 8941
section 4.2 exactly, and the ``serialize_*`` functions those of section 4.1, for every type
RFC 8941 has (integers, decimals, strings, tokens, byte sequences, booleans, inner lists and
parameters). One deliberate deviation: a byte sequence must be canonical base64, with its ``=``
padding and zero pad bits. RFC 8941 says parsers SHOULD accept both, but then one signature has
several spellings of the ``Signature`` field; every base64 encoder in use emits the canonical
form anyway.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import NoReturn, TypeAlias

from jcjg.exchange.signatures.errors import StructuredFieldError


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
MAX_INTEGER = 999_999_999_999_999
_MILLI = Decimal("0.001")
# Whole runs matched at once, where the character loops below would step one by one (each a
# fast path: what these do not match, the loops parse, and refuse, as before).
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_PLAIN_STRING = re.compile(r'"([ !#-\[\]-~]*)"')  # printable ASCII without '"' and '\'
_INTEGER = re.compile(r"-?[0-9]{1,15}(?![0-9.])")
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")
_PRINTABLE = re.compile(r"[ -~]*")


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
        match = _KEY.match(self.text, self.pos)
        if match is None:
            self.fail("expected a key (lowercase letter or '*')")
        self.pos = match.end()
        return match.group()

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
        match = _INTEGER.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            return int(match.group())
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
        match = _PLAIN_STRING.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            return match.group(1)
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
        match = _TOKEN.match(self.text, self.pos)
        assert match is not None  # bare_item saw '*' or a letter
        self.pos = match.end()
        return Token(match.group())

    def byte_sequence(self) -> bytes:
        self.pos += 1  # opening colon
        end = self.text.find(":", self.pos)
        if end < 0:
            self.fail("unterminated byte sequence")
        content = self.text[self.pos : end]
        if _BASE64.fullmatch(content) is None:
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


def check_key(key: object) -> str:
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
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
        if abs(value) > MAX_INTEGER:
            raise StructuredFieldError(f"integer {value} out of range")
        return str(value)
    if isinstance(value, Decimal):
        return _serialize_decimal(value)
    if isinstance(value, str):
        if _PRINTABLE.fullmatch(value) is None:
            raise StructuredFieldError(f"a string holds printable ASCII only: {value!r}")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Token):
        text = value.value
        if not isinstance(text, str) or not text or _TOKEN.fullmatch(text) is None:
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
            out.append(f";{check_key(key)}")
        else:
            out.append(f";{check_key(key)}={serialize_bare_item(value)}")
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
        check_key(key)
        if isinstance(member, Item) and member.value is True:
            out.append(key + _serialize_params(member.params))
        else:
            out.append(f"{key}={_serialize_member(member)}")
    return ", ".join(out)
