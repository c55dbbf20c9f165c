# ruff: noqa: PT018, E501  (a page shows several things at once; one assert per page read)
"""Credit: evaluations by source, computing with its explanation, versions, publication,
appeals and corrections, and the public lookup (published only, no names out of publicity)."""

from __future__ import annotations

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
