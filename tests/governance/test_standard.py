"""The data standard (issue 43 item 1): the shipped baseline is the code's, the exchange docs
are generated from it, and a published revision narrows the exchange's validation from its
effective time on, judged by when a message was signed; on both databases."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.config import get_settings
from jcjg.exchange.types import message_types
from jcjg.governance import checks, service, standard
from jcjg.governance.commands import docs_text
from jcjg.governance.models import DataStandard
from jcjg.ledger.models import LedgerLeaf
from tests.exchange.conftest import make_lims
from tests.factories import login, page_csrf

HTML = {"accept": "text/html"}
DOC = Path(__file__).parents[2] / "docs" / "exchange-api" / "data-standard.md"
TITLE = "staff_record.title"
YEARS = "years_in_testing"


def test_the_shipped_baseline_is_the_codes():
    """Change a message type and this fails: run `jcjg governance baseline --write`."""
    assert standard.build(message_types()) == standard.shipped()


def test_the_exchange_docs_are_generated_from_the_standard():
    """Run `jcjg governance docs --write` when this fails."""
    assert DOC.read_text(encoding="utf-8") == docs_text()


def test_a_new_database_holds_the_baseline_as_version_one(db):
    first = db.scalar(select(DataStandard).where(DataStandard.version == 1))
    assert first is not None
    assert first.status == "published"
    assert first.shipped
    assert service.content_of(db, first) == standard.shipped()
    assert service.load_shipped(db) == "数据标准：随附基线已在第 1 版"


def _staff_message(lims, title: str, years: int) -> dict[str, Any]:
    example = copy.deepcopy(message_types()["registry.staff"].example)
    message = lims.message(
        **{k: v for k, v in example.items() if k not in ("message_id", "institution_code")}
    )
    person = message["people"][0]
    person["title"] = title
    person["years_in_testing"] = years
    message["people"] = [person]
    return message


def _publish(client, factory, *, effective_at: dt.datetime) -> int:
    """A revision narrowing the staff's title and years, drafted by one provincial officer and
    published by another through the pages; its version number."""
    author = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    reviewer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(client, author.username)
    csrf = page_csrf(client, "/governance")
    made = client.post(
        "/governance/versions",
        data={"title": "收紧人员职称与从业年限", "note": "按新规", "csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text[:400]
    version = int(made.headers["location"].split("/")[3].split("?")[0])
    base = f"/governance/versions/{version}/elements"
    page = client.get(f"{base}/{TITLE}", headers=HTML)
    assert page.status_code == 200
    assert "可用代码" in page.text
    saved = client.post(
        f"{base}/{TITLE}",
        data={
            "name": "职称等级",
            "enum": ["none", "junior", "intermediate", "senior"],
            "csrf_token": csrf,
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[:600]
    saved = client.post(
        f"{base}/{YEARS}",
        data={
            "name": "从事检测工作年限",
            "unit": "年",
            "minimum": "0",
            "maximum": "50",
            "csrf_token": csrf,
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[:600]
    shown = client.get(f"/governance/versions/{version}", headers=HTML).text
    assert "职称等级" in shown
    assert "0–50" in shown
    assert (
        client.post(
            f"/governance/versions/{version}/submit",
            data={"csrf_token": csrf},
            headers=HTML,
            follow_redirects=False,
        ).status_code
        == 303
    )
    # the author may not review their own revision
    mine = client.post(
        f"/governance/versions/{version}/review",
        data={
            "decision": "publish",
            "effective_at": "2099-01-01T00:00",
            "note": "",
            "csrf_token": csrf,
        },
        headers=HTML,
    )
    assert mine.status_code == 403
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, f"/governance/versions/{version}")
    local = effective_at.astimezone(get_settings().tz).strftime("%Y-%m-%dT%H:%M:%S")
    done = client.post(
        f"/governance/versions/{version}/review",
        data={"decision": "publish", "effective_at": local, "note": "同意", "csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text[:600]
    client.cookies.clear()
    return version


def test_a_published_revision_narrows_the_exchange_from_its_effective_time(  # noqa: PLR0915
    client, db, settings, factory
):
    checks.MEMORY.forget()
    now = int(time.time())
    # a version takes effect at the soonest after the labs' allowed clock skew (300 s) and
    # the processes' reading of it: published for 20 minutes from now …
    published_for = dt.datetime.fromtimestamp(now + 1200, dt.UTC)
    version = _publish(client, factory, effective_at=published_for)
    row = service.get(db, version)
    db.refresh(row)
    assert row.status == "published"
    assert row.effective_at == published_for
    # … and, for the test, moved to a minute from now, so that a signature after it still
    # lies within the allowed skew
    effective = dt.datetime.fromtimestamp(now + 60, dt.UTC)
    row.effective_at = effective
    db.commit()
    checks.MEMORY.forget()
    entry = db.get(LedgerLeaf, row.ledger_index)
    assert entry is not None
    assert entry.entry_type == "data_standard:publish"
    assert row.content_sha256 == standard.content_sha256(service.content_of(db, row))

    lims = make_lims(db, settings, factory)
    # signed before the effective time: judged by version 1, a professor with 60 years passes
    before = lims.post_raw(
        client, "registry.staff", _staff_message(lims, "professor", 60), created=now
    )
    assert before.status_code == 202, before.text
    # signed after it: refused in the request, both fields named, nothing stored (with the
    # versions not in memory too: the try with the database checks again what the first, from
    # memory, parsed)
    checks.MEMORY.forget()
    after = lims.post_raw(
        client, "registry.staff", _staff_message(lims, "professor", 60), created=now + 90
    )
    assert after.status_code == 422, after.text
    problem = after.json()
    fields = {e["field"]: e for e in problem["errors"]}
    assert set(fields) == {"people.0.title", "people.0.years_in_testing"}
    assert all(e["code"] == "value_domain" for e in fields.values())
    assert "数据标准" in fields["people.0.years_in_testing"]["message"]
    good = lims.post_raw(
        client, "registry.staff", _staff_message(lims, "senior", 12), created=now + 90
    )
    assert good.status_code == 202, good.text

    # the schema as each version states it
    then = client.get(
        "/exchange/v1/schemas/registry.staff", params={"at": effective.isoformat()}
    ).json()
    assert then["x-data-standard-version"] == version
    text = json.dumps(then)
    assert '"maximum": 50' in text
    assert "professor" not in text
    earlier = client.get("/exchange/v1/schemas/registry.staff").json()
    assert earlier["x-data-standard-version"] == 1
    assert "professor" in json.dumps(earlier)
    naive = client.get("/exchange/v1/schemas/registry.staff", params={"at": "2026-01-01T00:00:00"})
    assert naive.status_code == 422

    # labs see it before it takes effect
    lab = factory.user(Role.INSTITUTION_ADMIN, institution=lims.institution)
    headers = {"Authorization": f"Bearer {factory.token(lab)}"}
    listed = client.get("/api/v1/governance/standards", headers=headers).json()
    assert listed["in_force"] == 1
    assert [v["version"] for v in listed["items"]] == [1, version]
    assert listed["items"][1]["in_force"] is False
    content = client.get(f"/api/v1/governance/standards/{version}", headers=headers).json()
    years = next(e for e in content["content"]["elements"] if e["id"] == YEARS)
    assert years["domain"]["maximum"] == 50
    assert years["unit"] == "年"
    login(client, lab.username)
    markdown = client.get(f"/governance/versions/{version}/data-standard.md")
    assert markdown.status_code == 200
    assert "0–50" in markdown.text
    checks.MEMORY.forget()


def _officer(client, factory):
    officer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(client, officer.username)
    return officer, page_csrf(client, "/governance")


def test_bad_revisions_are_refused(client, db, factory):
    _officer_user, csrf = _officer(client, factory)
    made = client.post(
        "/governance/versions",
        data={"title": "修订", "note": "", "csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert made.status_code == 303
    version = int(made.headers["location"].split("/")[3].split("?")[0])
    again = client.post(
        "/governance/versions", data={"title": "另一个", "csrf_token": csrf}, headers=HTML
    )
    assert again.status_code == 409  # one revision open at a time
    base = f"/governance/versions/{version}/elements"
    bad = {
        TITLE: [
            {"name": "职称", "enum": ["boss"]},  # not a code the code takes
            {"name": "职称", "enum": []},  # none left
            {"name": "", "enum": ["none"]},  # no name
            {"name": "x" * 81, "enum": ["none"]},
        ],
        YEARS: [
            {"name": "年限", "maximum": "71"},  # wider than the code's 0–70
            {"name": "年限", "minimum": "-1"},
            {"name": "年限", "minimum": "30", "maximum": "20"},
            {"name": "年限", "maximum": "二十"},
            {"name": "年限", "maximum": "1e400"},
            {"name": "年限", "maximum": "9" * 40},
        ],
        "institution_code": [
            {"name": "机构编号", "max_length": "33"},
            {"name": "机构编号", "min_length": "-1"},
        ],
        "amount_yuan": [{"name": "合同金额", "decimal_places": "3"}],
    }
    for element_id, forms in bad.items():
        for form in forms:
            answer = client.post(
                f"{base}/{element_id}", data={**form, "csrf_token": csrf}, headers=HTML
            )
            assert answer.status_code == 422, (element_id, form, answer.status_code)
    control = client.post(
        f"{base}/{TITLE}",
        data={"name": "职\x00称", "enum": ["none"], "csrf_token": csrf},
        headers=HTML,
    )
    assert control.status_code == 422
    clause = client.post(
        f"{base}/{TITLE}",
        data={"name": "职称", "clause": "第一条\n第二条", "enum": ["none"], "csrf_token": csrf},
        headers=HTML,
    )
    assert clause.status_code == 422
    # nothing was written by the refusals
    element = service.element(db, service.get(db, version), YEARS)
    db.refresh(element)
    assert element.domain == element.envelope
    assert not element.changed
    assert client.get(f"{base}/no.such", headers=HTML).status_code == 404
    assert client.get(f"{base}/NOT-AN-ID", headers=HTML).status_code == 400
    assert client.get("/governance/versions/99999999999", headers=HTML).status_code == 404
    assert client.get("/governance/versions/999999", headers=HTML).status_code == 404
    # a published version is never edited
    one = client.post(
        "/governance/versions/1/elements/gender",
        data={"name": "性别", "enum": ["male"], "csrf_token": csrf},
        headers=HTML,
    )
    assert one.status_code == 409
    # submitted without a review date; returned needs a note
    client.post(f"/governance/versions/{version}/submit", data={"csrf_token": csrf}, headers=HTML)
    other = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    client.cookies.clear()
    login(client, other.username)
    csrf = page_csrf(client, "/governance")
    for form in (
        {"decision": "publish", "effective_at": ""},
        {"decision": "publish", "effective_at": "2020-01-01T00:00"},  # never retroactive
        {"decision": "publish", "effective_at": "明天"},
        {"decision": "return", "note": ""},
    ):
        answer = client.post(
            f"/governance/versions/{version}/review",
            data={**form, "csrf_token": csrf},
            headers=HTML,
        )
        assert answer.status_code == 422, form
    assert service.get(db, version).status == "submitted"
    returned = client.post(
        f"/governance/versions/{version}/review",
        data={"decision": "return", "note": "请补充依据条款", "csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert returned.status_code == 303
    db.expire_all()
    assert service.get(db, version).status == "returned"


@pytest.mark.parametrize("role", [Role.INSTITUTION_ADMIN, Role.CITY_AUTHORITY, Role.WITNESS])
def test_only_the_province_drafts(client, factory, role):
    kwargs: dict[str, Any] = (
        {"institution": factory.institution()}
        if role == Role.INSTITUTION_ADMIN
        else {"region_code": "360100"}
    )
    user = factory.user(role, **kwargs)
    login(client, user.username)
    assert client.get("/governance", headers=HTML).status_code == 200
    csrf = page_csrf(client, "/governance")
    made = client.post(
        "/governance/versions", data={"title": "修订", "csrf_token": csrf}, headers=HTML
    )
    assert made.status_code == 403


def test_the_lists_filter_count_and_export(client, factory):
    _officer(client, factory)
    home = client.get("/governance", headers=HTML)
    assert home.status_code == 200
    assert "现行版本" in home.text
    assert "第 1 版" in home.text
    listed = client.get("/governance/versions/1/elements?q=职称", headers=HTML)
    assert listed.status_code == 200
    assert "staff_record.title" in listed.text
    by_model = client.get(
        "/governance/versions/1/elements?model=registry.staff&type=integer", headers=HTML
    )
    assert "years_in_testing" in by_model.text
    assert "amount_yuan" not in by_model.text
    assert client.get("/governance/versions/1/elements?type=bogus", headers=HTML).status_code == 400
    for path in ("/governance/versions/1/elements?format=xlsx", "/governance?format=xlsx"):
        exported = client.get(path)
        assert exported.status_code == 200, path
        sheet = load_workbook(io.BytesIO(exported.content)).active
        assert sheet.max_row >= 2
    detail = client.get("/governance/versions/1/elements/staff_record.title", headers=HTML)
    assert detail.status_code == 200
    assert "registry.staff" in detail.text
    version = client.get("/governance/versions/1", headers=HTML)
    assert "数据字典" in version.text
    assert "基线版本" in version.text


def _principal(db, settings, user):
    return principal_for(db=db, user=user, settings=settings)


def _published_now(db, settings, factory, element_id: str, values: dict[str, Any]) -> int:
    """A version narrowing one element, published and (for the test) in force since a minute
    ago: the review itself only takes a time to come."""
    author = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    reviewer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    principal = _principal(db, settings, author)
    draft = service.new_draft(db, principal, title="收紧场所面积", note="")
    service.edit_element(db, principal, version=draft, element_id=element_id, values=values)
    service.submit(db, principal, version=draft)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    service.review(
        db,
        _principal(db, settings, reviewer),
        version=draft,
        approve=True,
        effective_at=soon,
        note="",
    )
    draft.effective_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    db.commit()
    checks.MEMORY.forget()
    return draft.version


def test_a_parent_judges_a_forwarded_message_by_its_own_standard(client, db, settings, factory):
    from tests.networking.test_forwards import LABS, Setup

    city = Setup(db, settings, factory)
    version = _published_now(
        db, settings, factory, "area_m2", {"name": "场所面积", "maximum": "500"}
    )
    small = city.lab.signed(city.log, "registry.labs", LABS)
    large = {"labs": [{**LABS["labs"][0], "area_m2": "900.00"}]}
    too_large = city.lab.signed(city.log, "registry.labs", large)
    answer = city.post(client, [small, too_large])
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["outcomes"]["stored"] == 1
    assert [r["index"] for r in doc["refused"]] == [1]
    refused = doc["refused"][0]
    assert refused["errors"][0]["field"] == "labs.0.area_m2"
    assert refused["errors"][0]["code"] == "value_domain"
    assert f"第 {version} 版" in refused["errors"][0]["message"]
    checks.MEMORY.forget()


def test_a_draft_is_shown_only_to_who_edits_or_reviews_it(client, db, factory):
    officer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    draft = service.new_draft(
        db,
        principal_for(db=db, user=officer, settings=get_settings()),
        title="未发布的修订",
        note="",
    )
    db.commit()
    lab = factory.user(Role.INSTITUTION_ADMIN, institution=factory.institution())
    login(client, lab.username)
    for path in ("", "/elements", "/elements/gender", "/data-standard.md"):
        assert (
            client.get(f"/governance/versions/{draft.version}{path}", headers=HTML).status_code
            == 404
        )
    assert "未发布的修订" not in client.get("/governance", headers=HTML).text
    client.cookies.clear()
    login(client, officer.username)
    assert client.get(f"/governance/versions/{draft.version}", headers=HTML).status_code == 200


def test_the_quick_domain_test_agrees_with_the_worded_one():
    """checks.inside (the request path's quick test) passes exactly the values checks.problem
    finds nothing wrong with, and a check names each value outside as before."""
    domains = [
        {"enum": ["none", "junior", "senior"]},
        {"enum": [1, 2, 3]},
        {"minimum": 0, "maximum": 50},
        {"minimum": "0.5"},
        {"maximum": 10, "decimal_places": 1},
        {"decimal_places": 2},
        {"min_length": 2, "max_length": 4},
        {"enum": ["10", "20"], "maximum": 15},
    ]
    values = [None, True, False, 0, 1, 3, 10, 15, 50, 51, -1, 2**60, 0.5, 0.25, 10.05, 1e309,
              float("nan"), "", "0", "1", "3", "10", "20", "none", "junior", "x", "abcde",
              " 5 ", "1.25", "NaN", "1e400", [1], {"a": 1}]  # fmt: skip
    for domain in domains:
        test = checks.inside(domain)
        for value in values:
            assert test(value) == (checks.problem(domain, value) is None), (domain, value)
    check = checks.compile_model(
        [("people[].title", {"enum": ["none", "junior"]}), ("people[].years", {"maximum": 50})], 2
    )
    data = {"people": [{"title": "junior", "years": 50}, {"title": "senior", "years": 51}, {}]}
    assert [(e.field, e.code) for e in check(data)] == [
        ("people.1.title", "value_domain"),
        ("people.1.years", "value_domain"),
    ]
    assert check({"people": [{"title": "none", "years": 3}]}) == []
