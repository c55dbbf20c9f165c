"""The test-record pages: the list with flags and filters, a record with its recomputed
result, revisions beside the original values, the curve's points, and scope."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.testing.models import Curve, TestRecord
from tests.factories import login
from tests.testing.conftest import concrete_record, when

HTML = {"accept": "text/html"}


def _send(client, lab, payload):
    response = lab.post(client, "test_record", payload)
    assert response.status_code == 200, response.text


def test_list_detail_revision_and_curve(client, browser_client, db, factory, lab):
    good, _ = concrete_record(lab, number="PG-GOOD")
    fast, _ = concrete_record(lab, number="PG-FAST", rate_mpa_s=1.5, seed=2)
    _send(client, lab, good)
    _send(client, lab, fast)
    before = good["specimens"][0]["values"]["peak_kn"]
    revision = lab.message(
        record_number="PG-GOOD", field="specimens[1].peak_kn", before=before, after=before - 3,
        reason="核对原始记录表后更正", revised_by="王检测", revised_at=when(1)[1],
    )  # fmt: skip
    assert lab.post(client, "test_revision", revision).status_code == 200
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)

    listing = browser_client.get("/testing/records", headers=HTML)
    assert listing.status_code == 200
    assert "PG-GOOD" in listing.text
    assert "PG-FAST" in listing.text
    flagged = browser_client.get("/testing/records?flagged=true", headers=HTML).text
    assert "PG-FAST" in flagged
    assert "PG-GOOD" in flagged  # its revision of an auto-acquired value is flagged too
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    assert (
        "PG-GOOD" not in browser_client.get(f"/testing/records?since={tomorrow}", headers=HTML).text
    )
    assert "PG-GOOD" in browser_client.get("/testing/records?since=2026-01-01", headers=HTML).text
    assert browser_client.get("/testing/records?since=yesterday", headers=HTML).status_code == 400
    only_other = browser_client.get("/testing/records?kind=rebar_tensile", headers=HTML).text
    assert "PG-GOOD" not in only_other
    assert "没有检测数据" in only_other

    record = db.scalars(select(TestRecord).where(TestRecord.number == "PG-GOOD")).one()
    page = browser_client.get(f"/testing/records/{record.id}", headers=HTML)
    assert page.status_code == 200
    assert "核对原始记录表后更正" in page.text
    assert f'<s title="原始值">{before}</s>' in page.text  # the original stays visible
    assert "合格" in page.text
    assert 'data-playback="/testing/curves/' in page.text

    curve = db.scalars(select(Curve).where(Curve.test_record_id == record.id)).first()
    points = browser_client.get(f"/testing/curves/{curve.id}.json").json()
    assert len(points["t"]) == curve.n_points == len(points["f"])
    assert max(points["f"]) == round(curve.peak_kn, 3)


def test_the_list_answers_htmx_with_its_results_and_the_same_filters(
    client, browser_client, factory, lab
):
    for n in (1, 2, 3):
        payload, _ = concrete_record(lab, number=f"PG-HX-{n}", seed=n)
        _send(client, lab, payload)
    other, _ = concrete_record(lab, number="PG-OTHER-1")
    _send(client, lab, other)
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)
    query = "/testing/records?q=PG-HX-&kind=concrete_compression&limit=2"

    page = browser_client.get(query, headers=HTML)
    assert page.text.lstrip().startswith("<!doctype html>")
    assert "HX-Request" in page.headers["vary"]
    part = browser_client.get(query, headers=HTML | {"HX-Request": "true"})
    assert part.status_code == 200
    assert "HX-Request" in part.headers["vary"]
    assert part.text.lstrip().startswith('<div id="list-results"')
    assert "<html" not in part.text
    results = part.text.split('id="list-filters"')[0]
    shown = sorted(n for n in ("PG-HX-1", "PG-HX-2", "PG-HX-3") if n in results)
    assert len(shown) == 2  # two a page, newest first, as on the whole page
    assert shown == sorted(n for n in ("PG-HX-1", "PG-HX-2", "PG-HX-3") if n in page.text)
    assert "PG-OTHER-1" not in results
    assert "第 1 / 2 页，共 3 条" in results
    nxt = results.split(">下一页</a>")[0].rsplit("<a ", 1)[1]
    href = nxt.split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert f'hx-get="{href.replace("&", "&amp;")}"' in nxt
    assert "q=PG-HX-" in href
    assert "kind=concrete_compression" in href
    rest = browser_client.get(href, headers=HTML | {"HX-Request": "true"}).text
    assert "第 2 / 2 页，共 3 条" in rest
    assert [n for n in ("PG-HX-1", "PG-HX-2", "PG-HX-3") if n in rest.split("list-filters")[0]]
    form = part.text.split('id="list-filters"')[1].split("</form>")[0]
    assert 'hx-swap-oob="true"' in form
    assert 'value="PG-HX-"' in form
    assert '<option value="concrete_compression" selected>' in form


def test_other_labs_and_strangers_do_not_see_records(client, browser_client, db, factory, lab):
    payload, _ = concrete_record(lab, number="PG-SCOPE")
    _send(client, lab, payload)
    record = db.scalars(select(TestRecord).where(TestRecord.number == "PG-SCOPE")).one()
    curve = db.scalars(select(Curve).where(Curve.test_record_id == record.id)).first()
    other = factory.user(Role.INSTITUTION_STAFF)  # another lab
    login(browser_client, other.username)
    assert browser_client.get(f"/testing/records/{record.id}", headers=HTML).status_code == 404
    assert browser_client.get(f"/testing/curves/{curve.id}.json").status_code == 404
    assert "PG-SCOPE" not in browser_client.get("/testing/records", headers=HTML).text
    browser_client.cookies.clear()
    witness = factory.user(Role.WITNESS)
    login(browser_client, witness.username)
    assert browser_client.get("/testing/records", headers=HTML).status_code == 403


def test_a_reused_curve_shows_its_evidence_drawn(client, browser_client, db, factory, lab):
    import random

    from jcjg.alerts.models import Alert
    from jcjg.demo import synthetic
    from tests.exchange.conftest import make_lims

    original, drawn = concrete_record(lab, number="PG-ORIG", seed=31)
    _send(client, lab, original)
    other_lab = make_lims(db, client.app.state.settings, factory)
    noisy = [synthetic.copy_of(random.Random(2), c, shift_s=6.0, noise_kn=1.0) for c in drawn]
    _send(client, other_lab, concrete_record(other_lab, number="PG-COPY", curves_of=noisy)[0])
    alert = db.scalars(select(Alert).where(Alert.rule_id == "curve_reuse")).first()
    assert alert is not None
    assert alert.subject_number == "PG-COPY"
    figure = alert.facts["figure"]

    regulator = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, regulator.username)
    page = browser_client.get(f"/alerts/{alert.id}", headers=HTML).text
    assert f'<img src="{figure}"' in page
    assert "残差相关系数" in page
    assert "figure" not in page.split('data-testid="facts-table"')[1].split("</table>")[0]
    drawing = browser_client.get(figure)
    assert drawing.status_code == 200
    assert drawing.headers["content-type"].startswith("image/svg+xml")
    assert drawing.text.count("<path") == 4  # both curves and both residuals
    assert "相关系数 0." in drawing.text

    # the copying lab sees its own curve drawn, not the other institution's
    browser_client.cookies.clear()
    copier = factory.user(Role.INSTITUTION_STAFF, institution=other_lab.institution)
    login(browser_client, copier.username)
    assert f'<img src="{figure}"' in browser_client.get(f"/alerts/{alert.id}", headers=HTML).text
    own = browser_client.get(figure)
    assert own.status_code == 200
    assert own.text.count("<path") == 2
    assert "仅监管人员可见" in own.text
    # a stranger sees nothing of it
    browser_client.cookies.clear()
    stranger = factory.user(Role.INSTITUTION_STAFF)
    login(browser_client, stranger.username)
    assert browser_client.get(figure).status_code == 404
