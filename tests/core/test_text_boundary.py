"""One boundary for text (issue 21): NUL, controls, bidi and zero-width characters are refused
where text enters (login, query, path, JSON API, forms) with a Chinese 422 naming the field, a
login name with them is an ordinary failed login, accepted text is stored in NFC, multi-line
fields keep their line breaks, and what was stored before the boundary never breaks an export.

Run on both databases: PostgreSQL refuses NUL in text where SQLite stores it.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.registry.models import Person
from tests.factories import Factory, csrf_from, id_number, login, page_csrf

PERSON = {"id_number": id_number(7), "title": "intermediate", "years_in_testing": "5"}
BAD = ["\x00", "\x1b", "\x07", "\u202e", "\u200b", "\ufeff", "\x85"]


def _bearer(factory: Factory, role: Role = Role.PLATFORM_ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(factory.user(role))}"}


def _people(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Person)) or 0


def _fields(response: Any) -> set[str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "/problems/validation", body
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), body
    return {e["field"] for e in body["errors"]}


# --- login: no oracle --------------------------------------------------------------------------


def _login_error(response: Any) -> str:
    found = re.search(r'data-testid="login-error">([^<]*)<', response.text)
    assert found, response.text[:500]
    return found.group(1)


@pytest.mark.parametrize("char", BAD)
def test_a_login_name_or_password_with_a_control_character_is_an_ordinary_failed_login(
    browser_client: TestClient, factory: Factory, char: str
) -> None:
    user = factory.user(Role.CITY_AUTHORITY)
    csrf = csrf_from(browser_client.get("/login").text)

    def attempt(username: str, password: str) -> Any:
        form = {"username": username, "password": password, "csrf_token": csrf, "next": "/"}
        return browser_client.post("/login", data=form)

    wrong = attempt(user.username, "not-the-password")
    assert wrong.status_code == 401
    for username, password in [
        (f"a{char}b", "whatever"),
        (user.username + char, "whatever"),
        (user.username, f"pass{char}word"),
    ]:
        answer = attempt(username, password)
        assert answer.status_code == wrong.status_code, answer.text[:300]
        assert _login_error(answer) == _login_error(wrong)
    # and the account still logs in with its own password
    login(browser_client, user.username)


# --- query and path ----------------------------------------------------------------------------


@pytest.mark.parametrize("char", [*BAD, "\n", "\t"])
def test_a_search_with_a_control_character_is_a_422_naming_the_parameter_on_the_api(
    client: TestClient, factory: Factory, char: str
) -> None:
    headers = _bearer(factory)
    fine = client.get("/api/v1/registry/people", params={"q": "张三"}, headers=headers)
    assert fine.status_code == 200, fine.text
    refused = client.get("/api/v1/registry/people", params={"q": f"a{char}b"}, headers=headers)
    assert refused.status_code == 422, refused.text
    assert _fields(refused) == {"query.q"}


@pytest.mark.parametrize("path", ["/registry/equipment", "/testing/records", "/registry/people"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\u202e"])
def test_a_search_box_with_a_control_character_is_a_chinese_422_page(
    browser_client: TestClient, factory: Factory, path: str, char: str
) -> None:
    login(browser_client, factory.user(Role.PLATFORM_ADMIN).username)
    assert browser_client.get(path, params={"q": "压力"}).status_code == 200
    refused = browser_client.get(path, params={"q": char})
    assert refused.status_code == 422, refused.text[:300]
    assert refused.headers["content-type"].startswith("text/html")
    assert "关键词" in refused.text
    assert "不允许" in refused.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/registry/people/%00",
        "/api/v1/registry/%1b",
        "/v/%00",
        "/public/rectification-orders/%E2%80%AE",
        "/registry/people?institution_id=1&sort=%00",
    ],
)
def test_the_address_itself_is_checked(client: TestClient, factory: Factory, path: str) -> None:
    answer = client.get(path, headers=_bearer(factory))
    assert answer.status_code == 422, answer.text
    fields = _fields(answer)
    assert fields in ({"path"}, {"query.sort"})


# --- JSON API writes ---------------------------------------------------------------------------


@pytest.mark.parametrize("char", [*BAD, "\n", "\r", "\t"])
def test_a_json_api_write_with_a_control_character_in_a_name_is_a_422_naming_it(
    client: TestClient, db: Session, factory: Factory, char: str
) -> None:
    institution = factory.institution()
    headers = _bearer(factory)
    db.commit()
    before = _people(db)
    person = {"institution_id": institution.id, **PERSON, "name": f"张{char}三"}
    refused = client.post("/api/v1/registry/people", json=person, headers=headers)
    assert refused.status_code == 422, refused.text
    assert _fields(refused) == {"name"}
    assert _people(db) == before
    created = client.post(
        "/api/v1/registry/people", json={**person, "name": "张三"}, headers=headers
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\u202e", "\u200b", "\n"])
def test_a_pydantic_api_body_refuses_control_characters_naming_the_field(
    client: TestClient, factory: Factory, char: str
) -> None:
    user = {"username": "text_boundary", "display_name": f"张{char}三", "role": "platform_admin"}
    refused = client.post("/api/v1/users", json=user, headers=_bearer(factory))
    assert refused.status_code == 422, refused.text
    assert _fields(refused) == {"body.display_name"}


def test_a_key_of_a_json_body_is_checked_too(client: TestClient, factory: Factory) -> None:
    institution = factory.institution()
    body = {"institution_id": institution.id, "name": "张三", "a\x00b": 1}
    refused = client.post("/api/v1/registry/people", json=body, headers=_bearer(factory))
    assert refused.status_code == 422, refused.text


def test_a_multi_line_field_keeps_its_line_breaks_and_a_single_line_one_refuses_them(
    client: TestClient, db: Session, factory: Factory
) -> None:
    institution = factory.institution()
    headers = _bearer(factory)
    resume = "2010–2015 九江市建设工程质量检测中心\r\n2015 至今\t本机构技术负责人\n"
    person = {"institution_id": institution.id, **PERSON, "name": "李四"}
    created = client.post(
        "/api/v1/registry/people", json={**person, "resume": resume}, headers=headers
    )
    assert created.status_code == 201, created.text
    db.expire_all()
    stored = db.get(Person, created.json()["id"])
    assert stored is not None
    assert stored.resume == resume.strip()
    assert "\r\n" in stored.resume
    assert "\t" in stored.resume
    refused = client.patch(
        f"/api/v1/registry/people/{stored.id}", json={"resume": "第一行\x1b"}, headers=headers
    )
    assert refused.status_code == 422
    assert _fields(refused) == {"resume"}


# --- NFC -----------------------------------------------------------------------------------------

DECOMPOSED = "Jose\u0301 \uf900"  # e + combining acute; a CJK compatibility ideograph
COMPOSED = "Jos\u00e9 \u8c48"


def test_text_is_stored_in_nfc_through_the_json_api(
    client: TestClient, db: Session, factory: Factory
) -> None:
    institution = factory.institution()
    person = {"institution_id": institution.id, **PERSON, "name": DECOMPOSED}
    created = client.post("/api/v1/registry/people", json=person, headers=_bearer(factory))
    assert created.status_code == 201, created.text
    assert created.json()["name"] == COMPOSED
    db.expire_all()
    assert db.get(Person, created.json()["id"]).name == COMPOSED  # type: ignore[union-attr]


def test_text_is_stored_in_nfc_through_a_form(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    institution = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=institution)
    login(browser_client, admin.username)
    form = {
        "csrf_token": page_csrf(browser_client, "/registry/people/new"),
        "institution_id": str(institution.id),
        "name": DECOMPOSED,
        **PERSON,
    }
    saved = browser_client.post("/registry/people", data=form)
    assert saved.status_code == 303, saved.text[:800]
    db.expire_all()
    names = db.scalars(select(Person.name).where(Person.institution_id == institution.id)).all()
    assert names == [COMPOSED]


@pytest.mark.parametrize("char", ["\x1b", "\u202e", "\n"])
def test_a_form_with_a_control_character_shows_the_error_at_its_field(
    browser_client: TestClient, db: Session, factory: Factory, char: str
) -> None:
    institution = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=institution)
    login(browser_client, admin.username)
    form = {
        "csrf_token": page_csrf(browser_client, "/registry/people/new"),
        "institution_id": str(institution.id),
        "name": f"张{char}三",
        **PERSON,
    }
    before = _people(db)
    refused = browser_client.post("/registry/people", data=form)
    assert refused.status_code == 422, refused.text[:500]
    assert re.search(r'<small class="error">[^<]*不允许[^<]*</small>', refused.text)
    assert _people(db) == before


def test_a_page_form_refuses_a_control_character_before_its_endpoint(
    browser_client: TestClient, factory: Factory
) -> None:
    """A form read by FastAPI's own Form parameters (an API token's name) is checked too."""
    user = factory.user(Role.CITY_AUTHORITY)
    login(browser_client, user.username)
    csrf = page_csrf(browser_client, "/account/tokens")
    refused = browser_client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "脚本\x00一"}
    )
    assert refused.status_code == 422, refused.text[:500]
    assert "不允许" in refused.text
    made = browser_client.post("/account/tokens", data={"csrf_token": csrf, "name": "脚本一"})
    assert made.status_code in (200, 303), made.text[:500]


# --- exports: what was stored before ------------------------------------------------------------


def _stored_with_controls(db: Session, factory: Factory) -> Any:
    institution = factory.institution()
    person = Person(
        name="张\x1b三\x07\u202e\u200b",
        id_number=id_number(12),
        title="intermediate",
        resume="第一行\n第二行\x0b",
        institution_id=institution.id,
        region_code=institution.region_code,
    )
    db.add(person)
    db.commit()
    return institution


@pytest.mark.parametrize(
    "path", ["/registry/people/export", "/registry/people/export?format=csv",
             "/registry/people?format=xlsx"]
)  # fmt: skip
def test_an_export_writes_rows_stored_with_control_characters(
    browser_client: TestClient, db: Session, factory: Factory, path: str
) -> None:
    institution = _stored_with_controls(db, factory)
    login(browser_client, factory.user(Role.INSTITUTION_ADMIN, institution=institution).username)
    exported = browser_client.get(path)
    assert exported.status_code == 200, exported.text[:500]
    if "csv" in path:
        text = exported.content.decode("utf-8-sig")
        assert "张三" in text
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\u202e\u200b]", text)
        return
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c]
    assert "张三" in cells


# --- a page's form with a textarea ---------------------------------------------------------------


def test_a_page_form_keeps_line_breaks_in_its_textarea_and_refuses_them_elsewhere(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    from jcjg.alerts.models import CaseEvent

    alert = factory.alert(factory.institution(region_code="360403"))
    db.commit()
    login(browser_client, factory.user(Role.STATION, region_code="360400").username)

    def step(**fields: str) -> Any:
        csrf = page_csrf(browser_client, f"/alerts/{alert.id}")
        return browser_client.post(f"/alerts/{alert.id}/case", data={"csrf_token": csrf, **fields})

    refused = step(action="confirm", note="已核实\x1b")
    assert refused.status_code == 422, refused.text[:300]
    assert "不允许" in refused.text
    refused = step(action="confirm\n", note="已核实")
    assert refused.status_code == 422, refused.text[:300]
    note = "已核实：\n1. 检定证书已过期 12 天；\r\n2. 设备仍在使用。"
    assert step(action="confirm", note=note).status_code == 303
    db.expire_all()
    assert db.scalars(select(CaseEvent.note)).all() == [note]


def test_the_audit_search_box_is_named_in_its_422(
    browser_client: TestClient, factory: Factory
) -> None:
    login(browser_client, factory.user(Role.PLATFORM_ADMIN).username)
    refused = browser_client.get("/audit", params={"text": "a\x00"})
    assert refused.status_code == 422
    assert "“关键词”含有不允许的字符" in refused.text
    assert "提交的内容" not in refused.text
