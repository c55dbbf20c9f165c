"""The public verification page's fast path: a report's QR is scanned by many phones at once
(a site's acceptance day, a batch of copies), and every one of them gets the same answer.

The routes of ``/v/{code}`` and ``/v/{code}.json`` keep the answer they gave an anonymous
visitor for a genuine report (``AnswerCache``), and :class:`VerifyFastPath`, an ASGI
middleware in front of the routing, answers the same look-up from it for a short while
(``JCJG_VERIFY_PAGE_CACHE_SECONDS``, 2 s by default; 0 turns it off), as long as a thread of
the process keeps seeing the report unchanged: the token is still compared, the client's rate
limit still applies and the scan is still logged, but no session, dependency, query or template
is involved. Anything else (another code, a wrong or missing token, a logged-in user, an unknown
or revoked code, a full rate bucket) goes to the routes.

A report withdrawn, replaced or given its file is forgotten at once in the process that
changed it (when the transaction commits) and within that time in the others.
"""

from __future__ import annotations

import hmac
import logging
import random
import re
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from sqlalchemy import case, event, func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from jcjg.core.db import utcnow
from jcjg.core.ratelimit import Limiter
from jcjg.reports.chain import ChainCache
from jcjg.reports.choices import ReportStatus, ScanOutcome
from jcjg.reports.models import Report
from jcjg.reports.scanlog import ScanLog

# the routes' own limits on the code (jcjg.reports.public.Code) and the token
PATH = re.compile(r"^/v/([0-9A-Za-z \-]{1,40}?)(\.json)?$")
MAX_TOKEN = 64
log = logging.getLogger("jcjg.reports")
_HEADERS = [(b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]


def report_state(report: Report) -> tuple[str, str | None]:
    """What of a report, besides its chain, a genuine answer shows that can change."""
    return (report.status, report.pdf_sha256)


@dataclass(slots=True)
class Answer:
    code: str  # normalised, as logged
    report_id: int
    token: bytes
    body: bytes
    media_type: bytes
    state: tuple[str, str | None]
    checked: float  # when the report was last seen as the answer shows it
    remake_at: float
    remaking: float | None = None  # when a request went to the routes to make it anew


class AnswerCache:
    """The answers of genuine look-ups, by (code as the visitor wrote it, JSON or page).

    An answer is given while the report was seen unchanged less than ``seconds`` ago: a
    thread of the process (:func:`check_loop`) looks at the status and file of all the
    reports answered for, in one query, several times in that time, and drops an answer whose
    report changed. Requests themselves never wait for the database here. After
    :attr:`REMAKE_SECONDS` (about the time the chain behind it is kept anyway) one request
    goes to the routes to make the answer anew while the others are still given the old one."""

    MAX_ANSWERS = 2_000
    REMAKE_SECONDS = ChainCache.SECONDS

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.hits = 0
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, bool], Answer] = {}
        _caches.add(self)

    def get(self, key: tuple[str, bool]) -> Answer | None:
        """The answer to give, or None for the routes to answer (and maybe put one here)."""
        answer = self._answers.get(key)
        if answer is None:
            return None
        now = time.monotonic()
        if now >= answer.checked + self.seconds:
            return None  # not seen lately (the checker is late or the database is down)
        if now < answer.remake_at:
            return answer
        with self._lock:
            if answer.remaking is not None and now < answer.remaking + self.seconds:
                return answer  # another request is making it anew
            answer.remaking = now
        return None

    def put(self, key: tuple[str, bool], *, code: str, report: Report, body: bytes,
            media_type: str) -> None:  # fmt: skip
        if self.seconds <= 0:
            return
        now = time.monotonic()
        # answers made together (a restart) are not all made anew together
        remake_at = now + self.REMAKE_SECONDS * (0.5 + random.random() / 2)  # noqa: S311
        answer = Answer(code, report.id, report.token.encode(), body, media_type.encode(),
                        report_state(report), now, remake_at)  # fmt: skip
        with self._lock:
            if len(self._answers) >= self.MAX_ANSWERS:  # drop the lapsed, then if need be all
                fresh = now - self.seconds
                self._answers = {k: a for k, a in self._answers.items() if a.checked > fresh}
                if len(self._answers) >= self.MAX_ANSWERS:
                    self._answers.clear()
            self._answers[key] = answer

    def forget(self, codes: set[str]) -> None:
        with self._lock:
            self._answers = {k: a for k, a in self._answers.items() if a.code not in codes}

    def check(self, factory: sessionmaker[Session]) -> int:
        """Look at the reports answered for; keep the answers of those unchanged (from now),
        drop the others. Returns how many answers were dropped."""
        with self._lock:
            answers = list(self._answers.values())
        if not answers:
            return 0
        seen = time.monotonic()
        states = {(a.report_id, a.state) for a in answers}
        ids = sorted({report_id for report_id, _ in states})
        with factory() as db:
            if len(ids) == len(states) and self._none_changed(db, states):
                changed: set[str] = set()
            else:
                current = self._states(db, ids)
                changed = {a.code for a in answers if current.get(a.report_id) != a.state}
        with self._lock:
            for answer in answers:
                if answer.code not in changed:
                    answer.checked = max(answer.checked, seen)
        if changed:
            self.forget(changed)
        return sum(1 for a in answers if a.code in changed)

    @staticmethod
    def _none_changed(db: Session, states: set[tuple[int, tuple[str, str | None]]]) -> bool:
        """Whether all these reports are as their answers show them, in one row: a report only
        ever leaves "issued" and only ever gains its file, so counts tell. (One row, not one
        per report: each row fetched waits for the interpreter lock again while the web loop
        is busy.)"""
        ids = [report_id for report_id, _ in states]
        with_file = sum(1 for _, (_, pdf) in states if pdf is not None)
        issued = ReportStatus.ISSUED.value
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            row = db.execute(
                select(
                    func.count(),
                    func.count(case((Report.status == issued, 1))),
                    func.count(Report.pdf_sha256),
                ).where(Report.id.in_(chunk))
            ).one()
            if row[0] != len(chunk) or row[1] != len(chunk):
                return False
            with_file -= row[2]
        return with_file == 0

    @staticmethod
    def _states(db: Session, ids: list[int]) -> dict[int, tuple[str, str | None]]:
        states: dict[int, tuple[str, str | None]] = {}
        for start in range(0, len(ids), 500):
            rows = db.execute(
                select(Report.id, Report.status, Report.pdf_sha256).where(
                    Report.id.in_(ids[start : start + 500])
                )
            )
            states.update((report_id, (status, pdf)) for report_id, status, pdf in rows)
        return states


