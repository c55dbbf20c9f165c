"""Taking over from an existing platform: the reports it issued, loaded from a table so that
the codes and QR codes already printed keep verifying (docs/networking.md "Taking over").

A table (CSV or xlsx, read by the caller) has a header row naming its columns, in Chinese or
English: 监管码 ``code``, 报告编号 ``report_number``, 检测机构 ``institution``, 机构编号
``institution_code`` (optional), 签发日期 ``issued_on``, and either 报告文件哈希 ``pdf_sha256`` or
报告文件 ``pdf_file`` (a path relative to the table's folder; the file is kept in the blob store).
Every row is checked before anything is written: one bad row refuses the whole table, each
problem named by row and column. The import is one leaf of the log, naming the source, the
table's SHA-256 and the number of reports; a code then answers on ``/v/<code>`` as a report of
the former platform, imported: no commission, records or proof behind it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.codes import normalise
from jcjg.core.db import utcnow
from jcjg.core.text import problem as text_problem
from jcjg.ledger import service as ledger
from jcjg.reports.models import LegacyReport, Report
from jcjg.tenancy.models import Institution

ENTRY_TYPE = "report:legacy_import"
MAX_ROWS = 200_000
_CODE = re.compile(r"[0-9A-Z]{4,40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
COLUMNS = {
    "code": ("监管码", "code"),
    "report_number": ("报告编号", "report_number"),
    "institution": ("检测机构", "institution"),
    "institution_code": ("机构编号", "institution_code"),
    "issued_on": ("签发日期", "issued_on"),
    "pdf_sha256": ("报告文件哈希", "pdf_sha256"),
    "pdf_file": ("报告文件", "pdf_file"),
}
REQUIRED = ("code", "report_number", "institution", "issued_on")
LIMITS = {"report_number": 64, "institution": 200, "institution_code": 32, "pdf_file": 500}


@dataclass(frozen=True)
class Problem:
    row: int  # as a spreadsheet numbers it: the header is row 1
    column: str
    message: str

    def __str__(self) -> str:
        return f"第 {self.row} 行 {self.column}：{self.message}"


class Refused(ValueError):
    """The table was refused; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("；".join(str(p) for p in problems[:20]))
        self.problems = problems


@dataclass(frozen=True)
class Imported:
    count: int
    ledger_index: int


def _header(head: list[str]) -> tuple[dict[str, int], list[Problem]]:
    names = {label: key for key, labels in COLUMNS.items() for label in labels}
    found: dict[str, int] = {}
    problems: list[Problem] = []
    for index, title in enumerate(head):
        title = title.strip()
        if not title:
            continue
        key = names.get(title) or names.get(title.lower())
        if key is None:
            problems.append(Problem(1, title[:40], "无法识别的列"))
        elif key in found:
            problems.append(Problem(1, title, "列重复"))
        else:
            found[key] = index
    for key in REQUIRED:
        if key not in found:
            problems.append(Problem(1, COLUMNS[key][0], "缺少必填列"))
    if "pdf_sha256" in found and "pdf_file" in found:
        problems.append(Problem(1, "报告文件", "报告文件哈希与报告文件只能给一列"))
    return found, problems


def import_table(
    db: Session,
    table: list[list[str]],
    *,
    source: str,
    file_sha256: str,
    folder: Path | None = None,
    keep_file: Callable[[bytes], str] | None = None,
    today: dt.date | None = None,
) -> Imported:
    """Check every row of ``table`` (header first), then write them and their leaf in
    ``db``'s transaction (the caller commits); Refused, with every problem, otherwise.
    ``keep_file`` stores a report file's bytes and returns their SHA-256 (the blob store)."""
    source = source.strip()
    if not source or len(source) > 200 or text_problem(source):
        raise Refused([Problem(0, "来源", "请写明原平台的名称（至多 200 个字符）")])
    if not table:
        raise Refused([Problem(1, "表头", "表格是空的")])
    columns, problems = _header(table[0])
    if problems:
        raise Refused(problems)
    body = [(n, row) for n, row in enumerate(table[1:], start=2) if any(c.strip() for c in row)]
    if not body:
        raise Refused([Problem(2, "表格", "没有报告")])
    if len(body) > MAX_ROWS:
        raise Refused([Problem(MAX_ROWS + 2, "表格", f"一次至多导入 {MAX_ROWS} 份报告")])
    today = today or utcnow().date()
    institutions: dict[str, int] = {
        code: iid for code, iid in db.execute(select(Institution.code, Institution.id))
    }
    rows: list[dict[str, object]] = []
    files: list[tuple[int, Path]] = []
    seen: dict[str, int] = {}
    for number, cells in body:
        row, found = _row(number, cells, columns, today, folder)
        problems.extend(found)
        if found:
            continue
        code = str(row["code"])
        if code in seen:
            problems.append(Problem(number, "监管码", f"与第 {seen[code]} 行重复"))
            continue
        seen[code] = number
        row["institution_id"] = institutions.get(str(row.get("institution_code") or ""))
        rows.append(row)
        beside = row.pop("pdf_file", None)
        if isinstance(beside, Path):
            files.append((len(rows) - 1, beside))
    problems.extend(_taken(db, seen))
    if problems:
        raise Refused(sorted(problems, key=lambda p: p.row))
    for index, path in files:
        if keep_file is None:
            raise Refused([Problem(0, "报告文件", "没有保存文件的位置")])
        rows[index]["pdf_sha256"] = keep_file(path.read_bytes())
    receipt = ledger.notarise(
        db,
        ENTRY_TYPE,
        {
            "source": source,
            "file_sha256": file_sha256,
            "reports": len(rows),
            "codes_sha256": hashlib.sha256("\n".join(sorted(seen)).encode()).hexdigest(),
        },
    )
    now = utcnow()
    db.add_all(
        LegacyReport(
            code=str(r["code"]),
            report_number=str(r["report_number"]),
            institution_name=str(r["institution"]),
            institution_code=r.get("institution_code") or None,
            institution_id=r["institution_id"],
            issued_on=r["issued_on"],
            pdf_sha256=r.get("pdf_sha256") or None,
            source=source,
            file_sha256=file_sha256,
            ledger_index=receipt.index,
            imported_at=now,
        )
        for r in rows
    )
    db.flush()
    return Imported(len(rows), receipt.index)


