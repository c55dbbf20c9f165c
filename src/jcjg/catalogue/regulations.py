"""The regulations the platform cites (法规与标准): one row each, with its full title, issuer,
number (文号 or 标准号) and status, keyed by the short code the rules cite it by ("002 第十七条";
the documents of ``docs/`` and the seeds are numbered the same). The rows come with the schema
(their migration), as reference data, not with the demo; a later issue grows the table into the
public regulation library.

:func:`cite` turns a rule's clause ("000 4.1.1 第 7 项；002 第十七条") into what a reader can
look up: "《建设工程检测监管信息服务平台技术标准》（T/CECS ×××-202X，征求意见稿）4.1.1 第 7 项；
《广西壮族自治区建设工程质量检测信息管理办法》（广西壮族自治区住房和城乡建设厅）第十七条".
A part whose code no
row has (a national standard cited by its own number, "GB/T 50081") is kept as written.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping

from sqlalchemy import Date, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from jcjg.core.db import Base
from jcjg.core.mixins import IdMixin

_PART = re.compile(r"\s*([；;]\s*)")


class Regulation(IdMixin, Base):
    """A regulation, standard or notice the platform's rules enforce."""

    __tablename__ = "regulation"

    code: Mapped[str] = mapped_column(String(16), unique=True)  # "002": how clauses cite it
    title: Mapped[str] = mapped_column(String(200))  # without the book-title marks
    issuer: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(100), default="")  # 文号 / 标准号
    status: Mapped[str] = mapped_column(String(32), default="")  # 现行, 征求意见稿 ...
    issued_date: Mapped[dt.date | None] = mapped_column(Date, default=None)

    @property
    def citation(self) -> str:
        """《title》（number） as documents cite it (the issuer when it has no number)."""
        extra = "，".join(x for x in (self.number or self.issuer, self.status) if x)
        return f"《{self.title}》" + (f"（{extra}）" if extra else "")


def by_code(db: Session) -> dict[str, Regulation]:
    return {r.code: r for r in db.scalars(select(Regulation))}


def cite(clause: str, known: Mapping[str, Regulation]) -> str:
    """``clause`` with each part's leading code replaced by the regulation's citation."""
    out: list[str] = []
    for part in _PART.split(clause.strip()):
        code, _, article = part.partition(" ")
        regulation = known.get(code)
        out.append(regulation.citation + article.strip() if regulation else part)
    return "".join(out)


def citer(db: Session) -> Callable[[str], str]:
    """A ``cite`` bound to the regulations in ``db`` (read once), for a page's template."""
    known = by_code(db)
    return lambda clause: cite(clause, known)
