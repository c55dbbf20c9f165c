"""The public page's kept answers (jcjg.reports.fastpath): a genuine look-up's answer is given
again to the next anonymous visitor with the same code and token, every look-up still logged
and rate limited; anything else goes to the routes; a withdrawal is never answered "genuine"
once it is known, in this process at commit, in another at the next check."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select, update

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.ratelimit import RateLimiter
from jcjg.reports.choices import ScanOutcome
from jcjg.reports.models import CodeScan, Report
from jcjg.reports.scanlog import ScanLog
from jcjg.reports.service import scan_row
from tests.factories import login
from tests.reports.test_reports import HTML


def _scans(db, code: str) -> list[str]:
    db.expire_all()
    return list(db.scalars(select(CodeScan.outcome).where(CodeScan.code == code)))


def test_a_genuine_answer_is_given_again_and_still_logged(client, db, issued):
    answers = client.app.state.verify_answers
    code, token = issued["supervision_code"], issued["token"]
    first = client.get(f"/v/{code}?t={token}", headers=HTML)
    assert 'data-outcome="genuine"' in first.text
    assert "set-cookie" not in first.headers  # the same page for everyone: no CSRF cookie
    assert answers.hits == 0
    again = client.get(f"/v/{code}?t={token}", headers=HTML)
    assert answers.hits == 1
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["cache-control"] == "no-store"
    assert again.headers["referrer-policy"] == "no-referrer"
    assert again.headers["x-content-type-options"] == "nosniff"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    as_json = client.get(f"/v/{code}.json?t={token}").json()
    assert client.get(f"/v/{code}.json?t={token}").json() == as_json
    assert answers.hits == 2
    assert _scans(db, code) == ["genuine"] * 4  # every look-up logged, kept answer or not


def test_other_look_ups_go_to_the_routes(client, browser_client, db, factory, issued, lab):
    answers = client.app.state.verify_answers
    code, token = issued["supervision_code"], issued["token"]
    client.get(f"/v/{code}?t={token}", headers=HTML)
    wrong_token = token[:-1] + ("y" if token.endswith("x") else "x")  # tokens may end in x
    wrong = client.get(f"/v/{code}?t={wrong_token}", headers=HTML)
    assert 'data-outcome="exists"' in wrong.text
    assert 'data-outcome="exists"' in client.get(f"/v/{code}", headers=HTML).text
    too_long = client.get(f"/v/{code}?t={token}{'x' * 64}", headers=HTML)
    assert too_long.status_code == 400
    assert answers.hits == 0
    # a logged-in user gets the page with their own menu, from the routes
    login(
        browser_client, factory.user(Role.INSTITUTION_STAFF, institution=lab.institution).username
    )
    staff = browser_client.get(f"/v/{code}?t={token}", headers=HTML)
    assert 'data-outcome="genuine"' in staff.text
    assert 'href="/reports"' in staff.text
    assert answers.hits == 0
    assert client.get(f"/v/{code}?t={token}", headers=HTML).status_code == 200
    assert answers.hits == 1


def test_a_withdrawal_here_is_known_at_commit(client, db, issued, lab):
    code, token = issued["supervision_code"], issued["token"]
    for _ in range(2):
        assert 'data-outcome="genuine"' in client.get(f"/v/{code}?t={token}", headers=HTML).text
    withdrawal = lab.message(number="BG-2026-0001", reason="委托单位撤回委托")
    assert lab.post(client, "report_withdrawal", withdrawal).status_code == 200
    assert 'data-outcome="revoked"' in client.get(f"/v/{code}?t={token}", headers=HTML).text
    assert client.get(f"/v/{code}.json?t={token}").json()["outcome"] == "revoked"
    assert client.app.state.verify_answers.hits == 1


@pytest.mark.parametrize("change", ["withdrawn", "file"])
def test_a_change_in_another_process_is_known_at_the_next_check(
    client, db, connection, session_factory, issued, change
):
    answers = client.app.state.verify_answers
    code, token = issued["supervision_code"], issued["token"]
    client.get(f"/v/{code}?t={token}", headers=HTML)
    client.get(f"/v/{code}.json?t={token}")
    assert answers.check(session_factory) == 0  # unchanged: kept
    client.get(f"/v/{code}?t={token}", headers=HTML)
    assert answers.hits == 1
    # another process changes the report: straight on the connection, no session of this one
    values = {"status": "withdrawn"} if change == "withdrawn" else {"pdf_sha256": "ab" * 32}
    connection.execute(update(Report).where(Report.supervision_code == code).values(**values))
    assert client.get(f"/v/{code}?t={token}", headers=HTML).status_code == 200
    assert answers.hits == 2  # not yet checked: the kept answer, for at most its time
    assert answers.check(session_factory) == 2  # the page's and the JSON's
    page = client.get(f"/v/{code}?t={token}", headers=HTML)
    assert answers.hits == 2
    if change == "withdrawn":
        assert 'data-outcome="revoked"' in page.text
    else:
        assert 'data-outcome="genuine"' in page.text
        assert f"/v/{code}/report.pdf?t={token}" in page.text


def test_an_answer_not_checked_lately_is_not_given(client, db, issued):
    answers = client.app.state.verify_answers
    code, token = issued["supervision_code"], issued["token"]
    client.get(f"/v/{code}?t={token}", headers=HTML)
    (answer,) = answers._answers.values()
    answer.checked = time.monotonic() - answers.seconds  # the checker stopped (database down)
    client.get(f"/v/{code}?t={token}", headers=HTML)
    assert answers.hits == 0
    # and one made long ago is made anew by one request while the others still get it
    (answer,) = answers._answers.values()
    answer.remake_at = time.monotonic() - 1
    client.get(f"/v/{code}?t={token}", headers=HTML)
    assert answers.hits == 0  # this one went to the routes ...
    (fresh,) = answers._answers.values()
    assert fresh is not answer
    client.get(f"/v/{code}?t={token}", headers=HTML)
    assert answers.hits == 1


def test_a_kept_answer_is_still_rate_limited(client, db, issued):
    client.app.state.rate_limiters["verify"] = RateLimiter(2)
    code, token = issued["supervision_code"], issued["token"]
    assert client.get(f"/v/{code}?t={token}", headers=HTML).status_code == 200
    assert client.get(f"/v/{code}?t={token}", headers=HTML).status_code == 200
    assert client.app.state.verify_answers.hits == 1
    refused = client.get(f"/v/{code}?t={token}", headers=HTML)
    assert refused.status_code == 429  # the kept answer declined; the route refused
    assert "Retry-After" in refused.headers


def test_turned_off(settings, engine, session_factory, db, issued):
    from fastapi.testclient import TestClient

    from jcjg.main import create_app

    app = create_app(
        settings.model_copy(update={"verify_page_cache_seconds": 0}),
        engine=engine,
        session_factory=session_factory,
    )
    code, token = issued["supervision_code"], issued["token"]
    with TestClient(app) as fresh:
        for _ in range(3):
            assert fresh.get(f"/v/{code}?t={token}", headers=HTML).status_code == 200
    assert app.state.verify_answers.hits == 0
    assert app.state.verify_answers._answers == {}


def test_the_scan_log_writes_what_it_was_given(engine, session_factory, db, issued):
    """Rows converted when added, written many to an INSERT (SQLite) or by executemany."""
    log = ScanLog(engine.dialect)
    log.ROWS_PER_INSERT = 3
    report = db.scalars(select(Report)).one()
    start = utcnow().replace(microsecond=123456)
    for n in range(7):
        log.add(scan_row(code=report.supervision_code, report_id=report.id,
                         outcome=ScanOutcome.GENUINE, token_given=n % 2 == 0,
                         client=f"10.0.0.{n}", user_agent=f"手机 {n}", salt="s",
                         now=start + dt.timedelta(seconds=n)))  # fmt: skip
    assert log.pending() == 7
    assert log.flush(session_factory) == 7
    assert log.pending() == 0
    db.expire_all()
    rows = db.scalars(select(CodeScan).order_by(CodeScan.scanned_at)).all()
    assert [r.scanned_at for r in rows] == [start + dt.timedelta(seconds=n) for n in range(7)]
    assert [r.token_given for r in rows] == [n % 2 == 0 for n in range(7)]
    assert [r.user_agent for r in rows] == [f"手机 {n}" for n in range(7)]
    assert len({r.client_hash for r in rows}) == 7
    assert db.scalar(select(func.count()).select_from(CodeScan)) == 7


def test_the_scan_log_keeps_rows_it_could_not_write(engine, db, issued):
    def broken():
        raise RuntimeError("database down")

    log = ScanLog(engine.dialect)
    report = db.scalars(select(Report)).one()
    log.add(scan_row(code=report.supervision_code, report_id=report.id,
                     outcome=ScanOutcome.GENUINE, token_given=True, client="", user_agent="",
                     salt="", now=utcnow()))  # fmt: skip
    assert log.flush(broken) == 0  # type: ignore[arg-type]
    assert log.pending() == 1


def test_a_full_cache_drops_the_lapsed_answers_first():
    from types import SimpleNamespace

    from jcjg.reports.fastpath import AnswerCache

    answers = AnswerCache(2.0)
    answers.MAX_ANSWERS = 3
    for n in range(3):
        report = SimpleNamespace(id=n, token=f"t{n}", status="issued", pdf_sha256=None)
        answers.put((f"C{n}", False), code=f"C{n}", report=report, body=b"x",
                    media_type="text/html")  # fmt: skip
    answers._answers[("C0", False)].checked -= 10  # not seen lately: lapsed
    report = SimpleNamespace(id=9, token="t9", status="issued", pdf_sha256=None)
    answers.put(("C9", False), code="C9", report=report, body=b"x", media_type="text/html")
    assert set(answers._answers) == {("C1", False), ("C2", False), ("C9", False)}
    report = SimpleNamespace(id=10, token="t", status="issued", pdf_sha256=None)
    answers.put(("C10", False), code="C10", report=report, body=b"x", media_type="text/html")
    assert set(answers._answers) == {("C10", False)}  # full of fresh answers: they all go