def _row(
    number: int, cells: list[str], columns: dict[str, int], today: dt.date, folder: Path | None
) -> tuple[dict[str, object], list[Problem]]:
    """One row's values, checked (its problems, if any)."""
    row, problems = _texts(number, cells, columns)
    if problems:
        return row, problems
    code = normalise(str(row["code"]))
    if not _CODE.fullmatch(code):
        why = "应为 4 至 40 位数字或大写字母（可含空格、短横）"
        problems.append(Problem(number, "监管码", why))
    row["code"] = code
    problems.extend(_date_and_file(number, row, today, folder))
    return row, problems


def _texts(
    number: int, cells: list[str], columns: dict[str, int]
) -> tuple[dict[str, object], list[Problem]]:
    """The row's cells as text: present when required, no forbidden character, not too long."""
    problems: list[Problem] = []
    row: dict[str, object] = {}
    for key, (label, _english) in COLUMNS.items():
        index = columns.get(key)
        value = cells[index].strip() if index is not None and index < len(cells) else ""
        if key in REQUIRED and not value:
            why: str | None = "不能为空"
        elif len(value) > LIMITS.get(key, 10**6):
            why = f"至多 {LIMITS[key]} 个字符"
        else:
            why = text_problem(value)
        if why:
            problems.append(Problem(number, label, why))
        else:
            row[key] = value
    return row, problems


def _date_and_file(
    number: int, row: dict[str, object], today: dt.date, folder: Path | None
) -> list[Problem]:
    """The issue date and the report file (its hash, or the file beside the table)."""
    problems: list[Problem] = []
    try:
        issued = dt.date.fromisoformat(str(row["issued_on"])[:10])
        if not dt.date(1990, 1, 1) <= issued <= today:
            raise ValueError
        row["issued_on"] = issued
    except ValueError:
        why = "应为 1990-01-01 至今天之间的日期，写作 YYYY-MM-DD"
        problems.append(Problem(number, "签发日期", why))
    sha = str(row.get("pdf_sha256") or "").lower()
    if sha and not _SHA256.fullmatch(sha):
        problems.append(Problem(number, "报告文件哈希", "应为 64 位十六进制 SHA-256"))
    row["pdf_sha256"] = sha or None
    if row.get("pdf_file"):
        path = _within(folder, str(row["pdf_file"]))
        if path is None:
            problems.append(Problem(number, "报告文件", "文件不存在，或不在表格所在的文件夹内"))
        else:
            row["pdf_file"] = path
    else:
        row.pop("pdf_file", None)
    return problems


def _within(folder: Path | None, name: str) -> Path | None:
    """The file ``name`` names inside ``folder`` (never outside it), when it exists."""
    if folder is None:
        return None
    root = folder.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _taken(db: Session, codes: dict[str, int]) -> list[Problem]:
    """Codes this platform has already: issued here, or imported before."""
    found: list[Problem] = []
    wanted = sorted(codes)
    for start in range(0, len(wanted), 5000):
        part = wanted[start : start + 5000]
        for (code,) in db.execute(
            select(Report.supervision_code).where(Report.supervision_code.in_(part))
        ):
            found.append(Problem(codes[code], "监管码", "本平台已签发过这个监管码"))
        for (code,) in db.execute(select(LegacyReport.code).where(LegacyReport.code.in_(part))):
            found.append(Problem(codes[code], "监管码", "已导入过"))
    return found


def find(db: Session, code: str) -> LegacyReport | None:
    """The imported report of a (normalised) code, if any."""
    return db.scalars(select(LegacyReport).where(LegacyReport.code == code)).first()
