# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""The regulation library: public search with filters, count and xlsx; an entry's page with its
full text (mobile numbers masked), what replaced it and what it replaced, the rules citing it;
authorities adding and correcting their region's entries (a PDF original kept), refused
elsewhere and for bad input."""

from __future__ import annotations

import re

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.catalogue.regulations import Regulation
from tests.factories import login, page_csrf
from tests.lists import sheet

HTML = {"accept": "text/html"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _rows(db) -> dict[str, Regulation]:
    return {r.code: r for r in db.scalars(select(Regulation))}


def _count(page) -> int:
    assert page.status_code == 200, page.text[:300]
    return int(re.search(r'data-testid="list-count">共 (\d+) 条', page.text).group(1))


def test_anyone_searches_filters_counts_and_exports(browser_client, db):
    everything = _count(browser_client.get("/regulations"))
    assert everything == db.query(Regulation).count() >= 18
    standards = browser_client.get("/regulations?level=national_standard")
    assert "混凝土物理力学性能试验方法标准" in standards.text
    assert "建设工程质量检测管理办法" not in standards.text
    replaced = browser_client.get("/regulations?status=replaced")
    assert _count(replaced) == 3 and "建设部令第141号" in replaced.text
    # the full text is searched: a phrase only the Jiujiang notice has
    found = browser_client.get("/regulations?q=八里湖新区")
    assert _count(found) == 1 and "关于加强全市建设工程质量检测数据监管的通知" in found.text
    # a city's documents with the province's and the national ones that apply there
    jiujiang = browser_client.get("/regulations?region=360400").text
    assert "九住建质安字〔2024〕80号" in jiujiang and "住房和城乡建设部令第57号" in jiujiang
    assert "广西壮族自治区建设工程质量检测信息管理办法" not in jiujiang
    national = browser_client.get("/regulations?region=national").text
    assert "九住建质安字" not in national and "主席令第七十号" in national
    rows = sheet(browser_client.get("/regulations?level=national_standard&format=xlsx"))
    assert rows[0][:3] == ["名称", "文号或标准号", "效力层级"]
    assert len(rows) - 1 == _count(browser_client.get("/regulations?level=national_standard"))
    assert all(r[2] == "国家标准" for r in rows[1:])
    for bad in ("level=law;drop", "status=gone", "region=36", "q=" + "长" * 65):
        assert browser_client.get(f"/regulations?{bad}").status_code in (400, 422), bad


def test_an_entry_shows_its_text_replacements_and_citing_rules(browser_client, db):
    rows = _rows(db)
    notice = browser_client.get(f"/regulations/{rows['003'].id}").text
    assert "九江市住房和城乡建设局" in notice and "八里湖新区" in notice
    assert "15273407162" not in notice and "152****7162" in notice  # an official's mobile
    assert "本平台依据本文件的预警规则" in notice and "依据<a href=" in notice
    old = browser_client.get(f"/regulations/{rows['jz141'].id}").text
    assert 'data-testid="replaced-by"' in old
    assert f'href="/regulations/{rows["jz57"].id}"' in old
    new = browser_client.get(f"/regulations/{rows['jz57'].id}").text
    assert "替代了" in new and f'href="/regulations/{rows["jz141"].id}"' in new
    standard = browser_client.get(f"/regulations/{rows['GB/T 50081-2019'].id}").text
    assert "本平台的预警规则没有引用本文件" not in standard  # cited as "GB/T 50081"
    assert "标准全文请向标准发布机构获取" in standard
    assert browser_client.get("/regulations/999999999").status_code == 404
    assert browser_client.get(f"/regulations/{rows['003'].id}/file").status_code == 404
    assert browser_client.get("/regulations/99999999999999999999").status_code == 404


def _form(token: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token, "code": "JJ-2026-1", "title": "九江市建设工程检测见证取样管理细则",
        "issuer": "九江市住房和城乡建设局", "number": "九住建字〔2026〕5号",
        "level": "normative_document", "region_code": "360400", "status": "in_force",
        "issued_date": "2026-03-01", "effective_date": "2026-04-01",
        "full_text": "第一条 为规范见证取样……\n第二条 ……", "note": "",
    } | extra  # fmt: skip


def test_a_city_adds_and_corrects_its_own_entries(browser_client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    db.commit()
    page = login(browser_client, city.username)
    assert page.get("/regulations/new").status_code == 200
    token = page_csrf(page, "/regulations/new")
    made = page.post("/regulations", data=_form(token),
                     files={"file": ("细则.pdf", PDF, "application/pdf")})  # fmt: skip
    assert made.status_code == 303, made.text[:400]
    entry = db.scalars(select(Regulation).where(Regulation.code == "JJ-2026-1")).one()
    assert entry.region_code == "360400" and entry.file_sha256
    shown = page.get(made.headers["location"])
    assert "已加入法规库" in shown.text and 'data-testid="regulation-file"' in shown.text
    original = page.get(f"/regulations/{entry.id}/file")
    assert original.status_code == 200 and original.content == PDF
    assert original.headers["content-type"] == "application/pdf"

    twice = page.post("/regulations", data=_form(token))
    assert twice.status_code == 409 and "已被法规库中的另一份文件使用" in twice.text
    bad_cases = {
        "national": (_form(token, code="N1", region_code=""), "平台管理员维护"),
        "other region": (_form(token, code="N2", region_code="360100"), "本辖区"),
        "replaced alone": (_form(token, code="N3", status="replaced"), "替代它的文件"),
        "dates": (_form(token, code="N4", effective_date="2026-01-01"), "施行日期不能早于"),
        "control": (_form(token, code="N5", title="细则\x00"), ""),
        "code": (_form(token, code="坏 代号"), ""),
    }
    for name, (data, words) in bad_cases.items():
        answer = page.post("/regulations", data=data)
        assert answer.status_code in (400, 422), (name, answer.status_code)
        assert words in answer.text, name
    png = ("a.png", b"\x89PNG\r\n\x1a\n0000", "image/png")
    not_pdf = page.post("/regulations", data=_form(token, code="N6"), files={"file": png})
    assert not_pdf.status_code == 422 and "不是 PDF 文件" in not_pdf.text
    assert db.scalars(select(Regulation).where(Regulation.code.like("N%"))).all() == []

    edit = page.get(f"/regulations/{entry.id}/edit")
    assert edit.status_code == 200 and "九江市建设工程检测见证取样管理细则" in edit.text
    rows = _rows(db)
    changed = page.post(f"/regulations/{entry.id}", data=_form(
        token, status="replaced", replaced_by_id=str(rows["003"].id),
        repealed_date="2026-10-01"))  # fmt: skip
    assert changed.status_code == 303, changed.text[:400]
    db.expire_all()
    assert db.get(Regulation, entry.id).replaced_by_id == rows["003"].id
    itself = page.post(
        f"/regulations/{entry.id}",
        data=_form(
            token, status="replaced", replaced_by_id=str(entry.id), repealed_date="2026-10-01"
        ),
    )
    assert itself.status_code == 422 and "就是本文件" in itself.text
    # the province's and the nation's entries are not the city's to edit
    assert page.get(f"/regulations/{rows['jz57'].id}/edit").status_code == 403
    taken = page.post(f"/regulations/{rows['002'].id}", data=_form(token, code="002"))
    assert taken.status_code == 403
    db.expire_all()
    assert db.get(Regulation, rows["002"].id).region_code == "450000"


def test_labs_and_visitors_cannot_write(browser_client, client, db, factory):
    assert browser_client.get("/regulations/new").status_code in (303, 401)
    staff = factory.user(Role.INSTITUTION_STAFF)
    db.commit()
    page = login(browser_client, staff.username)
    assert page.get("/regulations").status_code == 200
    assert "加入文件" not in page.get("/regulations").text
    assert page.get("/regulations/new").status_code == 403
    token = page_csrf(page, "/regulations")
    assert page.post("/regulations", data=_form(token)).status_code == 403
    assert db.scalars(select(Regulation).where(Regulation.code == "JJ-2026-1")).all() == []


def test_the_api_searches_and_gives_an_entry_with_its_text_and_rules(client, db, factory):
    """The library as JSON for any account (a lab's token here): the same filters as the page,
    paged; an entry
    with its full text (mobile numbers masked), what it replaced and the rules citing it; bad
    filters 400 (a malformed address: problem+json, Chinese), unknown ids 404."""
    rows = _rows(db)
    assert client.get("/api/v1/regulations").status_code == 401
    lab = factory.user(Role.INSTITUTION_STAFF, institution=factory.institution())
    db.commit()
    client.headers["Authorization"] = f"Bearer {factory.token(lab)}"
    everything = client.get("/api/v1/regulations", params={"limit": 100})
    assert everything.status_code == 200
    assert everything.json()["total"] == len(rows)
    standards = client.get("/api/v1/regulations", params={"level": "national_standard"}).json()
    assert standards["total"] >= 1
    assert {i["level"] for i in standards["items"]} == {"national_standard"}
    assert all(i["level_label"] == "国家标准" for i in standards["items"])
    replaced = client.get("/api/v1/regulations", params={"status": "replaced"}).json()
    assert replaced["total"] == 3
    found = client.get("/api/v1/regulations", params={"q": "八里湖新区"}).json()
    assert [i["code"] for i in found["items"]] == ["003"]
    assert found["items"][0]["region_name"].startswith("江西省九江市")
    national = client.get("/api/v1/regulations", params={"region": "national"}).json()
    assert all(i["region_code"] == "" for i in national["items"])
    paged = client.get("/api/v1/regulations", params={"limit": 2, "offset": 2}).json()
    assert len(paged["items"]) == 2
    assert paged["total"] == len(rows)
    notice = client.get(f"/api/v1/regulations/{rows['003'].id}").json()
    assert "八里湖新区" in notice["full_text"]
    assert "15273407162" not in notice["full_text"]
    assert "152****7162" in notice["full_text"]
    assert notice["rules"]
    assert all(r["id"] and r["title"] and "003" in r["clause"] for r in notice["rules"])
    old = client.get(f"/api/v1/regulations/{rows['jz141'].id}").json()
    assert old["replaced_by_id"] == rows["jz57"].id
    assert old["status"] == "replaced"
    new = client.get(f"/api/v1/regulations/{rows['jz57'].id}").json()
    assert new["replaces"] == [rows["jz141"].id]
    for bad in ({"level": "law2"}, {"status": "x"}, {"region": "3604"}, {"q": "x" * 65},
                {"limit": "many"}):  # fmt: skip
        refused = client.get("/api/v1/regulations", params=bad)
        assert refused.status_code == 400, bad
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert re.search(r"[\u4e00-\u9fff]", refused.json()["detail"] + refused.text)
    assert client.get("/api/v1/regulations/999999999").status_code == 404
    assert client.get("/api/v1/regulations/99999999999999999999").status_code == 404


def test_authorities_keep_their_entries_through_the_api(client, db, factory):
    """POST and PUT for regulation:manage: an authority adds its region's entry (201, with its
    detail), corrects it (the whole entry), is refused another region's or a national one
    (422 / 403), a duplicate code (409), a bad body (422, Chinese, nothing written); a lab may
    not write (403)."""
    jiujiang = factory.token(factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    nanchang = factory.token(factory.user(Role.CITY_AUTHORITY, region_code="360100"))
    lab = factory.token(
        factory.user(Role.INSTITUTION_ADMIN, institution=factory.institution("360403"))
    )
    db.commit()
    before = len(_rows(db))
    body = {"code": "jj-2026-9", "title": "九江市建设工程检测见证取样管理细则",
            "issuer": "九江市住房和城乡建设局",
            "number": "九建字〔2026〕9号", "level": "normative_document", "region_code": "360400",
            "status": "in_force", "issued_date": "2026-03-01", "effective_date": "2026-04-01",
            "full_text": "第一条 为规范见证取样……联系电话 13907921234。"}  # fmt: skip

    def call(method: str, path: str, token: str, json: dict) -> object:
        return client.request(method, path, json=json, headers={"Authorization": f"Bearer {token}"})

    assert call("POST", "/api/v1/regulations", lab, body).status_code == 403
    made = call("POST", "/api/v1/regulations", jiujiang, body)
    assert made.status_code == 201, made.text
    entry = made.json()
    assert entry["region_name"].startswith("江西省九江市")
    assert "139****1234" in entry["full_text"]
    again = call("POST", "/api/v1/regulations", jiujiang, body)
    assert again.status_code == 409
    elsewhere = call(
        "POST", "/api/v1/regulations", jiujiang, body | {"code": "nc-1", "region_code": "360100"}
    )
    assert elsewhere.status_code == 422
    assert "本辖区" in elsewhere.json()["errors"][0]["message"]
    for bad in ({"level": "law2"}, {"effective_date": "2026-01-01"}, {"title": "\x00"},
                {"status": "replaced"}, {"replaced_by_id": 10**12}):  # fmt: skip
        refused = call("POST", "/api/v1/regulations", jiujiang, body | {"code": "x-1"} | bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    path = f"/api/v1/regulations/{entry['id']}"
    corrected = call(
        "PUT", path, jiujiang, body | {"status": "repealed", "repealed_date": "2026-10-01"}
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["status_label"] == "已废止"
    assert call("PUT", path, nanchang, body).status_code == 403
    assert call("PUT", "/api/v1/regulations/999999", jiujiang, body).status_code == 404
    db.expire_all()
    assert len(_rows(db)) == before + 1
