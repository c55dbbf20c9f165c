"""A lab with a LIMS on the exchange (the child platform's own labs in the forwarder's tests)."""

from __future__ import annotations

import httpx
import pytest

from jcjg.networking import forward
from tests.exchange.conftest import Lims, make_lims


@pytest.fixture(autouse=True)
def children_unreachable(monkeypatch):
    """No child platform answers the forwarder (a relay's proof) unless a test serves one."""
    monkeypatch.setattr(
        forward, "child_transport", httpx.MockTransport(lambda _: httpx.Response(503))
    )


@pytest.fixture
def lims(db, settings, factory) -> Lims:
    return make_lims(db, settings, factory)
