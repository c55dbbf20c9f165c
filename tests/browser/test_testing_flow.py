"""A curve plays back in the browser: the record's page draws each specimen's force-time curve
with ECharts and replays it; on a PC and on a phone."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.demo import synthetic
from jcjg.testing import service
from jcjg.testing.schemas import RecordIn, RevisionIn
from tests.browser.test_sampling_flow import log_in, shots
from tests.browser.waiting import wait_for
from tests.testing.conftest import points

pytestmark = pytest.mark.browser


def _on_a_pc_and_a_phone(browser, url: str, username: str) -> Iterator[tuple[str, Any]]:
    """``username`` logged in on a PC, then on a phone: ("pc" or "phone", the page)."""
    for name, viewport, mobile in (
        ("pc", {"width": 1280, "height": 900}, False),
        ("phone", {"width": 390, "height": 844}, True),
    ):
        context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=mobile)
        page = context.new_page()
        log_in(page, url, username)
        yield name, page
        context.close()


def test_a_record_plays_back_its_curves(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f = live_server.factory
    lab = f.institution(region_code="360403", name="九江回放测试检测站")
    staff = f.user(Role.INSTITUTION_STAFF, institution=lab, username="lab_play", commit=False)
    rng = random.Random(4)
    now = utcnow()
    common = {"message_id": "5d0c8d0e-2f6b-4b8a-9a31-7c4e0f9b2a11", "institution_code": lab.code}
    specimens = []
    for n, peak in enumerate((812.0, 798.0, 825.0), start=1):
        curve = synthetic.concrete(rng, peak_kn=peak, rate_kn_s=13.5)
        specimens.append(
            {"position": n, "values": {"peak_kn": round(float(curve.force.max()), 2)},
             "curve": {"points": points(curve)}}
        )  # fmt: skip
    record = service.store_record(
        db=f.db,
        settings=f.settings,
        institution=lab,
        data=RecordIn.model_validate(
            {
                **common,
                "number": "JL-PLAY-001",
                "kind": "concrete_compression",
                "item_code": "0108",
                "standard": "GB/T 50081-2019",
                "lab_name": "力学室",
                "equipment": ["SB-003"],
                "inspectors": [{"name": "王检测"}],
                "started_at": (now - dt.timedelta(minutes=12)).isoformat(),
                "ended_at": (now - dt.timedelta(minutes=5)).isoformat(),
                "acquisition": "auto",
                "grade": "C30",
                "age_days": 28,
                "specimen_size_mm": 150,
                "specimens": specimens,
                "results": {"strength_mpa": 36.1},
                "judgement": "conforming",
            }
        ),
        received_at=now,
    )
    first = specimens[0]["values"]["peak_kn"]
    service.store_revision(
        db=f.db,
        institution=lab,
        data=RevisionIn.model_validate(
            {
                **common,
                "record_number": "JL-PLAY-001",
                "field": "specimens[1].peak_kn",
                "before": first,
                "after": round(first - 2.5, 2),
                "reason": "核对原始记录表后更正",
                "revised_by": "王检测",
                "revised_at": now.isoformat(),
            }
        ),
        received_at=now,
    )
    f.db.commit()
    record_id, username = record.id, staff.username
    f.db.rollback()

    for name, page in _on_a_pc_and_a_phone(browser, live_server.url, username):
        page.goto(f"{live_server.url}/testing/records/{record_id}")
        box = page.locator("[data-testid=playback-1]")
        wait_for(
            page,
            "document.querySelector('[data-testid=playback-1]').dataset.ready === '1'",
            timeout=15_000,
        )
        assert int(box.get_attribute("data-points")) == record_points(specimens[0])
        box.locator("[data-speed]").select_option("100")
        box.locator("[data-play]").click()
        wait_for(
            page,
            "document.querySelector('[data-testid=playback-1]').dataset.played === '1'",
            timeout=20_000,
        )
        assert "kN" in box.locator("[data-clock]").inner_text()
        # the chart drew on its canvas
        drawn = page.evaluate(
            """() => {
                 const c = document.querySelector('[data-testid=playback-1] canvas');
                 const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let ink = 0; for (let i = 3; i < px.length; i += 4) if (px[i] > 0) ink++;
                 return ink;
               }"""
        )
        assert drawn > 1000
        revisions = page.locator("[data-testid=revisions]").inner_text()
        assert "核对原始记录表后更正" in revisions
        page.screenshot(path=str(out / f"testing-record-{name}.png"), full_page=True)


def record_points(specimen: dict) -> int:
    return len(specimen["curve"]["points"])


def test_statistics_and_on_site_pages(live_server, browser, tmp_path):
    """A station's statistics (each number a link to its records) and a lab's on-site plan
    and record with its key photo, on a PC and on a phone."""
    out = shots(tmp_path)
    onsite_id, username = _statistics_world(live_server.factory)
    for name, page in _on_a_pc_and_a_phone(browser, live_server.url, username):
        _statistics_link_to_records(page, live_server.url, out, name)
        _on_site_pages(page, live_server.url, onsite_id, out, name)


def _statistics_world(f) -> tuple[int, str]:
    """A Jiujiang lab's three records (one uploaded late, one nonconforming), an on-site plan
    in time and one late with its record and key photo, the rules swept; the station's user.
    Returns the on-site record's id and the station's user name."""
    from jcjg.alerts.engine import sweep

    lab = f.institution(region_code="360403", name="九江统计测试检测站")
    project = f.project(region_code="360403", name="八里湖安置房三期")
    station = f.user(Role.STATION, region_code="360403", username="station_stats", commit=False)
    now = utcnow()
    _three_records(f, lab, project, now)
    onsite = _on_site_plans_and_record(f, lab, project, now)
    f.db.commit()
    sweep(f.db)
    f.db.commit()
    found = onsite.id, station.username
    f.db.rollback()
    return found


def _three_records(f, lab, project, now) -> None:
    rng = random.Random(9)
    for n, (minutes_ago, judgement) in enumerate(
        ((5, "conforming"), (240, "conforming"), (8, "nonconforming")), start=1
    ):
        specimens = [
            {"position": k, "values": {"peak_kn": round(float(c.force.max()), 2)},
             "curve": {"points": points(c)}}
            for k, c in enumerate(
                (synthetic.concrete(rng, peak_kn=p, rate_kn_s=13.5) for p in (700, 705, 698)),
                start=1,
            )
        ]  # fmt: skip
        ended = now - dt.timedelta(minutes=minutes_ago)
        service.store_record(
            db=f.db, settings=f.settings, institution=lab,
            data=RecordIn.model_validate({
                "message_id": f"00000000-0000-4000-8000-00000000000{n}",
                "institution_code": lab.code, "number": f"JL-STAT-{n:03d}",
                "kind": "concrete_compression", "item_code": "0108", "lab_name": "力学室",
                "project_code": project.code,
                "started_at": (ended - dt.timedelta(minutes=8)).isoformat(),
                "ended_at": ended.isoformat(), "acquisition": "auto", "grade": "C30",
                "age_days": 28, "specimen_size_mm": 150, "specimens": specimens,
                "judgement": judgement,
            }),
            received_at=now,
        )  # fmt: skip


def _on_site_plans_and_record(f, lab, project, now):
    import io

    from PIL import Image

    from jcjg.core.blobs import blob_store
    from jcjg.core.workdays import BEIJING, add_working_days
    from jcjg.testing.schemas import OnSitePlanIn, OnSiteRecordIn

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 120, 150)).save(buffer, "JPEG")
    photo = blob_store(f.settings).put(buffer.getvalue())
    start = dt.datetime.combine(add_working_days(now.date(), 4), dt.time(9), BEIJING)
    for number, planned in (("FA-STAT-1", start), ("FA-STAT-2", now + dt.timedelta(hours=20))):
        service.store_plan(
            db=f.db, institution=lab,
            data=OnSitePlanIn.model_validate({
                "message_id": f"10000000-0000-4000-8000-{number[-1]:0>12}",
                "institution_code": lab.code, "number": number, "project_code": project.code,
                "item_code": "0203",
                "method_statement": "回弹法检测 3 层梁板混凝土强度，抽检 12 个构件。",
                "planned_start": planned.isoformat(),
                "planned_end": (planned + dt.timedelta(hours=8)).isoformat(),
                "quantity": "12 个构件", "location": "3 层梁板",
            }),
            received_at=now,
        )  # fmt: skip
    return service.store_onsite_record(
        db=f.db, institution=lab,
        data=OnSiteRecordIn.model_validate({
            "message_id": "20000000-0000-4000-8000-000000000001", "institution_code": lab.code,
            "number": "JL-XC-001", "plan_number": "FA-STAT-2", "project_code": project.code,
            "item_code": "0203", "started_at": (now - dt.timedelta(hours=3)).isoformat(),
            "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
            "latitude": 29.7113, "longitude": 116.0022, "photos": [photo],
            "inspectors": [{"name": "王检测"}], "data": {"测区数": 10, "推定强度_MPa": 32.6},
        }),
        received_at=now,
    )  # fmt: skip


def _statistics_link_to_records(page, url: str, out, name: str) -> None:
    page.goto(f"{url}/testing/stats")
    page.locator("#stats-chart canvas").first.wait_for(state="attached")  # the chart first
    page.click("[data-testid=stats-figure] details.data-table > summary")  # then its table
    row = page.locator("[data-testid=stats-table] tbody tr", has_text="九江统计测试检测站")
    assert row.locator("td").nth(1).inner_text() == "3"
    assert row.locator("td").nth(6).inner_text() == "1"  # nonconforming
    page.screenshot(path=str(out / f"testing-stats-{name}.png"), full_page=True)
    row.locator("td").nth(4).locator("a").click()  # the late uploads
    page.wait_for_url("**/testing/records?**rule=late_upload**")
    listed = page.locator("[data-testid=records-table] tbody tr")
    assert listed.count() == 1
    assert "JL-STAT-002" in listed.inner_text()


def _on_site_pages(page, url: str, onsite_id: int, out, name: str) -> None:
    page.goto(f"{url}/testing/onsite")
    plans = page.locator("[data-testid=onsite-plans]").inner_text()
    assert "FA-STAT-1" in plans
    assert "现场检测方案未按时上传" in plans
    page.screenshot(path=str(out / f"testing-onsite-{name}.png"), full_page=True)
    page.goto(f"{url}/testing/onsite/records/{onsite_id}")
    img = page.locator("[data-testid=onsite-media] img")
    wait_for(page, "document.querySelector('[data-testid=onsite-media] img').naturalWidth > 0")
    assert img.evaluate("i => i.naturalWidth") == 640
    assert "在项目电子围栏内" in page.locator("[data-testid=onsite-position]").inner_text()
    page.screenshot(path=str(out / f"testing-onsite-record-{name}.png"), full_page=True)
