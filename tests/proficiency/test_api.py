"""The proficiency API (schemes in reach, one scheme, creating, a lab's results, the evaluation)
and the ``proficiency_result`` exchange message, with good and bad inputs."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.proficiency.models import ProficiencyResult
from tests.exchange.conftest import make_lims
from tests.proficiency.conftest import VALUES_A, VALUES_B, evaluate, make_scheme, submit_all


def _auth(factory, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def _new(**extra) -> dict:
    return {
        "code": "PT-API-1",
        "title": "混凝土抗压强度能力验证",
        "parameter_code": "010801",
        "deadline": (beijing_date(utcnow()) + dt.timedelta(days=20)).isoformat(),
    } | extra


def test_a_platform_administrator_names_the_organising_region(client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    lab = factory.institution(region_code="360403")
    body = _new(institution_ids=[lab.id])
    missing = client.post("/api/v1/proficiency/schemes", json=body, headers=_auth(factory, admin))
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "region_code"
    unknown = client.post(
        "/api/v1/proficiency/schemes", json=body | {"region_code": "369999"},
        headers=_auth(factory, admin),
    )  # fmt: skip
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["message"] == "行政区划代码不存在"
    created = client.post(
        "/api/v1/proficiency/schemes", json=body | {"region_code": "360400"},
        headers=_auth(factory, admin),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["region_code"] == "360400"


def test_a_regional_organiser_names_only_a_region_of_its_own(client, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    lab = factory.institution(region_code="360403")
    body = _new(institution_ids=[lab.id])
    elsewhere = client.post(
        "/api/v1/proficiency/schemes", json=body | {"region_code": "360100"},
        headers=_auth(factory, city),
    )  # fmt: skip
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["message"] == "只能组织本辖区内的能力验证"
    county = client.post(
        "/api/v1/proficiency/schemes", json=body | {"region_code": "360403"},
        headers=_auth(factory, city),
    )  # fmt: skip
    assert county.status_code == 201, county.text
    assert county.json()["region_code"] == "360403"


def test_organiser_creates_a_scheme_and_labs_submit_by_api(client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    labs = [factory.institution(region_code="360403") for _ in range(4)]
    headers = _auth(factory, city)
    created = client.post(
        "/api/v1/proficiency/schemes", json=_new(institution_ids=[i.id for i in labs]),
        headers=headers,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["unit"] == "MPa"  # the parameter's
    assert body["participants"] == 4
    assert body["status"] == "open"
    scheme_id = body["id"]
    for n, lab in enumerate(labs):
        staff = factory.user(Role.INSTITUTION_STAFF, institution=lab)
        answer = client.post(
            f"/api/v1/proficiency/schemes/{scheme_id}/results",
            json={"results": [{"sample": "A", "value": 30.0 + n, "expanded_uncertainty": 0.8}]},
            headers=_auth(factory, staff),
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "scheme_code": "PT-API-1", "participant_code": f"P0{n + 1}", "created": 1, "updated": 0,
        }  # fmt: skip
    # the last lab corrects its result before the deadline
    again = client.post(
        f"/api/v1/proficiency/schemes/{scheme_id}/results",
        json={"results": [{"sample": "A", "value": 40.0}]},
        headers=_auth(factory, staff),
    )
    assert again.json()["updated"] == 1
    done = client.post(f"/api/v1/proficiency/schemes/{scheme_id}/evaluate", headers=headers)
    assert done.status_code == 200, done.text
    figures = done.json()["statistics"]["A"]
    assert figures["p"] == 4
    assert {r["participant_code"] for r in done.json()["results"]} == {"P01", "P02", "P03", "P04"}
    # a lab sees the statistics and its own result only, without institution ids
    mine = client.get(f"/api/v1/proficiency/schemes/{scheme_id}", headers=_auth(factory, staff))
    assert mine.status_code == 200
    assert [r["participant_code"] for r in mine.json()["results"]] == ["P04"]
    assert mine.json()["results"][0]["institution_id"] is None
    assert mine.json()["statistics"]["A"]["x_pt"] == figures["x_pt"]
    listed = client.get("/api/v1/proficiency/schemes?status=evaluated", headers=headers).json()
    assert [s["code"] for s in listed["items"]] == ["PT-API-1"]
    # after the evaluation no more results
    late = client.post(
        f"/api/v1/proficiency/schemes/{scheme_id}/results",
        json={"results": [{"sample": "A", "value": 41.0}]},
        headers=_auth(factory, staff),
    )
    assert late.status_code == 409


def test_bad_scheme_requests(client, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    lab = factory.institution(region_code="360403")
    nanchang = factory.institution(region_code="360102")
    headers = _auth(factory, city)
    ok = {"institution_ids": [lab.id]}
    for body, field in (
        (_new(**ok, parameter_code="999999"), "parameter_code"),
        (_new(**ok, parameter_code="0102"), "parameter_code"),
        (_new(**ok, code=""), "code"),
        (_new(**ok, title="混凝土\x00抗压"), "title"),
        (_new(**ok, title="混凝土\u202e抗压"), "title"),
        (_new(institution_ids=[]), "institution_ids"),
        (_new(institution_ids=[2**31]), "institution_ids"),
        (_new(institution_ids=[nanchang.id]), "institution_ids"),
        (_new(**ok, sample_count=3), "sample_count"),
        (_new(**ok, assigned_mode="known"), "body"),
        (_new(**ok, sigma_pt=-1), "sigma_pt"),
        (_new(**ok, score="t"), "score"),
        (_new(**ok, deadline="soon"), "deadline"),
        (_new(**ok, extra=1), "extra"),
    ):
        answer = client.post("/api/v1/proficiency/schemes", json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert any(field in e["field"] for e in answer.json()["errors"]), (field, answer.json())
    assert client.post("/api/v1/proficiency/schemes", content=b"{", headers=headers | {
        "content-type": "application/json"}).status_code in (400, 422)  # fmt: skip
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab)
    refused = client.post(
        "/api/v1/proficiency/schemes", json=_new(**ok), headers=_auth(factory, staff)
    )
    assert refused.status_code == 403
    assert client.post("/api/v1/proficiency/schemes", json=_new(**ok)).status_code == 401
    twice = client.post("/api/v1/proficiency/schemes", json=_new(**ok), headers=headers)
    assert twice.status_code == 201
    again = client.post("/api/v1/proficiency/schemes", json=_new(**ok), headers=headers)
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "code"


def test_bad_result_requests(client, factory, pt):
    staff = factory.user(Role.INSTITUTION_STAFF, institution=pt.labs[0])
    headers = _auth(factory, staff)
    url = f"/api/v1/proficiency/schemes/{pt.scheme.id}/results"
    for body, field in (
        ({"results": [{"sample": "C", "value": 1.0}]}, "sample"),
        ({"results": [{"sample": "A", "value": "x"}]}, "value"),
        ({"results": [{"sample": "A", "value": 1e300}]}, "value"),
        ({"results": [{"sample": "A", "value": 1.0, "coverage_factor": 0}]}, "coverage_factor"),
        (
            {"results": [{"sample": "A", "value": 1.0, "expanded_uncertainty": -1}]},
            "expanded_uncertainty",
        ),
        ({"results": [{"sample": "A", "value": 1.0, "method": "GB\x07"}]}, "method"),
        (
            {"results": [{"sample": "A", "value": 1.0}, {"sample": "A", "value": 2.0}]},
            "results.1.sample",
        ),
        ({"results": []}, "results"),
        ({}, "results"),
    ):
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        assert any(field in e["field"] for e in answer.json()["errors"]), (field, answer.json())
    # a lab not invited, another region's scheme, a huge id
    stranger = factory.user(
        Role.INSTITUTION_STAFF, institution=factory.institution(region_code="360403")
    )
    body = {"results": [{"sample": "A", "value": 1.0}]}
    assert client.post(url, json=body, headers=_auth(factory, stranger)).status_code == 404
    assert (
        client.get(
            f"/api/v1/proficiency/schemes/{pt.scheme.id}", headers=_auth(factory, stranger)
        ).status_code
        == 404
    )
    for bad in (2**31, 0, "x"):
        assert (
            client.post(
                f"/api/v1/proficiency/schemes/{bad}/results", json=body, headers=headers
            ).status_code
            == 404
        )
    # an authority reads but does not submit
    assert client.post(url, json=body, headers=_auth(factory, pt.organiser)).status_code == 403


def test_a_result_after_the_deadline_is_refused(client, factory):
    pt = make_scheme(factory, labs=3, deadline=beijing_date(utcnow()) - dt.timedelta(days=1))
    staff = factory.user(Role.INSTITUTION_STAFF, institution=pt.labs[0])
    answer = client.post(
        f"/api/v1/proficiency/schemes/{pt.scheme.id}/results",
        json={"results": [{"sample": "A", "value": 450.0}]},
        headers=_auth(factory, staff),
    )
    assert answer.status_code == 422
    assert "截止日期" in answer.json()["errors"][0]["message"]


def test_evaluation_needs_enough_results_and_the_organiser(client, factory, pt):
    submit_all(factory, pt, count=2)
    url = f"/api/v1/proficiency/schemes/{pt.scheme.id}/evaluate"
    too_few = client.post(url, headers=_auth(factory, pt.organiser))
    assert too_few.status_code == 422
    assert "少于 3" in too_few.json()["errors"][0]["message"]
    nanchang = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    assert client.post(url, headers=_auth(factory, nanchang)).status_code == 404
    staff = factory.user(Role.INSTITUTION_ADMIN, institution=pt.labs[0])
    assert client.post(url, headers=_auth(factory, staff)).status_code == 403


def test_evaluation_scores_and_the_rule(db, factory, pt):
    submit_all(factory, pt)
    evaluate(factory, pt)
    rows = db.scalars(
        select(ProficiencyResult).where(ProficiencyResult.scheme_id == pt.scheme.id)
    ).all()
    far = [r for r in rows if r.institution_id == pt.labs[-1].id]
    assert {r.signal for r in far} == {"action"}
    assert all(r.signal == "satisfactory" for r in rows if r not in far)
    figures = pt.scheme.statistics
    assert figures["A"]["p"] == 8
    assert 448 < figures["A"]["x_star"] < 452  # the outlier does not drag the robust mean
    alerts = db.scalars(select(Alert).where(Alert.rule_id == "proficiency_unsatisfactory")).all()
    assert len(alerts) == 2  # samples A and B of the far lab
    assert {a.institution_id for a in alerts} == {pt.labs[-1].id}
    assert alerts[0].facts["评价"] == "行动信号（不满意）"
    assert alerts[0].subject_type == "proficiency_scheme"


def test_the_rule_does_not_fire_before_evaluation_or_when_satisfactory(db, factory):
    pt = make_scheme(factory, labs=7)
    submit_all(factory, pt)  # the first seven labs: all close
    assert not db.scalars(select(Alert).where(Alert.rule_id == "proficiency_unsatisfactory")).all()
    evaluate(factory, pt)
    assert not db.scalars(select(Alert).where(Alert.rule_id == "proficiency_unsatisfactory")).all()


def test_a_known_value_with_en_score(db, factory):
    pt = make_scheme(
        factory, labs=3, samples=1, assigned_mode="known", assigned_value=450.0,
        assigned_uncertainty=2.0, sigma_pt=5.0, score="en",
    )  # fmt: skip
    submit_all(factory, pt)
    evaluate(factory, pt)
    rows = {r.institution_id: r for r in db.scalars(select(ProficiencyResult))}
    first = rows[pt.labs[0].id]  # 452 ± 6 against 450 ± 2: En = 2 / sqrt(40)
    assert round(first.en, 4) == round(2 / (40**0.5), 4)
    assert first.signal == "satisfactory"
    assert round(first.z, 2) == 0.4
    assert pt.scheme.statistics["A"]["x_pt"] == 450.0


# --- the exchange message ---------------------------------------------------------------------


def _message(scheme_code: str, institution_code: str, /, **extra) -> dict:
    return {
        "message_id": str(uuid.uuid4()),
        "institution_code": institution_code,
        "scheme_code": scheme_code,
        "results": [
            {
                "sample": "A",
                "value": VALUES_A[0],
                "expanded_uncertainty": 6.0,
                "method": "GB/T 228.1-2021",
            },
            {
                "sample": "B",
                "value": VALUES_B[0],
                "expanded_uncertainty": 6.0,
                "coverage_factor": 2,
            },
        ],
    } | extra


def test_results_by_exchange(client, db, settings, factory, pt):
    lims = make_lims(db, settings, factory, institution=pt.labs[0])
    answer = lims.post(client, "proficiency_result", _message(pt.scheme.code, pt.labs[0].code))
    assert answer.status_code == 200, answer.body
    assert answer.body["results"] == {
        "scheme_code": pt.scheme.code, "participant_code": "P01", "created": 2, "updated": 0,
    }  # fmt: skip
    rows = db.scalars(
        select(ProficiencyResult).where(ProficiencyResult.institution_id == pt.labs[0].id)
    ).all()
    assert {(r.sample, r.source) for r in rows} == {("A", "exchange"), ("B", "exchange")}
    assert all(r.message_id for r in rows)
    again = lims.post(client, "proficiency_result", _message(pt.scheme.code, pt.labs[0].code))
    assert again.body["results"]["updated"] == 2


def test_bad_exchange_messages(client, db, settings, factory, pt):
    lims = make_lims(db, settings, factory, institution=pt.labs[0])
    code, inst = pt.scheme.code, pt.labs[0].code
    strict = [
        ({"results": [{"sample": "A", "value": "452"}]}, "results.0.value"),
        ({"results": [{"sample": "A", "value": True}]}, "results.0.value"),
        (
            {"results": [{"sample": "A", "value": 452.0, "coverage_factor": "2"}]},
            "results.0.coverage_factor",
        ),
        ({"results": [{"sample": "D", "value": 1.0}]}, "results.0.sample"),
        ({"results": []}, "results"),
        ({"scheme_code": "PT\x00"}, "scheme_code"),
        ({"scheme_code": 12}, "scheme_code"),
        ({"surprise": 1}, "surprise"),
    ]
    for extra, field in strict:
        answer = lims.post(client, "proficiency_result", _message(code, inst, **extra))
        assert answer.status_code == 422, (extra, answer.body)
        assert any(e["field"] == field for e in answer.body["errors"]), (field, answer.body)
    # decided when applied: an unknown scheme, a lab not invited, a duplicate sample
    for extra, field in (
        ({"scheme_code": "PT-NONE"}, "scheme_code"),
        (
            {"results": [{"sample": "A", "value": 1.0}, {"sample": "A", "value": 2.0}]},
            "results.1.sample",
        ),
    ):
        answer = lims.post(client, "proficiency_result", _message(code, inst, **extra))
        assert answer.status_code == 422, answer.body
        assert answer.final
        assert answer.final["status"] == "rejected"
        assert any(e["field"] == field for e in answer.body["errors"]), (field, answer.body)
    stranger = make_lims(
        db, settings, factory, institution=factory.institution(region_code="360403")
    )
    refused = stranger.post(client, "proficiency_result", _message(code, stranger.institution.code))
    assert refused.status_code == 422
    assert "未受邀" in refused.body["errors"][0]["message"]
    unknown = stranger.post(
        client, "proficiency_result", _message("PT-NONE", stranger.institution.code)
    )
    # no scheme and a scheme of others answer alike: test numbers cannot be probed
    assert unknown.body["errors"][0]["message"] == refused.body["errors"][0]["message"]
    # another institution's data from this lab's client
    other = lims.post(client, "proficiency_result", _message(code, pt.labs[1].code))
    assert other.status_code == 403
    assert not db.scalars(select(ProficiencyResult)).all()


def test_exchange_after_evaluation_is_rejected(client, db, settings, factory, pt):
    submit_all(factory, pt)
    evaluate(factory, pt)
    lims = make_lims(db, settings, factory, institution=pt.labs[0])
    answer = lims.post(client, "proficiency_result", _message(pt.scheme.code, pt.labs[0].code))
    assert answer.status_code == 422
    assert "统计评价" in answer.body["errors"][0]["message"]


def test_a_city_reads_its_own_labs_results_in_a_provincial_scheme(client, db, factory):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    jiujiang = [factory.institution(region_code="360403") for _ in range(2)]
    nanchang = factory.institution(region_code="360102")
    created = client.post(
        "/api/v1/proficiency/schemes",
        json=_new(institution_ids=[i.id for i in (*jiujiang, nanchang)]),
        headers=_auth(factory, province),
    )
    scheme_id = created.json()["id"]
    for n, lab in enumerate((*jiujiang, nanchang)):
        staff = factory.user(Role.INSTITUTION_STAFF, institution=lab)
        client.post(
            f"/api/v1/proficiency/schemes/{scheme_id}/results",
            json={"results": [{"sample": "A", "value": 30.0 + n}]},
            headers=_auth(factory, staff),
        )
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    seen = client.get(f"/api/v1/proficiency/schemes/{scheme_id}", headers=_auth(factory, city))
    assert seen.status_code == 200
    assert {r["participant_code"] for r in seen.json()["results"]} == {"P01", "P02"}
    assert all(r["institution_id"] is None for r in seen.json()["results"])
    # not the organiser: it does not evaluate
    refused = client.post(
        f"/api/v1/proficiency/schemes/{scheme_id}/evaluate", headers=_auth(factory, city)
    )
    assert refused.status_code == 404
    everything = client.get(
        f"/api/v1/proficiency/schemes/{scheme_id}", headers=_auth(factory, province)
    )
    assert len(everything.json()["results"]) == 3


def test_the_organiser_invites_more_labs_while_results_are_collected(client, db, factory, pt):
    url = f"/api/v1/proficiency/schemes/{pt.scheme.id}/participants"
    headers = _auth(factory, pt.organiser)
    late = factory.institution(region_code="360403")
    far = factory.institution(region_code="360102")  # 南昌: not the organiser's to invite
    for body, status in (
        ({"institution_ids": []}, 422),
        ({"institution_ids": [late.id, late.id]}, 422),
        ({"institution_ids": [far.id]}, 422),
        ({"institution_ids": [pt.labs[0].id]}, 422),  # already invited
        ({"institution_ids": ["1"]}, 422),
        ({"institution_ids": [2**31]}, 422),
        ({"institution_ids": [late.id], "extra": 1}, 422),
    ):
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
    lab_staff = factory.user(Role.INSTITUTION_STAFF, institution=pt.labs[0])
    assert (
        client.post(
            url, json={"institution_ids": [late.id]}, headers=_auth(factory, lab_staff)
        ).status_code
        == 403
    )
    done = client.post(url, json={"institution_ids": [late.id]}, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["participants"] == len(pt.labs) + 1
    staff = factory.user(Role.INSTITUTION_STAFF, institution=late)
    sent = client.post(
        f"/api/v1/proficiency/schemes/{pt.scheme.id}/results",
        json={"results": [{"sample": "A", "value": 452.0}, {"sample": "B", "value": 460.0}]},
        headers=_auth(factory, staff),
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["participant_code"] == f"P{len(pt.labs) + 1:02d}"
    submit_all(factory, pt)
    evaluate(factory, pt)
    closed = client.post(url, json={"institution_ids": [far.id]}, headers=headers)
    assert closed.status_code == 409


def test_invited_institutions_administrators_are_told(db, factory):
    from jcjg.notify.models import Notification

    labs = [factory.institution(region_code="360403") for _ in range(2)]
    admins = [factory.user(Role.INSTITUTION_ADMIN, institution=lab) for lab in labs]
    staff = factory.user(Role.INSTITUTION_STAFF, institution=labs[0])
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    from jcjg.auth.sessions import principal_for
    from jcjg.proficiency import service
    from jcjg.proficiency.schemas import SchemeIn

    principal = principal_for(db=db, user=city, settings=factory.settings)
    pt = service.create_scheme(
        db=db, principal=principal,
        data=SchemeIn.model_validate(_new(institution_ids=[labs[0].id])),
    )  # fmt: skip
    service.invite(db=db, principal=principal, scheme=pt, institution_ids=[labs[1].id])
    db.commit()
    told = {
        n.user_id: n
        for n in db.scalars(select(Notification).where(Notification.kind == "proficiency"))
    }
    assert set(told) == {a.id for a in admins}  # each lab's administrator, not its staff
    assert staff.id not in told
    assert told[admins[0].id].link == f"/proficiency/schemes/{pt.id}"
    assert "受邀参加能力验证" in told[admins[1].id].title
