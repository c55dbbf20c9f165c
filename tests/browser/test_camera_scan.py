"""Scanning with the phone's camera: Chromium's fake camera plays a Y4M video of a sample tag's
QR code, and the sampler's 扫码 button fills the code field from it. Without the camera
permission the page says so in Chinese, and the code can still be typed."""

from __future__ import annotations

from pathlib import Path

import pytest
import segno
from PIL import Image

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.sampling import service
from tests.browser.test_sampling_flow import PHONE, SITE, log_in, shots, upload
from tests.browser.waiting import wait_for
from tests.factories import photo
from tests.sampling.conftest import assign, principal_of

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 640, 480


def write_y4m(path: Path, text: str, frames: int = 5) -> Path:
    """A short 4:2:0 Y4M video whose every frame shows the QR code of ``text`` in the middle
    (grey luma plane, neutral chroma): what --use-file-for-fake-video-capture plays in a loop."""
    qr = segno.make(text, error="m", micro=False)
    side = qr.symbol_size(scale=1, border=4)[0]
    scale = (HEIGHT - 40) // side
    image = Image.new("L", (WIDTH, HEIGHT), 255)
    code = Image.new("L", (side, side), 255)
    code.putdata([0 if dark else 255 for row in qr.matrix_iter(scale=1, border=4) for dark in row])
    code = code.resize((side * scale, side * scale), Image.Resampling.NEAREST)
    image.paste(code, ((WIDTH - code.width) // 2, (HEIGHT - code.height) // 2))
    luma = image.tobytes()
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)
    return path


UNREADABLE_FIRST_FRAMES = """(count) => {
    const proto = Object.getPrototypeOf(window.ZXingBrowser.BrowserQRCodeReader.prototype);
    proto.__read = proto.__read || proto.decodeFromCanvas;  // ZXing's own, kept once
    const read = proto.__read;
    window.__unreadable = 0;
    proto.decodeFromCanvas = function (canvas) {
        if (window.__unreadable < count) {
            window.__unreadable += 1;
            throw new DOMException("The source width is 0.", "IndexSizeError");
        }
        return read.call(this, canvas);
    };
}"""


def gives_up_on_an_unreadable_camera(page, shots_dir: Path) -> None:
    """A camera whose every frame ZXing cannot read: its loop started again ten times, then the
    page says so and closes the camera instead of showing it for nothing."""
    page.evaluate(UNREADABLE_FIRST_FRAMES, 1_000_000)
    page.click("[data-testid=scan-start]")
    status = page.locator("[data-scan-mode=verify] [data-scanner-status]")
    status.filter(has_text="摄像头画面无法读取").wait_for(timeout=30_000)
    assert page.evaluate("window.__unreadable") == 11
    assert page.locator("[data-scan-mode=verify] video").is_hidden()
    page.screenshot(path=str(shots_dir / "scan-unreadable-390.png"), full_page=True)
    page.evaluate(UNREADABLE_FIRST_FRAMES, 0)


def scanned_into_the_field(page, code: str) -> None:
    """扫码 pressed: the camera's QR fills the sample code's field.

    ZXing tries a frame every 500 ms; on a busy machine the fake camera's first frames and the
    decoding take a while. CI runs with both suites' browsers on two cores used to decode
    nothing at all, twice in a row: ZXing sized its canvas by a video that had no frame yet
    (0×0) and its scan loop stopped at the first read; the page now waits for the picture's
    size and starts a stopped loop again (UNREADABLE_FIRST_FRAMES). Should a read still not
    come in 30 s, the camera is closed and opened again once, as a person would."""
    page.click("[data-testid=scan-button]")
    said = "document.querySelector('[data-testid=scanner-status]').textContent"
    value = "document.getElementById('f-sample_code').value"
    filled = f"{value} === {code!r} && {said}.includes('已扫描编码')"
    try:
        wait_for(page, filled, timeout=30_000, explain=said)
    except AssertionError:
        page.click("[data-scan-mode=fill] [data-scanner-close]")
        page.click("[data-testid=scan-button]")
        wait_for(page, filled, timeout=45_000, explain=said)


def submit_with_errors_then_fix(page, code: str, out: Path) -> None:
    """A submit with errors: each shown beside its field, typed values and photos kept; then
    fixed, without taking the two photos again, it goes through."""
    page.fill("#f-specification", "C30")
    page.fill("#f-specimen_count", "0")
    page.set_input_files("input[name=photo_sample]", upload("sample.jpg", photo(41)))
    page.set_input_files("input[name=photo_tag]", upload("tag.jpg", photo(541)))
    page.click("[data-testid=sample-submit]")
    page.wait_for_selector("[data-testid=form-error]")
    assert "3 处问题" in page.inner_text("[data-testid=form-error]")
    assert page.inner_text("#e-material") == "请填写样品名称"
    assert page.inner_text("#e-specimen_count") == "试件数量应为 1 至 100"
    assert page.input_value("#f-specification") == "C30"
    assert page.input_value("#f-sample_code") == code
    for role in ("sample", "tag"):
        kept = page.locator(f"[data-testid=kept-{role}] img")
        assert kept.evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(out / "register-errors-kept-390.png"), full_page=True)
    page.fill("#f-material", "混凝土试块")
    page.fill("#f-specimen_count", "3")
    page.set_input_files("input[name=photo_sampler]", upload("me.jpg", photo(1001)))
    page.click("[data-testid=sample-submit]")
    page.wait_for_selector("[data-testid=registered]")
    assert code in page.inner_text("[data-testid=registered]")


