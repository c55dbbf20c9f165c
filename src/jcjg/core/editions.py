"""Editions of reference data: the tables the platform reads but does not own.

The GB/T 2260 region codes and the qualification catalogue are published by others, edition
after edition. Each edition loaded is one row here (its kind, its code such as ``2023``, title,
publication date, where it came from and a digest of its content); the rows of the reference
tables say from which edition they are valid and from which one they no longer are, so a record
made under an earlier edition keeps pointing at what was valid then.

Loading is idempotent: an edition already loaded with the same content is a no-op; the same
edition code with other content, or an edition published before the latest one loaded, is
refused. Reference data is not a platform fact: nothing here is notarised in the ledger.
Knows no domain: the kinds are names given by the packages that load them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, Date, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin

_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")


class ReferenceEdition(IdMixin, Base):
    """One edition of one kind of reference data, as loaded."""

    __tablename__ = "reference_edition"
    __table_args__ = (UniqueConstraint("kind", "code"),)

    kind: Mapped[str] = mapped_column(String(16))  # "regions", "catalogue"
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    published_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    source: Mapped[str | None] = mapped_column(Text, default=None)
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the content, canonical JSON
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # counts of the load
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def label(self) -> str:
        """``2023 版``: how pages name the edition."""
        return f"{self.code} 版"


class EditionError(ValueError):
    """An edition file that cannot be loaded; the message (Chinese) says every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20] + ([f"……另有 {len(problems) - 20} 处"] if len(problems) > 20 else [])
        super().__init__("；".join(shown))


@dataclass(frozen=True)
class Loaded:
    """What loading an edition did, said in Chinese (``text``); ``already``: it was loaded
    before with the same content, and nothing was written."""

    edition: str
    already: bool
    text: str


@dataclass(frozen=True)
class Header:
    """What identifies an edition, as read from its file."""

    code: str
    title: str
    published_date: dt.date | None = None
    source: str | None = None

    def problems(self) -> list[str]:
        out = []
        if not _CODE.fullmatch(self.code):
            out.append(f"版本代码“{self.code}”应为 1–32 位字母、数字、点、横线或下划线")
        if not self.title.strip() or len(self.title) > 200:
            out.append("版本名称应为 1–200 个字符")
        return out


class EditionFile(Protocol):
    """An edition as read from its file: a header and the entries, whatever their kind."""

    @property
    def header(self) -> Header: ...


F = TypeVar("F", bound=EditionFile)


def read(path: Path, parse: Callable[..., F]) -> F:
    """The edition in the UTF-8 file ``path``, read by its kind's ``parse(text, source=...)``."""
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise EditionError([f"{path.name} 不是 UTF-8 编码的文本文件"]) from None
    return parse(text, source=path.name)


def shipped(package: str, pattern: str, parse: Callable[..., F]) -> list[F]:
    """The editions that come with ``package`` (its ``data/`` files matching ``pattern``),
    oldest first: by publication date, those without one first."""
    folder = resources.files(package).joinpath("data")
    where = package.replace(".", "/")
    files = [
        parse(f.read_text("utf-8"), source=f"{where}/data/{f.name}")
        for f in folder.iterdir()
        if fnmatch(f.name, pattern)
    ]
    return sorted(files, key=lambda f: (f.header.published_date or dt.date.min, f.header.code))


def parse_date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise EditionError([f"{field}“{value}”应为日期，如 2024-01-01"]) from None


def digest(content: Any) -> str:
    """SHA-256 of ``content`` as canonical JSON: the same data gives the same digest whatever
    the file's layout, comments or order of keys."""
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def editions(db: Session, kind: str) -> list[ReferenceEdition]:
    """The editions of ``kind`` in the order they were loaded (the latest last)."""
    stmt = select(ReferenceEdition).where(ReferenceEdition.kind == kind)
    return list(db.scalars(stmt.order_by(ReferenceEdition.id)))


def latest(db: Session, kind: str) -> ReferenceEdition | None:
    stmt = select(ReferenceEdition).where(ReferenceEdition.kind == kind)
    return db.scalars(stmt.order_by(ReferenceEdition.id.desc()).limit(1)).first()


def find(db: Session, kind: str, code: str) -> ReferenceEdition | None:
    stmt = select(ReferenceEdition).where(
        ReferenceEdition.kind == kind, ReferenceEdition.code == code
    )
    return db.scalars(stmt).first()


def check(db: Session, kind: str, header: Header, content_digest: str) -> bool:
    """Whether this edition is already loaded with this content (then there is nothing to do).

    Raises :class:`EditionError` when the edition cannot be loaded: its header is wrong, it is
    loaded with other content (an edition, once loaded, is never rewritten), or it was
    published before the latest edition of its kind.
    """
    problems = header.problems()
    if problems:
        raise EditionError(problems)
    same = find(db, kind, header.code)
    if same is not None:
        if same.digest == content_digest:
            return True
        raise EditionError(
            [
                f"{header.code} 版已于 {same.loaded_at:%Y-%m-%d} 加载，本文件的内容与之不同："
                "已加载的版本不能改写，修订请作为新版本（新的版本代码）加载"
            ]
        )
    last = latest(db, kind)
    if (
        last is not None
        and last.published_date is not None
        and header.published_date is not None
        and header.published_date < last.published_date
    ):
        raise EditionError(
            [
                f"{header.code} 版（{header.published_date}）早于已加载的 {last.code} 版"
                f"（{last.published_date}）：只能加载更新的版本"
            ]
        )
    return False


def record(db: Session, kind: str, header: Header, content_digest: str) -> ReferenceEdition:
    """Add the row of a new edition, checked by :func:`check` (flushed; its summary is filled
    in by the loader)."""
    edition = ReferenceEdition(
        kind=kind,
        code=header.code,
        title=header.title.strip(),
        published_date=header.published_date,
        source=header.source,
        digest=content_digest,
        summary={},
    )
    db.add(edition)
    db.flush()
    return edition
