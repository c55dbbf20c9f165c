"""The experts' JSON API and pages: good requests and bad ones (malformed, wrong types,
control characters, huge ids, unauthorised, another region's data), and the expert's own
answer and opinion."""

from __future__ import annotations

from jcjg.auth.choices import Role
from tests.experts.conftest import auth, drawn_panel, panel_body
from tests.factories import login

HTML_ACCEPT = {"accept": "text/html"}

EXPERT = {
    "code": "ZJ-API-1",
    "name": "王工",
    "region_code": "360100",
    "title": "高级工程师",
    "employer": "南昌某设计院",
    "specialties": ["01", "03"],
    "relations": [{"kind": "relative_employer", "organisation": "某检测公司"}],
}


def test_the_province_registers_and_reads_an_expert(client, factory, pool):
    headers = auth(factory, pool.officer)
    made = client.post("/api/v1/experts", json=EXPERT, headers=headers)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["specialties"] == ["01", "03"]
    assert body["relations"][0]["organisation"] == "某检测公司"
    assert client.get(f"/api/v1/experts/{body['id']}", headers=headers).json()["name"] == "王工"
    listed = client.get("/api/v1/experts?specialty=03", headers=headers).json()
    assert [e["code"] for e in listed["items"]] == ["ZJ-API-1"]


