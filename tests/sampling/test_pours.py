"""Concrete pours and their specimen sets (003 I(2)), the site's curing room and molds (003 I(3)):
the sets a pour needs, recording a pour on the phone, samples naming their pour and curing,
and the rules specimen_sets_short, site_curing_missing and molds_short, each with a case that
fires and one that does not."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.errors import PermissionDenied, ValidationFailed
from jcjg.sampling import pours
from jcjg.sampling.choices import Curing
from jcjg.sampling.models import ConcretePour, Sample
from tests.factories import login, page_csrf
from tests.sampling.conftest import NOW, Chain, principal_of

HTML = {"accept": "text/html"}


def _pour(chain: Chain, volume: float = 250.0, hours: float = 5.0, **kw: object) -> ConcretePour:
    started = kw.pop("started", NOW - dt.timedelta(hours=hours + 1))
    assert isinstance(started, dt.datetime)
    form = pours.PourForm(
        structure_part=str(kw.pop("part", "3 层梁板")),
        grade=str(kw.pop("grade", "C30")),
        impermeability=str(kw.pop("impermeability", "")),
        volume_m3=volume,
        started_at=started,
        ended_at=started + dt.timedelta(hours=hours),
        bottom_forms=bool(kw.pop("bottom_forms", False)),
    )
    return pours.record_pour(
        db=chain.db,
        principal=principal_of(chain.sampler),
        project_id=chain.project.id,
        form=form,
        now=NOW,
    )


def _sealed(chain: Chain, **kw: object) -> Sample:
    sample = chain.register(**kw)
    chain.seal(sample)
    return sample


def _open(chain: Chain, rule_id: str) -> list[Alert]:
    chain.db.expire_all()
    stmt = select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open")
    return list(chain.db.scalars(stmt))


# --- what a pour needs -------------------------------------------------------------------------


def _needs(volume: float, hours: float = 4, **kw: object) -> dict[str, int]:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    pour = ConcretePour(
        volume_m3=volume,
        started_at=start,
        ended_at=start + dt.timedelta(hours=hours),
        bottom_forms=bool(kw.get("bottom_forms", False)),
        impermeability=str(kw.get("impermeability", "")),
    )
    return {n.curing.value: n.groups for n in pours.needs(pour)}


@pytest.mark.parametrize(
    ("volume", "hours", "standard"),
    [
        (35, 2, 1),  # a small pour: one group
        (100, 4, 1),  # exactly 100 m³
        (100.5, 4, 2),  # just over: two
        (250, 4, 3),
        (250, 20, 3),  # three shifts, three groups by volume
        (60, 20, 3),  # a slow pour over three shifts: one a shift
        (1000, 12, 10),
        (1500, 20, 8),  # a continuous pour over 1,000 m³: one per 200 m³
    ],
)
def test_standard_groups_by_volume_and_shift(volume: float, hours: float, standard: int) -> None:
    assert _needs(volume, hours)["standard"] == standard


def test_other_kinds_follow_the_pour() -> None:
    assert _needs(300) == {"standard": 3}
    assert _needs(300, bottom_forms=True) == {"standard": 3, "form_removal": 1}
    assert _needs(1200, impermeability="P6") == {"standard": 6, "impermeability": 3}
    assert _needs(4100, hours=30)["same_condition"] == 2


def test_a_shift_of_no_hours_is_taken_as_an_hour() -> None:
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    pour = ConcretePour(volume_m3=50, started_at=start, ended_at=start + dt.timedelta(hours=3))
    assert [n.groups for n in pours.needs(pour, shift_hours=0)] == [3]


def test_a_witnessed_sample_is_one_group() -> None:
    samples = [
        Sample(curing="standard", specimen_count=3, status="sealed"),
        Sample(curing="standard", specimen_count=5, status="tested"),  # one group, two spare
        Sample(curing="standard", specimen_count=30, status="received"),  # one tag: one group
        Sample(curing="impermeability", specimen_count=6, status="sealed"),
        Sample(curing="impermeability", specimen_count=3, status="sealed"),  # half a group
        Sample(curing="", specimen_count=3, status="sealed"),  # not declared
        Sample(curing="standard", specimen_count=3, status="sampled"),  # never witnessed
        Sample(curing="standard", specimen_count=3, status="refused"),  # refused at the lab
    ]
    assert pours.groups_of(samples) == {"standard": 3, "impermeability": 1}


# --- recording ---------------------------------------------------------------------------------


def test_recording_checks_every_field(chain: Chain) -> None:
    with pytest.raises(ValidationFailed) as failed:
        pours.record_pour(
            db=chain.db,
            principal=principal_of(chain.sampler),
            project_id=chain.project.id,
            form=pours.PourForm(
                structure_part=" ",
                grade="C33",
                impermeability="P7",
                volume_m3=float("nan"),
                started_at=NOW,
                ended_at=NOW - dt.timedelta(hours=1),
            ),
            now=NOW,
        )
    fields = {e.field: e.message for e in failed.value.errors}
    assert fields == {
        "part": "请填写浇筑部位",
        "grade": "强度等级应为 C10 至 C100，如 C30",
        "impermeability": "抗渗等级应为 P4、P6、P8、P10 或 P12",
        "volume_m3": "浇筑方量应为 0.1 至 100000 立方米",
        "ended_at": "结束时间不能早于开始时间",
    }
    assert chain.db.scalars(select(ConcretePour)).first() is None


@pytest.mark.parametrize(
    ("volume", "start", "hours", "field"),
    [
        (0.0, -2, 1, "volume_m3"),
        (0.04, -2, 1, "volume_m3"),  # would be stored as 0.0
        (1e9, -2, 1, "volume_m3"),
        (100.0, -24 * 40, 1, "ended_at"),  # ended 40 days ago
        (100.0, -2, 24 * 8, "ended_at"),  # a week and a day
        (100.0, 20, 1, "ended_at"),  # tomorrow
    ],
)
def test_recording_refuses_what_cannot_be(
    chain: Chain, volume: float, start: float, hours: float, field: str
) -> None:
    started = NOW + dt.timedelta(hours=start)
    with pytest.raises(ValidationFailed) as failed:
        _pour(chain, volume=volume, hours=hours, started=started)
    assert [e.field for e in failed.value.errors] == [field]


def test_only_the_projects_sampler_records(chain: Chain) -> None:
    other = chain.factory.project(code="XM-OTHER-1")
    with pytest.raises(PermissionDenied):
        pours.record_pour(
            db=chain.db,
            principal=principal_of(chain.sampler),
            project_id=other.id,
            form=pours.PourForm(structure_part="基础", grade="C30", volume_m3=10,
                                started_at=NOW, ended_at=NOW),
            now=NOW,
        )  # fmt: skip
    with pytest.raises(PermissionDenied):
        pours.record_pour(
            db=chain.db,
            principal=principal_of(chain.witness),
            project_id=chain.project.id,
            form=pours.PourForm(structure_part="基础", grade="C30", volume_m3=10,
                                started_at=NOW, ended_at=NOW),
            now=NOW,
        )  # fmt: skip


def test_a_sample_names_its_projects_pour_and_its_curing(chain: Chain) -> None:
    pour = _pour(chain)
    sample = chain.register(curing="standard", pour_id=pour.id)
    assert (sample.curing, sample.pour_id) == ("standard", pour.id)
    other = chain.factory.project(code="XM-OTHER-2")
    foreign = ConcretePour(project_id=other.id, region_code=other.region_code,
                           structure_part="基础", grade="C30", volume_m3=10, started_at=NOW,
                           ended_at=NOW, recorded_by=chain.sampler.id)  # fmt: skip
    chain.db.add(foreign)
    chain.db.flush()
    for kw, field, message in (
        ({"pour_id": foreign.id, "curing": "standard"}, "pour_id", "请选择本项目登记的浇筑"),
        ({"pour_id": 10**15, "curing": "standard"}, "pour_id", "请选择本项目登记的浇筑"),
        ({"pour_id": pour.id}, "curing", "从浇筑取样的试件请选择养护方式"),
        ({"curing": "steam\x00"}, "curing", "请选择养护方式"),
        (
            {"curing": "standard", "material": "热轧带肋钢筋"},
            "curing",
            "只有混凝土、砂浆试件填写养护方式",
        ),
        # cast two hours after the pour ended (an hour's slack allowed)
        (
            {
                "pour_id": pour.id,
                "curing": "standard",
                "at": NOW + dt.timedelta(hours=1, minutes=20),
            },
            "pour_id",
            "制样时间不在这次浇筑的时间内（前后各 1 小时）",
        ),
    ):
        with pytest.raises(ValidationFailed) as failed:
            chain.register(**kw)
        assert {e.field: e.message for e in failed.value.errors} == {field: message}


# --- the rules ---------------------------------------------------------------------------------


def test_specimen_sets_short_fires_a_day_after_a_short_pour(chain: Chain) -> None:
    enough = _pour(chain, volume=180, part="2 层柱")  # two standard groups
    _sealed(chain, curing="standard", pour_id=enough.id)
    _sealed(chain, curing="standard", pour_id=enough.id, specimen_count=3)
    short = _pour(chain, volume=300, bottom_forms=True, impermeability="P6")
    _sealed(chain, curing="standard", pour_id=short.id)
    _sealed(chain, curing="impermeability", pour_id=short.id, specimen_count=6)
    chain.register(curing="standard", pour_id=short.id)  # never witnessed: not counted
    # the day after the pour ended is not over yet: nothing judged
    run_rule(chain.db, "specimen_sets_short", now=NOW + dt.timedelta(hours=12))
    assert _open(chain, "specimen_sets_short") == []
    run_rule(chain.db, "specimen_sets_short", now=NOW + dt.timedelta(hours=30))
    alerts = _open(chain, "specimen_sets_short")
    assert [a.subject_id for a in alerts] == [str(short.id)]
    facts = alerts[0].facts
    assert facts["不足"] == ["标准养护少 2 组", "拆模（同条件养护）少 1 组"]
    assert (
        "标准养护：应留置 3 组，实有 1 组（每 100 m³ 一组；每工作班至少一组（1 个工作班））"
        in (facts["留置"])
    )
    impermeable = "抗渗（标准养护）：应留置 1 组，实有 1 组（每 500 m³ 一组（每组 6 个））"
    assert impermeable in facts["留置"]
    # the missing groups are witnessed (late): the alert closes
    for curing in ("standard", "standard", "form_removal"):
        _sealed(chain, curing=curing, pour_id=short.id)
    run_rule(chain.db, "specimen_sets_short", now=NOW + dt.timedelta(hours=31))
    assert _open(chain, "specimen_sets_short") == []


def test_site_curing_missing(chain: Chain) -> None:
    chain.register(curing="same_condition")  # same-condition cubes cure beside the structure
    run_rule(chain.db, "site_curing_missing", now=NOW)
    assert _open(chain, "site_curing_missing") == []
    sample = chain.register(curing="standard")
    run_rule(chain.db, "site_curing_missing", now=NOW)
    alerts = _open(chain, "site_curing_missing")
    assert [a.project_id for a in alerts] == [chain.project.id]
    assert sample.sample_code in alerts[0].facts["最早的标准养护试件"]
    chain.project.curing_room = "2 号楼东侧标准养护室，温湿度自动控制"
    chain.db.flush()
    run_rule(chain.db, "site_curing_missing", now=NOW)
    assert _open(chain, "site_curing_missing") == []


def test_molds_short(chain: Chain) -> None:
    chain.project.cube_molds = 9
    chain.db.flush()
    at = NOW - dt.timedelta(hours=30)
    chain.register(curing="standard", at=at)
    chain.register(curing="same_condition", at=at, specimen_count=6)
    chain.register(curing="standard", at=NOW)  # a day later: the first molds are free again
    # impermeability cones and mortar cubes are not cast in the cube molds
    chain.register(curing="impermeability", at=NOW, specimen_count=6)
    chain.register(curing="standard", at=NOW, material="砂浆试块", specimen_count=6)
    run_rule(chain.db, "molds_short", now=NOW)
    assert _open(chain, "molds_short") == []
    chain.register(curing="standard", at=NOW + dt.timedelta(hours=2), specimen_count=9)
    run_rule(chain.db, "molds_short", now=NOW + dt.timedelta(hours=2))
    alerts = _open(chain, "molds_short")
    assert len(alerts) == 1
    assert alerts[0].facts["同时带模的试件"] == 12
    assert alerts[0].facts["cube_molds"] == 9


# --- the pages ---------------------------------------------------------------------------------


def _error(page: str, name: str) -> str:
    found = re.search(rf'<small id="e-{name}" class="error">([^<]*)</small>', page)
    return found[1] if found else ""


def test_phone_records_a_pour_and_the_project_page_counts_its_sets(
    browser_client: TestClient, chain: Chain
) -> None:
    chain.db.commit()
    http = login(browser_client, chain.sampler.username)
    path = f"/m/projects/{chain.project.id}"
    token = page_csrf(http, path)
    local = utcnow().astimezone(chain.settings.tz)
    bad = http.post(
        f"{path}/pours",
        data={"csrf_token": token, "part": "", "grade": "C30", "volume_m3": "abc",
              "started_at": local.strftime("%Y-%m-%dT%H:%M"), "ended_at": "tomorrow"},
        headers=HTML,
    )  # fmt: skip
    assert bad.status_code == 422
    assert _error(bad.text, "part") == "请填写浇筑部位"
    assert _error(bad.text, "volume_m3")
    assert _error(bad.text, "ended_at") == "时间格式不正确"
    assert chain.db.scalars(select(ConcretePour)).first() is None
    good = http.post(
        f"{path}/pours",
        data={"csrf_token": token, "part": "5 层梁板", "grade": "c35", "impermeability": "",
              "volume_m3": "150", "bottom_forms": "1",
              "started_at": (local - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
              "ended_at": local.strftime("%Y-%m-%dT%H:%M")},
        headers=HTML,
        follow_redirects=True,
    )  # fmt: skip
    assert good.status_code == 200
    assert "浇筑已登记" in good.text
    pour = chain.db.scalars(select(ConcretePour)).one()
    assert (pour.grade, pour.volume_m3, pour.bottom_forms) == ("C35", 150.0, True)
    assert f'<option value="{pour.id}"' in good.text  # the sample form offers it
    sample = chain.register(curing=Curing.STANDARD.value, pour_id=pour.id, at=utcnow())
    chain.seal(sample)
    chain.db.commit()
    browser_client.cookies.clear()
    station = login(browser_client, chain.station.username)
    project_page = station.get(f"/projects/{chain.project.id}", headers=HTML)
    assert "混凝土浇筑与试件留置" in project_page.text
    assert "标准养护 1 / 2" in project_page.text
    assert "拆模（同条件养护） 0 / 1" in project_page.text
    detail = station.get(f"/pours/{pour.id}", headers=HTML)
    assert detail.status_code == 200
    assert "少 1 组" in detail.text
    assert "5 层梁板" in detail.text


def test_pour_page_is_scoped(browser_client: TestClient, chain: Chain) -> None:
    pour = _pour(chain)
    outsider = chain.factory.user(Role.SAMPLER, project_ids=(), commit=False)
    far = chain.factory.user(Role.STATION, region_code="360100", commit=False)  # another city
    chain.db.commit()
    for user in (outsider, far):
        browser_client.cookies.clear()
        http = login(browser_client, user.username)
        assert http.get(f"/pours/{pour.id}", headers=HTML).status_code == 404
    browser_client.cookies.clear()
    http = login(browser_client, chain.station.username)
    assert http.get(f"/pours/{pour.id}", headers=HTML).status_code == 200
    assert http.get(f"/pours/{10**15}", headers=HTML).status_code in (404, 422)


@pytest.mark.parametrize("raw", ["²", "①", "12abc", "99999999999999999999", "-3", "\u0663"])
def test_the_sample_form_refuses_a_pour_that_is_not_an_id(
    browser_client: TestClient, chain: Chain, raw: str
) -> None:
    chain.db.commit()
    http = login(browser_client, chain.sampler.username)
    path = f"/m/projects/{chain.project.id}"
    response = http.post(
        f"{path}/samples",
        data={"csrf_token": page_csrf(http, path), "sample_code": chain.next_code(),
              "material": "混凝土试块", "specimen_count": "3", "curing": "standard",
              "pour_id": raw},
        headers=HTML,
    )  # fmt: skip
    assert response.status_code == 422
    assert _error(response.text, "pour_id") == "请选择本项目登记的浇筑"


def test_the_pages_count_shifts_as_the_region_sets_them(chain: Chain) -> None:
    from jcjg.alerts.models import RuleThreshold

    pour = _pour(chain, volume=50, hours=5)
    assert pours.shift_hours(chain.db, chain.project.region_code) == 8.0
    chain.db.add(RuleThreshold(rule_id="specimen_sets_short", region_code="360400",
                               key="shift_hours", value=4))  # fmt: skip
    chain.db.flush()
    shift = pours.shift_hours(chain.db, chain.project.region_code)  # the city's, for its county
    assert shift == 4.0
    assert pours.shortfall(pour, [], shift)[0]["needed"] == 2
