"""A record's page gives each specimen's loading rate with the standard's range beside it and
marks a rate outside that range (issue 20, item 15)."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.testing.models import TestRecord
from tests.factories import login
from tests.testing.conftest import concrete_record
from tests.testing.test_rules import send


def _page(browser_client, db, number: str) -> str:
    record = db.scalars(select(TestRecord).where(TestRecord.number == number)).one()
    return browser_client.get(f"/testing/records/{record.id}").text


def _cell(page: str, position: int) -> str:
    return page.split(f'data-testid="rate-{position}">', 1)[1].split("</td>", 1)[0]


def test_rates_show_the_range_and_mark_those_outside(client, browser_client, db, factory, lab):
    send(client, lab, concrete_record(lab, number="RATE-OK", grade="C30", rate_mpa_s=0.6)[0])
    loud = concrete_record(lab, number="RATE-FAST", grade="C30", rate_mpa_s=1.2, seed=2)[0]
    send(client, lab, loud)
    factory.user(Role.PLATFORM_ADMIN, username="rates")
    login(browser_client, "rates")

    quiet = _page(browser_client, db, "RATE-OK")
    for position in (1, 2, 3):
        cell = _cell(quiet, position)
        assert "标准范围 0.5～0.8 MPa/s" in cell
        assert "MPa/s" in cell.split("<br>")[0]
        assert "out-of-range" not in cell

    fast = _page(browser_client, db, "RATE-FAST")
    cell = _cell(fast, 1)
    assert 'class="out-of-range"' in cell
    assert "超出范围" in cell
    assert "标准范围 0.5～0.8 MPa/s" in cell


def test_a_cement_records_page_speaks_in_words_and_plain_figures(
    client, browser_client, db, factory, lab
):
    """Raw values given as words read in Chinese (抗压, 抗折), and a rate of thousands of N/s
    is written out, never in scientific notation."""
    from tests.testing.test_rules import mortar_payload

    send(
        client, lab, mortar_payload(lab, "CEM-WORDS", compressive_n_s=3200, flexural_n_s=50, seed=9)
    )
    factory.user(Role.PLATFORM_ADMIN, username="words")
    login(browser_client, "words")
    page = _page(browser_client, db, "CEM-WORDS")
    assert "<td>抗压</td>" in page
    assert "<td>抗折</td>" in page
    assert "compressive" not in page.split("<main", 1)[1]
    assert "e+0" not in page
    assert any(f"{n} N/s" in page for n in range(3000, 3400))
