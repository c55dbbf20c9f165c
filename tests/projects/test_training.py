"""Witnesses' and samplers' training (003 IV(3)): no assignment without a valid pass, the rule
``untrained_on_duty`` for those on duty without one, the stations' spot checks and the rule
``on_duty_mismatch``, and the pages: the training list, its form, a person's history, the
spot-check form and the appointed person's photo (audited)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core.blobs import blob_store
from jcjg.core.blobs import digest_of as blob_digest
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.projects.models import MemberTraining, ProjectMember, SpotCheck
from tests.factories import login, page_csrf, photo
from tests.lists import sheet
from tests.sampling.conftest import Chain

HTML = {"accept": "text/html"}


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


def open_alerts(db, rule_id: str) -> list[Alert]:
    return list(db.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open")))


def give_pass(
    db,
    user,
    role: str,
    *,
    passed: bool = True,
    start: dt.date | None = None,
    valid_until: dt.date | None = None,
    region: str = "360400",
) -> MemberTraining:
    row = MemberTraining(
        region_code=region, user_id=user.id, role=role, course="见证取样上岗培训",
        start_date=start or dt.date(2025, 6, 1), hours=16, passed=passed,
        valid_until=valid_until,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


@pytest.fixture
def station(browser_client, chain: Chain, db):
    login(browser_client, chain.station.username)
    return browser_client


# --- the refusal --------------------------------------------------------------------------------


def _assign(client, chain: Chain, username: str, role: str = "sampler", starts: str = "2026-12-01"):
    token = page_csrf(client, f"/projects/{chain.project.id}")
    data = {"username": username, "role": role, "starts_on": starts, "csrf_token": token}
    return client.post(
        f"/projects/{chain.project.id}/members", data=data, headers=HTML, follow_redirects=False
    )


def test_a_person_without_a_valid_pass_is_not_assigned(station, chain: Chain, db, factory):
    newcomer = factory.user(Role.SAMPLER, username="new_sampler", commit=False)
    give_pass(db, newcomer, "witness")  # a pass, for the other role
    give_pass(db, newcomer, "sampler", passed=False)  # an exam failed
    give_pass(db, newcomer, "sampler", valid_until=dt.date(2026, 11, 30))  # expires the day before
    give_pass(db, newcomer, "sampler", start=dt.date(2026, 12, 5))  # taken after the first day
    db.commit()
    before = count(db, ProjectMember)
    refused = _assign(station, chain, newcomer.username)
    assert refused.status_code == 422
    assert "没有在2026-12-01有效的取样人员培训考核合格记录" in refused.text
    assert "不能上岗" in refused.text
    assert count(db, ProjectMember) == before
    give_pass(db, newcomer, "sampler", valid_until=dt.date(2027, 6, 1))
    db.commit()
    assert _assign(station, chain, newcomer.username).status_code == 303
    assert count(db, ProjectMember) == before + 1


# --- the rules ----------------------------------------------------------------------------------


def test_untrained_on_duty_fires_for_no_pass_and_an_expired_one(chain: Chain, db):
    today = beijing_date(utcnow())
    give_pass(db, chain.witness, "witness", valid_until=today - dt.timedelta(days=1))
    run_rule(db, "untrained_on_duty")
    alerts = {a.subject_repr: a for a in open_alerts(db, "untrained_on_duty")}
    assert set(alerts) == {
        f"取样人员 {chain.sampler.display_name}",
        f"见证人员 {chain.witness.display_name}",
    }
    witness = alerts[f"见证人员 {chain.witness.display_name}"]
    assert witness.project_id == chain.project.id
    assert witness.facts["last_valid_until"] == (today - dt.timedelta(days=1)).isoformat()


def test_untrained_on_duty_stays_quiet_with_valid_passes_and_off_duty(chain: Chain, db):
    give_pass(db, chain.witness, "witness")  # no expiry
    give_pass(
        db, chain.sampler, "sampler", valid_until=beijing_date(utcnow()) + dt.timedelta(days=1)
    )
    off = db.scalars(
        select(ProjectMember).where(ProjectMember.project_id == chain.project.id)
    ).all()
    run_rule(db, "untrained_on_duty")
    assert open_alerts(db, "untrained_on_duty") == []
    # a member whose duty has ended needs no pass
    db.execute(MemberTraining.__table__.delete())
    for member in off:
        member.ends_on = dt.date(2026, 2, 1)
    db.flush()
    run_rule(db, "untrained_on_duty")
    assert open_alerts(db, "untrained_on_duty") == []


def test_a_pass_that_expires_on_duty_is_found_by_the_next_days_sweep(chain: Chain, db):
    today = beijing_date(utcnow())
    give_pass(db, chain.witness, "witness", valid_until=today)
    give_pass(db, chain.sampler, "sampler", valid_until=today + dt.timedelta(days=30))
    run_rule(db, "untrained_on_duty")
    assert open_alerts(db, "untrained_on_duty") == []  # the last day of the certificate
    run_rule(db, "untrained_on_duty", now=utcnow() + dt.timedelta(days=1))  # the daily sweep
    (alert,) = open_alerts(db, "untrained_on_duty")
    assert alert.subject_repr == f"见证人员 {chain.witness.display_name}"
    assert alert.facts["last_valid_until"] == today.isoformat()


def test_a_new_pass_closes_the_alert_at_once(station, chain: Chain, db):
    give_pass(db, chain.witness, "witness")
    db.commit()
    run_rule(db, "untrained_on_duty")
    db.commit()
    assert len(open_alerts(db, "untrained_on_duty")) == 1  # the sampler
    token = page_csrf(station, "/projects/trainings/new")
    answer = station.post(
        "/projects/trainings",
        data={"username": chain.sampler.username, "role": "sampler", "course": "上岗培训",
              "start_date": "2026-01-02", "passed": "true", "exam_score": "86.5",
              "csrf_token": token},
        headers=HTML, follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/projects/people/{chain.sampler.id}?saved=1"
    assert open_alerts(db, "untrained_on_duty") == []


def _spot(client, chain: Chain, **override):
    token = page_csrf(client, f"/projects/{chain.project.id}/spot-checks")
    data = {"role": "witness", "found_name": chain.witness.display_name, "is_appointed": "true",
            "latitude": "29.7", "longitude": "116.0", "csrf_token": token}  # fmt: skip
    files = {"photo": ("p.jpg", photo(5), "image/jpeg")}
    for key, value in override.items():
        if value is None:
            (files if key == "photo" else data).pop(key)
        elif key == "photo":
            files["photo"] = value
        else:
            data[key] = value
    return client.post(
        f"/projects/{chain.project.id}/spot-checks", data=data, files=files, headers=HTML,
        follow_redirects=False,
    )  # fmt: skip


def test_a_spot_check_that_finds_someone_else_raises_on_duty_mismatch(station, chain: Chain, db):
    assert _spot(station, chain).status_code == 303
    assert open_alerts(db, "on_duty_mismatch") == []  # the appointed witness: quiet
    answer = _spot(station, chain, found_name="张冒名", is_appointed="false")
    assert answer.status_code == 303
    (alert,) = open_alerts(db, "on_duty_mismatch")
    assert alert.project_id == chain.project.id
    assert alert.facts["found_name"] == "张冒名"
    assert alert.facts["appointed_name"] == chain.witness.display_name
    checks = db.scalars(select(SpotCheck).order_by(SpotCheck.id)).all()
    assert [c.is_appointed for c in checks] == [True, False]
    assert checks[0].member_id is not None
    assert checks[0].photo_sha256
    page = station.get(f"/projects/{chain.project.id}/spot-checks", headers=HTML).text
    assert "张冒名" in page
    assert "不一致" in page


def test_nobody_appointed_cannot_be_the_appointed_one(station, chain: Chain, db):
    for member in db.scalars(select(ProjectMember)):
        member.ends_on = dt.date(2026, 2, 1)
    db.commit()
    assert _spot(station, chain).status_code == 303
    (check,) = db.scalars(select(SpotCheck)).all()
    assert (check.member_id, check.is_appointed) == (None, False)
    (alert,) = open_alerts(db, "on_duty_mismatch")
    assert alert.facts["appointed_name"] == "（未聘任）"


@pytest.mark.parametrize(
    ("override", "text"),
    [
        ({"photo": None}, "photo"),
        ({"photo": ("p.txt", b"not a photo", "text/plain")}, ""),
        ({"found_name": ""}, ""),
        ({"found_name": "名" * 65}, ""),
        ({"found_name": "张\x00三"}, ""),
        ({"is_appointed": "maybe"}, ""),
        ({"role": "boss"}, ""),
        ({"latitude": "95"}, ""),
        ({"longitude": None}, "经度和纬度须同时提供"),
    ],
)
def test_bad_spot_checks_are_refused_with_nothing_written(
    station, chain: Chain, db, override, text
):
    answer = _spot(station, chain, **override)
    assert answer.status_code == 422, override
    assert text in answer.text
    assert count(db, SpotCheck) == 0


def test_who_may_spot_check(browser_client, chain: Chain, db, factory):
    elsewhere = factory.user(Role.STATION, region_code="360100")
    db.commit()
    login(browser_client, chain.witness.username)
    assert (
        browser_client.get(f"/projects/{chain.project.id}/spot-checks", headers=HTML).status_code
        == 403
    )
    browser_client.cookies.clear()
    login(browser_client, elsewhere.username)
    assert (
        browser_client.get(f"/projects/{chain.project.id}/spot-checks", headers=HTML).status_code
        == 404
    )
    assert browser_client.get("/projects/2147483648/spot-checks", headers=HTML).status_code == 404
    no_csrf = browser_client.post(
        f"/projects/{chain.project.id}/spot-checks", data={"found_name": "x"}, headers=HTML
    )
    assert no_csrf.status_code == 403
    assert count(db, SpotCheck) == 0


def test_the_appointed_persons_photo_is_for_the_station_and_audited(
    browser_client, chain: Chain, db, settings
):
    member = db.scalars(select(ProjectMember).where(ProjectMember.role == "witness")).first()
    member.photo_sha256 = blob_store(settings).put(photo(42))
    db.commit()
    login(browser_client, chain.station.username)
    page = browser_client.get(f"/projects/{chain.project.id}/spot-checks", headers=HTML).text
    assert f"/projects/members/{member.id}/photo" in page
    before = db.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "unmask")
    )
    answer = browser_client.get(f"/projects/members/{member.id}/photo")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == "private, no-store"
    after = db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "unmask"))
    assert after == before + 1
    browser_client.cookies.clear()
    login(browser_client, chain.witness.username)  # a witness checks no one
    assert browser_client.get(f"/projects/members/{member.id}/photo").status_code == 403


# --- the training pages -------------------------------------------------------------------------


def test_the_training_list_filters_and_exports(station, chain: Chain, db):
    today = beijing_date(utcnow())
    give_pass(db, chain.witness, "witness", valid_until=today + dt.timedelta(days=30))
    give_pass(db, chain.sampler, "sampler", valid_until=today - dt.timedelta(days=3))
    give_pass(db, chain.sampler, "sampler", passed=False)
    give_pass(db, chain.sampler, "sampler", region="360100")  # Nanchang's: never shown here
    db.commit()
    page = station.get("/projects/trainings", headers=HTML).text
    assert 'data-testid="list-count">共 3 条' in page
    for state, n in (("valid", 1), ("expired", 1), ("failed", 1)):
        page = station.get(f"/projects/trainings?state={state}", headers=HTML).text
        assert f'data-testid="list-count">共 {n} 条' in page, state
    page = station.get(f"/projects/trainings?q={chain.witness.display_name}", headers=HTML).text
    assert 'data-testid="list-count">共 1 条' in page
    rows = sheet(station.get("/projects/trainings?role=sampler&format=xlsx"))
    assert rows[0][:3] == ["姓名", "岗位", "培训内容"]
    assert sorted(r[7] for r in rows[1:]) == ["合格已过期", "未通过考核"]


def test_the_training_form_refuses_bad_input(station, chain: Chain, db):
    token = page_csrf(station, "/projects/trainings/new")
    good = {"username": chain.witness.username, "role": "witness", "course": "上岗培训",
            "start_date": "2026-03-01", "passed": "true", "csrf_token": token}  # fmt: skip
    for change, text in (
        ({"username": "nobody"}, "没有该账号"),
        ({"role": "sampler"}, "没有该账号"),  # a witness's account is not a sampler's
        ({"course": ""}, ""),
        ({"exam_score": "101"}, ""),
        ({"exam_score": "ninety"}, ""),
        ({"hours": "-1"}, ""),
        ({"start_date": "昨天"}, ""),
        ({"valid_until": "2026-01-01"}, "有效期不能早于培训日期"),
        ({"course": "培\x1b训"}, ""),
    ):
        answer = station.post("/projects/trainings", data={**good, **change}, headers=HTML)
        assert answer.status_code == 422, change
        assert text in answer.text
    assert count(db, MemberTraining) == 0
    assert (
        station.post(
            "/projects/trainings", data={**good, "csrf_token": ""}, headers=HTML
        ).status_code
        == 403
    )
    syllabus = "第一章 见证取样\n第二章 封样"
    ok = station.post(
        "/projects/trainings",
        data={**good, "syllabus": syllabus},
        headers=HTML,
        follow_redirects=False,
    )
    assert ok.status_code == 303
    row = db.scalars(select(MemberTraining)).one()
    assert (row.region_code, row.role, row.passed, row.syllabus) == (
        "360400",
        "witness",
        True,
        syllabus,
    )


def test_a_persons_history_and_who_sees_it(browser_client, chain: Chain, db, factory):
    give_pass(db, chain.witness, "witness", valid_until=dt.date(2030, 1, 1))
    elsewhere = factory.user(Role.STATION, region_code="360100")
    sampler = factory.user(Role.SAMPLER)
    db.commit()
    login(browser_client, chain.station.username)
    _spot(browser_client, chain, found_name="张冒名", is_appointed="false")
    page = browser_client.get(f"/projects/people/{chain.witness.id}", headers=HTML)
    assert page.status_code == 200
    for text in ("合格且有效", "2030-01-01", chain.project.name, "张冒名", "与聘任人员不一致"):
        assert text in page.text
    for bad in ("/projects/people/2147483648", f"/projects/people/{chain.station.id}"):
        assert browser_client.get(bad, headers=HTML).status_code == 404
    browser_client.cookies.clear()
    login(browser_client, chain.witness.username)  # his own
    assert (
        browser_client.get(f"/projects/people/{chain.witness.id}", headers=HTML).status_code == 200
    )
    for outsider in (elsewhere, sampler):
        browser_client.cookies.clear()
        login(browser_client, outsider.username)
        answer = browser_client.get(f"/projects/people/{chain.witness.id}", headers=HTML)
        assert answer.status_code == 404, outsider.role


def test_a_registered_photo_must_show_a_face(station, chain: Chain, db, factory):
    """The photo the identity checks compare with is refused when no face is found in it, before
    anything is stored; a portrait is taken and its descriptor kept."""
    from jcjg.demo import faces

    newcomer = factory.user(Role.SAMPLER, username="new_sampler2", commit=False)
    give_pass(db, newcomer, "sampler", valid_until=dt.date(2027, 6, 1))
    db.commit()
    token = page_csrf(station, f"/projects/{chain.project.id}")
    data = {"username": newcomer.username, "role": "sampler", "starts_on": "2026-12-01",
            "csrf_token": token}  # fmt: skip
    before = count(db, ProjectMember)
    plain = photo(11)  # a generated picture with no face in it
    refused = station.post(
        f"/projects/{chain.project.id}/members", data=data, headers=HTML,
        files={"photo": ("p.jpg", plain, "image/jpeg")}, follow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 422
    assert "照片中未检测到人脸" in refused.text
    assert count(db, ProjectMember) == before
    assert not blob_store(chain.settings).exists(blob_digest(plain))
    broken = station.post(
        f"/projects/{chain.project.id}/members", data=data, headers=HTML,
        files={"photo": ("p.jpg", b"not an image", "image/jpeg")}, follow_redirects=False,
    )  # fmt: skip
    assert broken.status_code == 422
    assert count(db, ProjectMember) == before
    taken = station.post(
        f"/projects/{chain.project.id}/members", data=data, headers=HTML,
        files={"photo": ("p.jpg", faces.collins(), "image/jpeg")}, follow_redirects=False,
    )  # fmt: skip
    assert taken.status_code == 303
    member = db.scalars(select(ProjectMember).where(ProjectMember.user_id == newcomer.id)).one()
    assert member.photo_sha256 == blob_digest(faces.collins())


def test_a_station_records_trainings_only_for_accounts_of_its_region(chain: Chain, db, factory):
    from jcjg.auth.scopes import Principal
    from jcjg.core.errors import ValidationFailed
    from jcjg.projects import training

    far = factory.user(Role.SAMPLER, username="far_sampler", region_code="360402", commit=False)
    nanchang = Principal(user_id=chain.station.id, role=Role.STATION, region_code="360100",
                         permissions=frozenset({"project:train"}))  # fmt: skip
    raw = {"username": far.username, "role": "sampler", "course": "上岗培训",
           "start_date": "2025-01-01", "passed": True}  # fmt: skip
    before = count(db, MemberTraining)
    with pytest.raises(ValidationFailed) as refused:
        training.add_training(db=db, principal=nanchang, raw=raw)
    assert "本辖区没有该账号" in refused.value.errors[0].message
    with pytest.raises(ValidationFailed) as unknown:  # the same answer as for no such account
        training.add_training(db=db, principal=nanchang, raw=raw | {"username": "nobody"})
    assert unknown.value.errors[0].message == refused.value.errors[0].message
    assert count(db, MemberTraining) == before
    jiujiang = Principal(user_id=chain.station.id, role=Role.STATION, region_code="360400",
                         permissions=frozenset({"project:train"}))  # fmt: skip
    assert training.add_training(db=db, principal=jiujiang, raw=raw).region_code == "360400"


def test_the_project_page_marks_members_without_a_registered_photo(station, chain: Chain, db):
    members = db.scalars(
        select(ProjectMember).where(ProjectMember.project_id == chain.project.id)
    ).all()
    members[0].photo_sha256 = None
    db.commit()
    missing = sum(1 for m in members if not m.photo_sha256)
    page = station.get(f"/projects/{chain.project.id}", headers=HTML).text
    assert page.count('data-testid="no-photo"') == missing >= 1
    assert "未登记照片" in page
