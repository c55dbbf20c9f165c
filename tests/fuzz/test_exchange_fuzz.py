"""The signed exchange API, fuzzed over every message type (tests/fuzz/exchange_fuzzer.py): never a
5xx, refusals as problem+json, nothing outside a type's schema applied. ``JCJG_FUZZ_EXAMPLES``
sets the messages per type (three times as many: most are refused early)."""

from __future__ import annotations

from jcjg.exchange.types import message_types
from tests.fuzz import exchange_fuzzer as exchange
from tests.fuzz.harness import EXAMPLES, Tally, World, assert_clean


def test_every_message_type_signed(fuzz_world: World) -> None:
    tally = Tally()
    exchange.fuzz_exchange(fuzz_world, tally, EXAMPLES * 3)
    assert tally.requests >= len(message_types()) * EXAMPLES * 3
    assert_clean(tally)
