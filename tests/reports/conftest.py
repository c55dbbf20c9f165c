"""A lab with a LIMS on the exchange, and the rules loaded."""

from __future__ import annotations

import pytest

from jcjg.alerts.engine import load_rules
from tests.exchange.conftest import Lims, make_lims


@pytest.fixture(autouse=True)
def _rules() -> None:
    load_rules()


@pytest.fixture
def lab(db, settings, factory) -> Lims:
    return make_lims(db, settings, factory)
