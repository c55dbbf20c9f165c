"""Statistics of test records (000 4.3.4 items 4-5): counts by institution, project, item and
month, checked against SQL written here independently; each count's link lists those records;
the nonconformity mark; the reader's scope; the tally the page adds up (refreshed by its job)
and the live count of a page narrowed to days."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter

import pytest
from sqlalchemy import delete, func, literal, select, text

from jcjg.auth.choices import Role
from jcjg.core.db import UTCDateTime, beijing_day, beijing_month, beijing_quarter
from jcjg.core.memo import TimedMemo
from jcjg.tenancy.models import Institution
from jcjg.testing.jobs import tally
from jcjg.testing.models import RecordTally, TestRecord
from jcjg.testing.service import nonconforming_by
from tests.factories import login
from tests.testing.conftest import concrete_record

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

HTML = {"accept": "text/html"}


def _table(html: str) -> dict[str, list[int]]:
    """The statistics table: row key -> its numbers (records, auto, manual, late, flagged,
    nonconforming)."""
    rows = {}
    for key, body in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', html, re.S):
        rows[key] = [int(n) for n in re.findall(r'class="num[^"]*">(?:<a [^>]*>)?(\d+)', body)]
    return rows


def _listed(client, html: str, key: str, marker: str = "") -> int:
    """Follow a row's link (the records' one, or the one whose query has ``marker``) and count
    the records the list shows."""
    row = re.search(rf'<tr data-key="{re.escape(key)}">(.*?)</tr>', html, re.S).group(1)
    links = [h.replace("&amp;", "&") for h in re.findall(r'<a href="([^"]+)"', row)]
    href = next(h for h in links if marker in h) if marker else links[0]
    page = client.get(href, headers=HTML)
    assert page.status_code == 200
    return len(re.findall(r'<a href="/testing/records/\d+"><code>', page.text))


def _sql_counts(db, group: str) -> dict[str, list[int]]:
    """The same figures in plain SQL (no ORM, no code shared with the page)."""
    rows = db.execute(
        text(
            f"SELECT {group} AS k, COUNT(*),"
            " SUM(CASE WHEN acquisition = 'auto' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN acquisition = 'manual' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN EXISTS (SELECT 1 FROM alert a WHERE a.subject_type = 'test_record'"
            "   AND a.subject_id = CAST(r.id AS VARCHAR(20)) AND a.rule_id = 'late_upload')"
            "   THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN EXISTS (SELECT 1 FROM alert a WHERE a.subject_type = 'test_record'"
            "   AND a.subject_id = CAST(r.id AS VARCHAR(20)) AND a.status = 'open')"
            "   THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN lab_judgement = 'nonconforming' OR platform_judgement ="
            "   'nonconforming' THEN 1 ELSE 0 END)"
            f" FROM test_record r GROUP BY {group}"
        )
    ).all()
    return {"" if k is None else str(k): [int(v) for v in values] for k, *values in rows}


def test_counts_by_institution_match_sql_and_link_to_the_records(
    browser_client, db, region, authority
):
    lab, other, _ = region
    login(browser_client, authority.username)
    page = browser_client.get("/testing/stats", headers=HTML)
    assert page.status_code == 200
    table = _table(page.text)
    expected = _sql_counts(db, "institution_id")
    assert {k: v for k, v in table.items() if k != "total"} == expected
    records, auto, manual, late, _flagged, bad = table[str(lab.institution.id)]
    assert (records, auto, manual, late, bad) == (4, 4, 0, 1, 1)
    assert table[str(other.institution.id)][0] == 2
    assert table["total"][0] == 6
    # each number links to the records behind it
    html = page.text
    key = str(lab.institution.id)
    assert _listed(browser_client, html, key) == 4
    narrowed = browser_client.get(f"/testing/records?institution={key}", headers=HTML).text
    assert f"检测机构：{lab.institution.name}" in narrowed  # the filter is shown, to undo
    assert _listed(browser_client, html, key, "rule=late_upload") == 1
    assert _listed(browser_client, html, key, "flagged=true") == table[key][4]
    assert _listed(browser_client, html, key, "nonconforming=true") == 1


@pytest.mark.parametrize(
    ("by", "group"),
    [("project", "project_id"), ("item", "item_code")],
)
def test_counts_by_project_and_item_match_sql(browser_client, db, region, authority, by, group):
    login(browser_client, authority.username)
    page = browser_client.get(f"/testing/stats?by={by}", headers=HTML)
    assert page.status_code == 200
    table = _table(page.text)
    assert {k: v for k, v in table.items() if k != "total"} == _sql_counts(db, group)


def test_counts_by_beijing_month(browser_client, db, region, authority):
    login(browser_client, authority.username)
    html = browser_client.get("/testing/stats?by=month", headers=HTML).text
    table = _table(html)
    assert table["2025-11"][0] == 1  # ended 31 October UTC, 1 November in Beijing
    assert "2025-10" not in table
    assert _listed(browser_client, html, "2025-11") == 1
    # the other five ended minutes or hours ago: their Beijing months (two months when the
    # suite runs in the first hours of a Beijing month), worked out here from the records
    beijing = dt.timezone(dt.timedelta(hours=8))
    months = Counter(
        r.ended_at.astimezone(beijing).strftime("%Y-%m") for r in db.scalars(select(TestRecord))
    )
    assert sum(months.values()) == 6
    assert {k: v[0] for k, v in table.items() if k != "total"} == dict(months)
    narrowed = _table(
        browser_client.get("/testing/stats?by=month&since=2025-11-02", headers=HTML).text
    )
    assert "2025-11" not in narrowed


def test_beijing_month_in_sql(db):
    def month(moment: dt.datetime) -> str:
        return db.scalar(select(beijing_month(literal(moment, UTCDateTime()))))

    assert month(dt.datetime(2025, 10, 31, 15, 59, tzinfo=dt.UTC)) == "2025-10"
    assert month(dt.datetime(2025, 10, 31, 16, 0, tzinfo=dt.UTC)) == "2025-11"
    assert month(dt.datetime(2025, 12, 31, 20, 0, tzinfo=dt.UTC)) == "2026-01"
    # the last microsecond of a Beijing month, day and quarter stays in it (SQLite's date
    # functions round to the millisecond)
    last = dt.datetime(2025, 12, 31, 15, 59, 59, 999_999, tzinfo=dt.UTC)
    at = literal(last, UTCDateTime())
    assert month(last) == "2025-12"
    assert db.scalar(select(beijing_day(at))) == "2025-12-31"
    assert db.scalar(select(beijing_quarter(at))) == "2025-Q4"
    assert month(last + dt.timedelta(microseconds=1)) == "2026-01"


def test_a_lab_counts_only_its_own_and_bad_parameters_are_refused(
    browser_client, db, factory, region
):
    _lab, other, _ = region
    staff = factory.user(Role.INSTITUTION_STAFF, institution=other.institution)
    login(browser_client, staff.username)
    table = _table(browser_client.get("/testing/stats", headers=HTML).text)
    assert set(table) == {str(other.institution.id), "total"}
    for bad in ("by=lab", "since=yesterday", "institution=0", "institution=x", "kind=" + "x" * 30,
                "until=9999-12-31", "since=0001-01-01"):  # fmt: skip
        assert browser_client.get(f"/testing/stats?{bad}", headers=HTML).status_code == 400, bad
    far = browser_client.get("/testing/records?until=9999-12-31", headers=HTML)
    assert far.status_code == 400
    assert "应为 1900 至 2100 年间 YYYY-MM-DD 格式的日期" in far.text
    early = browser_client.get("/testing/records?until=1950-01-01", headers=HTML)
    assert early.status_code == 400
    assert "应在 2000 至 2100 年之间" in early.text
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert browser_client.get("/testing/stats", headers=HTML).status_code == 403


def test_nonconforming_records_are_marked_and_listed(browser_client, db, region, authority):
    rows = {r.number: r.nonconforming_by for r in db.scalars(select(TestRecord))}
    assert rows["ST-BAD"] == "lab"
    assert rows["ST-OK"] == ""
    login(browser_client, authority.username)
    listing = browser_client.get("/testing/records?nonconforming=true", headers=HTML).text
    assert "ST-BAD" in listing
    assert "ST-OK" not in listing
    record = db.scalars(select(TestRecord).where(TestRecord.number == "ST-BAD")).one()
    page = browser_client.get(f"/testing/records/{record.id}", headers=HTML).text
    assert 'data-testid="nonconforming"' in page
    assert "检测机构判定不合格" in page


@pytest.mark.parametrize(
    ("lab", "platform", "mark"),
    [
        ("nonconforming", "nonconforming", "both"),
        ("nonconforming", "conforming", "lab"),
        ("conforming", "nonconforming", "platform"),
        ("none", "nonconforming", "platform"),
        ("conforming", "conforming", ""),
        ("void", "void", ""),
        ("none", "none", ""),
    ],
)
def test_who_marked_a_result_nonconforming(lab, platform, mark):
    assert nonconforming_by(lab, platform) == mark


def test_the_page_adds_up_the_tally_until_its_job_counts_again(
    browser_client, client, db, region, authority
):
    lab, _other, _ = region
    login(browser_client, authority.username)
    before = browser_client.get("/testing/stats", headers=HTML).text
    assert 'data-testid="counted-at"' in before
    key = str(lab.institution.id)
    assert _table(before)[key] == _sql_counts(db, "institution_id")[key]
    response = lab.post(client, "test_record", concrete_record(lab, number="ST-NEW", seed=9)[0])
    assert response.status_code == 200, response.text
    db.expire_all()
    stale = _table(browser_client.get("/testing/stats", headers=HTML).text)
    assert stale[key][0] == _sql_counts(db, "institution_id")[key][0] - 1  # not yet counted
    # narrowed to days, the page counts the records themselves: the new one is there (from the
    # Beijing day of the first record on, so that just after Beijing midnight it still holds)
    first = db.scalar(select(func.min(TestRecord.ended_at)))
    assert first is not None
    beijing = dt.timezone(dt.timedelta(hours=8))
    since = first.replace(tzinfo=first.tzinfo or dt.UTC).astimezone(beijing).date().isoformat()
    live = browser_client.get(f"/testing/stats?since={since}", headers=HTML).text
    assert 'data-testid="counted-at"' not in live
    assert _table(live)[key][0] == stale[key][0] + 1
    tally(db, logging.getLogger("test"))
    fresh = _table(browser_client.get("/testing/stats", headers=HTML).text)
    assert {k: v for k, v in fresh.items() if k != "total"} == _sql_counts(db, "institution_id")
    months = set(db.scalars(select(RecordTally.month)))
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert months == {r.ended_at.astimezone(beijing).strftime("%Y-%m")
                      for r in db.scalars(select(TestRecord))}  # fmt: skip


def test_before_the_first_tally_the_page_counts_the_records(browser_client, db, region, authority):
    db.execute(delete(RecordTally))
    db.commit()
    login(browser_client, authority.username)
    page = browser_client.get("/testing/stats", headers=HTML).text
    assert 'data-testid="counted-at"' not in page
    table = _table(page)
    assert {k: v for k, v in table.items() if k != "total"} == _sql_counts(db, "institution_id")


def test_the_sums_of_a_tally_are_kept_per_scope_until_it_is_rebuilt(
    browser_client, client, db, factory, region, authority, monkeypatch
):
    """With the page's figures kept (``JCJG_PAGE_FIGURES_SECONDS``, 0 in the tests), what the
    page without filters added up from a tally is kept per scope and grouping until the tally
    is rebuilt: a name changed meanwhile shows once it is; a filtered page is added up each
    time; each scope keeps its own sums."""
    monkeypatch.setattr(browser_client.app.state, "figures", TimedMemo(3600))
    lab, other, _ = region
    key = str(lab.institution.id)
    login(browser_client, authority.username)
    first = browser_client.get("/testing/stats", headers=HTML).text
    assert lab.institution.name in first
    counted = _table(first)
    db.get(Institution, lab.institution.id).name = "改名后的检测机构"
    db.commit()
    kept = browser_client.get("/testing/stats", headers=HTML).text
    assert _table(kept) == counted
    assert "改名后的检测机构" not in kept  # the kept sums and names
    narrowed = browser_client.get(f"/testing/stats?institution={key}", headers=HTML).text
    assert set(_table(narrowed)) == {key, "total"}
    assert "改名后的检测机构" in narrowed  # filtered: added up again
    # another scope: its own sums, not the city authority's
    browser_client.cookies.clear()
    staff = factory.user(Role.INSTITUTION_STAFF, institution=other.institution)
    login(browser_client, staff.username)
    assert set(_table(browser_client.get("/testing/stats", headers=HTML).text)) == {
        str(other.institution.id), "total"}  # fmt: skip
    # a new record, and the tally rebuilt: added up again at once, with the new name
    response = lab.post(client, "test_record", concrete_record(lab, number="ST-KEPT", seed=11)[0])
    assert response.status_code == 200, response.text
    db.expire_all()
    tally(db, logging.getLogger("test"))
    db.commit()
    browser_client.cookies.clear()
    login(browser_client, authority.username)
    fresh = browser_client.get("/testing/stats", headers=HTML).text
    assert _table(fresh)[key][0] == counted[key][0] + 1
    assert "改名后的检测机构" in fresh
