"""The face photo taken by the page's own camera: Chromium's fake camera plays a Y4M video of
the registered person's face; the sampler opens the front camera on the registration page
(the file input, and with it the gallery, is not offered), takes the photo, and the identity
check passes with the frame the page captured. Without the camera permission the page says
so in Chinese and falls back to the phone's camera app (the input with capture="user")."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from jcjg.demo.faces import collins
from jcjg.sampling.models import IdentityCheck, Sample
from tests.browser.test_identity_flow import _project
from tests.browser.test_sampling_flow import PHONE, SITE, log_in, shots, upload
from tests.browser.waiting import wait_for
from tests.factories import photo

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 640, 480


def write_face_y4m(path: Path, face: bytes, frames: int = 5) -> Path:
    """A short 4:2:0 Y4M video whose frames show ``face`` in the middle of a grey picture."""
    with Image.open(io.BytesIO(face)) as original:
        portrait = original.convert("RGB")
    portrait.thumbnail((HEIGHT, HEIGHT))
    canvas = Image.new("RGB", (WIDTH, HEIGHT), (128, 128, 128))
    canvas.paste(portrait, ((WIDTH - portrait.width) // 2, (HEIGHT - portrait.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


def _fill(page, code: str, seed: int) -> None:
    wait_for(page, "document.querySelector('input[name=latitude]').value !== ''", timeout=10_000)
    page.fill("#f-sample_code", code)
    page.fill("#f-material", "混凝土试块")
    page.fill("#f-specification", "C30")
    page.set_input_files("input[name=photo_sample]", upload("sample.jpg", photo(seed)))
    page.set_input_files("input[name=photo_tag]", upload("tag.jpg", photo(seed + 500)))


def test_the_face_photo_comes_from_the_pages_camera(live_server, launch_chromium, tmp_path):
    out = shots(tmp_path)
    project_id, own, _, _ = _project(live_server.factory)
    url = live_server.url
    video = write_face_y4m(tmp_path / "face.y4m", collins(3))
    browser = launch_chromium(
        ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={video}"]
    )
    options = {
        "locale": "zh-CN",
        "viewport": PHONE,
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "geolocation": SITE,
    }
    context = browser.new_context(**options, permissions=["geolocation", "camera"])
    page = context.new_page()
    log_in(page, url, "sampler_face")
    page.goto(f"{url}/m/projects/{project_id}")
    _fill(page, own, 91)
    assert not page.locator("input[name=photo_sampler]").is_visible()  # no gallery
    page.click("[data-testid=live-camera-open]")
    page.wait_for_selector("[data-testid=live-camera-shoot]", state="visible", timeout=15_000)
    wait_for(page, "document.querySelector('.live-camera video').videoWidth > 0", timeout=15_000)
    page.screenshot(path=str(out / "live-camera-preview-390.png"), full_page=True)
    page.click("[data-testid=live-camera-shoot]")
    wait_for(page, "document.querySelector('.live-camera').dataset.taken === '1'", timeout=10_000)
    assert page.evaluate("document.querySelector('input[name=photo_sampler]').files.length") == 1
    assert "已拍摄" in page.inner_text("[data-testid=live-camera-status]")
    page.screenshot(path=str(out / "live-camera-taken-390.png"), full_page=True)
    page.click("[data-testid=sample-submit]")
    page.wait_for_selector("[data-testid=registered]", timeout=15_000)
    assert page.inner_text("[data-testid=identity-result]") == "核验通过"
    context.close()

    db = live_server.factory.db
    check = db.scalars(
        select(IdentityCheck)
        .join(Sample, Sample.id == IdentityCheck.sample_id)
        .where(Sample.sample_code == own, IdentityCheck.action == "sample:register")
    ).one()
    assert check.result == "passed"
    assert check.distance is not None
    assert check.distance < 0.6
    db.rollback()

    # Without the permission: said in Chinese, and the phone's camera app is offered instead.
    context = browser.new_context(**options, permissions=["geolocation"])
    page = context.new_page()
    log_in(page, url, "sampler_face")
    page.goto(f"{url}/m/projects/{project_id}")
    page.click("[data-testid=live-camera-open]")
    wait_for(
        page,
        "document.querySelector('[data-testid=live-camera-status]').textContent"
        ".includes('未获得相机权限')",
        timeout=15_000,
    )
    camera = page.locator("input[name=photo_sampler]")
    assert camera.is_visible()
    assert camera.get_attribute("capture") == "user"
    page.screenshot(path=str(out / "live-camera-denied-390.png"), full_page=True)
    context.close()
