"""A lab with a LIMS on the exchange, and the rules loaded."""

from __future__ import annotations

import pytest

from tests.exchange.conftest import Lims, make_lims


@pytest.fixture
def lab(db, settings, factory) -> Lims:
    return make_lims(db, settings, factory)


@pytest.fixture
def issued(client, db, lab) -> dict:
    """Report BG-2026-0001 over test record JL-R-1: the receipt's results (code, token, QR)."""
    from tests.reports.test_reports import report_message
    from tests.testing.conftest import concrete_record

    record, _ = concrete_record(lab, number="JL-R-1")
    assert lab.post(client, "test_record", record).status_code == 200
    response = lab.post(client, "report", report_message(lab))
    assert response.status_code == 200, response.text
    return response.json()["results"]
