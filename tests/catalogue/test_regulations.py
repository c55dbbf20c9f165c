"""The regulations the platform cites: loaded with the schema, cited by title on the pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.catalogue.regulations import (
    NO_BASIS,
    Regulation,
    applies_in,
    by_code,
    cite,
    cite_inline,
    without_references,
)
from jcjg.config import Settings
from jcjg.core import domains
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
    # a draft's place-holding number is not printed: the draft is cited by its issuer
    assert text.startswith(
        "《建设工程检测监管信息服务平台技术标准》（中国工程建设标准化协会，征求意见稿）"
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


def test_a_document_is_cited_in_its_region_above_it_and_under_it_only(db: Session) -> None:
    rows = {r.code: r for r in db.scalars(select(Regulation))}
    jiujiang, guangxi, baoji = rows["003"], rows["002"], rows["001"]
    assert (jiujiang.region_code, guangxi.region_code, baoji.region_code) == (
        "360400", "450000", "610300",
    )  # fmt: skip
    for region in ("", "360000", "360400", "360402"):  # the nation, Jiangxi, Jiujiang, a county
        assert applies_in(jiujiang, region)
    for region in ("360100", "450000", "440000", "440300"):  # Nanchang, Guangxi, Guangdong
        assert not applies_in(jiujiang, region)
    assert applies_in(rows["jz57"], "450000")
    assert applies_in(rows["000"], "610300")
    assert not applies_in(baoji, "360000")
    assert applies_in(baoji, "610000")

    clause = "jz57 第二十二条；000 7.2.2；001 4.1.7；002 第十七条（一）；003 三（四）"
    known = by_code(db)
    in_jiangxi = cite(clause, known, "360000")
    assert "《建设工程质量检测管理办法》（住房和城乡建设部令第57号）第二十二条；" in in_jiangxi
    assert "九住建质安字〔2024〕80号）三（四）" in in_jiangxi
    assert "广西" not in in_jiangxi
    assert "宝鸡" not in in_jiangxi
    assert "广西" in cite(clause, known, "450000")
    assert "九江" not in cite(clause, known, "450000")
    assert cite(clause, known) == cite(clause, known, "")  # the nation's platform cites all
    assert cite("002 第十七条", known, "360000") == NO_BASIS
    assert cite("GB/T 50081", known, "360000") == "GB/T 50081"  # a standard by its number


def test_every_rule_rests_on_a_national_basis(db: Session) -> None:
    """Whatever region a platform serves, every rule cites something that applies there."""
    known = by_code(db)
    national = {code for code, r in known.items() if not r.region_code}
    for rule in _rules():
        codes = {part.strip().split(" ")[0] for part in re.split("[；;]", rule.clause)}
        assert codes & national or any(c.startswith(("GB", "JGJ")) for c in codes), rule.id
        assert NO_BASIS not in cite(rule.clause, known, "650000"), rule.id  # Xinjiang


def _rules() -> list:
    return [r for d in domains.installed() for r in d.rules if getattr(r, "clause", "")]


def test_a_platform_of_jiangxi_cites_no_other_provinces_documents(
    factory: Factory, browser_client: TestClient, settings: Settings
) -> None:
    """The rules, a rectification order's form, and the public rectification and spot-check
    pages of a Jiangxi platform cite the national basis and Jiangxi's documents; the same pages
    of a Guangxi platform cite Guangxi's 办法."""
    factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", username="jx")
    login(browser_client, "jx")
    pages = ("/alerts/rules", "/rectification-orders/new", "/public/rectification-orders",
             "/public/spot-checks")  # fmt: skip
    for region, cited, never in (
        ("360000", "九住建质安字〔2024〕80号", ("广西", "宝鸡", "广东", "×××", "DB 6103/T")),
        ("450000", "广西壮族自治区建设工程质量检测信息管理办法", ("九江", "宝鸡", "广东")),
    ):
        settings.region_code = region
        seen = ""
        for path in pages:
            answer = browser_client.get(path)
            assert answer.status_code == 200, path
            for word in never:
                assert word not in answer.text, (region, path, word)
            assert "住房和城乡建设部令第57号" in answer.text, (region, path)
            seen += answer.text
        assert cited in seen


def test_a_pages_explanation_names_its_basis_by_title_never_by_code(
    factory: Factory, browser_client: TestClient, settings: Settings
) -> None:
    """The sentences under a page's title cite their basis as a reader can look it up (the
    title, linked to the library), never as a bare code of the requirement documents."""
    settings.region_code = "360000"
    factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000", username="basis")
    login(browser_client, "basis")
    rows = {r.code: r for r in factory.db.scalars(select(Regulation))}
    for path, code in (
        ("/projects", "003"),
        ("/registry", "000"),
        ("/commissions", "jz57"),
        ("/exchange/clients", "000"),
        ("/registry/institutions", "003"),  # its description, written with codes
        ("/alerts/rules", "jz57"),
    ):
        page = browser_client.get(path)
        assert page.status_code == 200, path
        assert f'<a href="/regulations/{rows[code].id}">{rows[code].citation}</a>' in page.text
        assert not re.search(r"（(00\d|jz57) ", page.text), path
        assert "宝鸡" not in page.text, path  # 001 9.1.2 is Baoji's draft: not in Jiangxi


def test_a_description_reads_its_references_by_title(db: Session) -> None:
    known = by_code(db)
    text = "000 4.1.1 第 1 项：机构基本信息。机构编号由平台统一分配（003 三（五））。"
    cited = str(cite_inline(text, known, "360000"))
    assert cited.startswith(f'<a href="/regulations/{known["000"].id}">《建设工程检测监管')
    assert "</a>4.1.1 第 1 项：机构基本信息。" in cited
    assert "九住建质安字〔2024〕80号）</a>三（五））。" in cited
    # a reference that does not apply here goes with its brackets; markup is escaped
    assert str(cite_inline("须上传曲线（001 6.3.2.1）。<b>", known, "360000")) == (
        "须上传曲线。&lt;b&gt;"
    )
    assert "宝鸡" in str(cite_inline("须上传曲线（001 6.3.2.1）。", known, "610300"))
    two = str(cite_inline("（jz57 第二十六条、001 9.1.2-9.1.3）", known, ""))
    assert "第57号）</a>第二十六条；" in two
    assert "</a>9.1.2-9.1.3）" in two
    assert without_references(text) == "机构基本信息。机构编号由平台统一分配。"
    assert (
        without_references("检测人员的培训与考核（000 4.2.4）：培训")
        == "检测人员的培训与考核：培训"
    )
