"""Live preview and replay in a real Chromium (hls.js): the live stream plays while segments
keep arriving, a test record's replay plays at its time with the curve's marker following the
picture, a frame is drawn (not blank), a clip is exported and its duration checked with
ffprobe; screenshots of the camera list, a camera, the watch page and the replay on a PC and a
phone (JCJG_SCREENSHOT_DIR to keep them)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING
from tests.browser.test_sampling_flow import log_in, shots
from tests.browser.waiting import wait_for
from tests.video.conftest import make_record, make_site
from tests.video.media import Recorder, ffmpeg_available, make_pieces, probe_duration

pytestmark = pytest.mark.browser

VIEWS = (
    ("pc", {"width": 1366, "height": 768}, False),
    ("phone", {"width": 390, "height": 800}, True),
)

# Draw the video's current frame into a canvas and count the pixels that are not black.
FRAME_DRAWN = """() => {
  const v = document.querySelector('video');
  if (!v || v.readyState < 2 || !v.videoWidth) return 0;
  const c = document.createElement('canvas');
  c.width = 64; c.height = 36;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0, 64, 36);
  const d = g.getImageData(0, 0, 64, 36).data;
  let lit = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
  return lit;
}"""


def _playing(page, beyond: float) -> float:
    return wait_for(
        page,
        f"() => {{ const v = document.querySelector('video');"
        f" return v && v.currentTime > {beyond} ? v.currentTime : 0; }}",
        timeout=15_000,
    )


def test_live_replay_and_clip(live_server, browser, tmp_path):
    if not ffmpeg_available():
        pytest.skip("ffmpeg is not installed")
    out = shots(tmp_path)
    pieces = make_pieces(tmp_path / "pieces", seconds=30)
    f = live_server.factory
    site = make_site(f)
    recorder = Recorder(f.db, f.settings)
    past = (utcnow() - dt.timedelta(minutes=30)).replace(microsecond=0)
    recorder.record(site.camera, pieces[:6], past)
    record = make_record(f.db, f.settings, site, past + dt.timedelta(seconds=2))
    now = utcnow().replace(microsecond=0)
    recorder.record(site.camera, pieces[:3], now - dt.timedelta(seconds=6))
    f.db.commit()
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    log_in(page, live_server.url, site.admin.username)
    _live(page, live_server.url, site, recorder, pieces, now, f)
    page.screenshot(path=str(out / "video-watch-pc.png"))
    _replay(page, live_server.url, record)
    page.screenshot(path=str(out / "video-replay-pc.png"))
    _clip(page, context, live_server.url, site, tmp_path)
    context.close()
    _screens(browser, live_server.url, site, record, out)


def _live(page, url, site, recorder, pieces, now, f) -> None:
    page.goto(f"{url}/video/cameras/{site.camera.id}/watch")
    added = 3
    deadline = now + dt.timedelta(seconds=20)
    while utcnow() < deadline:  # segments keep arriving while the page plays
        position = page.evaluate("() => document.querySelector('video').currentTime")
        if position > 5:
            break
        if utcnow() >= now + dt.timedelta(seconds=2 * (added - 3)) and added < len(pieces):
            recorder.record(
                site.camera, [pieces[added]], now + dt.timedelta(seconds=2 * (added - 3))
            )
            f.db.commit()
            added += 1
        page.wait_for_timeout(250)
    assert _playing(page, 5) > 5
    assert wait_for(page, FRAME_DRAWN) > 100
    clock = page.locator("[data-testid=video-clock]").inner_text()
    shown = dt.datetime.strptime(clock, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs((shown - now).total_seconds()) < 30, clock  # Beijing time, near the live edge
    assert page.locator("[data-testid=video-age]").inner_text() == "实时画面"


def _replay(page, url, record) -> None:
    page.goto(f"{url}/testing/records/{record.id}")
    page.click("[data-testid=record-replay]")
    page.wait_for_url(f"**/video/replay/test-records/{record.id}")
    assert _playing(page, 1.0)
    assert wait_for(page, FRAME_DRAWN) > 100
    wait_for(page, "() => document.querySelector('[data-curve]').dataset.ready")
    marker = wait_for(page, "() => document.querySelector('[data-curve]').dataset.marker")
    assert 0 <= float(marker) <= 8
    clock = page.locator("[data-testid=video-clock]").inner_text()
    shown = dt.datetime.strptime(clock, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs((shown - record.started_at.replace(tzinfo=dt.UTC)).total_seconds()) < 10, clock


def _clip(page, context, url, site, tmp_path: Path) -> None:
    page.locator(".clip-export summary").click()
    page.click("[data-testid=clip-export]")
    page.wait_for_url(f"**/video/cameras/{site.camera.id}?done=clip*")
    href = page.locator("[data-testid=clip-mp4]").first.get_attribute("href")
    answer = context.request.get(url + href)
    assert answer.status == 200
    path = tmp_path / "clip.mp4"
    path.write_bytes(answer.body())
    assert 7.5 <= probe_duration(path) <= 12.5


def _screens(browser, url, site, record, out: Path) -> None:
    for name, viewport, mobile in VIEWS:
        context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=mobile)
        page = context.new_page()
        log_in(page, url, site.admin.username)
        for label, path in (
            ("list", "/video/cameras"),
            ("camera", f"/video/cameras/{site.camera.id}"),
            ("watch", f"/video/cameras/{site.camera.id}/watch"),
            ("replay", f"/video/replay/test-records/{record.id}"),
        ):
            page.goto(url + path)
            if label in ("watch", "replay"):
                wait_for(page, FRAME_DRAWN, timeout=15_000)
            page.screenshot(path=str(out / f"video-{label}-{name}.png"), full_page=True)
        context.close()
