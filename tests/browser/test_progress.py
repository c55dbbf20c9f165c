"""Progress on long actions (static/js/progress.js): an upload shows a progress bar and locks
its button until the answer comes; an export is fetched with a progress bar and saved under
the server's file name; an export that fails says so in Chinese beside its link."""

from __future__ import annotations

import pytest

from jcjg.auth.choices import Role
from tests.browser.test_sampling_flow import pc, shots
from tests.factories import registry_row

pytestmark = pytest.mark.browser


def test_uploads_and_exports_show_their_progress(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f = live_server.factory
    lab = f.institution(region_code="360403", name="九江进度测试检测站")
    registry_row(f, "labs", lab)
    admin = f.user(Role.INSTITUTION_ADMIN, institution=lab, username="lab_progress")
    f.db.commit()
    url = live_server.url
    context, page = pc(browser, url, admin.username, {"width": 1366, "height": 768})

    # an upload: what the page showed while it was on its way (recorded as the page left)
    page.goto(f"{url}/registry/labs/import")
    page.evaluate(
        """() => {
          document.addEventListener("submit", () => {
            const s = document.querySelector("[data-progress-status]");
            sessionStorage.setItem("shown", s ? s.innerText : "");
          });
          window.addEventListener("beforeunload", () => {
            const b = document.querySelector("form[aria-busy=true] button[type=submit]");
            sessionStorage.setItem("locked", String(Boolean(b && b.disabled)));
          });
        }"""
    )
    csv = "名称,地址,面积（m²）\n".encode()
    page.set_input_files(
        "input[name=file]", {"name": "labs.csv", "mimeType": "text/csv", "buffer": csv}
    )
    with page.expect_navigation():
        page.click("form[enctype='multipart/form-data'] button[type=submit]")
    shown = page.evaluate(
        "() => [sessionStorage.getItem('shown'), sessionStorage.getItem('locked')]"
    )
    assert "正在上传 1 个文件" in shown[0]
    assert shown[1] == "true"
    assert page.locator("form[enctype='multipart/form-data'] button[type=submit]").is_enabled()

    # an export: fetched with a bar, saved under the server's name
    page.goto(f"{url}/registry/labs")
    with page.expect_download() as saving:
        page.click("a[href*='format=xlsx']")
    assert saving.value.suggested_filename.endswith(".xlsx")
    assert "已下载" in page.locator("[data-progress-status]").inner_text()
    page.screenshot(path=str(out / "progress-export-1366.png"))

    # an export that fails: the reason beside the link, no file
    page.evaluate(
        """() => { const a = document.querySelector("a[href*='format=xlsx']");
                   a.href = a.href.replace('/registry/labs', '/registry/no-such-kind'); }"""
    )
    page.click("a[href*='format=xlsx']")
    failed = page.locator("[data-progress-status].bad")
    failed.wait_for()
    assert "文件生成失败" in failed.inner_text()
    context.close()
