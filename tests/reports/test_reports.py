"""Reports: a lab asks for a supervision code through the exchange and gets the code, the
token and its QR; the public page shows the chain only with the token, the issuer only
without it, and says plainly when a code was never issued or the report was withdrawn
(``unknown_code_scanned``); replacements keep both reports, linked."""

from __future__ import annotations

import base64
import datetime as dt
import shutil
import subprocess

import pytest
from sqlalchemy import func, select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.ledger.models import LedgerLeaf
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import CodeScan, Report
from jcjg.sampling.codes import SAMPLE
from tests.exchange.conftest import Lims
from tests.factories import login
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}


def _today() -> dt.date:
    """Today in Beijing, when the test runs (a run may cross midnight after collection)."""
    return beijing_date(utcnow())


def report_message(lab: Lims, number: str = "BG-2026-0001", **extra):
    fields = {
        "number": number,
        "sequence": int("".join(c for c in number.rsplit("-", 1)[-1] if c.isdigit())),
        "title": "混凝土试块抗压强度检测报告",
        "test_record_numbers": ["JL-R-1"],
        "items": ["0108"],
        "conclusion": "所检试块抗压强度符合 C30 设计要求。",
        "judgement": "conforming",
        "results": {"strength_mpa": 36.0},
        "signatories": [{"name": "王检测"}, {"name": "张批准"}],
        "issued_on": _today().isoformat(),
    }
    return lab.message(**(fields | extra))


def _alerts(db) -> dict[str, str]:
    db.expire_all()
    return {
        a.subject_id: a.facts.get("结果", "")
        for a in db.scalars(
            select(Alert).where(Alert.rule_id == "unknown_code_scanned", Alert.status == "open")
        )
    }


