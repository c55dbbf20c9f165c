"""The regulation library (法规库, 000 4.2.2 "法律法规库"): laws, administrative regulations,
rules, normative documents and standards, national and local, one row each with its level,
issuer, number (文号 or 标准号), issuing region, dates, status (in force, draft, repealed,
replaced by another entry), full text or a file. The rows the platform's rules cite come with
the schema (their migrations) as reference data; authorities add their own (docs/regulations.md).

A row is keyed by the short code clauses cite it by ("002 第十七条"; the documents of ``docs/``
and the seeds are numbered the same). :func:`cite` turns a rule's clause ("000 4.1.1 第 7 项；
002 第十七条") into what a reader can look up: "《建设工程检测监管信息服务平台技术标准》
（中国工程建设标准化协会，征求意见稿）4.1.1 第 7 项；《广西壮族自治区建设工程质量检测信息管理办法》
（广西壮族自治区住房和城乡建设厅）第十七条". A part whose code no row has is kept as written; a
standard cited by its own number ("GB/T 50081") is kept as written too, and on a page
(:func:`citer` with ``links=True``) both become links to their library entries: a standard's to
the entry in force whose number it begins.

A platform cites only what applies where it serves (``JCJG_REGION_CODE``, :func:`applies_in`):
national documents, and the documents of its own region, of the regions above it and of those
under it. A part citing another province's or city's document is left out; every rule's clause
carries a national basis, so one remains. A draft's place-holding number ("T/CECS ×××-202X") is
not printed: the draft is cited by its issuer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Date, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, Session, defer, mapped_column

from jcjg.config import get_settings
from jcjg.core.db import Base
from jcjg.core.later import reading_session
from jcjg.core.memo import TimedMemo
from jcjg.core.mixins import ChangeLogged, IdMixin
from jcjg.core.regioncodes import in_subtree

_PART = re.compile(r"\s*([；;]\s*)")
# a standard's number as clauses and pages write it: GB/T 50081, JGJ/T 23-2011, DB 6103/T ...
STANDARD_NUMBER = re.compile(
    r"\b(?:GB|JGJ|JG|CJJ|CJ|JC|YB|DB ?\d{2,6}|T/[A-Z]{2,8})(?:/T)? ?\d+(?:\.\d+)?(?:-\d{4})?"
)


class RegulationLevel(StrEnum):
    LAW = "law"
    ADMINISTRATIVE_REGULATION = "administrative_regulation"
    DEPARTMENTAL_RULE = "departmental_rule"
    LOCAL_REGULATION = "local_regulation"
    LOCAL_RULE = "local_rule"
    NORMATIVE_DOCUMENT = "normative_document"
    NATIONAL_STANDARD = "national_standard"
    INDUSTRY_STANDARD = "industry_standard"
    LOCAL_STANDARD = "local_standard"
    GROUP_STANDARD = "group_standard"

    @property
    def label(self) -> str:
        return _LEVELS[self.value]

    @property
    def is_standard(self) -> bool:
        return self.value.endswith("_standard")


_LEVELS = {
    "law": "法律",
    "administrative_regulation": "行政法规",
    "departmental_rule": "部门规章",
    "local_regulation": "地方性法规",
    "local_rule": "地方政府规章",
    "normative_document": "规范性文件",
    "national_standard": "国家标准",
    "industry_standard": "行业标准",
    "local_standard": "地方标准",
    "group_standard": "团体标准",
}


class RegulationStatus(StrEnum):
    IN_FORCE = "in_force"
    DRAFT = "draft"
    REPEALED = "repealed"
    REPLACED = "replaced"

    @property
    def label(self) -> str:
        return _STATUSES[self.value]

    @property
    def badge(self) -> str:
        return {"in_force": "ok", "draft": "warn"}.get(self.value, "muted")


_STATUSES = {
    "in_force": "现行有效",
    "draft": "征求意见稿",
    "repealed": "已废止",
    "replaced": "已被替代",
}
# a number a draft holds a place with ("T/CECS ×××-202X", "DB 6103/T"): cited by its issuer
_INCOMPLETE = re.compile(r"×|\d[Xx]\b|/T$")
# what a citation adds after the number: only what a reader must be warned of
_CITED_STATUS = {"draft": "征求意见稿", "repealed": "已废止", "replaced": "已被替代"}


class Regulation(ChangeLogged, IdMixin, Base):
    """A law, regulation, rule, normative document or standard in the library."""

    __tablename__ = "regulation"

    code: Mapped[str] = mapped_column(String(16), unique=True)  # "002": how clauses cite it
    title: Mapped[str] = mapped_column(String(200))  # without the book-title marks
    issuer: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(100), default="")  # 文号 / 标准号
    status: Mapped[str] = mapped_column(String(32), default="in_force")  # RegulationStatus
    issued_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    level: Mapped[str] = mapped_column(String(32), default="normative_document", index=True)
    # the issuing region (GB/T 2260); "" national
    region_code: Mapped[str] = mapped_column(String(6), default="", index=True)
    effective_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    repealed_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("regulation.id"), default=None)
    full_text: Mapped[str] = mapped_column(Text, default="")
    file_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    file_name: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    __audit_exclude__ = frozenset({"full_text"})  # long: the change log says it changed

    @property
    def citation(self) -> str:
        """《title》（number） as documents cite it (the issuer when it has no number; a draft,
        repealed or replaced one says so)."""
        number = "" if _INCOMPLETE.search(self.number) else self.number
        extra = "，".join(
            x for x in (number or self.issuer, _CITED_STATUS.get(self.status, "")) if x
        )
        return f"《{self.title}》" + (f"（{extra}）" if extra else "")

    @property
    def href(self) -> str:
        return f"/regulations/{self.id}"


def cites(clause: str, regulation: Regulation) -> bool:
    """Whether ``clause`` ("jz57 第三十条；GB/T 50081-2019 7.0.4") cites ``regulation``: by its
    code, or a standard by its number."""
    codes = {part.strip().split(" ")[0] for part in clause.replace(";", "；").split("；")}
    if regulation.code in codes:
        return True
    if not regulation.number:
        return False
    number = regulation.number.replace(" ", "")
    return any(
        number.startswith(m.group(0).replace(" ", "")) for m in STANDARD_NUMBER.finditer(clause)
    )


# A domain's hook: (db, regulation) -> [(title, clause)]: what else on the platform cites the
# document (the alert rules' local bases a region set), beside the rules' own clauses
CITING = "catalogue.citing"


def by_code(db: Session) -> dict[str, Regulation]:
    return {r.code: r for r in db.scalars(select(Regulation))}


def applies_in(regulation: Regulation, region: str) -> bool:
    """Whether ``regulation`` may be cited on a platform serving ``region`` ("" the nation's):
    a national one everywhere; a local one in its own region, in the regions above it (a
    province's platform cites its cities' documents for their institutions) and in those
    under it, never in another province or city."""
    own = regulation.region_code
    return not own or not region or in_subtree(own, region) or in_subtree(region, own)


def clause_parts(clause: str) -> list[str]:
    """The parts of a clause ("jz57 第二十二条；003 四（三）"), each "代号 条款"."""
    return [p for p in _PART.split(clause.strip())[0::2] if p]  # separators: the odd pieces


# what a clause cites when none of its documents may be cited in the region
NO_BASIS = "（本地区尚未指定依据）"


def _parts(
    clause: str, known: Mapping[str, Regulation], region: str
) -> list[tuple[str, Regulation | None, str]]:
    """The parts of ``clause`` that may be cited in ``region``: (the part as written, its
    regulation or None, the article after the code)."""
    out: list[tuple[str, Regulation | None, str]] = []
    for part in clause_parts(clause):
        code, _, article = part.partition(" ")
        regulation = known.get(code)
        if regulation is not None and not applies_in(regulation, region):
            continue
        out.append((part, regulation, article.strip()))
    return out


def cite(clause: str, known: Mapping[str, Regulation], region: str = "") -> str:
    """``clause`` with each part's leading code replaced by the regulation's citation, the
    parts citing documents of regions other than ``region`` left out (:func:`applies_in`)."""
    parts = _parts(clause, known, region)
    if clause.strip() and not parts:
        return NO_BASIS
    return "；".join(reg.citation + article if reg else part for part, reg, article in parts)


def standard_entry(number: str, known: Mapping[str, Regulation]) -> Regulation | None:
    """The library's entry for a standard cited by ``number`` ("GB/T 50081" or with its year):
    the one in force whose number begins with it, else the latest that does."""
    wanted = number.replace(" ", "")
    found = [
        r
        for r in known.values()
        if r.number
        and r.number.replace(" ", "").startswith(wanted)
        and r.number.replace(" ", "")[len(wanted) : len(wanted) + 1] in ("", "-")
    ]
    found.sort(key=lambda r: (r.status == RegulationStatus.IN_FORCE, r.number), reverse=True)
    return found[0] if found else None


def _linked_text(text: str, known: Mapping[str, Regulation]) -> Markup:
    """``text`` escaped, the standard numbers in it linked to their entries."""
    out, last = Markup(""), 0
    for match in STANDARD_NUMBER.finditer(text):
        entry = standard_entry(match.group(0), known)
        if entry is None:
            continue
        out += escape(text[last : match.start()])
        out += Markup('<a href="{}">{}</a>').format(entry.href, match.group(0))
        last = match.end()
    return out + escape(text[last:])


def cite_links(clause: str, known: Mapping[str, Regulation], region: str = "") -> Markup:
    """:func:`cite` for a page: each citation a link to its library entry, and standards
    cited by number linked to theirs."""
    parts = _parts(clause, known, region)
    if clause.strip() and not parts:
        return escape(NO_BASIS)
    return _linked_parts(parts, known)


def _linked_parts(
    parts: list[tuple[str, Regulation | None, str]], known: Mapping[str, Regulation]
) -> Markup:
    out = Markup("")
    for i, (part, regulation, article) in enumerate(parts):
        if i:
            out += "；"
        if regulation is None:
            out += _linked_text(part, known)
        else:
            link = Markup('<a href="{}">{}</a>').format(regulation.href, regulation.citation)
            out += link + _linked_text(article, known)
    return out


def citer(db: Session, *, links: bool = False, region: str | None = None) -> Callable[[str], str]:
    """A ``cite`` bound to the regulations in ``db`` (read once) and to ``region`` (by default
    the region the platform serves, ``JCJG_REGION_CODE``), for a page's template; with
    ``links`` the citations link to the library (HTML, safe to print)."""
    known = by_code(db)
    served = get_settings().region_code if region is None else region
    if links:
        return lambda clause: cite_links(clause, known, served)
    return lambda clause: cite(clause, known, served)


# the library as the explanatory sentences of pages cite it (:func:`basis_for`): read at most
# once a minute per app (an entry's new title shows there within the minute)
LIBRARY_SECONDS = 60.0


def library(state: Any) -> Mapping[str, Regulation]:
    """The library's entries by code (detached from their session), kept a minute in the app's
    ``state``: read by a session that only reads (no write lock waited for, even while the
    request that asks holds one), its full texts not loaded."""
    memo = getattr(state, "regulation_library", None)
    if memo is None:
        memo = state.regulation_library = TimedMemo(LIBRARY_SECONDS, max_entries=1)

    def read() -> dict[str, Regulation]:
        with reading_session(state.sessionmaker) as db:
            rows = {
                r.code: r
                for r in db.scalars(select(Regulation).options(defer(Regulation.full_text)))
            }
            db.expunge_all()
        return rows

    found: Mapping[str, Regulation] = memo.get("library", read)[0]
    return found


# a reference to a requirement document inside a sentence ("000 4.1.1 第 1 项", "003 四（三）",
# "jz57 第二十二条", "001 9.1.2-9.1.3"), and the same in brackets ("（003 三（五））")
_ARTICLE = (
    r"(?:\d+(?:\.\d+)+(?:[–-]\d+(?:\.\d+)*)?(?:、\d+(?:\.\d+)+)*(?: 第 [\d–-]+ 项)?"
    r"|第[一二三四五六七八九十百]+条(?:（[一二三四五六七八九十]+）)*(?:、第[一二三四五六七八九十百]+条)*"
    r"|[一二三四五六七八九十]+(?:（[一二三四五六七八九十]+）)+(?:、（[一二三四五六七八九十]+）)*)"
)
_REFERENCE = rf"(?:00[0-4]|jz57) {_ARTICLE}"
_BRACKETED = re.compile(rf"[（(]({_REFERENCE}(?:[；、]{_REFERENCE})*)[）)]")
_NEXT_CODE = re.compile(r"、(?=(?:00[0-4]|jz57) )")
_INLINE = re.compile(rf"(?<![\w/.]){_REFERENCE}")


def cite_inline(text: str, known: Mapping[str, Regulation], region: str = "") -> Markup:
    """``text`` (a description, a help text) escaped, each reference to a requirement document
    in it cited by title with a link (:func:`cite_links`); a reference to documents that do
    not apply in ``region`` is left out (a bracketed one with its brackets)."""
    out, last = Markup(""), 0
    for match in _BRACKETED.finditer(text):
        out += _inline(text[last : match.start()], known, region)
        parts = _parts(_NEXT_CODE.sub("；", match.group(1)), known, region)
        if parts:
            out += Markup("（{}）").format(_linked_parts(parts, known))
        last = match.end()
    return out + _inline(text[last:], known, region)


def without_references(text: str | None) -> str:
    """``text`` without its references to the requirement documents (a card's short line)."""
    if not text:
        return ""
    return _INLINE.sub("", _BRACKETED.sub("", text)).strip().lstrip("：:").strip()


def _inline(text: str, known: Mapping[str, Regulation], region: str) -> Markup:
    out, last = Markup(""), 0
    for match in _INLINE.finditer(text):
        out += escape(text[last : match.start()])
        out += _linked_parts(_parts(match.group(0), known, region), known)
        last = match.end()
    return out + escape(text[last:])


def page_citers(state: Any | None) -> dict[str, Callable[..., Any]]:
    """What every page's template cites with (the catalogue's ``templates.context``, given the
    app's ``state``; none for a page the same for every visitor: clauses as written), in the
    platform's region: ``basis(clause)``, a sentence's basis cited by title with links
    (:func:`cite_links`); ``basis_in(text)``, a description written with the documents' codes
    read with their titles (:func:`cite_inline`); ``without_references(text)``."""

    def known() -> Mapping[str, Regulation]:
        return library(state) if state is not None else {}

    def basis(clause: str) -> Markup:
        return cite_links(clause, known(), get_settings().region_code)

    def basis_in(text: str | None) -> Markup:
        return cite_inline(text, known(), get_settings().region_code) if text else Markup("")

    return {"basis": basis, "basis_in": basis_in, "without_references": without_references}
