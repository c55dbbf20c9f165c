"""The witnessed-sampling chain at phone browsers: the sampler registers a sample with photos and
the phone's position, the witness enrols a WebCrypto key and seals it, the lab refuses a sample
whose photo was swapped and accepts a genuine one. The seal is then checked outside the platform
with the published public key alone."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.sampling import service
from jcjg.sampling.models import Sample, SampleReceipt, SampleSeal, WitnessKey
from tests.browser.waiting import wait_for
from tests.factories import PASSWORD, photo
from tests.sampling.conftest import assign, principal_of

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
SITE = {"latitude": 29.7113, "longitude": 116.0022, "accuracy": 8}


def shots(tmp_path: Path) -> Path:
    """Where screenshots go: JCJG_SCREENSHOT_DIR when set (to look at them), else tmp."""
    target = Path(os.environ.get("JCJG_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def log_in(page, url: str, username: str) -> str:
    """Log ``page`` in as ``username`` through the login form; the path it lands on (the home
    page, or the phone pages for a witness or a sampler)."""
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda address: not address.split("?")[0].endswith("/login"))
    page.wait_for_load_state()
    return page.url.removeprefix(url).split("?")[0]


def phone(browser, url: str, username: str):
    context = browser.new_context(
        locale="zh-CN",
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        geolocation=SITE,
        permissions=["geolocation"],
    )
    page = context.new_page()
    log_in(page, url, username)
    return context, page


def pc(browser, url: str, username: str, viewport: dict[str, int] | None = None):
    """A logged-in desktop Chromium (1280 x 900 unless ``viewport``): its context and page."""
    context = browser.new_context(
        locale="zh-CN", viewport=viewport or {"width": 1280, "height": 900}
    )
    page = context.new_page()
    log_in(page, url, username)
    return context, page


def upload(name: str, data: bytes) -> dict[str, object]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": data}


def register(page, url: str, project_id: int, code: str, seed: int, out: Path, shot: str) -> None:
    page.goto(f"{url}/s/{code}")  # the tag's QR: a sampler lands on the registration form
    page.wait_for_url(f"{url}/m/projects/{project_id}?code={code}")
    assert page.input_value("#f-sample_code") == code
    wait_for(page, "document.querySelector('input[name=latitude]').value !== ''", timeout=10_000)
    assert "已定位" in page.locator("[data-locate-status]").inner_text()
    page.fill("#f-material", "混凝土试块")
    page.fill("#f-specification", "C30")
    page.fill("#f-structure_part", "3 层梁板")
    page.fill("#f-specimen_size", "150×150×150 mm")
    page.set_input_files("input[name=photo_sample]", upload("sample.jpg", photo(seed)))
    page.set_input_files("input[name=photo_tag]", upload("tag.jpg", photo(seed + 500)))
    page.set_input_files("input[name=photo_sampler]", upload("me.jpg", photo(1001)))
    if shot:
        page.screenshot(path=str(out / shot), full_page=True)
    page.click("[data-testid=sample-submit]")
    page.wait_for_load_state()
    assert code in page.locator("[data-testid=registered]").inner_text()


def test_sampler_witness_and_lab_in_the_browser(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f = live_server.factory
    db = f.db
    project = f.project(region_code="360402", name="九江浏览器测试工程")
    sampler = f.user(Role.SAMPLER, project_ids=(project.id,), username="sampler_b", commit=False)
    witness = f.user(Role.WITNESS, project_ids=(project.id,), username="witness_b", commit=False)
    station = f.user(Role.STATION, region_code="360400", commit=False)
    lab = f.institution(region_code="360403", name="九江浏览器收样检测站")
    receiver = f.user(Role.INSTITUTION_STAFF, institution=lab, username="lab_b", commit=False)
    assign(db, project, sampler=sampler, witness=witness)
    batch = service.issue_codes(
        db=db, principal=principal_of(station), project_id=project.id, count=4, now=utcnow()
    )
    db.commit()
    genuine, swapped = (c.code for c in service.batch_codes(db, batch.id)[:2])
    names = {u: (u.username, u.display_name) for u in (sampler, witness, receiver)}
    project_id = project.id
    db.rollback()  # end the read: SQLite lets one writer at a time
    url = live_server.url

    # the sampler, on site, registers two samples from the tags' QR codes
    context, page = phone(browser, url, names[sampler][0])
    assert page.url == url + "/m"  # a sampler lands on the phone pages, not the office's home
    register(page, url, project_id, genuine, 11, out, "m-register.png")
    page.screenshot(path=str(out / "m-registered.png"), full_page=True)
    register(page, url, project_id, swapped, 12, out, "")
    context.close()
    db.rollback()
    rows = {s.sample_code: s for s in db.query(Sample).filter_by(project_id=project_id)}
    assert set(rows) == {genuine, swapped}
    assert rows[genuine].status == "sampled"
    assert rows[genuine].distance_m == 0  # inside the site's geofence
    db.rollback()  # end the read: SQLite lets one writer at a time

    # the witness enrols a key on the phone and seals both samples
    context, page = phone(browser, url, names[witness][0])
    _enrol_a_key(page, url, out)
    record_url = _seal(page, url, project_id, (genuine, swapped), out)
    context.close()
    _the_public_record(browser, record_url, names[witness][1], out)
    _the_seal_verifies_with_the_published_key(browser, db, url, genuine)

    # the lab: the swapped sample's photo differs from the sealed one and is refused
    context, page = phone(browser, url, names[receiver][0])
    assert page.url == url + "/"  # the lab's staff land on the home
    _receive(page, url, genuine, swapped, out)
    context.close()
    db.rollback()
    receipts = {r.sample_code: r for r in db.query(SampleReceipt)}
    assert receipts[genuine].accepted
    assert not receipts[swapped].accepted
    assert [r["code"] for r in receipts[swapped].reasons] == ["photo_mismatch"]
    assert {s.sample_code: s.status for s in db.query(Sample)} == {
        genuine: "received",
        swapped: "refused",
    }


def _enrol_a_key(page, url: str, out) -> None:
    """The witness's phone makes a key pair whose private half cannot be exported."""
    page.goto(url + "/m/keys")
    wait_for(page, "document.querySelector('[data-testid=key-state]').dataset.ready === '0'")
    page.click("[data-testid=enrol]")
    page.wait_for_selector("[data-testid=seal-out].ok", timeout=10_000)
    assert "不可导出" in page.locator("[data-testid=seal-out]").inner_text()
    assert page.locator("[data-testid=key-list] li").count() == 1
    assert "无" not in page.locator("[data-testid=key-list]").inner_text()
    page.screenshot(path=str(out / "m-keys.png"), full_page=True)
    extractable = page.evaluate(
        """() => new Promise((resolve) => {
             const open = indexedDB.open('jcjg-seal', 1);
             open.onsuccess = () => {
               const req = open.result.transaction('keys').objectStore('keys').get('current');
               req.onsuccess = () => resolve(req.result.privateKey.extractable);
             };
           })"""
    )
    assert extractable is False


