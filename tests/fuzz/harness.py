"""The fuzzing harness: what every fuzzer here shares.

- :class:`World`: the app on a database of its own, built by the migrations (a copy of the
  process's template, as ``jcjg db upgrade`` builds it), committed for real (no outer
  transaction), with what the fuzzers act as and on: an administrator of a region (a city
  authority, 九江市) and a lab staff member with their API tokens, two institutions with a
  record of every registry kind, alerts, other accounts, and two signing exchange clients (a
  LIMS and another platform).
- :class:`Catching`: the app as an ASGI callable that keeps the exception behind each 500 (the
  answer has gone out already, as a server would have sent it), so a server error is filed
  under what raised it.
- :class:`Tally`: requests sent and failures by class, with the first reproducer of each, and
  the closing ``FUZZ requests=… server_errors=… schema_violations=…`` line.
- :data:`NAMED_CLASSES`: the classes of failure the hostile run of issue 21 found, by name
  (each fixed since, each failing a run again as any other class does).

Settings from the environment: ``JCJG_FUZZ_EXAMPLES`` (examples per operation, role and
message type; 4 by default, ``make fuzz`` takes 120), ``JCJG_FUZZ_SEED`` (the seed of every
generator: a run is repeatable).
"""

from __future__ import annotations

import os
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, seed, settings
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jcjg.auth.choices import Role
from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.main import create_app
from jcjg.tenancy.models import Institution
from tests.exchange.conftest import Lims, make_lims
from tests.factories import Factory, registry_row

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = int(os.environ.get("JCJG_FUZZ_EXAMPLES", "2"))
SEED = int(os.environ.get("JCJG_FUZZ_SEED", "21"))

# The classes of failure found before by name (issue 21's hostile run; all fixed): a run that
# finds one again fails, as on any other class, under this name.
NAMED_CLASSES: dict[str, str] = {
    "text-nul-control": "NUL or control characters in text reach the database (500 on PostgreSQL)",
    "id-out-of-range": "an id above 2^31-1 in a path or a field reaches the database (500)",
    "exchange-loose-types": "an exchange message against its type's JSON Schema is accepted",
    "openapi-undocumented-status": "a status the OpenAPI document does not list for the operation",
    "openapi-problem-media-type": "application/problem+json where the document says JSON",
    "openapi-error-body": "an error body other than the document's (problem+json vs 422 detail)",
    "allow-options": "a wrong Allow header or status for a method the path does not have",
}

REGION = "360400"  # 九江市: the administrator's region
REGION_ADMIN = "region_admin"
LAB_STAFF = "lab_staff"


# --- the tally -------------------------------------------------------------------------------


SERVER_ERROR = "server_error"
SCHEMA_VIOLATION = "schema_violation"


@dataclass
class Tally:
    """What a run sent and found: failures by class, each class's kind and first reproducer."""

    requests: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    kinds: dict[str, str] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    """Answers by what was asked and the status (``exchange 202``, ``api 404``)."""
    interrupted: int = 0
    """Stateful batches Hypothesis ended early because generation depended on the app's state
    (FlakyStrategyDefinition): fewer requests, not a failure."""

    def answered(self, what: str, status: int) -> None:
        self.requests += 1
        self.statuses[f"{what} {status}"] += 1

    def record(self, klass: str, kind: str, reproducer: str) -> None:
        self.counts[klass] += 1
        self.kinds.setdefault(klass, kind)
        self.first.setdefault(klass, reproducer)

    def total(self, kind: str) -> int:
        return sum(n for k, n in self.counts.items() if self.kinds[k] == kind)

    def failing(self) -> list[str]:
        """The classes that fail the run: every one found."""
        return sorted(self.counts)

    def summary(self) -> str:
        return (
            f"FUZZ requests={self.requests} server_errors={self.total(SERVER_ERROR)} "
            f"schema_violations={self.total(SCHEMA_VIOLATION)}"
        )

    def report(self) -> str:
        """Each class found: its count and its first reproducer; then the summary line."""
        lines = []
        for klass, n in self.counts.most_common():
            lines.append(f"FUZZ class {klass} [{self.kinds[klass]}] x{n}")
            lines.extend("    " + line for line in self.first[klass].splitlines())
        answers = ", ".join(f"{k}: {n}" for k, n in sorted(self.statuses.items()))
        lines.append(f"FUZZ answers {answers}")
        if self.interrupted:
            lines.append(f"FUZZ stateful batches ended early by Hypothesis: {self.interrupted}")
        lines.append(self.summary())
        return "\n".join(lines)

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.interrupted += other.interrupted
        self.statuses.update(other.statuses)
        for klass, n in other.counts.items():
            self.counts[klass] += n
            self.kinds.setdefault(klass, other.kinds[klass])
            self.first.setdefault(klass, other.first[klass])


# The process's tally over every fuzz test (printed at the end by tests/fuzz/conftest.py).
RUN = Tally()


def assert_clean(tally: Tally) -> None:
    """Fail with the report when a class that fails the run was found."""
    RUN.merge(tally)
    failing = tally.failing()
    assert not failing, "fuzzing found " + ", ".join(failing) + "\n" + tally.report()


def generation_settings(examples: int, **more: Any) -> settings:
    """Hypothesis settings for a fuzzer: no example database, no deadline, no shrinking
    (failures are counted, not raised)."""
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        **more,
    )


def repeatable(examples: int) -> Callable[[F], F]:
    """A fuzzer's test: :func:`generation_settings` and generation from JCJG_FUZZ_SEED (the
    same seed, the same requests)."""

    def apply(test: F) -> F:
        return seed(SEED)(generation_settings(examples)(test))

    return apply