def check_loop(answers: AnswerCache, factory: sessionmaker[Session], stop: threading.Event) -> None:
    """Check the answers four times in their time until ``stop`` is set."""
    while not stop.wait(answers.seconds / 4):
        try:
            answers.check(factory)
        except Exception:  # the answers then lapse, and the routes answer
            log.exception("could not check the verification answers")


_caches: weakref.WeakSet[AnswerCache] = weakref.WeakSet()
_CHANGED = "jcjg_reports_changed_codes"


@event.listens_for(Session, "after_flush")
def _note_changed_reports(session: Session, context: Any) -> None:
    changed = {
        obj.supervision_code
        for obj in (*session.dirty, *session.deleted)
        if isinstance(obj, Report) and obj.supervision_code
    }
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)


@event.listens_for(Session, "after_commit")
def _forget_changed_reports(session: Session) -> None:
    codes = session.info.pop(_CHANGED, None)
    if codes:
        for cache in list(_caches):
            cache.forget(codes)


@event.listens_for(Session, "after_rollback")
def _drop_changed_reports(session: Session) -> None:
    session.info.pop(_CHANGED, None)


class VerifyFastPath:
    def __init__(self, app: ASGIApp, *, answers: AnswerCache, limiters: dict[str, Limiter],
                 scan_log: ScanLog, factory: sessionmaker[Session], salt: str,
                 session_cookie: str, write_at_once: bool) -> None:  # fmt: skip
        self.app = app
        self.answers = answers
        self.limiters = limiters  # the app's, looked up at each request
        self.scan_log = scan_log
        self.factory = factory
        self.salt = salt
        self.session_cookie = session_cookie.encode() + b"="
        self.write_at_once = write_at_once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and self.answers.seconds > 0:
            match = PATH.match(scope["path"])
            if match is not None:
                answer = self.answers.get((match[1], match[2] is not None))
                if answer is not None and await self._answer(scope, send, answer):
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send, answer: Answer) -> bool:
        """Answer from ``answer`` when this request is the look-up it answers."""
        token = ""
        for name, value in parse_qsl(scope["query_string"].decode("latin-1")):
            if name == "t":
                token = value  # the last one, as the routes read it
        if not token or len(token) > MAX_TOKEN:
            return False
        if not hmac.compare_digest(token.encode("utf-8", "replace"), answer.token):
            return False
        user_agent = ""
        for name, value in scope["headers"]:
            if name == b"cookie" and self.session_cookie in value:
                return False  # a logged-in user: the page with their menu
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
        client = scope["client"][0] if scope.get("client") else ""
        limiter = self.limiters.get("verify")
        if limiter is not None and await limiter.wait(client or "unknown") > 0:
            return False  # the route answers 429
        self.answers.hits += 1
        from jcjg.reports.service import scan_row

        row = scan_row(code=answer.code, report_id=answer.report_id,
                       outcome=ScanOutcome.GENUINE, token_given=True, client=client,
                       user_agent=user_agent, salt=self.salt, now=utcnow())  # fmt: skip
        self.scan_log.add(row)
        if self.write_at_once:
            await anyio.to_thread.run_sync(self.scan_log.flush, self.factory)
        headers = [(b"content-type", answer.media_type),
                   (b"content-length", str(len(answer.body)).encode()), *_HEADERS]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
        return True
