# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""The overview's sections on supervision work, penalties and credit: figures of the region and
period only, on the page by permission and in the report's PDF."""

from __future__ import annotations

import datetime as dt
import subprocess
from decimal import Decimal
from pathlib import Path

from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.credit import service as credit
from jcjg.overview import business, periods, service
from jcjg.supervision.models import SupervisionLog
from tests.factories import login
from tests.overview.test_overview import NOW
from tests.penalties.helpers import make_penalty

OCTOBER = periods.month(2026, 10)


def _region(db, factory, settings):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    xunyang = factory.institution(region_code="360403", name="浔阳处罚检测")
    lianxi = factory.institution(region_code="360402", name="濂溪处罚检测")
    nanchang = factory.institution(region_code="360102", name="南昌处罚检测")
    day = dt.date(2026, 10, 15)
    for inst, amount in ((xunyang, "20000.00"), (lianxi, "5000.50"), (nanchang, "90000.00")):
        make_penalty(factory, inst, decided_on=day, amount=Decimal(amount))
    make_penalty(factory, xunyang, decided_on=dt.date(2026, 9, 30))  # not in October
    for kind, inst in (("visit", xunyang), ("interview", lianxi), ("visit", nanchang)):
        db.add(SupervisionLog(region_code=inst.region_code, kind=kind, entry_date=day,
                              institution_id=inst.id, summary="走访"))  # fmt: skip
    for inst in (xunyang, lianxi, nanchang):
        credit.compute_institution(db, inst, "2026Q4", reason="测试", today=dt.date(2026, 11, 20))
    db.commit()
    credit.publish(db=db, principal=principal_for(db=db, user=city, settings=settings),
                   period="2026Q4")  # fmt: skip
    db.commit()
    return city


def test_sections_count_the_region_and_period_only(db, factory, settings):
    _region(db, factory, settings)
    fines = business.penalties_section(db, "360400", OCTOBER)
    assert dict(fines.figures) == {"作出的处罚决定": "2", "罚款合计": "25,000.50 元"}
    assert fines.table is not None
    assert sorted(fines.table.rows) == [
        ("浔阳区", "1", "20,000.00 元"),
        ("濂溪区", "1", "5,000.50 元"),
    ]
    assert dict(business.penalties_section(db, "360000", OCTOBER).figures)["作出的处罚决定"] == "3"
    work = business.supervision_section(db, "360400", OCTOBER)
    assert dict(work.figures)["完成的双随机抽查"] == "0"
    assert "现场检查 1 次" in work.note and "约谈 1 次" in work.note
    # a month's quarter (2026Q4) is published: every grade counted, the city's two only
    grades = business.credit_section(db, "360400", periods.month(2026, 11), dt.date(2026, 11, 20))
    assert dict(grades.figures)["公布等级的机构"] == "2"
    # October is in the same quarter; September's quarter has nothing published
    assert business.credit_quarter(db, "360400", OCTOBER, dt.date(2026, 11, 20)) == "2026Q4"
    september = periods.month(2026, 9)
    assert business.credit_quarter(db, "360400", september, dt.date(2026, 11, 20)) is None
    empty = business.credit_section(db, "360400", september, dt.date(2026, 11, 20))
    assert dict(empty.figures)["公布等级的机构"] == "0" and "尚未公布" in empty.note
    assert (
        business.credit_quarter(db, "360400", periods.year(2026), dt.date(2026, 11, 20)) == "2026Q4"
    )


def test_the_page_and_the_report_show_them(browser_client, db, factory, settings, tmp_path: Path):
    city = _region(db, factory, settings)
    login(browser_client, city.username)
    page = browser_client.get("/overview?period=2026-10")
    assert page.status_code == 200
    assert "行政处罚" in page.text and "25,000.50 元" in page.text
    assert "监督执法" in page.text and "信用评价" in page.text
    made = service.make_report(db, settings, region_code="360400", period=OCTOBER, now=NOW)
    db.commit()
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(service.pdf_of(settings, made.report))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert "行政处罚" in text and "25,000.50" in text
    assert "监督执法" in text and "公布等级的机构" in text