def test_a_code_its_token_and_qr(client, db, settings, issued, lab):
    code = issued["supervision_code"]
    assert len(code) == 17
    assert SUPERVISION.problem(code) is None
    assert code[:6] == lab.institution.region_code
    assert issued["verify_url"] == f"{settings.base_url}/v/{code}?t={issued['token']}"
    assert issued["qr_svg"].startswith("<svg")
    report = db.scalars(select(Report).where(Report.supervision_code == code)).one()
    assert report.token == issued["token"]
    entry = db.scalars(select(LedgerLeaf).where(LedgerLeaf.leaf_index == report.ledger_index)).one()
    assert entry.entry_type == "report:issue"
    assert entry.leaf_hash.hex() == report.leaf_hash
    assert f'"supervision_code":"{code}"'.encode() in entry.entry
    assert "王".encode() not in entry.entry  # no names in the public log
    zbar = shutil.which("zbarimg")
    if zbar is None:
        pytest.skip("zbarimg is not installed (make sysdeps)")
    png = base64.b64decode(issued["qr_png_base64"])
    decoded = subprocess.run(
        [zbar, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", "-"],
        input=png,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert decoded.strip() == issued["verify_url"]


def test_codes_are_consecutive_and_mistypes_are_caught(client, db, issued, lab):
    record, _ = concrete_record(lab, number="JL-R-2", seed=2)
    assert lab.post(client, "test_record", record).status_code == 200
    second = lab.post(
        client, "report", report_message(lab, "BG-2026-0002", test_record_numbers=["JL-R-2"])
    ).json()["results"]["supervision_code"]
    first = issued["supervision_code"]
    assert int(second[8:16]) == int(first[8:16]) + 1
    typo = first[:9] + ("1" if first[9] != "1" else "2") + first[10:]
    assert SUPERVISION.problem(typo) is not None  # the check character catches it offline
    assert SAMPLE.problem(first) is not None  # not a sample code either


def test_the_public_page_with_and_without_the_token(client, db, issued):
    code, token = issued["supervision_code"], issued["token"]
    full = client.get(f"/v/{code}?t={token}", headers=HTML)
    assert full.status_code == 200
    assert 'data-outcome="genuine"' in full.text
    assert "BG-2026-0001" in full.text
    assert "JL-R-1" in full.text
    assert "王**" in full.text  # names masked
    assert "王检测" not in full.text
    assert "data-ledger-proof" in full.text
    # the verdict in words; the log's index and hashes only behind 技术详情
    verdict_and_facts, _, rest = full.text.partition('data-testid="ledger-tech"')
    assert rest
    assert "叶哈希" not in verdict_and_facts
    assert "叶哈希" in rest.split("</details>")[0]
    assert "RFC" not in full.text
    assert full.headers["cache-control"] == "no-store"
    bare = client.get(f"/v/{code}", headers=HTML)
    assert 'data-outcome="exists"' in bare.text
    assert "BG-2026-0001" not in bare.text
    assert "JL-R-1" not in bare.text
    wrong = client.get(f"/v/{code}?t=" + "x" * 20, headers=HTML)
    assert 'data-outcome="exists"' in wrong.text
    as_json = client.get(f"/v/{code}.json", params={"t": token}).json()
    assert as_json["outcome"] == "genuine"
    assert as_json["report_number"] == "BG-2026-0001"
    assert "report_number" not in client.get(f"/v/{code}.json").json()
    # a curve of the report to replay, with the token only
    db.expire_all()
    report = db.scalars(select(Report).where(Report.supervision_code == code)).one()
    curve_path = full.text.split(f'data-playback="/v/{code}/curves/', 1)[1].split('"', 1)[0]
    curve_id = int(curve_path.split(".json", 1)[0])
    points = client.get(f"/v/{code}/curves/{curve_id}.json", params={"t": token})
    assert points.status_code == 200
    assert len(points.json()["t"]) > 10
    assert client.get(f"/v/{code}/curves/{curve_id}.json").status_code == 404
    assert db.scalar(select(func.count()).where(CodeScan.report_id == report.id)) == 5
    assert _alerts(db) == {}


def test_unknown_and_malformed_codes(client, db, issued, lab):
    first = issued["supervision_code"]
    never = SUPERVISION.make(first[:6], 2026, 99_999_999)
    page = client.get(f"/v/{never}", headers=HTML)
    assert page.status_code == 404
    assert 'data-outcome="unknown"' in page.text
    assert "平台没有签发过这个监管码" in page.text
    assert client.get(f"/v/{never}.json").json()["outcome"] == "unknown"
    assert _alerts(db) == {never: "平台从未签发这个监管码"}
    alert = db.scalars(select(Alert).where(Alert.subject_id == never)).one()
    assert alert.facts["扫描次数"] == 2
    assert alert.region_code == first[:6]
    typo = first[:-1] + ("0" if first[-1] != "0" else "1")
    mistyped = client.get(f"/v/{typo}", headers=HTML)
    assert mistyped.status_code == 404
    assert 'data-outcome="malformed"' in mistyped.text
    assert "校验字符不符" in mistyped.text
    assert set(_alerts(db)) == {never}  # a typo is logged, not alerted
    assert client.get("/v/" + "x" * 41, headers=HTML).status_code in (400, 404, 422)
    assert client.get("/v/%3Cscript%3E", headers=HTML).status_code in (400, 404, 422)


def test_withdrawn_and_replaced_reports(client, db, issued, lab):
    code = issued["supervision_code"]
    record, _ = concrete_record(lab, number="JL-R-3", seed=3)
    assert lab.post(client, "test_record", record).status_code == 200
    replacement = report_message(
        lab, "BG-2026-0002", test_record_numbers=["JL-R-3"],
        replaces={"number": "BG-2026-0001", "reason": "设计强度等级填写有误"},
    )  # fmt: skip
    response = lab.post(client, "report", replacement)
    assert response.status_code == 200, response.text
    new_code = response.json()["results"]["supervision_code"]
    page = client.get(f"/v/{code}?t={issued['token']}", headers=HTML)
    assert 'data-outcome="revoked"' in page.text
    assert "设计强度等级填写有误" in page.text
    assert new_code in page.text  # the replacement is named
    assert _alerts(db) == {code: "报告已被替换"}
    again = lab.post(client, "report", {**replacement, "message_id": lab.message()["message_id"],
                                        "number": "BG-2026-0003", "sequence": 3})  # fmt: skip
    assert again.status_code == 422  # a replaced report cannot be replaced twice
    withdrawal = lab.message(number="BG-2026-0002", reason="委托单位撤回委托")
    assert lab.post(client, "report_withdrawal", withdrawal).status_code == 200
    assert 'data-outcome="revoked"' in client.get(f"/v/{new_code}", headers=HTML).text
    db.expire_all()
    statuses = {r.number: r.status for r in db.scalars(select(Report))}
    assert statuses == {"BG-2026-0001": "replaced", "BG-2026-0002": "withdrawn"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"number": "BG-2026-0001"}, "number"),  # taken
        ({"test_record_numbers": ["JL-NONE"]}, "test_record_numbers"),
        ({"issued_on": (_today() + dt.timedelta(days=3)).isoformat()}, "issued_on"),
        ({"replaces": {"number": "BG-NONE", "reason": "更正"}}, "replaces.number"),
        ({"commission_number": "WT-NONE"}, "commission_number"),
        ({"project_code": "XM-NONE"}, "project_code"),
        ({"items": []}, "items"),
        ({"signatories": []}, "signatories"),
        ({"sequence": 0}, "sequence"),
        ({"judgement": "maybe"}, "judgement"),
    ],
)
def test_bad_requests_are_refused_and_leave_nothing(client, db, issued, lab, change, field):
    before = db.scalar(select(func.count()).select_from(Report))
    payload = report_message(lab, "BG-2026-0009") | change
    response = lab.post(client, "report", payload)
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f == field or f.startswith(field + ".") or f.endswith(field) for f in fields), fields
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Report)) == before


