"""The home page's "待办与督办" numbers: each one counted within the account's scope, equal to
SQL written here, and a link to the list behind it."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select

from jcjg.alerts.models import Alert, Case
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.notify.service import notify
from tests.factories import login

HTML = {"accept": "text/html"}


def _numbers(client) -> dict[str, tuple[int, str]]:
    page = client.get("/", headers=HTML).text
    out = {}
    for link, count, title in re.findall(
        r'<a class="stat[^"]*" href="([^"]+)" data-testid="handling-\d+" data-count="(\d+)">'
        r'<span class="muted">([^<]+)</span>',
        page,
    ):
        out[title] = (int(count), link)
    return out


def test_home_numbers_match_sql(browser_client, db, factory):
    lab = factory.institution(region_code="360403", name="九江首页测试检测站")
    other_lab = factory.institution(region_code="360102", name="南昌首页测试检测站")
    now = utcnow()
    today = beijing_date(now)
    alerts = []
    for n, inst in enumerate([lab, lab, lab, lab, other_lab]):
        alerts.append(factory.alert(inst, f"设备 {n}", severity="warning"))
    # alert 0 new; 1 rectifying on time; 2 rectifying overdue and escalated; 3 closed
    for alert, status, deadline, up in (
        (alerts[1], "rectifying", today + dt.timedelta(days=3), None),
        (alerts[2], "rectifying", today - dt.timedelta(days=2), "360400"),
        (alerts[3], "closed", None, None),
        (alerts[4], "rectifying", today - dt.timedelta(days=2), None),  # Nanchang
    ):
        db.add(Case(alert_id=alert.id, status=status, region_code=alert.region_code,
                    institution_id=alert.institution_id, deadline=deadline,
                    escalated_to=up))  # fmt: skip
    station = factory.user(Role.STATION, region_code="360400")
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab)
    notify(db, [station], kind="case", title="一条", now=now)
    notify(db, [station], kind="case", title="两条", now=now)
    db.commit()

    def sql(region_prefix: str, handling: str) -> int:
        stmt = select(func.count()).select_from(Alert).outerjoin(Case, Case.alert_id == Alert.id)
        stmt = stmt.where(Alert.status == "open", Alert.region_code.startswith(region_prefix))
        if handling == "new":
            stmt = stmt.where(Case.id.is_(None))
        elif handling == "overdue":
            stmt = stmt.where(Case.status == "rectifying", Case.deadline < today)
        elif handling == "escalated":
            stmt = stmt.where(Case.escalated_to.is_not(None))
        else:
            stmt = stmt.where(Case.status == handling)
        return int(db.scalar(stmt))

    login(browser_client, station.username)
    numbers = _numbers(browser_client)
    for title, handling in (("待确认的预警", "new"), ("整改中", "rectifying"),
                            ("整改逾期", "overdue"), ("已升级督办", "escalated")):  # fmt: skip
        assert numbers[title] == (sql("3604", handling), f"/alerts?handling={handling}"), title
    assert numbers["整改中"][0] == 2
    assert numbers["整改逾期"][0] == 1  # Nanchang's is not Jiujiang's
    assert numbers["未读通知"] == (2, "/inbox")
    assert numbers["不合格结果未闭环"][0] == 0
    listed = browser_client.get("/alerts?handling=overdue", headers=HTML).text
    assert "设备 2" in listed
    assert "设备 4" not in listed
    browser_client.cookies.clear()
    login(browser_client, staff.username)
    mine = _numbers(browser_client)
    assert mine["整改中"][0] == 2
    assert mine["待确认的预警"][0] == 1
    assert mine["未读通知"][0] == 0
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert set(_numbers(browser_client)) == {"未读通知"}
