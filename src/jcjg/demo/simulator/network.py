"""``jcjg simulate --city ...``: a province with its cities, on platforms that are running.

Each city platform already forwards to the province (registered on the province with ``jcjg
network add-child``, configured with ``JCJG_UPSTREAM_*``: docs/networking.md). For each city,
the simulated institutions are registered in the city's database (its region's counties), each
registration notarised as the registry's pages do, so the city's forward registers them in the
province too (docs/networking.md, "A child's facts"); then their LIMS send their days of
registry data to the city through the real API; the city applies and forwards, the province
rebuilds the institutions, checks and applies the messages. At the end the province is asked,
city by city, whether everything the city accepted has arrived: what was forwarded, stored,
refused, and how late.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.db import make_engine
from jcjg.demo.simulator import region as sim
from jcjg.exchange.models import Message
from jcjg.ledger.models import LedgerLeaf
from jcjg.ledger.note import Verifier
from jcjg.networking.models import Child, Forwarded


@dataclass(frozen=True)
class City:
    """A city platform the simulation sends through: its region, address and database."""

    region: str
    url: str
    database: str

    @classmethod
    def parse(cls, text: str) -> City:
        """``REGION,URL,DATABASE_URL``: ``360100,http://127.0.0.1:8101,sqlite:///var/nc.db``."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 3 or not (len(parts[0]) == 6 and parts[0].isdigit()):
            raise ValueError(f"--city 应写作 区划代码,平台地址,数据库地址：{text[:100]}")
        if not parts[1].startswith(("http://", "https://")):
            raise ValueError(f"--city 的平台地址应以 http:// 或 https:// 开头：{parts[1][:100]}")
        return cls(parts[0], parts[1].rstrip("/"), parts[2])


@dataclass
class Arrival:
    """How one city's data reached the province."""

    city: City
    name: str = ""
    origin: str = ""
    institutions: int = 0
    sent: int = 0
    accepted: int = 0  # lab messages the city holds
    leaves: int = 0  # the city's log
    forwarded: int = 0  # leaves the province has of it
    messages: int = 0  # lab messages the province stored (or had already)
    refused: int = 0
    lag_p99_s: float = float("nan")
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        lag = "—" if self.lag_p99_s != self.lag_p99_s else f"{self.lag_p99_s:.1f} 秒"
        return (
            f"{self.name or self.city.region}：{self.institutions} 家机构发出 {self.sent} 条，"
            f"城市平台受理 {self.accepted} 条；其日志 {self.leaves} 条，省平台已收到 "
            f"{self.forwarded} 条（检测机构报送 {self.messages} 条，拒收 {self.refused} 条），"
            f"转发滞后 p99 {lag}"
        )

    @property
    def complete(self) -> bool:
        return self.forwarded >= self.leaves and self.messages >= self.accepted


def log_origin(url: str) -> str:
    """A running platform's log origin (the name of its ``/ledger/key``)."""
    answer = httpx.get(f"{url}/ledger/key", timeout=10)
    answer.raise_for_status()
    return Verifier(answer.text.strip()).name


def child_of(province: Session, origin: str) -> Child:
    child = province.scalar(select(Child).where(Child.log_origin == origin))
    if child is None:
        raise ValueError(
            f"日志为“{origin}”的城市平台未在省平台登记为下级平台（jcjg network add-child）"
        )
    return child


def arrival_of(province: Session, city: Session, found: Arrival) -> Arrival:
    """What of the city's log and lab messages the province has, and how late it came."""
    child = child_of(province, found.origin)
    found.name = child.name
    found.leaves = int(city.scalar(select(func.count()).select_from(LedgerLeaf)) or 0)
    found.accepted = int(
        city.scalar(
            select(func.count()).select_from(Message).where(Message.institution_id.isnot(None))
        )
        or 0
    )
    counts = dict(
        province.execute(
            select(Forwarded.outcome, func.count())
            .where(Forwarded.child_id == child.id)
            .group_by(Forwarded.outcome)
        ).all()
    )
    found.forwarded = int(sum(counts.values()))
    found.refused = int(counts.get("refused", 0))
    found.messages = int(
        province.scalar(
            select(func.count())
            .select_from(Forwarded)
            .where(
                Forwarded.child_id == child.id,
                Forwarded.entry_type.startswith("message:"),
                Forwarded.outcome.in_(["stored", "duplicate", "origin_rejected"]),
            )
        )
        or 0
    )
    lags = sorted(
        (received - notarised).total_seconds()
        for received, notarised in province.execute(
            select(Forwarded.received_at, Forwarded.notarised_at).where(
                Forwarded.child_id == child.id, Forwarded.entry_type.startswith("message:")
            )
        )
    )
    if lags:
        found.lag_p99_s = lags[min(len(lags) - 1, int(0.99 * len(lags)))]
    return found


def wait_for(
    check: Callable[[], list[Arrival]], seconds: float, *, poll: float = 1.0
) -> list[Arrival]:
    """Ask until every city's data has arrived, or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if all(a.complete for a in found) or time.monotonic() > deadline:
            return found
        time.sleep(poll)


def play(
    province_session: Callable[[], Session],
    settings: Settings,
    cities: list[City],
    *,
    institutions: int,
    days: int,
    seed: int,
    violations: float,
    wait: float,
    echo: Callable[[str], Any] = print,
) -> list[Arrival]:
    """Each city in turn: its institutions registered in its database (the forward registers
    them in the province), their days sent to the city; then the province asked until
    everything arrived (or ``wait`` seconds passed). ValueError: a city that does not answer or
    is not the province's child."""
    found: list[Arrival] = []
    engines = {city: make_engine(city.database) for city in cities}
    try:
        for city in cities:
            found.append(_send(province_session, settings, city, engines[city], institutions,
                               days, seed, violations, echo))  # fmt: skip
        echo("等待各城市平台转发到齐……")

        def check() -> list[Arrival]:
            out = []
            for arrival in found:
                with Session(engines[arrival.city]) as city_db, province_session() as province:
                    out.append(arrival_of(province, city_db, arrival))
            return out

        return wait_for(check, wait)
    finally:
        for engine in engines.values():
            engine.dispose()


def _send(
    province_session: Callable[[], Session], settings: Settings, city: City, engine: Any,
    institutions: int, days: int, seed: int, violations: float, echo: Callable[[str], Any],
) -> Arrival:  # fmt: skip
    arrival = Arrival(city)
    try:
        arrival.origin = log_origin(city.url)
    except (httpx.HTTPError, ValueError) as error:
        raise ValueError(f"无法连接城市平台 {city.url}：{error}") from None
    with province_session() as province:
        child_of(province, arrival.origin)
    city_settings = settings.model_copy(update={"database_url": city.database})
    with Session(engine) as city_db:
        sims = sim.prepare(
            city_db, city_settings, institutions=institutions, region=city.region, seed=seed,
            violations=violations, key_dir=settings.data_dir / "simulator" / city.region,
        )  # fmt: skip
        city_db.commit()
        catalogue = sim.catalogue_parameters(city_db)
    arrival.institutions = len(sims)
    echo(f"{city.region}：{len(sims)} 家机构，{days} 天，发往 {city.url}")
    summary = sim.run(sims, url=city.url, days=days, seed=seed, catalogue=catalogue,
                      violations=violations)  # fmt: skip
    arrival.sent = sum(summary.sent.values())
    arrival.failures = list(summary.failures)
    return arrival
