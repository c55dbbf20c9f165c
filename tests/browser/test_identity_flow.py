"""The identity check in the browser: the sampler takes the live photo on the phone's
registration page (the camera input, fed here with set_input_files), the page tells the result,
the platform stores it with the distance, another person's face raises identity_mismatch, and
the authority's page shows both checks with the photos of people masked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.demo.faces import collins, hopper
from jcjg.projects.models import ProjectMember
from jcjg.sampling import service
from jcjg.sampling.models import IdentityCheck, Sample
from tests.browser.test_sampling_flow import pc, phone, shots, upload
from tests.browser.waiting import wait_for
from tests.factories import photo
from tests.sampling.conftest import assign, principal_of

pytestmark = pytest.mark.browser


def _register(page, url: str, project_id: int, code: str, seed: int, face: bytes) -> str:
    page.goto(f"{url}/m/projects/{project_id}")
    wait_for(page, "document.querySelector('input[name=latitude]').value !== ''", timeout=10_000)
    camera = page.locator("input[name=photo_sampler]")
    assert camera.get_attribute("capture") == "user"  # the front camera, not the gallery
    page.fill("#f-sample_code", code)
    page.fill("#f-material", "混凝土试块")
    page.fill("#f-specification", "C30")
    page.set_input_files("input[name=photo_sample]", upload("sample.jpg", photo(seed)))
    page.set_input_files("input[name=photo_tag]", upload("tag.jpg", photo(seed + 500)))
    camera.set_input_files(upload("me.jpg", face))
    page.click("[data-testid=sample-submit]")
    page.wait_for_load_state()
    assert code in page.locator("[data-testid=registered]").inner_text()
    return page.locator("[data-testid=identity-result]").inner_text()


def _project(f) -> tuple[int, str, str, str]:
    """A project whose sampler is registered with a portrait; its id, two codes, the photo."""
    db = f.db
    project = f.project(region_code="360402", name="九江人脸核验测试工程")
    sampler = f.user(Role.SAMPLER, project_ids=(project.id,), username="sampler_face", commit=False)
    witness = f.user(Role.WITNESS, project_ids=(project.id,), username="witness_face", commit=False)
    station = f.user(Role.STATION, region_code="360400", commit=False)
    f.user(Role.CITY_AUTHORITY, region_code="360400", username="city_face", commit=False)
    assign(db, project, sampler=sampler, witness=witness)
    enrolled = blob_store(f.settings).put(collins())  # the photo the station registered
    for member in db.scalars(select(ProjectMember).where(ProjectMember.project_id == project.id)):
        member.photo_sha256 = enrolled
    batch = service.issue_codes(
        db=db, principal=principal_of(station), project_id=project.id, count=2, now=utcnow()
    )
    db.commit()
    own, other = (c.code for c in service.batch_codes(db, batch.id)[:2])
    project_id = project.id
    db.rollback()  # end the read: SQLite lets one writer at a time
    return project_id, own, other, enrolled


def _stored(db, own: str, other: str, enrolled: str) -> tuple[str, int]:
    """What the platform stored of the checks; the failed one's distance as shown, and the
    alert it raised."""
    checks = {
        code: db.scalars(
            select(IdentityCheck)
            .join(Sample, Sample.id == IdentityCheck.sample_id)
            .where(Sample.sample_code == code, IdentityCheck.action == "sample:register")
        ).one()
        for code in (own, other)
    }
    passed, failed = checks[own], checks[other]
    sealed = db.scalars(
        select(IdentityCheck).where(
            IdentityCheck.sample_id == passed.sample_id, IdentityCheck.action == "sample:seal"
        )
    ).one()
    assert sealed.result == "passed"
    assert (passed.result, passed.method, passed.threshold) == ("passed", "dlib-resnet-v1", 0.6)
    assert passed.distance is not None
    assert passed.distance < 0.3
    assert passed.reference_photo_sha256 == enrolled
    assert failed.result == "failed"
    assert failed.distance is not None
    assert failed.distance > 0.6
    alerts = db.scalars(select(Alert).where(Alert.rule_id == "identity_mismatch")).all()
    assert [(a.subject_id, a.status) for a in alerts] == [(other, "open")]
    shown = f"{failed.distance:.3f}"
    alert_id = alerts[0].id
    db.rollback()  # end the read (the rows are not touched again: that would start another)
    return shown, alert_id


def _witness_seals(page, url: str, code: str) -> str:
    """The witness enrols a seal key and seals ``code`` with a photo of the registered face;
    what the page says of the identity check."""
    page.goto(url + "/m/keys")
    wait_for(page, "document.querySelector('[data-testid=key-state]').dataset.ready === '0'")
    page.click("[data-testid=enrol]")
    page.wait_for_selector("[data-testid=seal-out].ok", timeout=10_000)
    page.goto(f"{url}/m/samples/{code}/seal")
    wait_for(page, "document.querySelector('input[name=latitude]').value !== ''", timeout=10_000)
    camera = page.locator("input[name=photo_witness]")
    assert camera.get_attribute("capture") == "user"
    page.set_input_files("input[name=photo_seal]", upload("seal.jpg", photo(99)))
    camera.set_input_files(upload("w.jpg", collins(7)))
    page.click("[data-testid=seal-submit]")
    page.wait_for_selector("[data-testid=seal-out].ok", timeout=15_000)
    return page.locator("[data-testid=identity-result]").inner_text()


def test_the_live_photo_taken_on_the_phone_is_checked(live_server, browser, tmp_path):
    out = shots(tmp_path)
    project_id, own, other, enrolled = _project(live_server.factory)
    url = live_server.url

    context, page = phone(browser, url, "sampler_face")
    assert _register(page, url, project_id, own, 81, collins(4)) == "核验通过"
    assert "人脸距离 0." in page.locator("[data-testid=identity-distance]").inner_text()
    page.screenshot(path=str(out / "identity-phone-passed.png"), full_page=True)
    assert _register(page, url, project_id, other, 82, hopper()) == "核验未通过"
    assert "已预警监督站" in page.locator("dl.facts").inner_text()
    page.screenshot(path=str(out / "identity-phone-failed.png"), full_page=True)
    context.close()
    context, page = phone(browser, url, "witness_face")
    assert _witness_seals(page, url, own) == "核验通过"
    page.screenshot(path=str(out / "identity-phone-sealed.png"), full_page=True)
    context.close()
    shown, alert_id = _stored(live_server.factory.db, own, other, enrolled)

    context, page = pc(browser, url, "city_face")
    page.goto(f"{url}/samples/{other}")
    results = page.locator("[data-testid=identity-result]").all_inner_texts()
    assert results == ["核验未通过"]
    distance = page.locator("[data-testid=identity-distance]").inner_text()
    assert shown in distance
    assert "阈值 0.6" in distance
    masked = page.locator("[data-testid=masked-photo]")
    assert masked.count() == 1  # the sampler's face is not on the page until asked for
    assert "查看原图（留痕）" in masked.inner_text()
    page.screenshot(path=str(out / "identity-pc-detail.png"), full_page=True)
    page.goto(f"{url}/alerts/{alert_id}")
    alert = page.locator("main").inner_text()
    assert "人脸核验未通过" in alert
    assert shown in alert
    assert "取样登记（取样人员）" in alert
    page.screenshot(path=str(out / "identity-pc-alert.png"), full_page=True)
    context.close()
    context, page = phone(browser, url, "city_face")
    page.goto(f"{url}/samples/{other}")
    page.locator("[data-testid=identity-checks]").scroll_into_view_if_needed()
    assert page.locator("[data-testid=identity-result]").is_visible()
    page.screenshot(path=str(out / "identity-phone-detail.png"))
    context.close()
