"""The testing domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.testing.models import (
    Curve,
    OnSitePlan,
    OnSiteRecord,
    RecordTally,
    Revision,
    Specimen,
    TestRecord,
)
from tests.factories import Factory
from tests.generic import AU, IA, IS_, PU, A, C, P, Routes, S, ScopeCase


def _testing_case(model: type) -> ScopeCase:
    """A test record of a 九江 lab on a project: another lab's staff, a station of 南昌 and a
    party unit of another project do not find it; the lab's staff and the project's party
    unit do."""

    def make(f: Factory) -> tuple[int, dict]:
        import random

        from jcjg.demo import synthetic
        from jcjg.testing import service as testing_service
        from jcjg.testing.models import (
            Curve,
            OnSitePlan,
            OnSiteRecord,
            Revision,
            Specimen,
            TestRecord,
        )
        from jcjg.testing.schemas import OnSitePlanIn, OnSiteRecordIn, RecordIn, RevisionIn
        from tests.testing.conftest import points

        lab = f.institution(region_code="360403")
        project = f.project()
        curve = synthetic.concrete(random.Random(1), peak_kn=800, rate_kn_s=13)
        now = dt.datetime.now(dt.UTC)
        common = {
            "message_id": "5d0c8d0e-2f6b-4b8a-9a31-7c4e0f9b2a11",
            "institution_code": lab.code,
        }
        record = testing_service.store_record(
            db=f.db,
            settings=f.settings,
            institution=lab,
            data=RecordIn.model_validate(
                {
                    **common,
                    "number": "JL-SCOPE",
                    "kind": "concrete_compression",
                    "item_code": "0108",
                    "project_code": project.code,
                    "started_at": (now - dt.timedelta(minutes=10)).isoformat(),
                    "ended_at": (now - dt.timedelta(minutes=5)).isoformat(),
                    "acquisition": "auto",
                    "grade": "C30",
                    "specimen_size_mm": 150,
                    "specimens": [
                        {
                            "position": 1,
                            "values": {"peak_kn": 800},
                            "curve": {"points": points(curve)},
                        }
                    ],
                }
            ),
            received_at=now,
        )
        revision = testing_service.store_revision(
            db=f.db,
            institution=lab,
            data=RevisionIn.model_validate(
                {
                    **common,
                    "record_number": "JL-SCOPE",
                    "field": "specimens[1].peak_kn",
                    "before": 800,
                    "after": 790,
                    "reason": "复核更正",
                    "revised_by": "王检测",
                    "revised_at": now.isoformat(),
                }
            ),
            received_at=now,
        )
        start = (now + dt.timedelta(days=10)).isoformat()
        plan = testing_service.store_plan(
            db=f.db,
            institution=lab,
            data=OnSitePlanIn.model_validate(
                {
                    **common,
                    "number": "FA-SCOPE",
                    "project_code": project.code,
                    "item_code": "0203",
                    "method_statement": "回弹法",
                    "planned_start": start,
                    "planned_end": start,
                }
            ),
            received_at=now,
        )
        onsite = testing_service.store_onsite_record(
            db=f.db,
            institution=lab,
            data=OnSiteRecordIn.model_validate(
                {
                    **common,
                    "number": "JL-SCOPE",
                    "plan_number": "FA-SCOPE",
                    "project_code": project.code,
                    "item_code": "0203",
                    "started_at": now.isoformat(),
                    "ended_at": now.isoformat(),
                }
            ),
            received_at=now,
        )
        from jcjg.testing.stats import refresh_tally

        refresh_tally(f.db)
        objects = {
            RecordTally: f.db.scalars(
                select(RecordTally).where(RecordTally.institution_id == lab.id)
            ).one(),
            OnSitePlan: plan,
            OnSiteRecord: onsite,
            TestRecord: record,
            Specimen: f.db.scalars(
                select(Specimen).where(Specimen.test_record_id == record.id)
            ).one(),
            Curve: f.db.scalars(select(Curve).where(Curve.test_record_id == record.id)).one(),
            Revision: revision,
        }
        party = f.user(Role.PARTY_UNIT, project_ids=(project.id,), commit=False)
        staff = f.user(Role.INSTITUTION_STAFF, institution=lab, commit=False)
        f.db.commit()
        return objects[model].id, {"staff": staff, "party": party}

    return ScopeCase(
        make,
        None,
        lambda f, i: [
            f.user(Role.INSTITUTION_STAFF),  # another lab
            f.user(Role.STATION, region_code="360100"),
            f.user(Role.PARTY_UNIT),  # another project
        ],
        lambda f, i: i["staff"],
    )


SCOPED: dict[type, ScopeCase] = {
    model: _testing_case(model)
    for model in (TestRecord, Specimen, Curve, Revision, OnSitePlan, OnSiteRecord, RecordTally)
}


ROUTES: Routes = {
    ("GET", "/testing/records"): "test_record:read",
    ("GET", "/testing/records/{record_id}"): "test_record:read",
    ("GET", "/testing/curves/{curve_id}.json"): "test_record:read",
    ("GET", "/testing/curves/{curve_id}/compare/{other_id}"): "test_record:read",
    ("GET", "/testing/institutions/{institution_id}/near-line"): "test_record:read",
    ("GET", "/testing/stats"): "test_record:read",
    ("GET", "/testing/onsite"): "test_record:read",
    ("GET", "/testing/onsite/stats"): "test_record:read",
    ("GET", "/testing/onsite/plans/{plan_id}"): "test_record:read",
    ("GET", "/testing/onsite/records/{record_id}"): "test_record:read",
    ("GET", "/testing/onsite/records/{record_id}/media/{digest}"): "test_record:read",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "test_record:read": frozenset({P, A, C, S, IA, IS_, PU, AU}),
}
