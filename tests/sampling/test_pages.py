"""The sampling pages answer what a person on site, at the lab or holding a tag expects."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.sampling import codes
from jcjg.sampling.models import WitnessRecord
from tests.factories import login, page_csrf, photo
from tests.sampling.conftest import Chain

HTML = {"accept": "text/html"}


def test_scanning_a_tag_tells_issued_from_forged(browser_client, chain: Chain):
    sample = chain.register()
    chain.db.commit()
    issued = browser_client.get(f"/s/{sample.sample_code}", headers=HTML)
    assert issued.status_code == 200
    assert chain.project.name in issued.text
    forged = browser_client.get(f"/s/{codes.make_code('360402', 2026, 5_555_555)}", headers=HTML)
    assert forged.status_code == 404
    assert "可能是伪造的" in forged.text
    typo = browser_client.get("/s/360402260000001", headers=HTML)
    assert "应为 16 位" in typo.text


def test_public_record_page_and_key_verify(browser_client, chain: Chain, db):
    sample = chain.register()
    chain.seal(sample)
    record = db.query(WitnessRecord).filter_by(sample_id=sample.id).one()
    db.commit()
    page = browser_client.get(f"/w/{record.token}", headers=HTML)
    assert page.status_code == 200
    assert "电子封志验证通过" in page.text
    assert chain.witness.display_name not in page.text  # names masked on the public page
    key = browser_client.get(f"/witness-keys/{chain.key_id}").json()
    assert key["public_key"] == record.record["seal"]["public_key"]
    assert browser_client.get(f"/w/{'0' * 32}", headers=HTML).status_code == 404


def test_receipt_page_refuses_without_photo_and_checks_with_one(browser_client, chain, factory):
    sample = chain.register(seed=5)
    chain.seal(sample)
    staff = factory.user(Role.INSTITUTION_STAFF, commit=False)
    chain.db.commit()
    login(browser_client, staff.username)
    token = page_csrf(browser_client, "/receipt")
    missing = browser_client.post(
        "/receipt", data={"csrf_token": token, "sample_code": sample.sample_code}, headers=HTML
    )
    assert missing.status_code == 422
    assert "请拍摄收样时的样品照片" in missing.text
    swapped = browser_client.post(
        "/receipt",
        data={"csrf_token": token, "sample_code": sample.sample_code, "tag_intact": "1"},
        files={"photo": ("p.jpg", photo(66), "image/jpeg")},
        headers=HTML,
    )
    assert swapped.status_code == 200
    assert "拒收" in swapped.text
    assert "疑似调换" in swapped.text
