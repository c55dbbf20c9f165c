"""Clip exports are limited per account and per institution per day, and in how many run at
once per institution: beyond them a 429 with Retry-After (problem+json for a program, a page
saying why for a browser)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.video import clip_limits
from jcjg.video.models import Camera, Clip
from tests.factories import login, page_csrf
from tests.video.conftest import Site


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "video_clip_exports_per_day_account": 2,
            "video_clip_exports_per_day_institution": 3,
            "video_clip_exports_concurrent": 1,
        }
    )


def exported(db: Session, camera: Camera, user_id: int, at: dt.datetime) -> Clip:
    """A clip row as an export leaves it (no file: only the day's count reads it)."""
    clip = Clip(
        camera_id=camera.id, institution_id=camera.institution_id,
        region_code=camera.region_code, started_at=at, ended_at=at, duration_s=4.0,
        blob_digest="0" * 64, size_bytes=1, manifest={}, signature="", requested_by=user_id,
        created_at=at,
    )  # fmt: skip
    db.add(clip)
    db.commit()
    return clip


def _form(token: str) -> dict[str, str]:
    start = (utcnow() - dt.timedelta(minutes=5)).replace(microsecond=0)
    end = start + dt.timedelta(seconds=7)
    return {"csrf_token": token, "start": start.isoformat(), "end": end.isoformat()}


JSON = {"accept": "application/json"}


class Program:
    """A logged-in client asking for JSON (as the page's script or a program does)."""

    def __init__(self, client, camera: Camera, username: str) -> None:
        client.cookies.clear()
        login(client, username)
        self.client = client
        self.url = f"/video/cameras/{camera.id}/clips"
        self.token = page_csrf(client, f"/video/cameras/{camera.id}")

    def export(self):
        return self.client.post(self.url, data=_form(self.token), headers=JSON)


def test_a_day_of_an_accounts_exports(browser_client, db, settings, site: Site) -> None:
    admin = Program(browser_client, site.camera, site.admin.username)
    now = utcnow()
    yesterday = clip_limits.day_start(settings, now) - dt.timedelta(minutes=1)
    for _ in range(3):  # yesterday's exports do not count
        exported(db, site.camera, site.admin.id, yesterday)
    exported(db, site.camera, site.admin.id, now)
    # within the day's exports: on to the export (no recording then: 422, not 429)
    below = admin.export()
    assert below.status_code == 422, below.text
    exported(db, site.camera, site.admin.id, now)
    refused = admin.export()
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"] == "/problems/clip-export-quota"
    detail = "本账号今天已导出 2 个录像剪辑，每个账号每天最多 2 个，请明天再导出。"
    assert problem["detail"] == detail
    wait = int(refused.headers["retry-after"])
    tomorrow = clip_limits.day_start(settings, now + dt.timedelta(days=1))
    assert abs(wait - (tomorrow - now).total_seconds()) < 5


def test_a_day_of_an_institutions_exports(
    browser_client, db, settings, factory, site: Site
) -> None:
    url = f"/video/cameras/{site.camera.id}/clips"
    now = utcnow()
    exported(db, site.camera, site.staff.id, now)  # its accounts together
    exported(db, site.camera, site.staff.id, now)
    authority = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    for _ in range(3):  # an authority's exports of its cameras are not the institution's
        exported(db, site.camera, authority.id, now)
    factory.db.commit()
    admin = Program(browser_client, site.camera, site.admin.username)
    assert admin.export().status_code == 422
    exported(db, site.camera, site.staff.id, now)
    refused = admin.export()
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("本机构今天已导出 3 个录像剪辑")
    # a browser is told on a page
    page = browser_client.post(url, data=_form(admin.token))
    assert page.status_code == 429
    assert page.headers["content-type"].startswith("text/html")
    assert "本机构今天已导出 3 个录像剪辑，每个机构每天最多 3 个，请明天再导出。" in page.text
    assert int(page.headers["retry-after"]) > 0
    # the authority is held to its own account's day (2): it exported 3
    city = Program(browser_client, site.camera, authority.username)
    assert city.export().json()["detail"].startswith("本账号今天已导出 3 个录像剪辑")


def test_exports_running_at_once(browser_client, db, settings, site: Site) -> None:
    admin = Program(browser_client, site.camera, site.admin.username)
    running = Principal(user_id=site.staff.id, institution_id=site.institution.id)
    with clip_limits.export_slot(settings, running):  # another export of the institution
        refused = admin.export()
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"] == "/problems/clip-export-busy"
        assert refused.headers["retry-after"] == str(clip_limits.BUSY_RETRY_SECONDS)
        # another institution's exports are not held up
        other = Principal(user_id=site.admin.id, institution_id=site.institution.id + 1)
        with clip_limits.export_slot(settings, other):
            pass
    assert admin.export().status_code == 422  # on to the export
    assert db.scalars(select(Clip)).first() is None


def test_the_slots_let_go_when_an_export_fails(settings, site: Site) -> None:
    who = Principal(user_id=site.admin.id, institution_id=site.institution.id)
    with pytest.raises(RuntimeError), clip_limits.export_slot(settings, who):
        raise RuntimeError("ffmpeg failed")
    with clip_limits.export_slot(settings, who):
        pass


def test_a_clip_within_the_limits_is_exported(
    browser_client, db, settings, site: Site, recorder, pieces
) -> None:
    start = (utcnow() - dt.timedelta(minutes=5)).replace(microsecond=0)
    recorder.record(site.camera, pieces[:3], start)
    exported(db, site.camera, site.admin.id, utcnow())
    login(browser_client, site.admin.username)
    token = page_csrf(browser_client, f"/video/cameras/{site.camera.id}")
    form = {
        "csrf_token": token,
        "start": (start + dt.timedelta(seconds=1)).isoformat(),
        "end": (start + dt.timedelta(seconds=5)).isoformat(),
    }
    url = f"/video/cameras/{site.camera.id}/clips"
    assert browser_client.post(url, data=form).status_code == 303
    again = browser_client.post(url, data=form)
    assert again.status_code == 429
    assert "本账号今天已导出 2 个录像剪辑" in again.text
