"""Helpers for the tests of lists (core.listing): read an export, check its header and rows."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import event

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet(response) -> list[list[str]]:
    """The rows of an .xlsx answer (header first), each cell as text."""
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == XLSX
    assert "attachment" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    rows = [
        ["" if c is None else str(c) for c in r]
        for r in book.worksheets[0].iter_rows(values_only=True)
    ]
    book.close()
    return rows


def column(rows: list[list[str]], label: str) -> list[str]:
    """The cells below the header ``label``."""
    at = rows[0].index(label)
    return [r[at] for r in rows[1:]]


def unshown_reads(client, db, url: str, view) -> set[str]:
    """The columns of ``view``'s table that the page at ``url`` read beyond what ``view.shown``
    names: in the rows it loads (a statement selecting the table's key) and afterwards, row by
    row (a template showing a column the list does not name loads it for each row)."""
    entity = view.shown[0].class_
    table = entity.__table__
    shown = {a.key for a in view.shown} | {c.name for c in table.primary_key}
    (pk,) = table.primary_key
    key = re.compile(rf"(^|, ){table.name}\.{pk.name}(,| AS|$)")
    selected: list[str] = []
    later: set[str] = set()

    def collect(conn, cursor, statement, *_):
        found = re.match(r"\s*SELECT (.*?)\s+FROM ", statement, re.S)
        if found and key.search(found.group(1)):
            selected.append(found.group(1))

    def loaded(target, context, attrs):
        later.update(f"{table.name}.{a}" for a in attrs or ())

    engine = db.get_bind().engine
    event.listen(engine, "before_cursor_execute", collect)
    event.listen(entity, "refresh", loaded)
    try:
        response = client.get(url, headers={"accept": "text/html"})
    finally:
        event.remove(engine, "before_cursor_execute", collect)
        event.remove(entity, "refresh", loaded)
    assert response.status_code == 200, response.text[:500]
    assert selected, "the page loaded no rows of its list"
    read = " ".join(selected)
    return later | {
        f"{table.name}.{c.name}"
        for c in table.columns
        if c.name not in shown and f"{table.name}.{c.name}" in read
    }
