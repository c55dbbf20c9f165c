"""Taking over from an existing platform: its reports imported, their codes answering on
``/v/<code>`` honestly as imported; a table with one bad row imports nothing."""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from jcjg.generic.tabular import read_table
from jcjg.ledger.models import LedgerLeaf
from jcjg.reports.legacy import Refused, import_table
from jcjg.reports.models import LegacyReport

HTML = {"accept": "text/html"}
HEAD = ["监管码", "报告编号", "检测机构", "机构编号", "签发日期", "报告文件哈希"]
PDF_SHA = hashlib.sha256(b"%PDF old report").hexdigest()


def _csv(rows: list[list[str]], head: list[str] = HEAD) -> bytes:
    lines = [",".join(head), *(",".join(r) for r in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def _import(db, data: bytes, name: str = "old.csv", **kwargs):
    return import_table(
        db, read_table(data, name), source="江西省建设工程检测监管平台（旧）",
        file_sha256=hashlib.sha256(data).hexdigest(), **kwargs,
    )  # fmt: skip


@pytest.mark.sqlite
def test_imported_codes_answer_as_the_former_platforms_reports(client, db, factory):
    lab = factory.institution(region_code="360403")
    data = _csv(
        [
            ["GX-2019-000123", "BG-2019-0123", "九江检测中心", lab.code, "2019-05-06", PDF_SHA],
            ["36040221000004567", "BG-2021-4567", "江西恒信检测", "", "2021-03-02", ""],
        ]
    )  # fmt: skip
    done = _import(db, data)
    db.commit()
    assert done.count == 2
    leaf = db.get(LedgerLeaf, done.ledger_index)
    entry = json.loads(leaf.entry)
    assert entry["entry_type"] == "report:legacy_import"
    assert entry["data"]["reports"] == 2
    assert entry["data"]["file_sha256"] == hashlib.sha256(data).hexdigest()
    kept = db.scalars(select(LegacyReport).where(LegacyReport.code == "GX2019000123")).one()
    assert kept.institution_id == lab.id
    # a code as printed, with its dashes, answers honestly: the former platform's, imported
    answer = client.get("/v/GX-2019-000123.json")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["outcome"] == "legacy"
    assert doc["report_number"] == "BG-2019-0123"
    assert doc["pdf_sha256"] == PDF_SHA
    assert doc["imported"]["source"] == "江西省建设工程检测监管平台（旧）"
    page = client.get("/v/36040221000004567", headers=HTML)
    assert page.status_code == 200
    assert 'data-outcome="legacy"' in page.text
    assert "原平台签发的报告" in page.text
    assert "BG-2021-4567" in page.text
    assert "legacy" not in re.sub(r"<[^>]+>", "", page.text)  # words, not identifiers
    # a code neither issued nor imported is still unknown
    assert client.get("/v/GX2019000124.json").json()["outcome"] == "malformed"


def test_an_xlsx_table_and_report_files_beside_it(client, db, settings, tmp_path: Path):
    from jcjg.core.blobs import blob_store

    (tmp_path / "pdf").mkdir()
    (tmp_path / "pdf" / "a.pdf").write_bytes(b"%PDF old file")
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "report_number", "institution", "issued_on", "pdf_file"])
    sheet.append(["LEGACY0001", "BG-1", "某检测公司", "2018-01-02", "pdf/a.pdf"])
    out = io.BytesIO()
    book.save(out)
    store = blob_store(settings)
    done = _import(db, out.getvalue(), "old.xlsx", folder=tmp_path, keep_file=store.put)
    assert done.count == 1
    kept = db.scalars(select(LegacyReport)).one()
    assert kept.pdf_sha256 == hashlib.sha256(b"%PDF old file").hexdigest()
    assert store.get(kept.pdf_sha256) == b"%PDF old file"


def test_one_bad_row_imports_nothing_and_names_every_problem(db, factory, tmp_path: Path):
    rows = [
        ["OK000001", "BG-1", "甲检测", "", "2020-01-01", ""],
        ["OK000001", "BG-2", "乙检测", "", "2020-01-01", ""],  # the same code twice
        ["X", "BG-3", "丙检测", "", "2020-01-01", ""],  # too short
        ["OK000004", "", "丁检测", "", "2020-01-01", ""],  # no number
        ["OK000005", "BG-5", "戊检测", "", "2999-01-01", ""],  # in the future
        ["OK000006", "BG-6", "己\u0000检测", "", "2020-01-01", ""],  # a NUL
        ["OK000007", "BG-7", "庚检测", "", "2020-01-01", "abc"],  # not a SHA-256
        ["OK000008", "B" * 65, "辛检测", "", "2020-01-01", ""],  # too long
    ]
    with pytest.raises(Refused) as refused:
        _import(db, _csv(rows))
    problems = {(p.row, p.column) for p in refused.value.problems}
    assert problems == {
        (3, "监管码"), (4, "监管码"), (5, "报告编号"), (6, "签发日期"), (7, "检测机构"),
        (8, "报告文件哈希"), (9, "报告编号"),
    }  # fmt: skip
    assert db.scalar(select(func.count()).select_from(LegacyReport)) == 0
    # a header it cannot read, a missing required column, a file outside the table's folder
    with pytest.raises(Refused, match="无法识别的列"):
        _import(db, _csv([["A0001", "B", "C", "", "2020-01-01", ""]], [*HEAD[:5], "备注"]))
    with pytest.raises(Refused, match="缺少必填列"):
        _import(db, _csv([["A0001", "B"]], HEAD[:2]))
    escape = _csv([["A0001", "B", "C", "2020-01-01", "../../etc/passwd"]],
                  ["code", "report_number", "institution", "issued_on", "pdf_file"])  # fmt: skip
    with pytest.raises(Refused, match="不在表格所在的文件夹内"):
        _import(db, escape, folder=tmp_path)
    with pytest.raises(Refused, match="没有报告"):
        _import(db, _csv([]))


def test_a_code_issued_here_or_imported_before_is_refused(db, issued):
    code = issued["supervision_code"]
    with pytest.raises(Refused, match="本平台已签发过"):
        _import(db, _csv([[code, "BG-1", "甲检测", "", "2020-01-01", ""]]))
    _import(db, _csv([["LEGACY0002", "BG-1", "甲检测", "", "2020-01-01", ""]]))
    with pytest.raises(Refused, match="已导入过"):
        _import(db, _csv([["LEGACY-0002", "BG-9", "甲检测", "", "2020-01-01", ""]]))
