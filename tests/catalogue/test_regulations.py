"""The regulations the platform cites: loaded with the schema, cited by title on the pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.catalogue.regulations import Regulation, by_code, cite
from tests.factories import Factory, login


def test_a_fresh_database_holds_the_regulations_the_rules_cite(db: Session) -> None:
    rows = {r.code: r for r in db.scalars(select(Regulation))}
    assert {"000", "001", "002", "003", "004", "jz57"} <= set(rows)
    assert rows["003"].number == "九住建质安字〔2024〕80号"
    assert rows["jz57"].citation == "《建设工程质量检测管理办法》（住房和城乡建设部令第57号）"
    assert rows["002"].citation == (
        "《广西壮族自治区建设工程质量检测信息管理办法》（广西壮族自治区住房和城乡建设厅）"
    )


def test_cite_gives_titles_and_articles_and_keeps_what_it_does_not_know(db: Session) -> None:
    known = by_code(db)
    text = cite("000 4.1.1 第 7 项；002 第十七条；GB/T 50081", known)
    assert text.startswith(
        "《建设工程检测监管信息服务平台技术标准》（T/CECS ×××-202X，征求意见稿）"
    )
    assert "4.1.1 第 7 项；《广西壮族自治区建设工程质量检测信息管理办法》" in text
    assert text.endswith("第十七条；GB/T 50081")
    assert cite("jz57 第二十八条", known) == (
        "《建设工程质量检测管理办法》（住房和城乡建设部令第57号）第二十八条"
    )
    assert cite("999 第一条", {}) == "999 第一条"


def test_the_rules_page_cites_regulations_by_title(
    factory: Factory, browser_client: TestClient
) -> None:
    factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", username="regs")
    login(browser_client, "regs")
    page = browser_client.get("/alerts/rules").text
    rows = {r.code: r for r in factory.db.scalars(select(Regulation))}
    assert (
        f'依据<a href="/regulations/{rows["000"].id}">《建设工程检测监管信息服务平台技术标准》'
        in page
    )
    assert (
        f'<a href="/regulations/{rows["jz57"].id}">《建设工程质量检测管理办法》'
        "（住房和城乡建设部令第57号）</a>第二十八条" in page
    )
    # a standard cited by its number links to the entry in force
    assert f'<a href="/regulations/{rows["GB/T 50081-2019"].id}">GB/T 50081</a>' in page
    assert not re.search(r"依据 ?0\d\d ", page)


def test_the_rules_api_gives_each_clause_with_its_citation(
    factory: Factory, client: TestClient
) -> None:
    user = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", username="regsapi")
    rules = client.get("/api/v1/rules", headers={"Authorization": f"Bearer {factory.token(user)}"})
    assert rules.status_code == 200, rules.text
    by_id = {r["id"]: r for r in rules.json()}
    assert by_id["staffing_below_standard"]["clause"] == "000 4.1.3；jz57 第二十八条"
    assert by_id["staffing_below_standard"]["citation"].endswith(
        "《建设工程质量检测管理办法》（住房和城乡建设部令第57号）第二十八条"
    )
