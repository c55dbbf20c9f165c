"""The overview: who sees which region, the drill-down, the public summary, and the periodic
reports (made by the job once, catching up missed periods; PDF figures from the database)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from sqlalchemy import delete, func, select

from jcjg.auth.choices import Role
from jcjg.core.workdays import beijing_midnight
from jcjg.ledger.models import LedgerLeaf
from jcjg.notify.models import Notification
from jcjg.overview import periods, service
from jcjg.overview.models import SupervisionReport
from jcjg.tenancy.models import Institution
from tests.factories import login, page_csrf

HTML = {"accept": "text/html"}
NOW = beijing_midnight(dt.date(2026, 11, 20))


def test_periods_parse_and_close():
    assert periods.parse("2026-10").end == dt.date(2026, 10, 31)
    assert periods.parse("2026Q3").start == dt.date(2026, 7, 1)
    assert periods.parse("2026").months[-1] == "2026-12"
    assert periods.parse("2026-13") is None
    assert periods.parse("x") is None
    closed = periods.closed(periods.PeriodKind.MONTH, dt.date(2026, 1, 5), 3)
    assert [p.key for p in closed] == ["2025-10", "2025-11", "2025-12"]


def test_city_authority_sees_its_region_and_drills_down(browser_client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    factory.institution(region_code="360403", name="浔阳概况检测")
    factory.institution(region_code="360102", name="南昌概况检测")
    db.commit()
    login(browser_client, city.username)
    page = browser_client.get("/overview?period=2026")
    assert page.status_code == 200
    assert "浔阳区" in page.text
    assert "东湖区" not in page.text
    county = browser_client.get("/overview?region=360403&period=2026")
    assert county.status_code == 200
    assert "浔阳概况检测" in county.text
    assert "南昌概况检测" not in county.text
    assert browser_client.get("/overview?region=360100").status_code == 404  # another city
    assert browser_client.get("/overview?region=999999").status_code == 404
    sheet = browser_client.get("/overview?region=360403&period=2026&format=xlsx")
    assert sheet.status_code == 200
    assert sheet.content[:2] == b"PK"
    assert browser_client.get("/overview?period=20x6").status_code == 422


def test_institution_accounts_have_no_overview(browser_client, db, factory):
    staff = factory.user(Role.INSTITUTION_STAFF)
    db.commit()
    login(browser_client, staff.username)
    assert browser_client.get("/overview").status_code == 403


def test_public_summary_shows_no_names(browser_client, db, factory):
    inst = factory.institution(region_code="360403", name="公开概况检测有限公司")
    factory.alert(inst)
    db.commit()
    page = browser_client.get("/public/overview?region=360400&period=2026", headers=HTML)
    assert page.status_code == 200
    assert "检测机构" in page.text
    assert "公开概况检测有限公司" not in page.text  # no institution, no person
    assert browser_client.get("/public/overview?region=360403").status_code == 404  # county


def test_job_makes_each_report_once_and_catches_up(db, factory, settings):
    factory.user(Role.CITY_AUTHORITY, region_code="360400")
    factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    made = service.catch_up(db, settings, NOW)
    db.commit()
    keys = {(m.report.region_code, m.report.period) for m in made}
    assert ("360400", "2026-10") in keys
    assert ("360000", "2026Q3") in keys
    assert len(made) == 2 * (3 + 2)
    assert service.catch_up(db, settings, NOW) == []  # idempotent
    db.execute(delete(SupervisionReport).where(SupervisionReport.period == "2026-09"))
    db.commit()
    again = service.catch_up(db, settings, NOW)
    assert sorted(m.report.period for m in again) == ["2026-09", "2026-09"]  # the missed ones
    row = db.scalar(
        select(SupervisionReport).where(
            SupervisionReport.region_code == "360400", SupervisionReport.period == "2026-10"
        )
    )
    assert row is not None
    assert row.ledger_index is not None
    leaf = db.get(LedgerLeaf, row.ledger_index)
    assert leaf is not None
    assert row.pdf_sha256.encode() in leaf.entry
    told = db.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.link == f"/overview/reports/{row.id}/pdf")
    )
    assert told == 2  # the city's authority and the province's


def test_report_pdf_states_the_databases_figures(db, factory, settings, tmp_path: Path):
    factory.user(Role.CITY_AUTHORITY, region_code="360400")
    for n in range(3):
        inst = factory.institution(region_code="360403", name=f"报告检测{n}")
    factory.institution(region_code="360102")
    factory.alert(inst, first_seen_at=beijing_midnight(dt.date(2026, 10, 9)))
    db.commit()
    made = service.make_report(db, settings, region_code="360400",
                               period=periods.month(2026, 10), now=NOW)  # fmt: skip
    db.commit()
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(service.pdf_of(settings, made.report))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    institutions = db.scalar(select(func.count()).select_from(Institution)
                             .where(Institution.region_code.like("3604%")))  # fmt: skip
    assert made.report.figures["institutions"]["total"] == institutions == 3
    assert f"{institutions} 家" in text
    assert "本期产生 1 条" in text  # the October alert
    assert "江西省九江市" in text
    assert "2026年10月" in text


def test_authority_lists_downloads_and_makes_reports(browser_client, db, factory, settings):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    other = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    db.commit()
    service.make_report(db, settings, region_code="360100", period=periods.month(2026, 10),
                        now=NOW)  # fmt: skip
    db.commit()
    login(browser_client, city.username)
    token = page_csrf(browser_client, "/overview/reports")
    made = browser_client.post("/overview/reports", data={"csrf_token": token, "region": "360400",
                                                          "period": "2026-09"})  # fmt: skip
    assert made.status_code == 303
    listed = browser_client.get("/overview/reports")
    assert "2026年9月" in listed.text
    assert "2026年10月" not in listed.text
    mine = db.scalar(select(SupervisionReport).where(SupervisionReport.region_code == "360400"))
    theirs = db.scalar(select(SupervisionReport).where(SupervisionReport.region_code == "360100"))
    assert mine is not None
    assert theirs is not None
    got = browser_client.get(f"/overview/reports/{mine.id}/pdf")
    assert got.status_code == 200
    assert got.content.startswith(b"%PDF")
    assert browser_client.get(f"/overview/reports/{theirs.id}/pdf").status_code == 404
    bad = browser_client.post("/overview/reports", data={"csrf_token": token, "region": "360100",
                                                         "period": "2026-09"})  # fmt: skip
    assert bad.status_code == 404  # another region
    assert other.id
