"""The menu by role: a grouped side menu, the phone's bottom bar, breadcrumbs on every page.

Each role sees the entries its permissions open and no other; the pages that were in no menu
(the ledger, statistics, on-site tests, the alert rules) are in the menus of the roles that may
read them; field roles find their phone work first in the bottom bar."""

from __future__ import annotations

import re

import pytest

from jcjg.auth.choices import Role
from jcjg.auth.permissions import default_grants
from jcjg.core import domains, templating
from jcjg.core.domains import NavEntry, current_entry, menu_for, nav_for, phone_bar
from tests.factories import login

_SIDENAV = re.compile(r'<aside class="sidenav".*?</aside>', re.S)
_BAR = re.compile(r'<nav class="bottombar".*?</nav>', re.S)
_CRUMBS = re.compile(r'<nav aria-label="breadcrumb" class="crumbs page-crumbs".*?</nav>', re.S)


def hrefs(html: str) -> list[str]:
    return re.findall(r'<a href="([^"#]+)"', html)


def crumbs(page: str) -> list[str]:
    found = _CRUMBS.search(page)
    assert found, "no breadcrumbs"
    return [re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li>(.*?)</li>", found[0])]


ORPHANS = ["/ledger", "/testing/stats", "/testing/onsite", "/alerts/rules"]


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        (Role.STATION, [*ORPHANS, "/alerts", "/projects"], ["/m", "/admin/roles", "/admin/jobs"]),
        (Role.PLATFORM_ADMIN, [*ORPHANS, "/admin/roles", "/admin/jobs"], ["/m"]),
        (Role.INSTITUTION_STAFF, [*ORPHANS, "/samples"], ["/projects", "/audit", "/m"]),
        (Role.WITNESS, ["/m", "/samples", "/projects", "/ledger"], ["/alerts", "/testing/stats"]),
        (Role.EXPERT, ["/ledger", "/catalogue"], ["/testing/stats", "/alerts", "/m"]),
    ],
)
def test_the_side_menu_lists_what_the_role_may_open(browser_client, factory, role, present, absent):
    login(browser_client, factory.user(role).username)
    page = browser_client.get("/inbox")
    assert page.status_code == 200
    menu = _SIDENAV.search(page.text)
    assert menu
    listed = hrefs(menu[0])
    assert set(present) <= set(listed), set(present) - set(listed)
    assert not set(absent) & set(listed)
    # grouped: one folding group per heading, the current page's group open and marked
    assert '<details class="nav-group" open data-group="工作台">' in menu[0]
    assert '<a href="/inbox" aria-current="page">站内通知</a>' in menu[0]
    assert menu[0].count('aria-current="page"') == 1


def test_every_menu_entry_answers_for_the_roles_that_see_it(browser_client, factory):
    """A link in the menu never leads to a refusal: each role opens every entry it is shown."""
    grants = default_grants()
    for role in Role:
        browser_client.cookies.clear()
        login(browser_client, factory.user(role).username)
        perms = grants[role]
        for _, entries in nav_for(role.value, lambda p, perms=perms: p in perms):
            for entry in entries:
                assert browser_client.get(entry.href).status_code == 200, (role, entry.href)


def test_the_phone_bar_puts_a_field_role_s_work_first(browser_client, factory):
    login(browser_client, factory.user(Role.SAMPLER).username)
    page = browser_client.get("/m")
    bar = _BAR.search(page.text)
    assert bar
    assert hrefs(bar[0]) == ["/m", "/", "/samples", "/projects"]
    assert '<a href="#menu" data-testid="more">更多</a>' in bar[0]
    assert '<a href="/m" aria-current="page">' in bar[0]


def test_the_phone_bar_of_a_regulator():
    grants = default_grants()[Role.STATION]
    bar = phone_bar(nav_for(Role.STATION.value, lambda p: p in grants))
    assert [e.href for e in bar] == ["/", "/alerts", "/testing/records", "/nonconformities"]