# --- server errors by what raised them -------------------------------------------------------

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


class Catching:
    """The app, keeping the exception behind each 500 (Starlette's error middleware has sent
    the 500 already and raises it again, for the server to log). No lifespan: the fuzzers need
    none of the app's background threads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.errors: list[BaseException] = []

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":  # started and stopped, with nothing to run
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.errors.append(exc)

    def take(self) -> BaseException | None:
        """The exception of the last request, if it raised one (and forget them all)."""
        error = self.errors[-1] if self.errors else None
        self.errors.clear()
        return error


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def server_error_class(exc: BaseException | None) -> str:
    """The class of a 500: a known one by what the database said, else the exception's type
    and the innermost function of ours it came from."""
    if exc is None:
        return "5xx:unknown"
    text = " ".join(f"{type(e).__name__}: {e}" for e in _chain(exc))
    if "NUL" in text or "0x00" in text or "IllegalCharacterError" in text:
        return "text-nul-control"
    if (
        "out of range for type" in text
        or "NumericValueOutOfRange" in text
        or "too large to convert to SQLite INTEGER" in text
        or "int too big to convert" in text
    ):
        return "id-out-of-range"
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if "/jcjg/" in frame.filename:
            where = f"{frame.filename.rsplit('/jcjg/', 1)[1]}:{frame.name}"
    return f"5xx:{type(exc).__name__}@{where}"


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    last = traceback.format_exception(exc)[-1].strip()
    return last[:400]


# --- the world the fuzzers act in ------------------------------------------------------------


@dataclass
class World:
    app: Catching
    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    tokens: dict[str, str]
    users: dict[str, int]
    """The fuzzing principals' user ids: never locked, edited or stripped of their tokens."""
    token_ids: set[int]
    own_institution: int
    """The lab staff member's institution: its status and region stay as they are."""
    institutions: list[int]
    """Both institutions of the world (the staff member's first)."""
    other_user: int
    """An account the administrator may act on, in place of the principals'."""
    lims: Lims
    peer: Lims
    """Another platform: the only sender of region messages (``project``)."""


def fuzz_settings(base: Settings, database_url: str) -> Settings:
    """The test settings on the world's database, with limits no fuzzer reaches by volume."""
    return base.model_copy(
        update={
            "database_url": database_url,
            "exchange_rate_limit_per_minute": 10**9,
            "ledger_rate_limit_per_minute": 10**9,
            "verify_rate_limit_per_minute": 10**9,
        }
    )


def _seed(db: Session, settings: Settings) -> dict[str, Any]:
    from jcjg.auth.sessions import create_api_token

    f = Factory(db, settings)
    own = f.institution(region_code="360403", name="九江模糊测试检测机构")
    other = f.institution(region_code="360402", name="濂溪模糊测试检测机构")
    admin = f.user(Role.CITY_AUTHORITY, region_code=REGION)
    staff = f.user(Role.INSTITUTION_STAFF, institution=own)
    others = [
        f.user(Role.INSTITUTION_ADMIN, institution=other),
        f.user(Role.INSTITUTION_STAFF, institution=own),
        f.user(Role.STATION, region_code=REGION),
    ]
    for inst in (own, other):
        for kind in (
            "labs", "people", "equipment", "capabilities", "certificates", "trainings",
            "assessments", "assignments", "signatories", "licences",
        ):  # fmt: skip
            registry_row(f, kind, inst)
        f.alert(inst)
    f.project(code="XM360402-001")  # the project the exchange's examples name
    tokens, token_ids = {}, set()
    for name, user in ((REGION_ADMIN, admin), (LAB_STAFF, staff)):
        token, row = create_api_token(db=db, settings=settings, user=user, name="fuzz")
        tokens[name] = token
        token_ids.add(row.id)
    db.commit()
    lims = make_lims(db, settings, f, institution=own)
    peer = _make_peer(db, settings)
    return {
        "tokens": tokens,
        "users": {REGION_ADMIN: admin.id, LAB_STAFF: staff.id},
        "token_ids": token_ids,
        "own_institution": own.id,
        "institutions": [own.id, other.id],
        "other_user": others[0].id,
        "lims": lims,
        "peer": peer,
    }


def _make_peer(db: Session, settings: Settings) -> Lims:
    from jcjg.client.signing import load_key
    from jcjg.exchange import clients
    from jcjg.exchange.choices import ClientKind, ClientStatus

    peer = clients.create_client(
        db,
        name=f"模糊测试平台 {REGION}",
        institution=None,
        region_code=REGION,
        kind=ClientKind.PLATFORM,
        status=ClientStatus.ACTIVE,
    )
    issued = clients.issue_key(db, peer, settings, alg="hmac-sha256")
    db.commit()
    assert issued.secret is not None
    placeholder = db.get_one(Institution, peer.institution_id) if peer.institution_id else None
    return Lims(
        placeholder,  # type: ignore[arg-type]  # a platform names no institution
        peer,
        issued.key.key_id,
        load_key("hmac-sha256", issued.secret),
    )


@contextmanager
def world(tmp_path: Path, base: Settings) -> Iterator[World]:
    """The app on a database of its own (removed afterwards), seeded."""
    from tests.conftest import upgraded_database_url

    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    try:
        config = fuzz_settings(base, url)
        factory = make_sessionmaker(engine)
        with factory() as db:
            seeded = _seed(db, config)
        app = create_app(config, engine=engine, session_factory=factory)
        yield World(
            app=Catching(app), settings=config, engine=engine, sessionmaker=factory, **seeded
        )
    finally:
        engine.dispose()
        drop()
