"""The nonconformity register on a phone (issue 9): a lab uploads a nonconforming concrete
result; the notify job e-mails the project's owner and the station through a real SMTP server
(aiosmtpd); the owner finds it in the inbox and opens it; the station records the re-test and
closes the item; the register's summary counts it."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from jcjg.auth.choices import Role
from jcjg.core.db import make_sessionmaker, utcnow
from jcjg.core.jobs import registered, run_job
from jcjg.demo import synthetic
from jcjg.testing import service
from jcjg.testing.schemas import RecordIn
from tests.browser.conftest import serve
from tests.browser.test_sampling_flow import phone, shots
from tests.notify.conftest import smtp  # noqa: F401  (fixture)
from tests.testing.conftest import points

pytestmark = pytest.mark.browser


@pytest.fixture
def mailing_server(tmp_path, smtp):  # noqa: F811
    """A live server whose settings send e-mail to the aiosmtpd server of ``smtp``."""
    controller, _ = smtp
    with serve(tmp_path, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_security="none",
               smtp_from="jcjg@jianguan.example") as server:  # fmt: skip
        yield server


def test_a_nonconforming_result_from_upload_to_closing(mailing_server, smtp, browser, tmp_path):  # noqa: F811
    out = shots(tmp_path)
    f, url = mailing_server.factory, mailing_server.url
    owner, station = _nonconforming_record(f)
    link = _owner_is_mailed(f, smtp, url)

    context, page = phone(browser, url, owner)
    item_url = _owner_reads_it(page, url, link, out)
    context.close()
    context, page = phone(browser, url, station)
    _station_closes_it(page, url, item_url, out)
    context.close()


def _nonconforming_record(f) -> tuple[str, str]:
    """A lab's C30 cubes near 18 MPa on a Jiujiang project; returns the user names of the
    project's owner and the city's station (both with e-mail addresses)."""
    lab = f.institution(region_code="360403", name="九江不合格测试检测站")
    project = f.project(region_code="360403", name="濂溪区滨江花园三期")
    owner = f.user(Role.PARTY_UNIT, project_ids=(project.id,), username="owner_nc",
                   email="owner@binjiang.example")  # fmt: skip
    station = f.user(Role.STATION, region_code="360400", username="station_nc",
                     email="station@jj.example")  # fmt: skip
    rng = random.Random(7)
    now = utcnow()
    specimens = []
    for n, peak in enumerate((402.0, 396.0, 410.0), start=1):  # C30 cubes near 18 MPa
        curve = synthetic.concrete(rng, peak_kn=peak, rate_kn_s=13.5)
        specimens.append(
            {"position": n, "values": {"peak_kn": round(float(curve.force.max()), 2)},
             "curve": {"points": points(curve)}}
        )  # fmt: skip
    service.store_record(
        db=f.db, settings=f.settings, institution=lab, received_at=now,
        data=RecordIn.model_validate({
            "message_id": "3f1c2b4a-5d6e-4f70-8a91-b2c3d4e5f607", "institution_code": lab.code,
            "number": "JL-NC-0001", "kind": "concrete_compression", "item_code": "0108",
            "project_code": project.code,
            "started_at": (now - dt.timedelta(minutes=12)).isoformat(),
            "ended_at": (now - dt.timedelta(minutes=5)).isoformat(), "acquisition": "auto",
            "grade": "C30", "age_days": 28, "specimen_size_mm": 150, "specimens": specimens,
            "results": {"strength_mpa": 17.9}, "judgement": "nonconforming",
        }),
    )  # fmt: skip
    f.db.commit()
    names = owner.username, station.username
    f.db.rollback()
    return names


def _owner_is_mailed(f, smtp, url: str) -> str:  # noqa: F811
    """The job the server's worker runs every minute, with the server's settings: one e-mail
    each to the owner and the station, at the test's SMTP server. Returns the owner's link."""
    run = run_job(make_sessionmaker(f.db.get_bind()), registered()["notify.deliver"], f.settings)
    assert run.status == "succeeded", run.log
    _, mailbox = smtp
    mails = {tuple(to): message for to, message in mailbox.messages}
    assert set(mails) == {("owner@binjiang.example",), ("station@jj.example",)}
    mail = mails[("owner@binjiang.example",)]
    assert "不合格" in mail["Subject"]
    text = mail.get_content()
    assert "滨江花园三期" in text
    assert "JL-NC-0001" in text
    [link] = [w for w in text.split() if w.startswith(url + "/nonconformities/")]
    return link


def _owner_reads_it(page, url: str, link: str, out) -> str:
    """The owner follows the e-mail's link, then finds the item in the inbox; reads, does not
    handle. Returns the item's address."""
    page.goto(link)
    assert page.locator("[data-testid=nc-status]").get_attribute("data-status") == "open"
    page.goto(url + "/inbox")
    told = page.locator("[data-testid=inbox] [data-kind=nonconformity] a")
    assert "不合格结果" in told.inner_text()
    assert "滨江花园三期" in told.inner_text()
    told.click()
    page.wait_for_url(f"{url}/nonconformities/*")
    assert page.locator("[data-testid=nc-status]").get_attribute("data-status") == "open"
    assert "JL-NC-0001" in page.locator("[data-testid=nc-facts]").inner_text()
    values = page.locator("[data-testid=nc-values]").inner_text()
    assert "强度代表值（MPa） 17.9" in values  # the lab's figure
    assert "平台复算：强度代表值（MPa）" in values
    assert page.locator("[data-testid=nc-form]").count() == 0  # the owner reads, not handles
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(out / "nc-owner-phone.png"), full_page=True)
    return page.url


def _station_closes_it(page, url: str, item_url: str, out) -> None:
    """The station records the re-test and closes the item; the register's summary counts it."""
    page.goto(item_url)
    page.select_option("select[name=handling]", "retest")
    page.fill("textarea[name=note]", "双倍复检合格，复检报告 FJ-2026-0031")
    page.check("input[name=close]")
    page.click("[data-testid=nc-form] button[type=submit]")
    page.wait_for_url(item_url)
    assert page.locator("[data-testid=nc-status]").get_attribute("data-status") == "closed"
    assert "复检" in page.locator("[data-testid=nc-handling]").inner_text()
    page.screenshot(path=str(out / "nc-closed-phone.png"), full_page=True)
    page.goto(url + "/nonconformities?by=institution")
    summary = page.locator("[data-testid=nc-summary]").inner_text()
    assert "九江不合格测试检测站" in summary
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(out / "nc-register-phone.png"), full_page=True)
