"""The statistics page's figures beyond the counts (issue 20, item 10): every institution in the
reader's scope is a row, those that uploaded nothing with zeros (and no other region's); each
row's rates over its records; the chart's data; labelled date boxes; the same figures as an
.xlsx, audited."""

from __future__ import annotations

import io
import json
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from tests.factories import login
from tests.testing.statistics.test_stats import HTML, _table

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)


def _rates(html: str, key: str) -> tuple[str, str]:
    row = re.search(rf'<tr data-key="{re.escape(key)}">(.*?)</tr>', html, re.S)
    assert row, key
    cells = re.findall(r'<t[dh] class="rate" data-rate="\w+">(.*?)</t[dh]>', row.group(1), re.S)
    return tuple(" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells)  # type: ignore[return-value]


def test_silent_institutions_are_rows_of_zeros_within_the_scope(
    browser_client, db, factory, region, authority
):
    lab, _other, _ = region
    silent = factory.institution(region_code="360403", name="九江沉默检测站")
    elsewhere = factory.institution(region_code="360102", name="南昌外地检测站")
    db.commit()
    login(browser_client, authority.username)
    html = browser_client.get("/testing/stats", headers=HTML).text
    table = _table(html)
    assert table[str(silent.id)] == [0, 0, 0, 0, 0, 0]
    assert str(elsewhere.id) not in table  # another region's lab is never a row
    assert "南昌外地检测站" not in html
    assert table[str(lab.institution.id)][0] == 4
    assert table["total"][0] == 6  # the zeros add nothing
    assert _rates(html, str(silent.id)) == ("—", "—")  # no records: no rate
    data = json.loads(re.search(r'id="stats-data">(.*?)</script>', html, re.S).group(1))
    assert "九江沉默检测站" in data["labels"]
    # narrowed to one institution: that one only; by project: only the labs that tested it
    one = _table(browser_client.get(f"/testing/stats?institution={silent.id}", headers=HTML).text)
    assert set(one) == {str(silent.id), "total"}
    by_project = browser_client.get("/testing/stats?by=project", headers=HTML).text
    assert "九江沉默检测站" not in by_project


def test_rates_say_their_numerator_and_denominator(browser_client, region, authority):
    lab, other, _ = region
    login(browser_client, authority.username)
    html = browser_client.get("/testing/stats", headers=HTML).text
    # the lab: 4 records, 1 nonconforming
    assert _rates(html, str(lab.institution.id)) == ("75.0% 3/4", "25.0% 1/4")
    assert _rates(html, str(other.institution.id)) == ("100.0% 2/2", "0.0% 0/2")
    assert _rates(html, "total") == ("83.3% 5/6", "16.7% 1/6")
    data = json.loads(re.search(r'id="stats-data">(.*?)</script>', html, re.S).group(1))
    i = data["labels"].index(lab.institution.name)
    assert (data["conforming"][i], data["nonconforming"][i], data["rate"][i]) == (3, 1, 25.0)


def test_the_date_boxes_are_labelled(browser_client, region, authority):
    login(browser_client, authority.username)
    html = browser_client.get("/testing/stats", headers=HTML).text
    assert re.search(r'<label>试验结束 自<input type="date" name="since"', html)
    assert re.search(r'<label>至<input type="date" name="until"', html)
    records = browser_client.get("/testing/records", headers=HTML).text
    assert re.search(
        r'<label for="f-since">[^<]*试验结束[^<]*<input type="date" id="f-since"', records
    )
    assert re.search(r'<label for="f-until">[^<]+<input type="date" id="f-until"', records)


def _sheet(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "attachment" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    return [
        ["" if c is None else str(c) for c in r] for r in book.active.iter_rows(values_only=True)
    ]


def test_the_same_figures_as_xlsx_audited(browser_client, db, factory, region, authority):
    lab, _other, _ = region
    factory.institution(region_code="360403", name="九江沉默检测站")
    db.commit()
    login(browser_client, authority.username)
    page = browser_client.get("/testing/stats", headers=HTML).text
    assert 'href="/testing/stats?by=institution&amp;format=xlsx"' in page
    rows = _sheet(browser_client.get("/testing/stats?format=xlsx"))
    assert rows[0][:2] == ["检测机构", "记录"]
    assert rows[0][7:9] == ["合格率", "不合格率"]
    by_name = {r[0]: r for r in rows[1:]}
    mine = by_name[lab.institution.name]
    assert (mine[1], mine[2], mine[3], mine[4], mine[6]) == ("4", "4", "0", "1", "1")
    assert by_name[lab.institution.name][7:9] == ["75.0%", "25.0%"]
    assert by_name["九江沉默检测站"][1] == "0"
    assert by_name["九江沉默检测站"][7] == ""
    assert by_name["合计"][1] == "6"
    assert len(rows) == 1 + len(_table(page))  # a header, the page's rows and total, no more
    # the same filters: one month, by month
    narrowed = _sheet(
        browser_client.get("/testing/stats?by=month&since=2025-11-01&until=2025-11-30&format=xlsx")
    )
    assert narrowed[0][0] == "月份"
    assert [r[:2] for r in narrowed[1:]] == [["2025-11", "1"], ["合计", "1"]]
    logged = db.scalars(
        select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)
    ).all()
    assert len(logged) == 2
    assert "导出检测数据统计（按月份，1 行）" in logged[-1].detail
    assert "since=2025-11-01" in logged[-1].detail


def test_xlsx_refused_to_whom_the_page_is(browser_client, factory, region):
    login(browser_client, factory.user(Role.WITNESS).username)
    assert browser_client.get("/testing/stats?format=xlsx").status_code == 403
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    assert browser_client.get("/testing/stats?format=pdf", headers=HTML).status_code == 400
