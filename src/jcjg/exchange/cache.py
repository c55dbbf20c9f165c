"""What the exchange's request path keeps in memory, so that accepting a message reads nothing
from the database: each client key with its client (:class:`KeyInfo`), institutions by code
and the region codes.

Entries live ``JCJG_EXCHANGE_CACHE_SECONDS`` (5 s by default). A change committed in this
process (a key revoked, rotated or issued, a client suspended, resumed or approved) drops the
entries it touches at once (:func:`forget_on_commit`, a session listener); other processes see
it when their entries lapse, so a revocation or suspension takes effect everywhere within that
many seconds. An unknown key id is remembered as unknown for as long, so made-up key ids cost
the database one query each per lapse; each cache holds at most ``MAX_ENTRIES`` entries.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from jcjg.exchange.models import Client, ClientKey, key_state
from jcjg.exchange.signatures import VerifyingKey
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution

MAX_ENTRIES = 100_000

V = TypeVar("V")


class NeedDatabase(Exception):
    """What the request needs is not in memory: read it from the database (in a thread)."""


@dataclass(frozen=True)
class ClientInfo:
    """A client as the request path needs it."""

    id: int
    kind: str  # ClientKind value
    status: str  # ClientStatus value
    institution_id: int | None
    institution_code: str | None
    institution_region: str | None
    region_code: str
    rate_limit_per_minute: int | None = None  # its own limit; None: the platform's


@dataclass(frozen=True)
class KeyInfo:
    """A client key, its verifier and its client, as read at ``loaded`` (monotonic seconds)."""

    key_id: str
    client_id: int
    alg: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    revoked_at: dt.datetime | None
    verifier: VerifyingKey
    client: ClientInfo

    def state(self, now: dt.datetime) -> str:
        """``revoked``, ``not_yet_valid``, ``expired`` or ``valid`` at ``now``."""
        return key_state(self.valid_from, self.valid_until, self.revoked_at, now)


class _Missing:
    pass


MISSING: Any = _Missing()


class Cache(Generic[V]):
    """A dict whose entries lapse after ``ttl()`` seconds (None: remembered as absent)."""

    def __init__(self, ttl: Callable[[], float]) -> None:
        self._ttl = ttl
        self._entries: dict[Any, tuple[float, V | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> V | None:
        """The value, None when known to be absent, :data:`MISSING` when not known."""
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] >= self._ttl():
            return MISSING  # type: ignore[no-any-return]
        return entry[1]

    def put(self, key: Any, value: V | None) -> None:
        if self._ttl() <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()  # rare: made-up ids by the hundred thousand
            self._entries[key] = (time.monotonic(), value)

    def forget(self, match: Callable[[Any, V | None], bool] | None = None) -> None:
        with self._lock:
            if match is None:
                self._entries.clear()
                return
            for key in [k for k, (_, v) in self._entries.items() if match(k, v)]:
                del self._entries[key]


_ttl_seconds = 5.0


def configure(seconds: float) -> None:
    """How long entries live (``JCJG_EXCHANGE_CACHE_SECONDS``; 0: nothing is kept)."""
    global _ttl_seconds
    _ttl_seconds = seconds


def _ttl() -> float:
    return _ttl_seconds


KEYS: Cache[KeyInfo] = Cache(_ttl)
INSTITUTIONS: Cache[tuple[int, str]] = Cache(_ttl)  # code -> (id, region code)
REGIONS: Cache[bool] = Cache(_ttl)  # code -> exists


def load_key(
    db: Session, key_id: str, verifier: Callable[[str, str, bytes], VerifyingKey]
) -> KeyInfo | None:
    """Read one key with its client (one query), keep it in :data:`KEYS` (or its absence) and
    return it. ``verifier(alg, key_id, material)`` makes its verifier (HMAC secrets unsealed)."""
    row = db.execute(
        select(
            ClientKey.key_id,
            ClientKey.alg,
            ClientKey.key_material,
            ClientKey.valid_from,
            ClientKey.valid_until,
            ClientKey.revoked_at,
            Client.id,
            Client.kind,
            Client.status,
            Client.institution_id,
            Client.region_code,
            Institution.code,
            Institution.region_code,
            Client.rate_limit_per_minute,
        )
        .join(Client, Client.id == ClientKey.client_id)
        .outerjoin(Institution, Institution.id == Client.institution_id)
        .where(ClientKey.key_id == key_id)
    ).first()
    if row is None:
        KEYS.put(key_id, None)
        return None
    (kid, alg, material, valid_from, valid_until, revoked_at, client_id, kind, status,
     institution_id, region_code, institution_code, institution_region,
     per_minute) = row  # fmt: skip
    client = ClientInfo(
        id=client_id,
        kind=kind,
        status=status,
        institution_id=institution_id,
        institution_code=institution_code,
        institution_region=institution_region,
        region_code=region_code,
        rate_limit_per_minute=per_minute,
    )
    key = KeyInfo(
        key_id=kid,
        client_id=client_id,
        alg=alg,
        valid_from=valid_from,
        valid_until=valid_until,
        revoked_at=revoked_at,
        verifier=verifier(alg, kid, bytes(material)),
        client=client,
    )
    KEYS.put(key_id, key)
    return key


def institution(db: Session | None, code: str) -> tuple[int, str] | None:
    """The institution with this code (id, region code), None when there is none; raises
    :class:`NeedDatabase` when not in memory and ``db`` is None."""
    found = INSTITUTIONS.get(code)
    if found is not MISSING:
        return found
    if db is None:
        raise NeedDatabase
    row = db.execute(
        select(Institution.id, Institution.region_code).where(Institution.code == code)
    ).first()
    value = (int(row[0]), str(row[1])) if row is not None else None
    INSTITUTIONS.put(code, value)
    return value


def region_exists(db: Session | None, code: str) -> bool:
    """Whether the region code exists; raises :class:`NeedDatabase` as :func:`institution`."""
    found = REGIONS.get(code)
    if found is not MISSING:
        return bool(found)
    if db is None:
        raise NeedDatabase
    exists = db.get(Region, code) is not None
    REGIONS.put(code, exists)
    return exists


def forget_all() -> None:
    for cache in (KEYS, INSTITUTIONS, REGIONS):
        cache.forget()


_PENDING = "jcjg.exchange.cache.forget"


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _: Any) -> None:
    """Remember the clients, keys and institutions this transaction changed."""
    touched = list(session.dirty) + list(session.deleted) + list(session.new)
    noted = session.info.setdefault(_PENDING, set())
    for obj in touched:
        if isinstance(obj, ClientKey):
            noted.add(("key", obj.key_id))
        elif isinstance(obj, Client):
            noted.add(("client", obj.id))
        elif isinstance(obj, Institution):
            noted.add(("institution", obj.code))


@event.listens_for(Session, "after_commit")
def forget_on_commit(session: Session) -> None:
    """Drop the entries of what the committed transaction changed."""
    noted: set[tuple[str, Any]] = session.info.pop(_PENDING, set())
    if not noted:
        return
    keys = {v for kind, v in noted if kind == "key"}
    clients = {v for kind, v in noted if kind == "client"}
    codes = {v for kind, v in noted if kind == "institution"}
    if keys or clients:
        KEYS.forget(lambda k, v: k in keys or (v is not None and v.client_id in clients))
    if codes:
        INSTITUTIONS.forget(lambda k, _: k in codes)
        KEYS.forget(lambda _, v: v is not None and v.client.institution_code in codes)


@event.listens_for(Session, "after_rollback")
def _drop_notes(session: Session) -> None:
    session.info.pop(_PENDING, None)