def test_bad_experts_are_refused(client, factory, pool):
    headers = auth(factory, pool.officer)
    bad = {
        "unknown specialty": EXPERT | {"specialties": ["99"]},
        "no specialty": EXPERT | {"specialties": []},
        "wrong type": EXPERT | {"specialties": "01"},
        "control char": EXPERT | {"name": "王\x00工"},
        "huge user id": EXPERT | {"user_id": 2**40},
        "another province": EXPERT | {"region_code": "440100"},
        "extra key": EXPERT | {"secret": 1},
        "bad credit code": EXPERT | {"employer_credit_code": "123"},
    }
    for name, body in bad.items():
        answer = client.post("/api/v1/experts", json=body, headers=headers)
        assert answer.status_code == 422, (name, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert client.post("/api/v1/experts", content=b"{", headers=headers).status_code in (400, 422)
    assert client.post("/api/v1/experts", json=EXPERT).status_code == 401
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    assert (
        client.post("/api/v1/experts", json=EXPERT, headers=auth(factory, city)).status_code == 403
    )


def test_bad_panels_are_refused(client, factory, pool):
    headers = auth(factory, pool.officer)
    bad = {
        "twice one specialty": panel_body(
            pool, requirements=[{"specialty": "01", "count": 1}, {"specialty": "01", "count": 2}]
        ),
        "count as text": panel_body(pool, requirements=[{"specialty": "01", "count": "2"}]),
        "zero": panel_body(pool, requirements=[{"specialty": "01", "count": 0}]),
        "unknown specialty": panel_body(pool, requirements=[{"specialty": "77", "count": 1}]),
        "other province": panel_body(pool, region_code="440000"),
        "kind": panel_body(pool, kind="party"),
        "huge institution": panel_body(pool, institution_id=2**31),
    }
    for name, body in bad.items():
        answer = client.post("/api/v1/panels", json=body, headers=headers)
        assert answer.status_code == 422, (name, answer.text)
    other = factory.institution(region_code="440100")
    far = client.post(
        "/api/v1/panels", json=panel_body(pool, institution_id=other.id), headers=headers
    )
    assert far.status_code == 422


def test_another_region_does_not_find_a_panel(client, db, factory, pool):
    panel = drawn_panel(client, db, factory, pool)
    nanchang = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    answer = client.get(f"/api/v1/panels/{panel['id']}", headers=auth(factory, nanchang))
    assert answer.status_code == 404
    jiujiang = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    assert (
        client.get(f"/api/v1/panels/{panel['id']}", headers=auth(factory, jiujiang)).status_code
        == 404
    )


def test_an_expert_answers_and_submits_opinion_and_scores(client, db, factory, pool):
    panel = drawn_panel(client, db, factory, pool)
    member = panel["members"][0]
    mine = auth(factory, pool.accounts[member["expert_id"]])
    someone_else = next(
        u
        for i, u in pool.accounts.items()
        if i != member["expert_id"] and i not in {m["expert_id"] for m in panel["members"]}
    )
    theirs = auth(factory, someone_else)
    url = f"/api/v1/panel-members/{member['id']}"
    assert client.post(f"{url}/answer", json={"accept": True}, headers=theirs).status_code == 404
    assert client.post(f"{url}/answer", json={"accept": False}, headers=mine).status_code == 422
    assert client.post(f"{url}/answer", json={"accept": "yes"}, headers=mine).status_code == 422
    early = {
        "conclusion": "pass",
        "scores": dict.fromkeys(("personnel", "equipment", "premises", "quality_system"), 20),
        "opinion": "人员、设备满足要求。",
    }
    assert client.post(f"{url}/opinion", json=early, headers=mine).status_code == 409
    assert client.post(f"{url}/answer", json={"accept": True}, headers=mine).status_code == 200
    for spoiled in (
        {"scores": {"personnel": 26}},
        {"scores": early["scores"] | {"premises": -1}},
        {"opinion": ""},
        {"conclusion": "maybe"},
    ):
        answer = client.post(f"{url}/opinion", json=early | spoiled, headers=mine)
        assert answer.status_code == 422, spoiled
    done = client.post(f"{url}/opinion", json=early, headers=mine)
    assert done.status_code == 200, done.text
    assert done.json()["score"] == 80
    assert done.json()["status"] == "submitted"


def test_the_expert_keeps_their_own_data_on_the_page(browser_client, db, factory, pool):
    expert = pool.experts[0]
    user = pool.accounts[expert.id]
    login(browser_client, user.username)
    page = browser_client.get("/my/expert")
    assert page.status_code == 200
    assert expert.name in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {
        "csrf_token": token,
        "title": "正高级工程师",
        "employer": "新单位",
        "phone": "13800000000",
        "specialties": ["02"],
        "available": "no",
        "rel_kind_0": "former_employer",
        "rel_org_0": "九江被评审检测有限公司",
    }
    saved = browser_client.post("/my/expert", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:500]
    db.refresh(expert)
    assert expert.employer == "新单位"
    assert expert.specialties == ["02"]
    assert expert.available is False
    bad = browser_client.post("/my/expert", data=form | {"specialties": ["88"]})
    assert bad.status_code == 422
    assert "资质目录中没有检测专项" in bad.text
    assert browser_client.get("/experts").status_code == 403  # not the pool
    assert browser_client.get("/my/reviews").status_code == 200


def test_the_office_links_an_account_by_name_not_by_number(browser_client, factory, pool):
    login(browser_client, pool.officer.username)
    page = browser_client.get("/experts/new")
    assert page.status_code == 200
    account = next(iter(pool.accounts.values()))
    assert f"{account.display_name}（{account.username}）" in page.text
    assert 'type="number"' not in page.text.split('name="user_id"')[0][-200:]
    other = factory.user(Role.EXPERT, region_code="440000")  # another province's expert
    assert other.username not in browser_client.get("/experts/new").text


def test_an_expert_account_not_yet_linked_is_told_so(browser_client, factory):
    login(browser_client, factory.user(Role.EXPERT, region_code="360000").username)
    page = browser_client.get("/my/expert", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "尚未关联专家库中的专家信息" in page.text
    assert 'data-testid="expert-form"' not in page.text
    assert browser_client.get("/my/reviews").status_code == 200


def test_an_experts_history_shows_only_the_panels_the_office_may_read(
    browser_client, client, db, factory, pool
):
    panel = drawn_panel(client, db, factory, pool)
    expert_id = panel["members"][0]["expert_id"]
    login(browser_client, pool.officer.username)
    page = browser_client.get(f"/experts/{expert_id}", headers={"accept": "text/html"})
    assert panel["code"] in page.text
    browser_client.cookies.clear()
    city = factory.user(Role.CITY_AUTHORITY, region_code="360100")  # the expert's own city
    login(browser_client, city.username)
    page = browser_client.get(f"/experts/{expert_id}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert panel["code"] not in page.text  # the province's review is not the city's to read


def test_a_form_with_mistakes_says_how_many_in_words(browser_client, pool):
    login(browser_client, pool.officer.username)
    token = browser_client.get("/experts/new").text.split('name="csrf_token" value="')[1]
    token = token.split('"')[0]
    page = browser_client.post("/experts", data={"csrf_token": token}, headers=HTML_ACCEPT)
    assert page.status_code == 422
    assert "处需要修改" in page.text
    assert "errors" not in page.text.split("<main")[1].split("</main>")[0]  # no API wording


def test_the_pool_is_chosen_by_name(browser_client, pool):
    login(browser_client, pool.officer.username)
    page = browser_client.get("/experts/new", headers=HTML_ACCEPT).text
    assert '<option value="360000" selected>江西省</option>' in page
    assert '<option value="360100" >江西省南昌市</option>' in page
