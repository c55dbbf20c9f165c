"""The JSON API, fuzzed from its OpenAPI document (tests/fuzz/api_fuzzer.py) as an administrator of
the region and as a lab staff member: stateless and stateful; no server error, no answer
outside the document. ``JCJG_FUZZ_EXAMPLES`` sets the examples per operation and role."""

from __future__ import annotations

from tests.fuzz import api_fuzzer as api
from tests.fuzz.harness import EXAMPLES, LAB_STAFF, REGION_ADMIN, Tally, World, assert_clean

ROLES = (REGION_ADMIN, LAB_STAFF)


def test_every_operation_as_both_roles(fuzz_world: World) -> None:
    tally = Tally()
    schema = api.load_schema(fuzz_world)
    api.fuzz_stateless(fuzz_world, tally, schema, ROLES, EXAMPLES)
    api.probe_methods(fuzz_world, tally, schema, fuzz_world.tokens[REGION_ADMIN])
    assert tally.requests >= len(api.operations(schema)) * len(ROLES)
    assert_clean(tally)


def test_stateful_links_as_both_roles(fuzz_world: World) -> None:
    tally = Tally()
    schema = api.load_schema(fuzz_world)
    for role in ROLES:
        api.fuzz_stateful(fuzz_world, tally, schema, role, scenarios=EXAMPLES, steps=10)
    assert tally.requests > 0
    assert_clean(tally)
