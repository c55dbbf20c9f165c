"""The alert's page links into the chain behind it (issue 9: "the evidence (links into the
chain: record, curve, photo, seal, report)"), each with the log entry that notarised it."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.alerts import evidence
from jcjg.alerts.engine import sweep
from jcjg.alerts.models import Alert
from jcjg.demo.load import load
from jcjg.reports.models import Report, ReportRecord
from jcjg.sampling.models import Sample, SampleSeal
from jcjg.testing.models import Specimen, TestRecord
from tests.factories import login

HTML = {"accept": "text/html"}


def test_the_chain_behind_an_alert(browser_client, db, settings):
    created = load(db, settings)
    sweep(db)
    db.commit()
    # an alert on a test record of the demo lab whose specimens come from sealed samples
    sealed = set(db.scalars(select(Sample.sample_code).join(
        SampleSeal, SampleSeal.sample_id == Sample.id)))  # fmt: skip
    on_records = db.scalars(select(Alert).where(Alert.subject_type == "test_record")
                            .order_by(Alert.id)).all()  # fmt: skip
    alert, codes = next(
        (a, c) for a in on_records
        if (c := set(db.scalars(select(Specimen.sample_code).where(
            Specimen.test_record_id == int(a.subject_id)))) & sealed)
    )  # fmt: skip
    record = db.get(TestRecord, int(alert.subject_id))
    found = evidence.links(db, alert)
    urls = [link.url for link in found]
    assert urls[0] == f"/testing/records/{record.id}"  # the subject first
    for code in codes:
        [sample] = [link for link in found if link.url == f"/samples/{code}"]
        seal = db.scalars(select(SampleSeal).join(Sample, Sample.id == SampleSeal.sample_id)
                          .where(Sample.sample_code == code)).one()  # fmt: skip
        assert sample.ledger_index == seal.ledger_index is not None
    reports = set(db.scalars(select(ReportRecord.report_id).where(
        ReportRecord.test_record_id == record.id)))  # fmt: skip
    assert {u for u in urls if u.startswith("/reports/")} == {f"/reports/{i}" for i in reports}
    for report in db.scalars(select(Report).where(Report.id.in_(reports))):
        [link] = [x for x in found if x.url == f"/reports/{report.id}"]
        assert (link.text, link.ledger_index) == (report.number, report.ledger_index)
    assert f"/projects/{alert.project_id}" in urls
    assert f"/registry/institutions/{alert.institution_id}" in urls
    assert len(urls) == len(set(urls))

    # a sample's alert leads to the sample and on to its records
    on_sample = db.scalars(select(Alert).where(Alert.subject_type == "sample")
                           .order_by(Alert.id)).first()  # fmt: skip
    assert evidence.links(db, on_sample)[0].url == f"/samples/{on_sample.subject_id}"

    # on the page, for the station that sees the alert
    passwords = {u: p for u, _, p in created}
    login(browser_client, "jj_station", passwords["jj_station"])
    page = browser_client.get(f"/alerts/{alert.id}", headers=HTML).text
    chain = page.split('data-testid="alert-evidence"')[1].split("</ul>")[0]
    assert f'href="/testing/records/{record.id}"' in chain
    assert record.number in chain
    assert all(f'href="/samples/{c}"' in chain for c in codes)
    assert "存证第" in chain
    # and a registry subject links to its registry page
    on_equipment = db.scalars(select(Alert).where(Alert.subject_type == "equipment")).first()
    assert evidence.links(db, on_equipment)[0].url == (
        f"/registry/equipment/{on_equipment.subject_id}"
    )
