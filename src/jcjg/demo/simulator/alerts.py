"""Handling in a simulated region (``jcjg simulate``): at the end of each day the region's
station works its new alerts on the platform's pages, as a supervisor on a phone would, and the
labs' administrators answer the rectifications asked of them with a PDF of evidence.

- The station dismisses about one alert in eight (with a reason) and confirms the others. For
  an alert of a simulated lab it then orders rectification, with a deadline two working days
  on and the lab as the responsible party.
- Most labs answer the same evening, with a note and a PDF.
- The *slow* labs (every other lab, as many as half the violation rate asks) never answer.
  Their deadlines pass, and the hourly ``alerts.escalate`` job moves those cases up a level
  (a test runs it with a clock days on).
- The station closes most answered cases and returns one in five (a new deadline, a reason).
- The first alert the station confirms of each lab also gets a written rectification order
  (整改通知, ``/rectification-orders/new``, citing it, due in two working days). The labs that
  answer answer it the same evening with a PDF; the slow labs never do, and
  ``rectification_order_overdue`` fires once its deadline has passed (a test runs it with a
  clock days on): planted, counted in ``Handlers.planted``.

Every step goes through ``POST /alerts/{id}/case`` (and ``/rectification-orders/...``) with the
station's or the lab's session: checked, audited and notarised as any other.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import add_working_days, beijing_date
from jcjg.demo.simulator.sampling import Phone, sim_phone, sim_user
from jcjg.documents.pdf import page_pdf
from jcjg.tenancy.models import Institution

PER_DAY = 40  # alerts the station works in one day at most
DEADLINE_WORKING_DAYS = 2
DISMISS_SHARE = 0.125
RETURN_SHARE = 0.2
DISMISS_REASON = "经核实为数据补传延迟，已补齐，不构成违规"


@dataclass
class Handlers:
    """Who handles the simulated region's alerts: its station, and each lab's administrator
    (by institution id, with the lab's name)."""

    station: Phone
    labs: dict[int, tuple[Phone, str]]  # institution id -> (its administrator's phone, name)
    slow: set[int] = field(default_factory=set)  # institution ids that never answer
    codes: dict[str, int] = field(default_factory=dict)  # institution code -> id
    orders: dict[int, int] = field(default_factory=dict)  # institution id -> its order's id
    answered: set[int] = field(default_factory=set)  # orders answered
    planted: Counter[str] = field(default_factory=Counter)  # orders left unanswered


def prepare(
    db: Session, *, station: Phone, institution_codes: list[str], violations: float
) -> Handlers:
    """An administrator account for each simulated lab (made once, a fresh password each run).
    ``ceil(len * violations / 2)`` labs are slow: every other one (the second, the fourth ...
    in order of registration), so that labs with projects, which come first, are of both kinds.
    The caller commits."""
    labs: dict[int, tuple[Phone, str]] = {}
    ids: dict[str, int] = {}
    for code in sorted(institution_codes):
        inst = db.scalars(select(Institution).where(Institution.code == code)).one()
        user = sim_user(db, f"sim_{code.lower()}_admin", Role.INSTITUTION_ADMIN,
                        inst.region_code, f"{inst.name}管理员", institution_id=inst.id)  # fmt: skip
        phone = sim_phone(user)
        phone.home = "/alerts"
        labs[inst.id] = (phone, inst.name)
        ids[code] = inst.id
    slow = set(sorted(labs)[1::2][: math.ceil(len(labs) * violations / 2)])
    return Handlers(station=station, labs=labs, slow=slow, codes=ids)


def _alerts(http: httpx.Client, handling: str) -> list[dict[str, Any]]:
    response = http.get("/api/v1/alerts", params={"handling": handling, "limit": PER_DAY})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _step(http: httpx.Client, alert_id: int, action: str, files: Any = None, **fields: str) -> None:
    response = http.post(
        f"/alerts/{alert_id}/case",
        data={"action": action, **fields},
        files=files,
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise RuntimeError(f"预警 #{alert_id} {action} 失败：HTTP {response.status_code}")


def _order(handlers: Handlers, station: httpx.Client, alert: dict[str, Any], deadline: str) -> int:
    """The lab's written rectification order, citing ``alert``, when it has none yet: 1 if
    issued. A slow lab's will never be answered (``rectification_order_overdue``)."""
    institution_id = alert["institution_id"]
    if institution_id in handlers.orders:
        return 0
    response = station.post(
        "/rectification-orders/new",
        data={"institution_id": str(institution_id), "grounds": ["not_uploaded"],
              "findings": f"预警：{alert['rule_title']} · {alert['subject_repr']}",
              "requirement": "查明原因，完成整改，并提交整改报告。", "deadline": deadline,
              "alert_ids": [str(alert["id"])]},
        follow_redirects=False,
    )  # fmt: skip
    if response.status_code != 303:
        raise RuntimeError(f"下达整改通知失败：HTTP {response.status_code}")
    order_id = int(response.headers["location"].split("?")[0].rsplit("/", 1)[1])
    handlers.orders[institution_id] = order_id
    if institution_id in handlers.slow:
        handlers.planted["rectification_order_overdue"] += 1
    return 1


def _answer_order(handlers: Handlers, http: httpx.Client, institution_id: int, name: str) -> int:
    """The lab's answer to its rectification order, with its report as a PDF: 1 if answered."""
    order_id = handlers.orders.get(institution_id)
    if order_id is None or order_id in handlers.answered:
        return 0
    pdf = page_pdf(f"{name} 整改报告", ("已查明原因、完成整改，并建立相关制度。",))
    response = http.post(
        f"/rectification-orders/{order_id}",
        data={"action": "answer", "note": "已完成整改，整改报告见附件"},
        files=[("evidence", ("整改报告.pdf", pdf, "application/pdf"))],
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise RuntimeError(f"整改通知 #{order_id} 答复失败：HTTP {response.status_code}")
    handlers.answered.add(order_id)
    return 1


def work_day(handlers: Handlers, url: str, rng: random.Random) -> Counter[str]:
    """The day's handling (see the module's description); what was done, by step."""
    done: Counter[str] = Counter()
    today = beijing_date(utcnow())
    deadline = add_working_days(today, DEADLINE_WORKING_DAYS).isoformat()
    with closing(handlers.station.client(url)) as station:
        for alert in _alerts(station, "new"):
            if rng.random() < DISMISS_SHARE:
                _step(
                    station, alert["id"], "dismiss", note="经核实为数据补传延迟，已补齐，不构成违规"
                )
                done["预警排除"] += 1
                continue
            _step(station, alert["id"], "confirm", note="经核实属实")
            done["预警确认"] += 1
            lab = handlers.labs.get(alert.get("institution_id") or 0)
            if lab is not None:
                _step(station, alert["id"], "require", deadline=deadline, responsible=lab[1],
                      note=f"请于 {deadline} 前完成整改并上传证明材料")  # fmt: skip
                done["责令整改"] += 1
                done["下达整改通知"] += _order(handlers, station, alert, deadline)
    for institution_id, (phone, name) in sorted(handlers.labs.items()):
        if institution_id in handlers.slow:
            continue
        with closing(phone.client(url)) as http:
            done["整改通知答复"] += _answer_order(handlers, http, institution_id, name)
            for alert in _alerts(http, "rectifying"):
                pdf = page_pdf(f"{name} 整改报告", (
                    f"预警：{alert['rule_title']} · {alert['subject_repr']}",
                    "已查明原因、完成整改，并组织相关人员学习有关规定。",
                ))  # fmt: skip
                _step(http, alert["id"], "rectify", note="已完成整改，整改报告见附件",
                      files=[("evidence", ("整改报告.pdf", pdf, "application/pdf"))])  # fmt: skip
                done["整改答复"] += 1
    with closing(handlers.station.client(url)) as station:
        for alert in _alerts(station, "rectified"):
            if rng.random() < RETURN_SHARE:
                _step(station, alert["id"], "return", deadline=deadline,
                      note="证明材料不全，请补充相关记录")  # fmt: skip
                done["整改退回"] += 1
            else:
                _step(station, alert["id"], "close", note="整改到位，予以办结")
                done["预警办结"] += 1
    return done
