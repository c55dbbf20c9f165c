"""Proficiency pages: the list, a new scheme, a lab's result form, the scheme's page with its
statistics and chart data, the evaluation, the report PDF; what a lab sees of the others; an
unsatisfactory result cited by a rectification order."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.core.db import utcnow
from jcjg.core.errors import ValidationFailed
from jcjg.core.workdays import beijing_date
from jcjg.ledger import service as ledger
from jcjg.proficiency.models import ProficiencyParticipant, ProficiencyResult, ProficiencyScheme
from jcjg.rectification import service as rectification
from tests.documents.test_documents import text_of, write
from tests.factories import login, page_csrf
from tests.proficiency.conftest import evaluate, submit_all

HTML = {"accept": "text/html"}


def _new_form(token: str, labs: list[int], **values: str) -> dict:
    return {
        "csrf_token": token, "code": "PT-PAGE-1", "title": "混凝土抗压强度能力验证",
        "parameter_code": "010801", "sample_count": "2", "samples_sent_on": "",
        "deadline": (beijing_date(utcnow()) + dt.timedelta(days=9)).isoformat(),
        "assigned_mode": "consensus", "score": "z", "institution_ids": [str(i) for i in labs],
        "notes": "样品为 150 mm 立方体试件\n每家两组",
    } | values  # fmt: skip


def test_organiser_creates_a_scheme_on_its_page(browser_client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    labs = [factory.institution(region_code="360403", name=f"浔阳检测{n}") for n in range(3)]
    factory.institution(region_code="360102", name="南昌不相干检测")
    db.commit()
    login(browser_client, city.username)
    form = browser_client.get("/proficiency/schemes/new")
    assert form.status_code == 200
    assert "浔阳检测0" in form.text
    assert "南昌不相干检测" not in form.text  # only institutions in scope can be invited
    token = page_csrf(browser_client, "/proficiency/schemes/new")
    bad = browser_client.post(
        "/proficiency/schemes", data=_new_form(token, [labs[0].id], parameter_code="12")
    )
    assert bad.status_code == 422
    assert "parameter_code" not in re.sub(r'[a-z-]+="[^"]*"', "", bad.text.split("<main")[1])
    assert 'value="12"' in bad.text  # typed values kept
    nul = browser_client.post(
        "/proficiency/schemes", data=_new_form(token, [labs[0].id], title="混凝\x00土")
    )
    assert nul.status_code == 422
    none = browser_client.post("/proficiency/schemes", data=_new_form(token, []))
    assert none.status_code == 422
    done = browser_client.post("/proficiency/schemes", data=_new_form(token, [i.id for i in labs]))
    assert done.status_code == 303, done.text[-2000:]
    scheme = db.scalars(
        select(ProficiencyScheme).where(ProficiencyScheme.code == "PT-PAGE-1")
    ).one()
    assert scheme.region_code == "360400"
    assert scheme.sample_count == 2
    assert scheme.notes == "样品为 150 mm 立方体试件\n每家两组"
    page = browser_client.get(done.headers["location"])
    assert "能力验证已创建" in page.text
    assert "浔阳检测2" in page.text
    listed = browser_client.get("/proficiency/schemes?status=open")
    assert "PT-PAGE-1" in listed.text
    assert 'data-testid="list-count">共 1 条' in listed.text
    assert "PT-PAGE-1" not in browser_client.get("/proficiency/schemes?status=evaluated").text


def test_a_lab_submits_on_its_page_and_sees_only_its_own(browser_client, db, factory, pt):
    submit_all(factory, pt, count=5)
    staff = factory.user(Role.INSTITUTION_STAFF, institution=pt.labs[7])
    login(browser_client, staff.username)
    detail = browser_client.get(f"/proficiency/schemes/{pt.scheme.id}")
    assert detail.status_code == 200
    assert 'data-testid="submit-result"' in detail.text
    assert pt.labs[0].name not in detail.text  # other participants stay anonymous
    url = f"/proficiency/schemes/{pt.scheme.id}/submit"
    form = browser_client.get(url)
    assert "样品 A" in form.text
    assert "样品 B" in form.text
    token = page_csrf(browser_client, url)
    values = {"csrf_token": token, "results.0.value": "abc", "results.1.value": "460"}
    bad = browser_client.post(url, data=values)
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text
    control = browser_client.post(
        url, data=values | {"results.0.value": "450", "results.0.method": "GB\x01"}
    )
    assert control.status_code == 422
    good = browser_client.post(
        url,
        data=values
        | {
            "results.0.value": "498",
            "results.0.expanded_uncertainty": "6",
            "results.1.value": "512",
        },
    )
    assert good.status_code == 303
    rows = db.scalars(
        select(ProficiencyResult).where(ProficiencyResult.institution_id == pt.labs[7].id)
    ).all()
    assert sorted((r.sample, r.value, r.source) for r in rows) == [
        ("A", 498.0, "page"),
        ("B", 512.0, "page"),
    ]
    mine = browser_client.get(f"/proficiency/schemes/{pt.scheme.id}?done=submitted")
    assert "结果已提交" in mine.text
    assert mine.text.count('data-label="参加者"') == 2  # its two results, not the others'
    # a lab not invited: 404; an organiser's steps: 403
    stranger = factory.user(
        Role.INSTITUTION_STAFF, institution=factory.institution(region_code="360403")
    )
    browser_client.cookies.clear()
    login(browser_client, stranger.username)
    assert (
        browser_client.get(f"/proficiency/schemes/{pt.scheme.id}", headers=HTML).status_code == 404
    )
    assert "PT-" not in browser_client.get("/proficiency/schemes").text.split("<main")[1]


def test_evaluation_page_charts_and_report(browser_client, db, factory, pt, tmp_path):
    submit_all(factory, pt)
    login(browser_client, pt.organiser.username)
    token = page_csrf(browser_client, f"/proficiency/schemes/{pt.scheme.id}")
    done = browser_client.post(
        f"/proficiency/schemes/{pt.scheme.id}/evaluate", data={"csrf_token": token}
    )
    assert done.status_code == 303
    page = browser_client.get(done.headers["location"])
    assert "统计评价已完成" in page.text
    assert "行动信号（不满意）" in page.text
    data = json.loads(page.text.split('id="pt-data">')[1].split("</script>")[0])
    assert set(data["samples"]) == {"A", "B"}
    assert len(data["samples"]["A"]["codes"]) == 8
    assert len(data["youden"]) == 8
    assert sum(b[2] for b in data["samples"]["A"]["bins"]) == 8
    pdf = browser_client.get(f"/proficiency/schemes/{pt.scheme.id}/report.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert len(pdf.content) > 20_000  # figures drawn in
    text = re.sub(r"\s+", "", text_of(write(tmp_path / "report.pdf", pdf.content)))
    assert "各参加者的结果与评价" in text
    assert "U（k）" in text  # the results as a table, under its header row
    assert "行动信号（不满意）" in text
    assert "参加者代码对照（仅组织方留存）" in text  # the organiser's copy names the labs
    # the evaluation is notarised: the ledger's entry holds the scores by code, not the names
    db.refresh(pt.scheme)
    index = pt.scheme.evaluation_index
    assert index is not None
    assert f'href="/ledger/entries/{index}"' in page.text
    while ledger.integrate(db):
        pass
    db.commit()
    entry = browser_client.get(f"/ledger/entries/{index}").json()
    assert entry["entry_type"] == "proficiency_scheme:evaluate"
    body = json.dumps(entry, ensure_ascii=False)
    assert pt.scheme.code in body
    assert '"participant": "P01"' in body
    assert "测试检测机构" not in body


def test_report_before_evaluation_and_evaluation_with_too_few(browser_client, factory, pt):
    submit_all(factory, pt, count=2)
    login(browser_client, pt.organiser.username)
    assert (
        browser_client.get(
            f"/proficiency/schemes/{pt.scheme.id}/report.pdf", headers=HTML
        ).status_code
        == 422
    )
    token = page_csrf(browser_client, f"/proficiency/schemes/{pt.scheme.id}")
    refused = browser_client.post(
        f"/proficiency/schemes/{pt.scheme.id}/evaluate", data={"csrf_token": token}
    )
    assert refused.status_code == 422
    assert "少于 3" in refused.text


def test_an_unsatisfactory_result_is_cited_by_a_rectification_order(db, factory, pt):
    submit_all(factory, pt)
    evaluate(factory, pt)
    alert = db.scalars(
        select(Alert).where(
            Alert.rule_id == "proficiency_unsatisfactory", Alert.institution_id == pt.labs[-1].id
        )
    ).first()
    assert alert is not None
    principal = principal_for(db=db, user=pt.organiser, settings=factory.settings)
    order = rectification.issue(
        db=db, principal=principal, now=utcnow(),
        draft=rectification.Draft(
            institution_id=str(pt.labs[-1].id), grounds=("records_not_kept",),
            findings="能力验证 钢筋屈服强度 两个样品的 z 比分数均 ≥ 3，结果不满意。",
            requirement="查找原因，复核设备与人员能力，提交整改报告。",
            deadline=(beijing_date(utcnow()) + dt.timedelta(days=15)).isoformat(),
            alert_ids=(str(alert.id),),
        ),
    )  # fmt: skip
    assert order.alert_ids == [alert.id]
    # another lab's alert cannot be cited for this one
    other = rectification.Draft(
        institution_id=str(pt.labs[0].id), grounds=("records_not_kept",), findings="x" * 10,
        requirement="y" * 10, deadline=(beijing_date(utcnow()) + dt.timedelta(days=15)).isoformat(),
        alert_ids=(str(alert.id),),
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        rectification.issue(db=db, principal=principal, now=utcnow(), draft=other)
    assert any(e.field == "alert_ids" for e in refused.value.errors)


def test_participants_keep_their_codes(db, factory, pt):
    codes = db.scalars(
        select(ProficiencyParticipant.code)
        .where(ProficiencyParticipant.scheme_id == pt.scheme.id)
        .order_by(ProficiencyParticipant.code)
    ).all()
    assert codes == [f"P0{n}" for n in range(1, 9)]


def test_a_zeta_scheme_needs_each_results_uncertainty(db, factory):
    from jcjg.proficiency import service
    from jcjg.proficiency.choices import Source
    from jcjg.proficiency.schemas import ResultsIn
    from tests.proficiency.conftest import make_scheme

    pt = make_scheme(factory, labs=3, samples=1, score="zeta")
    lab = pt.labs[0]
    bare = ResultsIn.model_validate({"results": [{"sample": "A", "value": 999.0}]})
    with pytest.raises(ValidationFailed) as refused:
        service.submit(db=db, scheme=pt.scheme, institution_id=lab.id, data=bare,
                       now=utcnow(), source=Source.PAGE)  # fmt: skip
    assert refused.value.errors[0].field == "results.0.expanded_uncertainty"
    assert "须报告扩展不确定度" in refused.value.errors[0].message
    db.rollback()
    assert db.scalars(select(ProficiencyResult)).all() == []
    given = ResultsIn.model_validate(
        {"results": [{"sample": "A", "value": 999.0, "expanded_uncertainty": 6.0}]}
    )
    done = service.submit(db=db, scheme=pt.scheme, institution_id=lab.id, data=given,
                          now=utcnow(), source=Source.PAGE)  # fmt: skip
    assert done.created == 1


def test_the_organiser_invites_a_lab_on_the_schemes_page(browser_client, db, factory, pt):
    late = factory.institution(region_code="360403", name="九江后邀检测有限公司")
    login(browser_client, pt.organiser.username)
    page = browser_client.get(f"/proficiency/schemes/{pt.scheme.id}", headers=HTML)
    assert 'data-testid="invite-form"' in page.text
    assert "九江后邀检测有限公司" in page.text
    token = page_csrf(browser_client, f"/proficiency/schemes/{pt.scheme.id}")
    url = f"/proficiency/schemes/{pt.scheme.id}/participants"
    empty = browser_client.post(url, data={"csrf_token": token}, headers=HTML)
    assert empty.status_code == 422
    assert "请选择要邀请的检测机构" in empty.text
    bad = browser_client.post(
        url, data={"csrf_token": token, "institution_ids": "9" * 30}, headers=HTML
    )
    assert bad.status_code == 422
    done = browser_client.post(
        url, data={"csrf_token": token, "institution_ids": str(late.id)}, headers=HTML,
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    page = browser_client.get(done.headers["location"], headers=HTML)
    assert "已追加邀请" in page.text
    assert f"P{len(pt.labs) + 1:02d}" in page.text
