"""Every list page is a list (core.listing): ``?format=xlsx`` on its own address gives the rows
the page counts, under the list's Chinese header; another scope's rows never; a bad sort or
format is a clear 400; every export is audited; headers sort and keep the filters."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from jcjg.accounts.lists import USERS
from jcjg.alerts.lists import ALERTS
from jcjg.analytics.lists import ANALYSES
from jcjg.audit.lists import AUDIT
from jcjg.audit.models import AuditLog
from jcjg.catalogue.lists import REGULATIONS
from jcjg.contracts.lists import CONTRACTS
from jcjg.core.listing import ListView
from jcjg.credit import service as credit_service
from jcjg.credit.lists import SCORES
from jcjg.exchange.lists import CLIENTS
from jcjg.experts.lists import EXPERTS, PANELS, REVIEWS
from jcjg.nonconformity.lists import REGISTER
from jcjg.notify.lists import DELIVERIES, INBOX
from jcjg.overview import periods
from jcjg.overview import service as overview
from jcjg.overview.lists import REPORTS as SUPERVISION_REPORTS
from jcjg.penalties.lists import PENALTIES
from jcjg.proficiency.lists import SCHEMES
from jcjg.projects.lists import PROJECTS, TRAININGS
from jcjg.rectification.lists import ORDERS
from jcjg.reports.lists import REPORTS
from jcjg.sampling.lists import SAMPLES
from jcjg.supervision.lists import CHECK_ITEMS
from jcjg.supervision.lists import LOG as SUPERVISION_LOG
from jcjg.supervision.lists import PLANS as SUPERVISION_PLANS
from jcjg.supervision.lists import RELATIONS as OFFICER_RELATIONS
from jcjg.tenancy.models import Institution
from jcjg.testing.lists import ONSITE_PLANS, ONSITE_RECORDS, RECORDS
from jcjg.video.lists import CAMERAS
from tests.analytics.cases import _analysis as analysis
from tests.factories import login
from tests.home.conftest import World, build_world
from tests.lists import sheet
from tests.penalties.helpers import make_penalty
from tests.proficiency.conftest import make_scheme

HTML = {"accept": "text/html"}

# each list: its address (with a filter of its own where it has one) and its view
LISTS: list[tuple[str, ListView]] = [
    ("/alerts?status=all", ALERTS),
    ("/testing/records?kind=concrete_compression", RECORDS),
    ("/nonconformities?status=unclosed", REGISTER),
    ("/reports?status=", REPORTS),
    ("/rectification-orders?status=", ORDERS),
    ("/projects?status=", PROJECTS),
    ("/projects/trainings?role=", TRAININGS),
    ("/samples?status=", SAMPLES),
    ("/contracts?q=", CONTRACTS),
    ("/audit?action=create", AUDIT),
    ("/admin/users?q=", USERS),
    ("/admin/deliveries?channel=", DELIVERIES),
    ("/exchange/clients?status=active", CLIENTS),
    ("/testing/onsite?show=plans", ONSITE_PLANS),
    ("/testing/onsite?show=records", ONSITE_RECORDS),
    ("/inbox?state=", INBOX),
    ("/video/cameras?place_kind=", CAMERAS),
    ("/experts?available=", EXPERTS),
    ("/panels?kind=", PANELS),
    ("/supervision/plans?status=", SUPERVISION_PLANS),
    ("/supervision/log?kind=", SUPERVISION_LOG),
    ("/supervision/relations", OFFICER_RELATIONS),
    ("/supervision/items?status=", CHECK_ITEMS),
    ("/my/reviews?status=", REVIEWS),
    ("/proficiency/schemes?status=", SCHEMES),
    ("/penalties?kind=", PENALTIES),
    ("/credit?period=", SCORES),
    ("/overview/reports?kind=month", SUPERVISION_REPORTS),
    ("/regulations?level=national_standard", REGULATIONS),
    ("/analytics/saved?dataset=test_records", ANALYSES),
]
IDS = [view.name for _, view in LISTS]


@pytest.fixture
def world(db, factory, settings) -> World:
    built = build_world(db, factory)
    make_scheme(factory, labs=3, samples=1)  # the proficiency list's row of 九江
    lab = db.query(Institution).filter_by(region_code="360403").first()
    make_penalty(factory, lab)  # the penalty list's row
    credit_service.compute_institution(db, lab, "2026Q3", reason="测试")  # the credit list's
    overview.make_report(db, settings, region_code="360400", period=periods.month(2026, 10))
    analysis(factory)  # a shared analysis of 九江 (the saved analyses' list)
    from jcjg.supervision.models import OfficerRelation

    db.add(OfficerRelation(user_id=built.users["city"].id, institution_id=lab.id,
                           region_code="360400", note="曾在该机构任职"))  # fmt: skip
    db.commit()
    return built


def _count(page) -> int:
    assert page.status_code == 200, page.text[:300]
    return int(re.search(r'data-testid="list-count">共 (\d+) 条', page.text).group(1))


def _join(url: str, extra: str) -> str:
    return url + ("&" if "?" in url else "?") + extra


@pytest.mark.parametrize(("url", "view"), LISTS, ids=IDS)
def test_each_list_exports_refuses_and_sorts(browser_client, db, world, url, view):
    """One world per list (building it was most of these tests' time): the export gives the
    rows the page counts, a bad sort or format is a clear 400, each sortable column sorts
    both ways."""
    login(browser_client, world.users["admin"].username)
    _exports_the_rows_it_counts(browser_client, db, url, view)
    _refuses_a_bad_sort_or_format(browser_client, url, view)
    _sorts_both_ways_by_each_sortable_column(browser_client, url, view)


def _exports_the_rows_it_counts(browser_client, db, url, view):
    count = _count(browser_client.get(url, headers=HTML))
    before = db.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.action == "export")
    )
    rows = sheet(browser_client.get(_join(url, "format=xlsx")))
    assert rows[0] == view.header()
    assert len(rows) - 1 == count
    after = db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "export"))
    assert after == before + 1
    logged = db.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert logged.action == "export"
    assert logged.object_type == view.name
    assert f"（{count} 条）" in logged.detail
    # the page links the export with its filters
    page = browser_client.get(url, headers=HTML).text
    link = page.split('data-testid="export-xlsx"')[0].rsplit('href="', 1)[1].split('"')[0]
    query = url.split("?", 1)[1] if "?" in url else ""
    kept = [part for part in query.split("&") if not part.endswith("=")]
    assert all(part in link for part in kept), (link, kept)
    assert "format=xlsx" in link


def _refuses_a_bad_sort_or_format(browser_client, url, view):
    for extra in ("sort=nonsense", "format=pdf", "order=up"):
        answer = browser_client.get(_join(url, extra), headers={"accept": "application/json"})
        assert answer.status_code == 400, extra
        assert answer.headers["content-type"].startswith("application/problem+json")
    unsortable = next((c.key for c in view.columns if c.sort is None), None)
    if unsortable:
        page = browser_client.get(_join(url, f"sort={unsortable}"), headers=HTML)
        assert page.status_code == 400
        assert "不能按此列排序" in page.text


def _sorts_both_ways_by_each_sortable_column(browser_client, url, view):
    page = browser_client.get(url, headers=HTML).text
    headed = [c for c in view.sortable if f'data-testid="sort-{c.key}"' in page]
    assert headed  # the page's headers sort
    for column in view.sortable:  # those the page joins with others sort too (and export so)
        for order in ("asc", "desc"):
            answer = browser_client.get(
                _join(url, f"sort={column.key}&order={order}"), headers=HTML
            )
            assert answer.status_code == 200, (column.key, order)
            if column in headed:
                direction = "ascending" if order == "asc" else "descending"
                assert f'aria-sort="{direction}"' in answer.text


NANCHANG = "南昌首页检测有限公司"


@pytest.mark.parametrize(
    "url", ["/alerts?status=all", "/testing/records", "/nonconformities", "/exchange/clients"]
)
def test_another_scope_never_appears_in_an_export(browser_client, world, url):
    login(browser_client, world.users["admin"].username)
    everything = sheet(browser_client.get(_join(url, "format=xlsx")))
    assert any(NANCHANG in cell for row in everything for cell in row)  # there to be left out
    browser_client.cookies.clear()
    login(browser_client, world.users["city"].username)  # Jiujiang's
    jiujiang = sheet(browser_client.get(_join(url, "format=xlsx")))
    assert not any(NANCHANG in cell for row in jiujiang for cell in row)
    assert len(jiujiang) < len(everything)
    browser_client.cookies.clear()
    login(browser_client, world.users["staff"].username)  # one lab's
    answer = browser_client.get(_join(url, "format=xlsx"))
    if url.startswith("/exchange/"):  # a lab's staff reads no clients
        assert answer.status_code == 403
        return
    own = sheet(answer)
    assert len(own) <= len(jiujiang)
    names = {"濂溪首页检测中心", "九江市本级首页检测站", NANCHANG}
    assert not any(name in cell for row in own for cell in row for name in names)


def test_the_user_export_masks_phones(browser_client, db, factory, world):
    user = world.users["staff"]
    user.phone, user.email = "13912345678", "someone@example.com"
    db.commit()
    login(browser_client, world.users["admin"].username)
    rows = sheet(browser_client.get(f"/admin/users?q={user.username}&format=xlsx"))
    assert len(rows) == 2
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["手机"] == "139****5678"
    assert "13912345678" not in str(rows)
    assert "someone@example.com" not in str(rows)
