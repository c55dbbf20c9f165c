"""Fixtures of the client tests: one live platform for the session, a new lab per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.live import Lab, LiveExchange, running_exchange


@pytest.fixture(scope="session")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveExchange]:
    with running_exchange(tmp_path_factory.mktemp("exchange")) as live:
        yield live


@pytest.fixture
def lab(exchange: LiveExchange) -> Lab:
    return exchange.lab("ed25519")


@pytest.fixture
def hmac_lab(exchange: LiveExchange) -> Lab:
    return exchange.lab("hmac-sha256")
