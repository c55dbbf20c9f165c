"""The samples a report's chain lists (issue 48, "a mortar report lists concrete cubes and
blocks"): those its specimens were cut from, not every sample of its commission; the
commission's only when no specimen names its sample."""

from __future__ import annotations

import datetime as dt

import pytest

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.reports import chain
from jcjg.reports.models import Report, ReportRecord
from jcjg.sampling.models import Commission, Sample
from jcjg.testing.models import Specimen, TestRecord


def _world(db, factory, *, coded: bool) -> Report:
    lab = factory.institution(region_code="360403")
    project = factory.project(region_code="360403")
    sampler = factory.user(Role.SAMPLER)
    commission = Commission(institution_id=lab.id, region_code=lab.region_code,
                            project_id=project.id, number=f"WT-{factory._next()}", year=2026,
                            seq=1, commissioned_on=dt.date(2026, 11, 2))  # fmt: skip
    db.add(commission)
    db.flush()
    now = utcnow()
    for code, material in (("M1", "砌筑砂浆试块"), ("C1", "混凝土试块"), ("B1", "烧结普通砖")):
        db.add(Sample(sample_code=f"{code}-{factory._next()}", project_id=project.id,
                      region_code=project.region_code, commission_id=commission.id,
                      material=material, prepared_at=now, sampler_user_id=sampler.id,
                      photo_sample_sha256="0" * 64, photo_tag_sha256="0" * 64,
                      photo_person_sha256="0" * 64, sample_phash="0" * 16))  # fmt: skip
    db.flush()
    mortar = db.query(Sample).filter(Sample.material == "砌筑砂浆试块",
                                     Sample.commission_id == commission.id).one()  # fmt: skip
    record = TestRecord(institution_id=lab.id, region_code=lab.region_code, number="JL-M-1",
                        kind="masonry_mortar", item_code="0112", started_at=now, ended_at=now,
                        acquisition="manual")  # fmt: skip
    db.add(record)
    db.flush()
    for n in (1, 2, 3):
        db.add(Specimen(test_record_id=record.id, institution_id=lab.id,
                        region_code=lab.region_code, position=n,
                        sample_code=mortar.sample_code if coded else None))  # fmt: skip
    report = Report(institution_id=lab.id, region_code=lab.region_code, project_id=project.id,
                    commission_id=commission.id, number=f"BG-{factory._next()}", year=2026,
                    sequence=1, code_year=2026, code_serial=factory._next(),
                    supervision_code=f"JG{factory._next():014d}", token="t" * 32,
                    items=["0112"], issued_on=dt.date(2026, 11, 20), signatories=[],
                    message_id=f"m-{factory._next()}")  # fmt: skip
    db.add(report)
    db.flush()
    db.add(ReportRecord(report_id=report.id, test_record_id=record.id))
    db.flush()
    return report


@pytest.mark.sqlite
def test_a_mortar_report_lists_the_mortar_not_the_commission_s_cubes_and_bricks(db, factory):
    built = chain.build(db, _world(db, factory, coded=True))
    assert [s.material for s in built.samples] == ["砌筑砂浆试块"]


@pytest.mark.sqlite
def test_specimens_naming_no_sample_fall_back_to_the_commission_s(db, factory):
    built = chain.build(db, _world(db, factory, coded=False))
    assert sorted(s.material for s in built.samples) == ["混凝土试块", "烧结普通砖", "砌筑砂浆试块"]
