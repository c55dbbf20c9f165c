"""The sampler's registration form after a failed submit: every error beside its field, what was
typed still there, the photos taken kept (no retaking), and the corrected form goes through.
Also 扫码查验 (/m/scan) and its typed fallback."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from fastapi.testclient import TestClient

from jcjg.auth.choices import Role
from jcjg.core.blobs import digest_of
from jcjg.core.db import utcnow
from jcjg.core.errors import ValidationFailed
from jcjg.documents.photos import store_photo
from jcjg.reports.codes import SUPERVISION
from jcjg.sampling.models import Sample
from jcjg.sampling.pages import kept_photo_token
from tests.factories import login, page_csrf, photo
from tests.sampling.conftest import NOW, Chain, principal_of

HTML = {"accept": "text/html"}


def _error(page: str, name: str) -> str:
    found = re.search(rf'<small id="e-{name}" class="error">([^<]*)</small>', page)
    return found[1] if found else ""


def _value(page: str, name: str) -> str:
    found = re.search(rf'<input id="f-{name}" name="{name}" type="[a-z-]+" value="([^"]*)"', page)
    assert found, f"no input {name}"
    return html.unescape(found[1])


def _kept(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="kept_photo_(\w+)" value="([^"]+)"', page))


def _now_local(chain: Chain) -> str:
    return utcnow().astimezone(chain.settings.tz).strftime("%Y-%m-%dT%H:%M")


def test_service_reports_every_error_at_once(chain: Chain) -> None:
    with pytest.raises(ValidationFailed) as failed:
        chain.register(
            code="NOT-A-CODE",
            material="",
            specimen_count=0,
            prepared_at=None,
            photos={"sample": photo(3), "tag": b"not a photo", "sampler": None},
        )
    fields = {e.field: e.message for e in failed.value.errors}
    assert set(fields) == {
        "sample_code",
        "material",
        "specimen_count",
        "prepared_at",
        "photo_tag",
        "photo_sampler",
    }
    assert fields["material"] == "请填写样品名称"
    assert fields["photo_tag"] == "无法识别的图片文件"
    # One error: one message, the rest of the form is fine.
    with pytest.raises(ValidationFailed) as one:
        chain.register(at=NOW, prepared_at=NOW + dt.timedelta(hours=1))
    assert [e.field for e in one.value.errors] == ["prepared_at"]


def test_failed_form_keeps_values_and_photos_and_shows_each_error(
    browser_client: TestClient, chain: Chain
) -> None:
    other = chain.factory.user(Role.SAMPLER, project_ids=(chain.project.id,), commit=False)
    chain.db.commit()
    http = login(browser_client, chain.sampler.username)
    path = f"/m/projects/{chain.project.id}"
    token = page_csrf(http, path)
    code = chain.next_code()
    first = http.post(
        f"{path}/samples",
        data={
            "csrf_token": token,
            "sample_code": "360402-BAD",
            "material": "",
            "specification": "C30",
            "structure_part": "3 层梁板",
            "specimen_count": "0",
            "prepared_at": "",
        },
        files={
            "photo_sample": ("s.jpg", photo(21), "image/jpeg"),
            "photo_tag": ("t.jpg", photo(521), "image/jpeg"),
        },
        headers=HTML,
    )
    assert first.status_code == 422
    page = first.text
    assert "请改正下面标出的 5 处问题" in page
    assert _error(page, "sample_code")
    assert _error(page, "material") == "请填写样品名称"
    assert _error(page, "specimen_count") == "试件数量应为 1 至 100"
    assert _error(page, "prepared_at") == "请填写制样时间"
    assert "请拍摄或选择照片" in page  # the sampler's photo, beside its field
    # what was typed is still there
    assert _value(page, "specification") == "C30"
    assert _value(page, "structure_part") == "3 层梁板"
    assert _value(page, "sample_code") == "360402-BAD"
    # the two photos taken are kept, shown, and only to this sampler
    kept = _kept(page)
    assert set(kept) == {"sample", "tag"}
    assert kept["sample"].startswith(digest_of(photo(21)))
    shown = http.get(f"/m/kept-photos/{kept['sample']}")
    assert shown.status_code == 200
    assert shown.content == photo(21)
    assert shown.headers["content-type"] == "image/jpeg"
    forged = kept_photo_token(chain.settings, other.id, digest_of(photo(21)))
    assert http.get(f"/m/kept-photos/{forged}").status_code == 404

    # fixed, with only the missing photo taken now: registered, with the kept photos
    second = http.post(
        f"{path}/samples",
        data={
            "csrf_token": token,
            "sample_code": code,
            "material": "混凝土试块",
            "specification": "C30",
            "structure_part": "3 层梁板",
            "specimen_count": "3",
            "prepared_at": _now_local(chain),
            "kept_photo_sample": kept["sample"],
            "kept_photo_tag": kept["tag"],
        },
        files={"photo_sampler": ("me.jpg", photo(1001), "image/jpeg")},
        headers=HTML,
    )
    assert second.status_code == 200, _error(second.text, "sample_code") or second.text[-2000:]
    assert "已登记" in second.text
    sample = chain.db.query(Sample).filter_by(sample_code=code).one()
    assert sample.photo_sample_sha256 == digest_of(photo(21))
    assert sample.photo_tag_sha256 == digest_of(photo(521))


def test_another_users_kept_photo_is_not_taken(browser_client: TestClient, chain: Chain) -> None:
    other = chain.factory.user(Role.SAMPLER, project_ids=(chain.project.id,), commit=False)
    chain.db.commit()
    store_photo(chain.settings, photo(31))
    http = login(browser_client, chain.sampler.username)
    path = f"/m/projects/{chain.project.id}"
    token = page_csrf(http, path)
    answer = http.post(
        f"{path}/samples",
        data={
            "csrf_token": token,
            "sample_code": chain.next_code(),
            "material": "混凝土试块",
            "specimen_count": "3",
            "prepared_at": _now_local(chain),
            "kept_photo_sample": kept_photo_token(chain.settings, other.id, digest_of(photo(31))),
            "kept_photo_tag": "0" * 64 + ".00",
        },
        files={"photo_sampler": ("me.jpg", photo(1001), "image/jpeg")},
        headers=HTML,
    )
    assert answer.status_code == 422
    assert "请改正下面标出的 2 处问题" in answer.text
    assert set(_kept(answer.text)) == {"sampler"}


def test_scan_page_opens_what_a_typed_code_names(browser_client: TestClient, chain: Chain) -> None:
    sample = chain.register()
    chain.db.commit()
    page = browser_client.get("/m/scan")
    assert page.status_code == 200
    assert "扫码查验" in page.text
    assert "/static/vendor/zxing/zxing-browser.min.js" in page.text
    assert 'data-scan-mode="verify"' in page.text
    to_sample = browser_client.get("/m/scan", params={"q": sample.sample_code.lower()})
    assert to_sample.status_code == 303
    assert to_sample.headers["location"] == f"/s/{sample.sample_code}"
    real = SUPERVISION.make("360402", 2026, 17)
    report_code = real[:-1] + ("0" if real[-1] != "0" else "1")  # a wrong check character
    to_report = browser_client.get("/m/scan", params={"q": real})
    assert to_report.status_code == 303
    assert to_report.headers["location"] == f"/v/{real}"
    wrong = browser_client.get("/m/scan", params={"q": report_code})
    assert wrong.status_code == 422
    assert "无法识别的编码" in wrong.text


def test_registration_form_has_a_scan_button(browser_client: TestClient, chain: Chain) -> None:
    chain.db.commit()
    http = login(browser_client, chain.sampler.username)
    page = http.get(f"/m/projects/{chain.project.id}").text
    assert 'data-scan-fill="f-sample_code"' in page
    assert ">扫码<" in page
    assert "/static/js/scan.js" in page
    assert principal_of(chain.sampler).can("sample:register")