def _seal(page, url: str, project_id: int, codes: tuple[str, ...], out) -> str:
    """Both samples pending, then sealed from their tags; returns the first one's witness
    record address."""
    page.goto(f"{url}/m/projects/{project_id}")
    assert page.locator("[data-testid=pending] li").count() == 2
    page.screenshot(path=str(out / "m-pending.png"), full_page=True)
    record_url = ""
    for n, code in enumerate(codes):
        page.goto(f"{url}/s/{code}")  # scanning the tag takes the witness to sealing
        page.wait_for_url(f"{url}/m/samples/{code}/seal")
        wait_for(
            page, "document.querySelector('input[name=latitude]').value !== ''", timeout=10_000
        )
        page.set_input_files("input[name=photo_seal]", upload("seal.jpg", photo(99 + n)))
        page.set_input_files("input[name=photo_witness]", upload("w.jpg", photo(1002)))
        if n == 0:
            page.screenshot(path=str(out / "m-seal.png"), full_page=True)
        page.click("[data-testid=seal-submit]")
        page.wait_for_selector("[data-testid=seal-out].ok", timeout=15_000)
        assert "已封样" in page.locator("[data-testid=seal-out]").inner_text()
        assert "已见证封样" in page.locator("dl.facts").inner_text()
        if n == 0:
            page.screenshot(path=str(out / "m-sealed.png"), full_page=True)
            record_url = page.get_attribute("[data-testid=record-link]", "href")
    return record_url


def _the_public_record(browser, record_url: str, witness_name: str, out) -> None:
    """The public witness record, as anyone scanning the record's QR sees it."""
    anyone = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    public = anyone.new_page()
    public.goto(record_url)
    body = public.content()
    assert "电子封志验证通过" in public.locator("[data-testid=record-state]").inner_text()
    assert witness_name not in body  # names masked on the public page
    public.screenshot(path=str(out / "m-public-record.png"), full_page=True)
    anyone.close()


def _the_seal_verifies_with_the_published_key(browser, db, url: str, code: str) -> None:
    """Outside the platform, with the published public key alone."""
    db.rollback()
    seal = db.query(SampleSeal).join(Sample).filter(Sample.sample_code == code).one()
    statement, signature = seal.statement, seal.signature
    key_id = json.loads(statement)["key_id"]  # the statement names its key
    assert db.query(WitnessKey).filter_by(key_id=key_id).one().id == seal.witness_key_id
    db.rollback()
    published = browser.new_context().request.get(f"{url}/witness-keys/{key_id}").json()
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(published["public_key"]))
    public_key.verify(signature, statement)


def _receive(page, url: str, genuine: str, swapped: str, out) -> None:
    """The swapped sample's photo differs from the sealed one: refused; the genuine one is
    received."""
    page.goto(f"{url}/s/{swapped}")
    page.wait_for_url(f"{url}/receipt?code={swapped}")
    page.set_input_files("input[name=photo]", upload("r.jpg", photo(4242)))
    page.click("[data-testid=receipt-submit]")
    result = page.locator("[data-testid=receipt-result]").inner_text()
    assert "拒收" in result
    assert "照片不一致" in result
    page.screenshot(path=str(out / "m-receipt-refused.png"), full_page=True)
    page.goto(f"{url}/s/{genuine}")
    page.wait_for_url(f"{url}/receipt?code={genuine}")
    page.set_input_files("input[name=photo]", upload("r.jpg", photo(11, variant=3)))
    page.click("[data-testid=receipt-submit]")
    result = page.locator("[data-testid=receipt-result]").inner_text()
    assert "核验通过" in result, result
    page.screenshot(path=str(out / "m-receipt-accepted.png"), full_page=True)
