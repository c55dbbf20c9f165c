"""A region's own basis for a rule (issue 48 item 1): an authority adds the articles of its
documents in the regulation library; the rule cites them after its national basis in that
region and the regions under it, and nowhere else."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import RuleBasis
from jcjg.alerts.service import rule_clause
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from tests.factories import Factory, csrf_from, login

RULE = "untrained_on_duty"  # cites 57号令 第十八条 and Jiujiang's notice


def _put(client: TestClient, factory: Factory, user, region: str, body, rule: str = RULE):
    headers = {"Authorization": f"Bearer {factory.token(user)}"}
    return client.put(f"/api/v1/rules/{rule}/basis/{region}", json=body, headers=headers)


def _rule(client: TestClient, factory: Factory, user, region: str) -> dict:
    headers = {"Authorization": f"Bearer {factory.token(user)}"}
    answer = client.get("/api/v1/rules", params={"region_code": region}, headers=headers)
    assert answer.status_code == 200, answer.text
    return next(r for r in answer.json() if r["id"] == RULE)


def test_a_province_adds_its_articles_and_its_cities_cite_them(
    client: TestClient, db: Session, factory: Factory
) -> None:
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    answer = _put(
        client, factory, province, "360000", {"clause": " jz57 第二十八条 ; jz57 第三十三条 "}
    )
    assert answer.status_code == 200, answer.text
    rule = answer.json()
    assert rule["local_basis"] == [
        {"region_code": "360000", "clause": "jz57 第二十八条；jz57 第三十三条"}
    ]
    assert rule["clause"].startswith("jz57 第十八条")  # the rule's own, unchanged
    assert rule["citation"].endswith(
        "（住房和城乡建设部令第57号）第二十八条；"
        "《建设工程质量检测管理办法》（住房和城乡建设部令第57号）第三十三条"
    )
    # Jiujiang's platform (a region under Jiangxi) cites it too; Guangxi's does not see it
    assert _rule(client, factory, province, "360400")["local_basis"][0]["region_code"] == "360000"
    assert rule_clause(db, _rule_obj(), "450100") == _rule_obj().clause
    assert rule_clause(db, _rule_obj(), "360402").endswith("；jz57 第二十八条；jz57 第三十三条")
    change = db.scalars(select(AuditLog).where(AuditLog.object_type == "rule_basis")).all()
    assert [(c.action, c.region_code) for c in change] == [("create", "360000")]

    # Jiujiang's notice is Jiujiang's basis, cited for Jiujiang and its counties only
    also = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", username="p2")
    assert _put(client, factory, also, "360400", {"clause": "003 四（二）"}).status_code == 200
    both = _rule(client, factory, province, "360400")["local_basis"]
    assert [b["region_code"] for b in both] == ["360000", "360400"]  # province first
    assert rule_clause(db, _rule_obj(), "360402").endswith("；003 四（二）")
    assert "003 四（二）" not in rule_clause(db, _rule_obj(), "360100")  # Nanchang
    cleared = _put(client, factory, province, "360000", {"clause": ""})
    assert cleared.json()["local_basis"] == []
    assert db.scalar(select(func.count()).select_from(RuleBasis)) == 1  # Jiujiang's stays


def _rule_obj():
    from jcjg.alerts.engine import rule_of

    found = rule_of(RULE)
    assert found is not None
    return found


BAD = [
    ({"clause": "jx99 第一条"}, "“jx99”不是法规库中法规的引用代号"),
    ({"clause": "002 第十七条"}, "不适用于江西省"),
    ({"clause": "001 7.1.2"}, "不适用于江西省"),
    ({"clause": "003 四（三）"}, "不适用于江西省全境"),  # Jiujiang's: not for Nanchang
    ({"clause": "003"}, "请写明《关于加强全市建设工程质量检测数据监管的通知》的条款"),
    ({"clause": "003 四（三）\x00"}, "控制字符"),
    ({"clause": "003 四（三）\n"}, "换行"),
    ({"clause": "003 四\t（三）"}, "制表符"),
    ({"clause": "003 " + "四" * 600}, "限 500 个字符"),
    ({"clause": 5}, None),
    ({"clause": None}, None),
    ({}, None),
    ([1], None),
]


def test_bad_bases_are_refused_in_chinese_and_nothing_is_kept(
    client: TestClient, db: Session, factory: Factory
) -> None:
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    for body, says in BAD:
        answer = _put(client, factory, province, "360000", body)
        assert answer.status_code == 422, (body, answer.text)
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert re.search(r"[\u4e00-\u9fff]", problem["detail"] + str(problem.get("errors")))
        if says:
            assert says in str(problem), (body, problem)
    assert db.scalar(select(func.count()).select_from(RuleBasis)) == 0


def test_a_basis_only_within_scope_and_with_the_permission(
    client: TestClient, db: Session, factory: Factory
) -> None:
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    body = {"clause": "003 四（三）"}
    assert _put(client, factory, province, "440100", body).status_code == 404  # Guangzhou
    assert _put(client, factory, province, "369999", body).status_code == 404
    assert _put(client, factory, province, "9" * 40, body).status_code == 404
    assert _put(client, factory, province, "360000", body, rule="no_such_rule").status_code == 404
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    assert _put(client, factory, city, "360400", body).status_code == 403
    lab = factory.user(Role.INSTITUTION_ADMIN)
    assert _put(client, factory, lab, "360400", body).status_code == 403
    assert client.put(f"/api/v1/rules/{RULE}/basis/360000", json=body).status_code == 401
    assert db.scalar(select(func.count()).select_from(RuleBasis)) == 0


def test_on_the_rules_page_and_on_an_alert(
    factory: Factory, browser_client: TestClient, db: Session
) -> None:
    factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", username="prov")
    login(browser_client, "prov")
    page = browser_client.get("/alerts/rules")
    assert "设置 江西省 的本地区依据" in page.text
    assert "请求编号" not in page.text  # a page whose context carries error=None: no id
    # a contents above the rules: one link to each
    contents = page.text.split('data-testid="rule-contents"')[1].split("</details>")[0]
    assert contents.count('<a href="#rule-') == page.text.count('<article id="rule-') > 40
    token = csrf_from(page.text)
    bad = browser_client.post(
        f"/alerts/rules/{RULE}/basis",
        data={"csrf_token": token, "region_code": "360000", "clause": "002 第十七条"},
    )
    assert bad.status_code == 422
    assert "不适用于江西省" in bad.text
    assert 'value="002 第十七条"' in bad.text  # what was typed stays in the field
    saved = browser_client.post(
        f"/alerts/rules/{RULE}/basis",
        data={"csrf_token": token, "region_code": "360000", "clause": "jz57 第二十八条"},
    )
    assert saved.status_code == 303
    shown = browser_client.get(saved.headers["location"]).text
    assert "本地区依据已保存" in shown
    article = shown.split(f'data-testid="rule-{RULE}"')[1].split("</article>")[0]
    assert "第57号）</a>第十八条" in article
    assert "第57号）</a>第二十八条" in article  # the province's own, after the national

    inst = factory.institution(region_code="360402")
    alert = factory.alert(inst, rule_id=RULE)
    db.commit()
    detail = browser_client.get(f"/alerts/{alert.id}").text
    assert "第57号）</a>第二十八条" in detail


def test_the_library_page_lists_the_rules_a_region_grounds_on_the_document(
    client: TestClient, db: Session, factory: Factory
) -> None:
    from jcjg.catalogue.regulations import Regulation

    notice = db.scalars(select(Regulation).where(Regulation.code == "003")).one()
    page = client.get(f"/regulations/{notice.id}", headers={"accept": "text/html"}).text
    section = page.split('data-testid="regulation-rules"', 1)[1].split("</section>", 1)[0]
    assert "（九江市设定的依据）" not in section
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    assert _put(client, factory, province, "360400", {"clause": "003 四（二）"}).status_code == 200
    page = client.get(f"/regulations/{notice.id}", headers={"accept": "text/html"}).text
    section = page.split('data-testid="regulation-rules"', 1)[1].split("</section>", 1)[0]
    title = _rule_obj().title
    assert f"{title}（江西省九江市设定的依据）" in section
    assert f'<a href="/regulations/{notice.id}">' in section
