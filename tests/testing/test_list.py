"""The test record list as a list (core.listing): its export with the list's filters, scope,
sort and audit."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.testing.lists import RECORDS
from tests.factories import login
from tests.lists import column, sheet, unshown_reads
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}


def test_the_record_list_exports_its_filtered_rows(client, browser_client, db, factory, lab):
    for n in (1, 2, 3):
        payload, _ = concrete_record(lab, number=f"PG-XL-{n}", seed=n)
        assert lab.post(client, "test_record", payload).status_code == 200
    payload, _ = concrete_record(lab, number="PG-OTHER-1")
    assert lab.post(client, "test_record", payload).status_code == 200
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)

    page = browser_client.get("/testing/records?q=PG-XL-&limit=2", headers=HTML)
    assert "共 3 条" in page.text
    link = page.text.split('data-testid="export-xlsx"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert link == "/testing/records?q=PG-XL-&amp;format=xlsx"  # the filters, not the paging
    rows = sheet(browser_client.get("/testing/records?q=PG-XL-&format=xlsx"))
    assert rows[0] == RECORDS.header()
    assert sorted(column(rows, "原始记录编号")) == ["PG-XL-1", "PG-XL-2", "PG-XL-3"]
    assert set(column(rows, "检测机构")) == {lab.institution.name}
    assert set(column(rows, "试验类别")) == {"混凝土立方体抗压强度"}  # labels, not values
    everything = sheet(browser_client.get("/testing/records?format=xlsx"))
    assert len(everything) == 5  # the header and all four

    ascending = sheet(browser_client.get("/testing/records?sort=number&order=asc&format=xlsx"))
    assert column(ascending, "原始记录编号") == sorted(column(ascending, "原始记录编号"))
    page = browser_client.get("/testing/records?sort=number&order=asc&limit=1", headers=HTML)
    assert "PG-OTHER-1" in page.text.split('data-testid="records-table"')[1].split("</table>")[0]
    assert browser_client.get("/testing/records?sort=inspectors", headers=HTML).status_code == 400
    assert browser_client.get("/testing/records?format=doc", headers=HTML).status_code == 400

    logged = db.scalars(
        select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)
    ).all()
    assert [row.object_type for row in logged] == ["test_record"] * 3
    assert logged[0].detail.startswith("导出检测数据（3 条）")

    other = factory.user(Role.INSTITUTION_STAFF)  # another lab's staff: none of these
    browser_client.cookies.clear()
    login(browser_client, other.username)
    assert len(sheet(browser_client.get("/testing/records?format=xlsx"))) == 1


def test_a_city_picks_an_institution_and_reads_whole_dates(client, browser_client, factory, lab):
    """Issue 48: the list offers the scope's institutions and projects to pick, and its dates
    carry the year; a lab's own staff has nothing to pick (one institution)."""
    import re

    payload, _ = concrete_record(lab, number="PICK-1")
    assert lab.post(client, "test_record", payload).status_code == 200
    other = factory.institution(region_code=lab.institution.region_code, name="另一家检测站")
    factory.institution(region_code="360102", name="南昌的检测站")  # outside the city
    factory.db.commit()
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    page = browser_client.get("/testing/records", headers=HTML).text
    picker = re.search(r'<select id="f-institution" name="institution">(.*?)</select>', page, re.S)
    assert picker is not None
    offered = re.findall(r"<option value=\"(\d+)\"[^>]*>([^<]+)<", picker.group(1))
    assert {n for _, n in offered} >= {lab.institution.name, "另一家检测站"}
    assert "南昌的检测站" not in picker.group(1)
    assert re.search(r'data-label="试验结束 · 采集">20\d\d-\d\d-\d\d \d\d:\d\d', page)
    picked = browser_client.get(f"/testing/records?institution={other.id}", headers=HTML).text
    assert f'<option value="{other.id}" selected>' in picked
    assert "PICK-1" not in picked.split('data-testid="records-table"')[1]
    browser_client.cookies.clear()
    login(
        browser_client, factory.user(Role.INSTITUTION_STAFF, institution=lab.institution).username
    )
    assert 'id="f-institution"' not in browser_client.get("/testing/records", headers=HTML).text


def test_the_record_list_reads_only_the_columns_it_shows(
    client, browser_client, factory, lab, monkeypatch
):
    """Issue 44: a page of records reads the columns its rows show, not the results, the
    environment or the people of each record (ListView.shown); one the list forgot to name is
    read row by row, which the helper finds."""
    import dataclasses

    from jcjg.testing import pages

    for n in (1, 2, 3):
        payload, _ = concrete_record(lab, number=f"SHOWN-{n}", seed=n)
        assert lab.post(client, "test_record", payload).status_code == 200
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    page = browser_client.get("/testing/records", headers=HTML).text
    assert all(f"SHOWN-{n}" in page for n in (1, 2, 3))
    assert unshown_reads(browser_client, factory.db, "/testing/records", RECORDS) == set()

    forgetful = dataclasses.replace(
        RECORDS, shown=tuple(a for a in RECORDS.shown if a.key != "grade")
    )
    monkeypatch.setattr(pages, "RECORDS", forgetful)
    read = unshown_reads(browser_client, factory.db, "/testing/records", forgetful)
    assert read == {"test_record.grade"}
