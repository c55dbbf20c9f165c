"""Problem details, error pages, OpenAPI and the API docs served without a CDN."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.core.errors import PROBLEM_TYPES
from tests.factories import login


def test_unknown_route_is_problem_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "/problems/not-found"
    assert body["title"] == "未找到"


def test_unknown_page_is_a_chinese_page(browser_client, factory):
    login(browser_client, factory.user().username)
    response = browser_client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "未找到" in response.text
    assert "回到首页" in response.text


def test_every_problem_type_has_a_page(client):
    for slug, kind in PROBLEM_TYPES.items():
        page = client.get(kind.uri, headers={"accept": "text/html"})
        assert page.status_code == 200, slug
        assert kind.title in page.text


def test_request_id_is_echoed_or_made(client):
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    mine = client.get("/healthz", headers={"X-Request-ID": "lims-req-000123"})
    assert mine.headers["x-request-id"] == "lims-req-000123"
    bad = client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert bad.headers["x-request-id"] != "<script>"
    assert bad.headers["x-content-type-options"] == "nosniff"


def test_a_page_shows_its_request_id_only_when_something_went_wrong(client):
    """A reader needs the request's id to report a problem, not on every page's footer."""
    html = {"accept": "text/html"}
    fine = client.get("/public", headers=html)
    assert fine.status_code == 200
    assert "请求编号" not in fine.text
    missing = client.get("/v/no-such-code/nothing", headers={**html, "X-Request-ID": "ask-0042"})
    assert missing.status_code == 404
    assert "请求编号 <code>ask-0042</code>" in missing.text


def test_openapi_lists_the_api_only(client):
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["info"]["title"].startswith("建设工程检测监管信息服务平台")
    assert "/api/v1/users" in spec["paths"]
    assert all(path.startswith(("/api/v1/", "/ledger/", "/exchange/v1/")) for path in spec["paths"])
    assert "/ledger/proof/inclusion" in spec["paths"]
    assert "/exchange/v1/messages/{message_type}" in spec["paths"]
    assert not any(path.startswith("/exchange/clients") for path in spec["paths"])  # pages


def test_api_docs_use_local_assets(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_pages_render_for_the_admin(browser_client, factory, db):
    admin = factory.user(Role.PLATFORM_ADMIN)
    other = factory.user(Role.WITNESS, phone="13800001111")
    login(browser_client, admin.username)
    expectations = {
        "/": "您现在可以",
        "/admin/users": other.username,
        f"/admin/users/{other.id}": "138****1111",
        f"/admin/users/{other.id}/edit": "编辑用户",
        "/admin/users/new": "新建用户",
        "/admin/roles": "personal_data:unmask",
        "/regions": "江西省",
        "/regions?code=360400": "濂溪区",
        "/audit": "审计日志",
        "/admin/jobs": "清理过期会话",  # the job by its title
        "/account/tokens": "访问令牌",
        "/account/totp": "双因素认证",
        "/account/password": "修改密码",
    }
    for path, text in expectations.items():
        page = browser_client.get(path)
        assert page.status_code == 200, path
        assert text in page.text, path
        assert '<html lang="zh-CN"' in page.text


def test_home_shows_only_real_counts_in_scope(browser_client, factory):
    inst = factory.institution(region_code="360403")
    factory.institution(region_code="360102")
    staff = factory.user(Role.INSTITUTION_STAFF, institution=inst)
    login(browser_client, staff.username)
    page = browser_client.get("/").text
    assert f"本检测机构（{inst.name}）" in page
    assert "用户管理" not in page  # not granted to staff
    assert '<strong>1</strong><span class="muted">家</span>' in page  # its own institution only


def test_a_day_filter_takes_only_a_day(client, browser_client, factory):
    """``?until=0`` was 1970-01-01 (pydantic reads a number as a Unix time); every since/until
    filter now takes YYYY-MM-DD between 1900 and 2100, else 400 naming the parameter."""
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    headers = {"Authorization": f"Bearer {factory.token(city)}"}
    for bad in ("0", "1700000000", "2026-1-5", "0001-01-01", "2026-02-30", "today"):
        answer = client.get(f"/api/v1/penalties?until={bad}", headers=headers)
        assert answer.status_code == 400, bad
        assert answer.json()["errors"][0]["field"] == "query.until"
        assert "YYYY-MM-DD" in answer.json()["errors"][0]["message"]
    assert client.get("/api/v1/penalties?until=2026-11-25", headers=headers).status_code == 200
    login(browser_client, city.username)
    for path in ("/penalties", "/testing/records", "/nonconformities", "/supervision/log"):
        assert browser_client.get(f"{path}?since=0").status_code == 400, path
        assert browser_client.get(f"{path}?since=2026-11-01").status_code == 200, path


def test_the_analysis_export_declares_its_media_types(client):
    spec = client.get("/api/v1/openapi.json").json()
    answer = spec["paths"]["/api/v1/analyses/{analysis_id}/export"]["get"]["responses"]["200"]
    assert set(answer["content"]) == {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/pdf",
    }
