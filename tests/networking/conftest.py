"""A lab with a LIMS on the exchange (the child platform's own labs in the forwarder's tests)."""

from __future__ import annotations

import pytest

from tests.exchange.conftest import Lims, make_lims


@pytest.fixture
def lims(db, settings, factory) -> Lims:
    return make_lims(db, settings, factory)
