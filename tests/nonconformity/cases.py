"""The nonconformity domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.nonconformity.models import Nonconformity
from tests.factories import Factory
from tests.generic import Routes, ScopeCase, with_station_elsewhere


def _nonconformity_obj(f: Factory) -> tuple[int, dict]:
    from jcjg.testing.models import TestRecord

    inst = f.institution(region_code="360403")
    now = utcnow()
    record = TestRecord(institution_id=inst.id, region_code=inst.region_code, number="JL-G-1",
                        kind="concrete_compression", item_code="0108", started_at=now,
                        ended_at=now, acquisition="manual")  # fmt: skip
    f.db.add(record)
    f.db.flush()
    row = Nonconformity(institution_id=inst.id, region_code=inst.region_code,
                        test_record_id=record.id, found_by="lab", material="混凝土",
                        item_code="0108", deadline=now.date())  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row.id, {"inst": inst}


SCOPED: dict[type, ScopeCase] = {
    Nonconformity: ScopeCase(
        _nonconformity_obj,
        "/nonconformities/{id}",
        with_station_elsewhere,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
        session=True,
    ),
}


ROUTES: Routes = {
    ("GET", "/nonconformities"): "test_record:read",
    ("GET", "/nonconformities/{item_id}"): "test_record:read",
    ("POST", "/nonconformities/{item_id}"): "test_record:read",  # and case:handle/answer
}