def test_sampler_fills_the_code_from_the_camera(live_server, launch_chromium, tmp_path):
    out = shots(tmp_path)
    f = live_server.factory
    db = f.db
    project = f.project(region_code="360402", name="九江扫码测试工程")
    sampler = f.user(Role.SAMPLER, project_ids=(project.id,), username="sampler_cam", commit=False)
    station = f.user(Role.STATION, region_code="360400", commit=False)
    assign(db, project, sampler=sampler)
    batch = service.issue_codes(
        db=db, principal=principal_of(station), project_id=project.id, count=1, now=utcnow()
    )
    db.commit()
    [code] = [c.code for c in service.batch_codes(db, batch.id)]
    project_id = project.id
    username = sampler.username
    tag_url = service.code_url(f.settings, code)
    db.rollback()
    url = live_server.url
    video = write_y4m(tmp_path / "tag.y4m", tag_url)

    browser = launch_chromium(
        [
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ]
    )
    options = {
        "locale": "zh-CN",
        "viewport": PHONE,
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "geolocation": SITE,
    }
    # With the camera permission: 扫码 opens the camera and the QR fills the field.
    context = browser.new_context(**options, permissions=["geolocation", "camera"])
    page = context.new_page()
    log_in(page, url, username)
    page.goto(f"{url}/m/projects/{project_id}")
    assert page.input_value("#f-sample_code") == ""
    # ZXing's first two reads fail as a scan started before the first frame fails (its canvas
    # 0×0, zxing-js/library#156), which ends ZXing's scan loop: the page starts it again
    page.evaluate(UNREADABLE_FIRST_FRAMES, 2)
    scanned_into_the_field(page, code)
    assert page.evaluate("window.__unreadable") == 2
    assert f"已扫描编码 {code}" in page.inner_text("[data-testid=scanner-status]")
    page.screenshot(path=str(out / "camera-scan-filled-390.png"), full_page=True)

    submit_with_errors_then_fix(page, code, out)

    # 扫码查验: the entry on the phone home page
    page.goto(f"{url}/m")
    page.click("[data-testid=scan-entry]")
    page.wait_for_selector("[data-testid=scan-start]")
    page.screenshot(path=str(out / "scan-verify-390.png"), full_page=True)
    gives_up_on_an_unreadable_camera(page, out)
    page.click("[data-testid=scan-start]")  # the tag's QR: its page opens
    page.wait_for_url(lambda address: "/m/scan" not in address, timeout=15_000)
    assert code in page.url or code.replace(" ", "") in page.content()
    context.close()

    # Without it: a clear Chinese message, and typing still works.
    context = browser.new_context(**options, permissions=["geolocation"])
    page = context.new_page()
    log_in(page, url, username)
    page.goto(f"{url}/m/projects/{project_id}")
    page.click("[data-testid=scan-button]")
    status = page.locator("[data-testid=scanner-status]")
    # "正在打开摄像头…" comes first: wait for the refusal itself, not any camera message
    status.filter(has_text="摄像头权限被拒绝").wait_for(timeout=15_000)
    assert "正在打开" not in status.inner_text()
    page.screenshot(path=str(out / "camera-scan-denied-390.png"), full_page=True)
    page.fill("#f-sample_code", code)
    assert page.input_value("#f-sample_code") == code
    context.close()
