"""CSV and xlsx export and all-or-nothing import of generic entities.

The header row holds the fields' Chinese labels (the field names are accepted too); rows below
an institution name it by its platform code in the first column ``机构编号``. An import checks
every row and writes nothing when any row is bad, answering with every bad row and why.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.errors import AppError, BadRequest
from jcjg.core.listing import XLSX as XLSX  # re-exported: the pages and tests use them
from jcjg.core.listing import Column, ListView
from jcjg.core.listing import to_csv as to_csv
from jcjg.core.listing import to_xlsx as to_xlsx
from jcjg.core.pagination import Key, Order
from jcjg.generic import service
from jcjg.generic.spec import EntitySpec
from jcjg.tenancy.models import Institution

INSTITUTION_COLUMN = "机构编号"
MAX_ROWS = 5000
MAX_BYTES = 5 * 1024 * 1024


@dataclass
class RowProblem:
    row: int  # 1-based spreadsheet row (the header is row 1)
    field: str
    message: str


def header(spec: EntitySpec) -> list[str]:
    labels = [f.label for f in spec.fields]
    return labels if spec.is_institution else [INSTITUTION_COLUMN, *labels]


def export_rows(
    *, db: Session, spec: EntitySpec, rows: Sequence[Any], unmasked: bool
) -> list[list[str]]:
    codes: dict[int, str] = {}
    if not spec.is_institution:
        ids = {r.institution_id for r in rows}
        codes = dict(
            db.execute(
                select(Institution.id, Institution.code).where(Institution.id.in_(ids))
            ).all()
        )
    out = [header(spec)]
    for row in rows:
        cells = []
        for f in spec.fields:
            value = getattr(row, f.name)
            if f.kind == "multi":
                value = [o.id for o in value]
            cells.append(f.to_cell(value) if (unmasked or not f.mask) else f.display(value))
        out.append(cells if spec.is_institution else [codes.get(row.institution_id, ""), *cells])
    return out


def list_view(spec: EntitySpec) -> ListView:
    """The registry list of ``spec`` as a list (``core.listing``): the export's columns are
    those of the import (so an export can be edited and imported again), personal data masked;
    the fields shown in the list sort (not those masked, nor lists of references)."""
    model = spec.model
    # masked: their order would tell; a list of references (specialties) has no order
    listed = {f.name for f in spec.list_fields if not f.mask and f.kind != "multi"}
    columns = [Column(f.name, f.label, getattr(model, f.name) if f.name in listed else None)
               for f in spec.fields]  # fmt: skip
    if not spec.is_institution:
        columns.insert(0, Column("institution", INSTITUTION_COLUMN, model.institution_id))
    order = Order(
        (Key(getattr(model, spec.order_by), _unread, False), Key(model.id, _unread, False)),
        (None, 0),
        offset_only=True,
    )

    def cells(db: Session, rows: Sequence[Any]) -> list[list[str]]:
        return export_rows(db=db, spec=spec, rows=rows, unmasked=False)[1:]

    return ListView(spec.model.__tablename__, spec.label, tuple(columns), order, cells)


def _unread(row: Any) -> Any:  # pragma: no cover - an offset-only order makes no cursors
    raise TypeError("an offset-only order has no cursor")


def read_table(data: bytes, filename: str) -> list[list[str]]:
    """Rows of an uploaded .csv or .xlsx file as text cells."""
    if len(data) > MAX_BYTES:
        raise BadRequest(f"文件过大（上限 {MAX_BYTES // 1024 // 1024} MB）")
    name = filename.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook  # imported when a workbook is read, not at start

        rows: list[list[str]] = []
        try:  # the sheet is parsed lazily: a damaged file can fail while iterating too
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            for r in book.worksheets[0].iter_rows(values_only=True):
                rows.append(["" if c is None else _cell(c) for c in r])
                if len(rows) > MAX_ROWS + 1:
                    break
            book.close()
        except Exception as exc:  # a corrupt upload is the user's problem, said plainly
            raise BadRequest("无法读取 xlsx 文件：文件已损坏或不是 Excel 2007+ 格式") from exc
        return rows
    if name.endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise BadRequest("CSV 文件编码无法识别（请用 UTF-8 或 GBK）") from None
        rows = []
        try:
            for row in csv.reader(io.StringIO(text)):
                rows.append(row)
                if len(rows) > MAX_ROWS + 1:
                    break
        except csv.Error as exc:
            raise BadRequest(f"CSV 文件格式有误：{exc}") from exc
        return rows
    raise BadRequest("只接受 .csv 或 .xlsx 文件")


def _cell(value: Any) -> str:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _columns(spec: EntitySpec, head: list[str]) -> tuple[dict[int, str], list[RowProblem]]:
    by_label = {f.label: f.name for f in spec.fields} | {f.name: f.name for f in spec.fields}
    if not spec.is_institution:
        by_label[INSTITUTION_COLUMN] = "institution_code"
    mapping: dict[int, str] = {}
    problems: list[RowProblem] = []
    for index, title in enumerate(head):
        title = title.strip()
        if not title:
            continue
        if title not in by_label:
            problems.append(RowProblem(1, title, "无法识别的列"))
            continue
        mapping[index] = by_label[title]
    required = [f for f in spec.fields if f.required and f.default is None]
    present = set(mapping.values())
    for f in required:
        if f.name not in present:
            problems.append(RowProblem(1, f.label, "缺少必填列"))
    if not spec.is_institution and "institution_code" not in present:
        problems.append(RowProblem(1, INSTITUTION_COLUMN, "缺少必填列"))
    return mapping, problems


def _records(
    table: list[list[str]], mapping: dict[int, str]
) -> Iterator[tuple[int, dict[str, str]]]:
    for number, row in enumerate(table[1:], start=2):
        if not any(str(c).strip() for c in row):
            continue
        yield number, {name: row[i] if i < len(row) else "" for i, name in mapping.items()}


def import_rows(
    *, db: Session, principal: Principal, spec: EntitySpec, table: list[list[str]]
) -> tuple[int, list[RowProblem]]:
    """Create a record per row; on any problem nothing is kept and every problem is returned."""
    if not table:
        return 0, [RowProblem(1, "", "文件是空的")]
    if len(table) - 1 > MAX_ROWS:
        return 0, [RowProblem(1, "", f"一次最多导入 {MAX_ROWS} 行")]
    mapping, problems = _columns(spec, [str(c) for c in table[0]])
    if problems:
        return 0, problems
    labels = {f.name: f.label for f in spec.fields} | {"institution_id": INSTITUTION_COLUMN}
    codes = {
        i.code: i.id
        for i in service.institutions_in_scope(db=db, principal=principal, action="update")
    }
    created = 0
    savepoint = db.begin_nested()
    for number, record in _records(table, mapping):
        raw: dict[str, Any] = dict(record)
        if not spec.is_institution:
            code = str(raw.pop("institution_code", "")).strip()
            if code not in codes:
                problems.append(
                    RowProblem(
                        number,
                        INSTITUTION_COLUMN,
                        f"机构编号 {code or '（空）'} 不存在或不在您的管辖范围内",
                    )
                )
                continue
            raw["institution_id"] = codes[code]
        try:
            with db.begin_nested():
                service.create_row(db=db, principal=principal, spec=spec, raw=raw)
            created += 1
        except AppError as error:
            if error.errors:
                problems.extend(
                    RowProblem(number, labels.get(e.field, e.field), e.message)
                    for e in error.errors
                )
            else:
                problems.append(RowProblem(number, "", error.detail))
    if problems:
        savepoint.rollback()
        return 0, problems
    savepoint.commit()
    return created, []
