"""A curve plays back in the browser: the record's page draws each specimen's force-time curve
with ECharts and replays it; on a PC and on a phone."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.testing import service, synthetic
from jcjg.testing.schemas import RecordIn, RevisionIn
from tests.browser.test_sampling_flow import shots
from tests.factories import PASSWORD
from tests.testing.conftest import points

pytestmark = pytest.mark.browser


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

    for name, viewport, mobile in (
        ("pc", {"width": 1280, "height": 900}, False),
        ("phone", {"width": 390, "height": 844}, True),
    ):
        context = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=mobile)
        page = context.new_page()
        page.goto(live_server.url + "/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        page.goto(f"{live_server.url}/testing/records/{record_id}")
        box = page.locator("[data-testid=playback-1]")
        page.wait_for_function(
            "document.querySelector('[data-testid=playback-1]').dataset.ready === '1'",
            timeout=15_000,
        )
        assert int(box.get_attribute("data-points")) == record_points(specimens[0])
        box.locator("[data-speed]").select_option("100")
        box.locator("[data-play]").click()
        page.wait_for_function(
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
        context.close()


def record_points(specimen: dict) -> int:
    return len(specimen["curve"]["points"])