def test_the_current_entry_is_the_longest_match():
    nav = [
        ("监督执法", [NavEntry(title="预警", href="/alerts", group="监督执法"),
                      NavEntry(title="预警规则", href="/alerts/rules", group="监督执法")]),
        ("工作台", [NavEntry(title="首页", href="/", group="工作台")]),
    ]  # fmt: skip
    assert current_entry(nav, "/alerts/rules/loading").title == "预警规则"  # type: ignore[union-attr]
    assert current_entry(nav, "/alerts/12").title == "预警"  # type: ignore[union-attr]
    assert current_entry(nav, "/").title == "首页"  # type: ignore[union-attr]
    assert current_entry(nav, "/alertsx") is None  # a segment, not a prefix of letters
    assert current_entry(nav, "/nothing") is None


def test_breadcrumbs_on_a_list_and_a_detail_page(browser_client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    other = factory.user(Role.WITNESS)
    login(browser_client, admin.username)
    assert crumbs(browser_client.get("/alerts/rules").text) == ["首页", "监督执法", "预警规则"]
    detail = browser_client.get(f"/admin/users/{other.id}").text
    trail = crumbs(detail)
    assert trail[:3] == ["首页", "系统管理", "用户管理"]
    assert len(trail) == 4
    assert trail[3]  # the page's own title
    assert '<li><a href="/admin/users">用户管理</a></li>' in _CRUMBS.search(detail)[0]  # type: ignore[index]
    # the home has none; a page in no menu still leads back home
    assert not _CRUMBS.search(browser_client.get("/").text)


def test_the_home_lists_the_menu_with_what_each_entry_is_for(browser_client, factory):
    login(browser_client, factory.user(Role.STATION).username)
    page = browser_client.get("/").text
    functions = page.split('<ul class="functions">', 1)[1].split("</ul>", 1)[0]
    assert '<a href="/testing/stats">检测统计</a>' in functions
    assert "检测机构、人员、设备、场所、能力、资质证书与报告批准人" in functions
    assert 'href="/"' not in functions  # not the home itself


def test_a_menu_is_made_once_per_role_and_permissions():
    grants = frozenset(default_grants()[Role.STATION])
    menu = menu_for(Role.STATION.value, grants)
    assert menu_for(Role.STATION.value, frozenset(grants)) is menu
    assert [(g, list(e)) for g, e in menu.nav] == nav_for(Role.STATION.value, grants.__contains__)
    assert list(menu.bar) == phone_bar(nav_for(Role.STATION.value, grants.__contains__))
    fewer = menu_for(Role.STATION.value, grants - {"alert:read"})
    assert fewer is not menu
    assert "/alerts" not in [e.href for _, group in fewer.nav for e in group]
    with domains.installed_with():  # domains installed again: made again
        assert menu_for(Role.STATION.value, grants) is not menu


def test_the_menu_drawn_once_per_page_entry_marks_that_entry(browser_client, factory, monkeypatch):
    # parts are kept unless templates reload (developing): which the process's first call of
    # templates() decided, perhaps before any test settings (another module's test first)
    monkeypatch.setattr(templating.templates().env, "auto_reload", False)
    login(browser_client, factory.user(Role.STATION).username)
    templating._FRAME.clear()
    for _ in range(2):  # drawn, then kept
        for path in ("/alerts", "/inbox", "/alerts/rules"):
            menu = _SIDENAV.search(browser_client.get(path).text)
            assert menu
            assert menu[0].count('aria-current="page"') == 1
            assert f'<a href="{path}" aria-current="page">' in menu[0], path
    grants = frozenset(default_grants()[Role.STATION])
    kept = menu_for(Role.STATION.value, grants)
    entry = current_entry(kept.nav, "/alerts")
    part = templating._FRAME[("partials/sidenav.html", kept, entry)]
    fresh = templating.templates().get_template("partials/sidenav.html")
    assert part == fresh.render(nav=kept.nav, nav_bar=kept.bar, nav_current=entry)
