"""The demo data `make run` loads: every demo role can log in and sees only its own data.

Most tests read the run's demo region (``pytest.mark.demo``: ``jcjg demo load`` on an upgraded
database, once a run); the load itself is timed in the last (and the accounts it prints in
tests/test_cli.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jcjg.auth.models import User
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.demo.load import USERS, load
from tests.factories import demo_passwords, login

pytestmark = pytest.mark.sqlite  # what `make run` loads into the embedded database


@pytest.mark.demo
def test_demo_load_is_idempotent_and_every_role_logs_in(db, settings, browser_client):
    assert load(db, settings) == []  # a second run: nothing new, no password printed
    demo_passwords(db)
    db.commit()

    seen_users: dict[str, int] = {}
    for demo in USERS:
        browser_client.cookies.clear()
        login(browser_client, demo.username)
        home = browser_client.get("/")
        assert home.status_code == 200, demo.username
        assert demo.role.label in home.text
        me = browser_client.get("/api/v1/me", headers={"accept": "application/json"}).json()
        assert me["role"] == demo.role.value
        if "user:read" in me["permissions"]:
            users = browser_client.get(
                "/api/v1/users?limit=200", headers={"accept": "application/json"}
            ).json()
            seen_users[demo.username] = users["total"]
    # the province sees more accounts than a city, the city more than one institution
    assert seen_users["admin"] >= seen_users["jx_province"] > seen_users["jj_city"]
    assert seen_users["jj_city"] > seen_users["lab_admin"] >= 2
    assert seen_users["nc_city"] < seen_users["jj_city"]
    # the officers the spot checks draw can be sent a login code (accounts.logincode)
    officers = db.scalars(select(User).where(User.enforcement_card.is_not(None))).all()
    assert len(officers) == 3
    assert all(o.phone and o.email for o in officers)


# Rules only a running region shows: they need a lab's system signing and printing its reports'
# PDFs (``make run``'s simulator plants them: tests/test_simulate.py). Every other rule fires in
# the demo, a stand-in sealing in the assigned witness's place (witness_not_assigned) too.
LIVE_ONLY = frozenset({"report_qr_mismatch", "report_signature_invalid"})


@pytest.mark.demo
def test_demo_shows_every_rule_firing(db):
    """Every rule the domains register has an open alert after ``jcjg demo load`` (what
    ``make run`` does before it serves), but the few a running region shows. A new rule
    without demo data fails here."""
    from sqlalchemy import select

    from jcjg.alerts.engine import rules
    from jcjg.alerts.models import Alert
    from jcjg.auth.models import User
    from jcjg.demo.sampling import STAND_IN
    from jcjg.demo.simulator import reports as simulated_reports
    from jcjg.demo.simulator import sampling as simulated_sampling
    from jcjg.tenancy.models import Institution

    # the data, the sweep, the station's cases and orders, as `jcjg demo load` left them
    firing = set(db.scalars(select(Alert.rule_id).where(Alert.status == "open")))
    registered = set(rules())
    assert firing == registered - LIVE_ONLY, (
        sorted(registered - LIVE_ONLY - firing),
        sorted(firing & LIVE_ONLY),
    )
    assert set(simulated_reports.PLANTED) | set(simulated_sampling.PLANTED) >= LIVE_ONLY
    # the seal of the supervisor's stand-in, who has the project but was never its witness
    stand_in = db.scalar(select(User.id).where(User.username == STAND_IN["username"]))
    not_assigned = db.scalars(
        select(Alert).where(Alert.status == "open", Alert.rule_id == "witness_not_assigned")
    ).all()
    assert [a.facts["witness_user_id"] for a in not_assigned] == [stand_in]
    assert [a.facts["witness"] for a in not_assigned] == [STAND_IN["display_name"]]
    # and the registry's rules on the demo lab's test records
    on_records = set(
        db.scalars(
            select(Alert.rule_id).where(Alert.status == "open", Alert.subject_type == "test_record")
        )
    )
    assert {"out_of_scope", "unlicensed_work"} <= on_records
    # the healthy institutions show none of the planted problems
    healthy = db.scalars(
        select(Alert).where(
            Alert.status == "open",
            Alert.rule_id != "certificate_lending",
            Alert.project_id.is_(None),  # the sampling chain's alerts belong to projects
            Alert.subject_type != "test_record",  # the demo lab's planted test problems
        )
    ).all()
    assert {a.facts.get("专项", "") for a in healthy if a.rule_id == "staffing_below_standard"}
    center = db.scalar(
        select(Institution.id).where(Institution.name == "九江市建设工程质量检测中心")
    )
    others = {a.institution_id for a in healthy if a.institution_id != center}
    assert len(others - {None}) == 1
    # of no institution: the scan of a forged report's code, in the demo lab's county
    # and the three city platforms below the province (jcjg.demo.networking), and the
    # platform's own operations (jcjg.demo.operations)
    assert {a.rule_id for a in healthy if a.institution_id is None} == {
        "unknown_code_scanned",
        "child_platform_silent",
        "child_forward_lag",
        "child_log_inconsistent",
        "ops_apply_lag",
        "ops_backup_stale",
        "ops_disk_low",
        "ops_job_failing",
    }
    # beside its tests, the demo lab's systems on the exchange, report numbers and overdue order
    # (number_gap only when six weeks ago was in this Beijing year)
    own = {a.rule_id for a in healthy if a.institution_id == center}
    planted = {"client_error_spike", "client_silent", "number_reused"}
    assert (
        planted | {"rectification_order_overdue"}
        <= own
        <= planted
        | {
            "rectification_order_overdue",
            "number_gap",
            # no recorder runs in the demo: its recorded camera has none since its recording
            "camera_offline",
            # its rebar report also signed by an inspector of the Nanchang lab
            "report_signed_by_outsider",
            # five months of cube results piled just above the grade line
            "results_above_line",
            # its scrapped machines reported without their calibration dates (jcjg.demo.governance)
            "data_quality_low",
        }
    )


@pytest.mark.demo
def test_demo_cases_show_every_step_of_handling(db, settings):
    """The station's demo cases: dismissed, confirmed, rectifying, answered with a PDF, closed,
    and one overdue escalated to the city; all notarised; a second load adds none."""
    from sqlalchemy import func, select

    from jcjg.alerts.models import Case, CaseEvent
    from jcjg.demo import alerts as alerts_demo
    from jcjg.ledger.models import LedgerLeaf

    made = db.scalars(select(Case).order_by(Case.id)).all()
    assert sorted(c.status for c in made) == sorted(
        ["dismissed", "confirmed", "rectifying", "rectified", "closed", "rectifying"]
    )
    [late] = [c for c in made if c.escalated_to]
    assert (late.status, late.escalated_to, late.escalation_level) == ("rectifying", "360400", 1)
    assert late.deadline < beijing_date(utcnow())
    answers = db.scalars(select(CaseEvent).where(CaseEvent.action == "rectify")).all()
    assert [[e["name"] for e in a.evidence] for a in answers] == [["整改报告.pdf"]] * 2
    steps = db.scalar(select(func.count()).select_from(CaseEvent))
    logged = (
        select(func.count()).select_from(LedgerLeaf).where(LedgerLeaf.entry_type.like("case:%"))
    )
    assert db.scalar(logged) == steps  # every step notarised, the escalation too
    assert alerts_demo.load(db, settings) == 0

    from jcjg.demo import rectification as rectification_demo
    from jcjg.rectification.models import RectificationOrder

    orders = db.scalars(select(RectificationOrder).order_by(RectificationOrder.id)).all()
    assert [(o.status, o.is_public) for o in orders] == [("issued", False), ("closed", True)]
    assert orders[0].alert_ids == [late.alert_id]
    assert rectification_demo.load(db, settings) == 0


@pytest.mark.demo
def test_the_demo_s_alerts_are_dated_from_their_data_s_arrival(db):
    """Issue 48: found as each planted record arrived, not all at the load, so the home's
    30-day chart shows weeks, not one bar; standing states of the registry keep the load's."""
    import datetime as dt

    from sqlalchemy import select

    from jcjg.alerts.models import Alert
    from jcjg.demo.alerts import STANDING

    opened = db.scalars(select(Alert).where(Alert.status == "open")).all()
    month = utcnow() - dt.timedelta(days=30)
    days = {beijing_date(a.first_seen_at) for a in opened if a.first_seen_at >= month}
    assert len(days) >= 8, sorted(days)
    assert all(a.first_seen_at <= a.last_seen_at for a in opened)
    standing = [a for a in opened if a.subject_type in STANDING]
    assert standing
    assert all(utcnow() - a.first_seen_at < dt.timedelta(days=22) for a in standing)
