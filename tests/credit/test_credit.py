# ruff: noqa: PT018, E501  (a page shows several things at once; one assert per page read)
"""Credit: evaluations by source, computing with its explanation, versions, publication,
appeals and corrections, and the public lookup (published only, no names out of publicity)."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest

from jcjg.alerts.models import Case
from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.core.db import utcnow
from jcjg.core.errors import PermissionDenied, ValidationFailed
from jcjg.core.workdays import beijing_date
from jcjg.credit import scoring, service
from jcjg.credit.models import CreditScore
from tests.factories import login
from tests.penalties.helpers import make_penalty


def _p(db, settings, user):
    return principal_for(db=db, user=user, settings=settings)


def _period() -> str:
    return scoring.period_of(beijing_date(utcnow()))


def test_facts_move_the_score_and_a_corrected_appeal_strikes_one(db, factory, settings):
    inst = factory.institution(region_code="360403")
    alert = factory.alert(inst)
    db.add(Case(alert_id=alert.id, status="confirmed", region_code=inst.region_code,
                institution_id=inst.id, opened_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    make_penalty(factory, inst)
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    period = _period()
    service.evaluate(db=db, principal=_p(db, settings, city), institution_id=inst.id,
                     period=period, score=Decimal("80"), comment="")  # fmt: skip
    service.evaluate(db=db, principal=_p(db, settings, admin), institution_id=inst.id,
                     period=period, score=Decimal("100"), comment="")  # fmt: skip
    score = service.compute_institution(db, inst, period, reason="测试")
    # base (0.4*80 + 0.1*100) / 0.5 = 84; an alert 2, a penalty 10
    assert score.base == Decimal("84.00")
    assert score.score == Decimal("72.00")
    assert score.grade == "A"
    kinds = {f["kind"] for f in score.explanation["facts"]}
    assert kinds == {"alert_confirmed", "penalty"}
    filed = service.appeal(db=db, principal=_p(db, settings, admin), score=score,
                           fact=f"alert_confirmed:{alert.id}", reason="设备时钟偏差所致。")  # fmt: skip
    decided = service.decide(db=db, principal=_p(db, settings, city), appeal_id=filed.id,
                             corrected=True, decision="核实属实，更正。")  # fmt: skip
    new = db.get(CreditScore, decided.new_score_id)
    assert new.score == Decimal("74.00") and new.is_current and not score.is_current


def test_a_party_evaluates_only_labs_of_its_projects(db, factory, settings):
    inst = factory.institution(region_code="360403")
    party = factory.user(Role.PARTY_UNIT)
    with pytest.raises(ValidationFailed):
        service.evaluate(db=db, principal=_p(db, settings, party), institution_id=inst.id,
                         period=_period(), score=Decimal("90"), comment="")  # fmt: skip
    staff = factory.user(Role.INSTITUTION_STAFF, institution=inst)
    with pytest.raises(PermissionDenied):
        service.evaluate(db=db, principal=_p(db, settings, staff), institution_id=inst.id,
                         period=_period(), score=Decimal("90"), comment="")  # fmt: skip


def test_the_association_evaluates_the_institutions_of_its_region(db, factory, settings):
    """The fourth source (000 4.2.2 item 7): an association's account evaluates the labs of
    its region, once per lab and period (a second time replaces it), weighted 0.2; a lab
    elsewhere is refused; it neither computes nor publishes."""
    inst = factory.institution(region_code="360403")
    elsewhere = factory.institution(region_code="440305")
    association = _p(db, settings, factory.user(Role.ASSOCIATION, region_code="360000"))
    city = _p(db, settings, factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    period = _period()
    assert service.source_of(association).value == "association"
    assert inst.id in {i.id for i in service.evaluable(db, association)}
    for score in ("70", "60"):
        row = service.evaluate(db=db, principal=association, institution_id=inst.id,
                               period=period, score=Decimal(score), comment="会员评议")  # fmt: skip
    assert (row.source, row.score) == ("association", Decimal("60"))
    with pytest.raises(ValidationFailed):
        service.evaluate(db=db, principal=association, institution_id=elsewhere.id,
                         period=period, score=Decimal("90"), comment="")  # fmt: skip
    service.evaluate(db=db, principal=city, institution_id=inst.id, period=period,
                     score=Decimal("90"), comment="")  # fmt: skip
    computed = service.compute_institution(db, inst, period, reason="测试")
    assert computed.base == Decimal("80.00")  # (0.2*60 + 0.4*90) / 0.6
    assert not association.can("credit:manage")
    assert association.can("credit:read") and association.can("institution:read")


def test_a_new_version_leaves_past_scores_and_bad_configs_are_refused(db, factory, settings):
    inst = factory.institution(region_code="360403")
    first = service.compute_institution(db, inst, _period(), reason="测试")
    province = _p(db, settings, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    config = {**scoring.DEFAULT_CONFIG, "baseline": 80}
    second = service.new_version(db=db, principal=province, config=config, note="")
    assert second.version == first.model_id + 0 or second.version == 2
    again = service.compute_institution(db, inst, _period(), reason="测试")
    assert again.score == Decimal("80.00") and first.score == Decimal("90.00")
    assert db.get(CreditScore, first.id).model_id != again.model_id
    for bad in ({**config, "bands": [["A", 0], ["B", 50]]}, {**config, "weights": {"x": 1}}):
        with pytest.raises(ValidationFailed):
            service.new_version(db=db, principal=province, config=bad, note="")


def test_only_published_grades_and_public_penalties_show_to_the_public(
    browser_client, db, factory, settings
):
    inst = factory.institution(region_code="360403", name="公开查询测试检测有限公司")
    make_penalty(factory, inst, number="公开-001", person_names=["王五"])
    make_penalty(factory, inst, public=False, number="过期-002", person_names=["赵六"])
    service.compute_institution(db, inst, _period(), reason="测试")
    db.commit()
    page = browser_client.get(f"/public/institutions?q={inst.credit_code}")
    assert (
        page.status_code == 200
        and "公开查询测试检测有限公司" in page.text
        and "未公布" in page.text
    )
    detail = browser_client.get(f"/public/institutions/{inst.id}").text
    assert "公开-001" in detail and "王五" in detail
    assert "过期-002" not in detail and "赵六" not in detail and "尚未公布" in detail
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    service.publish(db=db, principal=_p(db, settings, city), period=_period())
    db.commit()
    shown = browser_client.get(f"/public/institutions/{inst.id}").text
    assert "尚未公布" not in shown and ">AA<" in shown  # 90 - a penalty's 10 = 80: AA
    assert service.grade_distribution(db, "36", _period()) == {"AA": 1}


def test_credit_pages_answer(browser_client, db, factory, settings):
    inst = factory.institution(region_code="360403")
    service.compute_institution(db, inst, _period(), reason="测试")
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    db.commit()
    login(browser_client, city.username)
    for url in ("/credit", f"/credit/institutions/{inst.id}", "/credit/evaluate",
                "/credit/models", "/penalties", "/penalties/new"):  # fmt: skip
        assert browser_client.get(url).status_code == 200, url
    # a draft says when the job computes it again, and that later facts count from then
    page = browser_client.get(f"/credit/institutions/{inst.id}").text
    shown = page.split('data-testid="next-run">')[1].split("</span>")[0]
    assert "平台每 6 小时重新计算一次，下次约在 " in shown
    assert "此后确认的预警" in shown
    service.publish(db=db, principal=_p(db, settings, city), period=_period())
    db.commit()
    assert (
        'data-testid="next-run"' not in browser_client.get(f"/credit/institutions/{inst.id}").text
    )


def test_the_credit_workflow_through_the_pages(browser_client, app, db, factory, settings):
    from fastapi.testclient import TestClient

    from jcjg.credit.models import CreditAppeal, CreditEvaluation
    from tests.factories import page_csrf

    inst = factory.institution(region_code="360403")
    alert = factory.alert(inst)
    db.add(Case(alert_id=alert.id, status="confirmed", region_code=inst.region_code,
                institution_id=inst.id, opened_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    db.commit()
    period = _period()
    page = login(browser_client, city.username)
    token = page_csrf(page, "/credit")

    no_lab = page.post(
        "/credit/evaluate", data={"csrf_token": token, "period": period, "score": "80"}
    )
    assert no_lab.status_code == 422 and "请选择检测机构" in no_lab.text
    no_score = page.post(
        "/credit/evaluate",
        data={
            "csrf_token": token,
            "period": period,
            "institution_id": str(inst.id),
            "score": "八十",
        },
    )
    assert no_score.status_code == 422 and "请填写 0 到 100 的分数" in no_score.text
    assert db.query(CreditEvaluation).count() == 0
    rated = page.post("/credit/evaluate", data={
        "csrf_token": token, "period": period, "institution_id": str(inst.id), "score": "80",
        "comment": "日常检查情况良好"})  # fmt: skip
    assert rated.status_code == 303
    assert rated.headers["location"] == f"/credit/institutions/{inst.id}?done=evaluated"

    computed = page.post("/credit/compute", data={"csrf_token": token, "period": period})
    assert computed.status_code == 303 and "done=computed" in computed.headers["location"]
    score = db.query(CreditScore).filter_by(institution_id=inst.id, is_current=True).one()
    assert score.score == Decimal("78.00")  # the authority's 80, a confirmed alert's 2
    published = page.post("/credit/publish", data={"csrf_token": token, "period": period})
    assert published.headers["location"] == f"/credit?done=published&period={period}"
    bad_period = page.post("/credit/publish", data={"csrf_token": token, "period": "2026Q9"})
    assert bad_period.status_code == 422

    with TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as lab:
        login(lab, admin.username)
        mark = page_csrf(lab, f"/credit/institutions/{inst.id}")
        filed = lab.post(f"/credit/scores/{score.id}/appeal", data={
            "csrf_token": mark, "fact": f"alert_confirmed:{alert.id}",
            "reason": "该预警系设备时钟偏差所致，已附校准记录。"})  # fmt: skip
        assert filed.status_code == 303, filed.text[:300]
        assert filed.headers["location"].endswith("done=appealed")
    appeal = db.query(CreditAppeal).filter_by(score_id=score.id).one()
    decided = page.post(f"/credit/appeals/{appeal.id}/decide", data={
        "csrf_token": token, "outcome": "corrected", "decision": "核实属实，予以更正。"})  # fmt: skip
    assert decided.status_code == 303
    db.expire_all()
    current = db.query(CreditScore).filter_by(institution_id=inst.id, is_current=True).one()
    assert current.score == Decimal("80.00")


def test_the_model_page_takes_a_new_version_and_refuses_bad_json(browser_client, db, factory):
    import json

    from jcjg.credit.models import CreditModel
    from tests.factories import page_csrf

    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    modeller = login(browser_client, province.username)
    mark = page_csrf(modeller, "/credit/models")
    versions = db.query(CreditModel).count()
    for text, words in (("{不是 JSON", "模型配置须为 JSON"), ("[1, 2]", "模型配置须为 JSON 对象")):
        bad = modeller.post("/credit/models", data={"csrf_token": mark, "config": text})
        assert bad.status_code == 422 and words in bad.text
    config = {**scoring.DEFAULT_CONFIG, "baseline": 85}
    saved = modeller.post("/credit/models", data={
        "csrf_token": mark, "config": json.dumps(config), "note": "基准分调整为 85"})  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == "/credit/models?done=model"
    assert db.query(CreditModel).count() == versions + 1


def test_the_model_form_writes_a_version_field_by_field(browser_client, db, factory):
    """The model as a form (no JSON to type): the current version's values filled in; a new
    version from the fields, equal to the config they describe; a bad number or a misordered
    grade refused beside its field, the typing kept."""
    from jcjg.credit.models import CreditModel
    from jcjg.credit.pages import _model_values
    from tests.factories import page_csrf

    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    modeller = login(browser_client, province.username)
    page = modeller.get("/credit/models")
    assert 'name="weight_association" type="number"' in page.text
    # inside the page's layout, after the formula it edits
    assert page.text.index("计算方法") < page.text.index('data-testid="credit-model-form"')
    mark = page_csrf(modeller, "/credit/models")
    fields = _model_values(scoring.DEFAULT_CONFIG) | {"baseline": "88", "weight_party": "0.25",
                                                      "points_penalty": "12", "grade_4": "",
                                                      "min_4": "", "min_3": "0"}  # fmt: skip
    bad = modeller.post("/credit/models", data=fields | {"csrf_token": mark,
                                                        "weight_self": "许多"})  # fmt: skip
    assert bad.status_code == 422
    assert "机构自评的权重须为不小于 0 的数" in bad.text and 'value="许多"' in bad.text
    misordered = modeller.post("/credit/models", data=fields | {"csrf_token": mark, "min_1": "95"})
    assert misordered.status_code == 422 and "等级须从高到低排列" in misordered.text
    versions = db.query(CreditModel).count()
    saved = modeller.post("/credit/models", data=fields | {"csrf_token": mark, "note": "表单"})
    assert saved.status_code == 303, saved.text[:500]
    assert db.query(CreditModel).count() == versions + 1
    row = db.query(CreditModel).order_by(CreditModel.id.desc()).first()
    expected = {**scoring.DEFAULT_CONFIG, "baseline": 88,
                "weights": {**scoring.DEFAULT_CONFIG["weights"], "party": 0.25},
                "deductions": {**scoring.DEFAULT_CONFIG["deductions"],
                               "penalty": {"points": 12, "cap": 40}},
                "bands": [["AAA", 90], ["AA", 80], ["A", 70], ["B", 0]]}  # fmt: skip
    assert row.config == expected
    assert row.note == "表单"


@contextlib.contextmanager
def _refused(words: str):
    with pytest.raises(ValidationFailed) as caught:
        yield
    assert any(words in e.message for e in caught.value.errors), caught.value.errors


def test_appeals_decisions_and_lists_refuse_what_they_must(db, factory, settings):
    import datetime as dt

    from jcjg.core.errors import NotFound

    inst = factory.institution(region_code="360403", name="申诉检测有限公司")
    other = factory.institution(region_code="360403")
    alert = factory.alert(inst)
    db.add(Case(alert_id=alert.id, status="confirmed", region_code=inst.region_code,
                institution_id=inst.id, opened_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    city = _p(db, settings, factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    admin = _p(db, settings, factory.user(Role.INSTITUTION_ADMIN, institution=inst))
    stranger = _p(db, settings, factory.user(Role.INSTITUTION_ADMIN, institution=other))
    period = _period()
    with pytest.raises(ValidationFailed):
        service.evaluate(db=db, principal=city, institution_id=inst.id, period=period,
                         score=Decimal("101"), comment="")  # fmt: skip
    score = service.compute_institution(db, inst, period, reason="测试")
    fact = f"alert_confirmed:{alert.id}"
    with pytest.raises(NotFound):
        service.appeal(db=db, principal=stranger, score=score, fact="", reason="不是我的评价")
    with _refused("不在该评价结果中"):
        service.appeal(db=db, principal=admin, score=score, fact="penalty:999", reason="没有处罚")
    with _refused("申诉理由"):
        service.appeal(db=db, principal=admin, score=score, fact=fact, reason="不服")
    filed = service.appeal(db=db, principal=admin, score=score, fact=fact, reason="预警系误报。")
    with _refused("处理意见"):
        service.decide(db=db, principal=city, appeal_id=filed.id, corrected=False, decision="")
    kept = service.decide(db=db, principal=city, appeal_id=filed.id, corrected=False,
                          decision="经核实，预警属实，维持。")  # fmt: skip
    assert kept.status == "upheld" and kept.new_score_id is None
    with _refused("已处理"):
        service.decide(db=db, principal=city, appeal_id=filed.id, corrected=True, decision="改判")
    with pytest.raises(NotFound):
        service.decide(db=db, principal=city, appeal_id=filed.id + 999, corrected=True,
                       decision="不存在的申诉")  # fmt: skip
    score.computed_at = utcnow() - dt.timedelta(days=40)
    db.flush()
    with _refused("申诉期限"):
        service.appeal(db=db, principal=admin, score=score, fact="", reason="逾期的申诉理由")

    service.compute_institution(db, other, period, reason="测试")
    assert service.publish(db=db, principal=city, period=period) == 2
    with _refused("没有待公布"):
        service.publish(db=db, principal=city, period=period)
    assert service.compute_on_demand(db=db, principal=city, period=period) == 0  # all published

    def ids(**filters) -> set[int]:
        stmt = service.scores_stmt(principal=city, **filters)
        return {s.institution_id for s in db.scalars(stmt)}

    assert ids(period=period) == {inst.id, other.id}
    assert ids(q="申诉检测") == {inst.id}
    assert ids(status="draft") == set()
    assert ids(grade=score.grade, period=period) >= {inst.id}
    assert ids(period="2001Q1") == set()
    with pytest.raises(ValidationFailed):
        service.new_version(db=db, principal=_p(db, settings, factory.user(
            Role.PROVINCIAL_AUTHORITY, region_code="360000")), config={"bands": 5}, note="")  # fmt: skip


def test_a_reader_of_global_scope_sees_the_busiest_or_the_asked_province(db, factory, settings):
    factory.institution(region_code="360403")
    factory.institution(region_code="360102")
    factory.institution(region_code="440303")
    admin = _p(db, settings, factory.user(Role.PLATFORM_ADMIN))
    city = _p(db, settings, factory.user(Role.CITY_AUTHORITY, region_code="440300"))
    assert service.home_province(db, admin) == "360000"  # two of the three institutions
    assert service.home_province(db, admin, "440000") == "440000"
    assert service.home_province(db, city, "360000") == "440000"  # a region's reader: its own


def test_the_api_gives_scores_in_reach_with_their_facts(client, db, factory, settings):
    """The read API: the current scores in reach (filters, paging), one score with the facts
    that moved it, an institution's history with its superseded rows; another region's
    institution or score 404, bad filters 400, no login 401."""
    inst = factory.institution(region_code="360403")
    elsewhere = factory.institution(region_code="360102")
    alert = factory.alert(inst)
    db.add(Case(alert_id=alert.id, status="confirmed", region_code=inst.region_code,
                institution_id=inst.id, opened_at=utcnow(), updated_at=utcnow()))  # fmt: skip
    period = _period()
    first = service.compute_institution(db, inst, period, reason="测试")
    second = service.compute_institution(db, inst, period, reason="重算")
    other = service.compute_institution(db, elsewhere, period, reason="测试")
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    db.commit()
    assert client.get("/api/v1/credit/scores").status_code == 401
    client.headers["Authorization"] = f"Bearer {factory.token(city)}"
    listed = client.get("/api/v1/credit/scores", params={"period": period}).json()
    assert listed["total"] == 1
    [item] = listed["items"]
    assert item["id"] == second.id
    assert item["institution_name"] == inst.name
    assert item["is_current"] is True
    assert item["grade"] == second.grade
    assert Decimal(item["score"]) == second.score
    assert item["model_version"] >= 1
    detail = client.get(f"/api/v1/credit/scores/{second.id}").json()
    assert {f["kind"] for f in detail["explanation"]["facts"]} == {"alert_confirmed"}
    history = client.get(f"/api/v1/credit/institutions/{inst.id}/scores").json()
    assert [h["id"] for h in history] == [second.id, first.id]
    assert [h["is_current"] for h in history] == [True, False]
    assert client.get(f"/api/v1/credit/scores/{other.id}").status_code == 404
    assert client.get(f"/api/v1/credit/institutions/{elsewhere.id}/scores").status_code == 404
    assert client.get("/api/v1/credit/scores/99999999999999999999").status_code == 404
    for bad in ({"period": "26"}, {"status": "x"}, {"q": "x" * 65}):
        assert client.get("/api/v1/credit/scores", params=bad).status_code == 400, bad
    none = client.get("/api/v1/credit/scores", params={"grade": "Z"}).json()
    assert none["total"] == 0


def test_appeal_is_named_in_words_in_the_audit_log() -> None:
    """The audit log's pages show what an appeal is about, not the stored ``kind:subject``."""
    from jcjg.credit.models import CreditAppeal

    assert CreditAppeal(period="2026Q4", fact=None).audit_repr() == "2026Q4 评价结果"
    on_order = CreditAppeal(period="2026Q4", fact="rectification_order:2").audit_repr()
    assert on_order == "2026Q4 整改通知 2"
    unknown = CreditAppeal(period="2026Q4", fact="retired_kind:7").audit_repr()
    assert unknown == "2026Q4 评价事项 7"
