"""Helpers for the tests of lists (core.listing): read an export, check its header and rows."""

from __future__ import annotations

import io

from openpyxl import load_workbook

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