def test_staff_pages_and_scope(client, browser_client, db, factory, issued, lab):
    report = db.scalars(select(Report)).one()
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)
    listing = browser_client.get("/reports", headers=HTML)
    assert listing.status_code == 200
    assert "BG-2026-0001" in listing.text
    page = browser_client.get(f"/reports/{report.id}", headers=HTML)
    assert page.status_code == 200
    assert SUPERVISION.display(report.supervision_code) in page.text
    assert "<svg" in page.text
    png = browser_client.get(f"/reports/{report.id}/qr.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = browser_client.get(f"/reports/{report.id}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert browser_client.get(f"/reports/{report.id}/qr.gif").status_code in (400, 404)
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.INSTITUTION_STAFF).username)  # another lab
    assert browser_client.get(f"/reports/{report.id}", headers=HTML).status_code == 404
    assert browser_client.get(f"/reports/{report.id}/qr.png").status_code == 404
    assert "BG-2026-0001" not in browser_client.get("/reports", headers=HTML).text
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert browser_client.get("/reports", headers=HTML).status_code == 403


def test_guessing_codes_is_rate_limited(client, db, issued):
    from jcjg.core.ratelimit import RateLimiter

    client.app.state.rate_limiters["verify"] = RateLimiter(2)
    code = issued["supervision_code"]
    assert client.get(f"/v/{code}", headers=HTML).status_code == 200
    assert client.get(f"/v/{code}.json").status_code == 200
    refused = client.get(f"/v/{code}.json")
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


def test_scans_of_valid_codes_are_batched(db, settings, engine, session_factory, issued):
    from fastapi.testclient import TestClient

    from jcjg.main import create_app

    app = create_app(
        settings.model_copy(update={"verify_scan_flush_seconds": 3600}),
        engine=engine,
        session_factory=session_factory,
    )
    code, token = issued["supervision_code"], issued["token"]
    never = SUPERVISION.make(code[:6], 2026, 99_999_998)
    with TestClient(app) as batched:
        assert batched.get(f"/v/{code}?t={token}", headers=HTML).status_code == 200
        assert batched.get(f"/v/{never}", headers=HTML).status_code == 404
        db.expire_all()
        rows = {s.outcome for s in db.scalars(select(CodeScan))}
        assert rows == {"unknown"}  # at once: it raises an alert
        assert app.state.scan_log.pending() == 1
        assert app.state.scan_log.flush(session_factory) == 1
        db.expire_all()
        assert {s.outcome for s in db.scalars(select(CodeScan))} == {"unknown", "genuine"}


def test_the_chain_shows_a_sealed_sample_and_its_photos(client, db, settings, factory, lab):
    """A report over a test of a witnessed, sealed sample: the page shows the seal verified and
    the witness record; the sample and tag photos come with the token only, never the face."""
    from tests.sampling.conftest import make_chain

    site = make_chain(db, settings, factory)
    sample = site.register()
    site.seal(sample)
    other = site.register(seed=2)
    db.commit()
    record, _ = concrete_record(lab, number="JL-SEALED")
    for specimen in record["specimens"]:
        specimen["sample_code"] = sample.sample_code
    assert lab.post(client, "test_record", record).status_code == 200
    issued = lab.post(
        client, "report", report_message(lab, "BG-2026-0001", test_record_numbers=["JL-SEALED"])
    ).json()["results"]
    code, token = issued["supervision_code"], issued["token"]
    page = client.get(f"/v/{code}?t={token}", headers=HTML).text
    section = page.split(f'data-testid="sample-{sample.sample_code}"', 1)[1].split("</section>")[0]
    assert "电子封志验证通过" in section
    assert "/w/" in section  # the witness record
    photo = f"/v/{code}/samples/{sample.sample_code}/sample"
    served = client.get(photo, params={"t": token})
    assert served.status_code == 200
    assert served.headers["content-type"] in ("image/jpeg", "image/png")
    db.expire_all()
    assert served.content == blob_store(settings).get(
        db.get(type(sample), sample.id).photo_sample_sha256
    )
    assert client.get(photo).status_code == 404  # no token
    assert client.get(photo.replace("/sample", "/person"), params={"t": token}).status_code in (
        400,
        404,
        422,
    )  # never the face
    not_covered = f"/v/{code}/samples/{other.sample_code}/sample"
    assert client.get(not_covered, params={"t": token}).status_code == 404
