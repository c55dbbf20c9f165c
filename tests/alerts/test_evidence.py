"""The alert's page links into the chain behind it (issue 9: "the evidence (links into the
chain: record, curve, photo, seal, report)"), each with the log entry that notarised it."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from sqlalchemy import select

from jcjg.alerts import evidence
from jcjg.alerts.engine import sweep
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.demo import synthetic
from jcjg.reports import service as reports
from jcjg.reports.schemas import ReportIn
from jcjg.testing import service as testing
from jcjg.testing.schemas import RecordIn
from tests.factories import login, registry_row
from tests.sampling.conftest import NOW, make_chain

HTML = {"accept": "text/html"}


def _part(page: str, testid: str, end: str) -> str:
    """What a page shows in its element ``data-testid=testid``, up to ``end``."""
    return page.split(f'data-testid="{testid}"')[1].split(end)[0]


def test_the_chain_behind_an_alert(browser_client, db, settings, factory):
    chain = make_chain(db, settings, factory)
    sealed = [chain.register(seed=n) for n in (3, 4)]
    seals = [chain.seal(s) for s in sealed]
    off_site = chain.register(seed=5)  # sealed far from the site: witness_off_site
    chain.seal(off_site, position=(30.6, 117.2))
    lab = factory.institution(region_code="360403")
    at = NOW + dt.timedelta(hours=2)
    # cubes loaded at 1.3 MPa/s, far above the standard's rate: loading_rate on the record
    curves = synthetic.cubes(random.Random(1), (800.0, 812.0, 805.0), 1.3)
    specimens = synthetic.cube_specimens(curves)
    for n, specimen in enumerate(specimens):
        specimen["sample_code"] = sealed[n % 2].sample_code
    record = testing.store_record(
        db=db, settings=settings, institution=lab, received_at=at,
        data=RecordIn.model_validate({
            "message_id": str(uuid.uuid4()), "institution_code": lab.code,
            "number": "JL-EV-1", "kind": "concrete_compression", "item_code": "0108",
            "project_code": chain.project.code,
            "started_at": (at - dt.timedelta(minutes=9)).isoformat(),
            "ended_at": (at - dt.timedelta(minutes=4)).isoformat(),
            "acquisition": "auto", "grade": "C30", "specimen_size_mm": 150,
            "specimens": specimens,
        }),
    )  # fmt: skip
    report = reports.issue_report(
        db=db, institution=lab, received_at=at,
        data=ReportIn.model_validate({
            "message_id": str(uuid.uuid4()), "institution_code": lab.code,
            "number": "BG-EV-1", "sequence": 1, "items": ["0108"],
            "project_code": chain.project.code, "test_record_numbers": ["JL-EV-1"],
            "conclusion": "合格", "judgement": "conforming",
            "signatories": [{"name": "王检测"}], "issued_on": at.date().isoformat(),
        }),
    )  # fmt: skip
    equipment = registry_row(factory, "equipment", lab)  # calibration lapsed
    equipment.calibration_valid_until = dt.date(2020, 1, 1)
    sweep(db)
    db.commit()

    on_record = select(Alert).where(
        Alert.subject_type == "test_record", Alert.subject_id == str(record.id)
    )
    # one per specimen's curve
    alert = db.scalars(on_record.where(Alert.rule_id == "loading_rate").order_by(Alert.id)).first()
    found = evidence.links(db, alert)
    urls = [link.url for link in found]
    assert urls[0] == f"/testing/records/{record.id}"  # the subject first
    for sample, seal in zip(sealed, seals, strict=True):
        [link] = [x for x in found if x.url == f"/samples/{sample.sample_code}"]
        assert link.ledger_index == seal.ledger_index is not None
    [link] = [x for x in found if x.url == f"/reports/{report.id}"]
    assert (link.text, link.ledger_index) == (report.number, report.ledger_index)
    assert link.ledger_index is not None
    assert {u for u in urls if u.startswith("/reports/")} == {f"/reports/{report.id}"}
    assert f"/projects/{chain.project.id}" in urls
    assert f"/registry/institutions/{lab.id}" in urls
    assert len(urls) == len(set(urls))

    # a sample's alert leads to the sample and on to its records
    on_sample = db.scalars(select(Alert).where(
        Alert.rule_id == "witness_off_site", Alert.subject_type == "sample")).first()  # fmt: skip
    assert evidence.links(db, on_sample)[0].url == f"/samples/{off_site.sample_code}"

    # on the page, for the station that sees the alert
    login(browser_client, chain.station.username)
    page = browser_client.get(f"/alerts/{alert.id}", headers=HTML).text
    shown = _part(page, "alert-evidence", "</ul>")
    assert f'href="/testing/records/{record.id}"' in shown
    assert record.number in shown
    assert all(f'href="/samples/{s.sample_code}"' in shown for s in sealed)
    assert "存证第" in shown
    assert f'href="/projects/{chain.project.id}"' in shown

    _the_lab_reads_it(browser_client, factory, lab, alert, record, chain.project)
    # and a registry subject links to its registry page
    lapsed = select(Alert).where(
        Alert.rule_id == "calibration_expired", Alert.subject_id == str(equipment.id)
    )
    on_equipment = db.scalars(lapsed).one()
    assert evidence.links(db, on_equipment)[0].url == f"/registry/equipment/{equipment.id}"


def _the_lab_reads_it(browser_client, factory, lab, alert, record, project) -> None:
    """The lab's own account reads the alert on its record: the project is named, not linked,
    since the project's page is not the lab's to open (a link it offered answered 403)."""
    staff = factory.user(Role.INSTITUTION_ADMIN, institution=lab)
    browser_client.cookies.clear()
    login(browser_client, staff.username)
    page = browser_client.get(f"/alerts/{alert.id}", headers=HTML)
    assert page.status_code == 200
    shown = _part(page.text, "alert-evidence", "</ul>")
    assert f'href="/testing/records/{record.id}"' in shown
    assert project.name in shown
    assert f'href="/projects/{project.id}"' not in shown
    assert 'href=""' not in shown
    assert browser_client.get(f"/projects/{project.id}", headers=HTML).status_code == 403


def test_a_subject_the_reader_may_not_open_is_named_not_linked(browser_client, factory):
    """A lab's staff read alerts whose subject is a project (its page is not theirs: no
    project:read), with its number and without: the subject is named, no link goes nowhere."""
    lab = factory.institution()
    project = factory.project(region_code=lab.region_code)
    on_project = {"subject": project.name, "subject_type": "project",
                  "subject_id": str(project.id)}  # fmt: skip
    unnumbered = factory.alert(lab, project_id=project.id, **on_project)
    numbered = factory.alert(lab, subject_number=project.code, **on_project)
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab)
    factory.db.commit()
    login(browser_client, staff.username)
    for alert, named in ((unnumbered, project.name), (numbered, project.code)):
        page = browser_client.get(f"/alerts/{alert.id}", headers=HTML)
        assert page.status_code == 200
        subject = _part(page.text, "alert-subject", "</dd>")
        assert named in subject
        assert "<a " not in subject
        assert 'href=""' not in page.text
        assert f'href="/projects/{project.id}"' not in page.text
