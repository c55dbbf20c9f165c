"""The institution's dossier (机构档案, issue 48 item 5): one page with its qualifications,
people and equipment, credit, open alerts and cases, rectification orders, penalties and
cameras, each figure the count its own table holds; only for readers whose scope holds the
institution, each section only for a reader who may read it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from tests.factories import login

pytestmark = pytest.mark.sqlite


def _figures(html: str) -> dict[str, str]:
    found = re.findall(
        r'data-figure="([^"]+)"><span class="muted">[^<]*</span><strong>([^<]*)<', html
    )
    return dict(found)


def _parts(html: str) -> list[str]:
    return re.findall(r'data-part="([^"]+)"', html)


def test_a_city_reads_every_part_of_its_lab(browser_client, factory):
    lab = factory.institution(region_code="360402", name="濂溪检测站")
    other = factory.institution(region_code="360402", name="另一家")
    for _ in range(3):
        factory.alert(lab)
    factory.alert(lab, severity="warning")
    factory.alert(lab, status="closed")  # not open: not counted
    factory.alert(other)  # another institution's
    factory.db.commit()
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    page = browser_client.get(f"/institutions/{lab.id}")
    assert page.status_code == 200
    html = page.text
    assert '<h1 data-testid="dossier-name">濂溪检测站</h1>' in html
    assert _parts(html) == ["资质证书", "人员与设备", "信用评价", "预警与案件", "整改通知",
                            "行政处罚", "视频监控"]  # fmt: skip
    figures = _figures(html)
    opened = factory.db.scalar(
        select(func.count()).where(Alert.institution_id == lab.id, Alert.status == "open")
    )
    assert figures["未处理预警"] == str(opened) == "4"
    assert figures["严重"] == "3"
    assert figures["有效资质证书"] == "0"
    assert figures["摄像机"] == "0"
    assert f'href="/alerts?institution_id={lab.id}"' in html
    assert "尚未计算信用得分" in html
    assert "另一家" not in html


def test_the_list_and_the_record_lead_to_the_dossier(browser_client, factory):
    lab = factory.institution(region_code="360402", name="濂溪检测站")
    factory.db.commit()
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    assert f'href="/institutions/{lab.id}"' in browser_client.get("/registry/institutions").text
    record = browser_client.get(f"/registry/institutions/{lab.id}").text
    assert f'<a href="/institutions/{lab.id}" data-testid="dossier-link">机构档案</a>' in record


def test_another_region_and_another_lab_get_nothing(browser_client, factory):
    lab = factory.institution(region_code="360402")
    mine = factory.institution(region_code="360102")
    factory.db.commit()
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360100").username)
    assert browser_client.get(f"/institutions/{lab.id}").status_code == 404
    assert browser_client.get(f"/institutions/{mine.id}").status_code == 200
    browser_client.cookies.clear()
    staff = factory.user(Role.INSTITUTION_ADMIN, institution=mine)
    login(browser_client, staff.username)
    assert browser_client.get(f"/institutions/{lab.id}").status_code == 404
    own = browser_client.get(f"/institutions/{mine.id}")
    assert own.status_code == 200
    assert "预警与案件" in _parts(own.text)  # its own alerts, as its alert list shows them
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert browser_client.get(f"/institutions/{mine.id}").status_code == 403


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "99999999999999999999", "2147483648"])
def test_malformed_and_huge_ids_are_refused(browser_client, factory, bad):
    login(browser_client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    assert browser_client.get(f"/institutions/{bad}").status_code in (404, 422)


# --- the list (/institutions) ----------------------------------------------------------------


def _graded(factory, inst, grade: str, *, current: bool = True) -> None:
    from decimal import Decimal

    from jcjg.credit.models import CreditScore
    from jcjg.credit.service import current_model

    model = current_model(factory.db, inst.region_code)
    factory.db.add(
        CreditScore(institution_id=inst.id, region_code=inst.region_code, period="2026Q4",
                    model_id=model.id, base=Decimal(80), deducted=Decimal(0),
                    score=Decimal(80), grade=grade, is_current=current)
    )  # fmt: skip
    factory.db.flush()


def _listed(html: str) -> list[str]:
    return re.findall(
        r'<td class="wrap" data-label="检测机构"><a href="/institutions/\d+">([^<]+)<', html
    )


def test_the_list_filters_by_place_grade_and_open_alerts(browser_client, factory):
    a = factory.institution(region_code="360402", name="甲检测")
    b = factory.institution(region_code="360403", name="乙检测")
    factory.institution(region_code="360102", name="丙检测")
    factory.alert(a)
    factory.alert(a)
    factory.alert(b, status="closed")
    _graded(factory, a, "B")
    _graded(factory, b, "AAA")
    _graded(factory, b, "C", current=False)  # an earlier score: not the grade now
    factory.db.commit()
    login(browser_client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)

    def names(query: str) -> list[str]:
        page = browser_client.get(f"/institutions?{query}")
        assert page.status_code == 200, query
        return sorted(_listed(page.text))

    assert names("") == sorted(["甲检测", "乙检测", "丙检测"])
    assert names("region=360400") == sorted(["甲检测", "乙检测"])
    assert names("region=360402") == ["甲检测"]
    assert names("alerts=yes") == ["甲检测"]
    assert names("alerts=no") == sorted(["乙检测", "丙检测"])
    assert names("grade=AAA") == ["乙检测"]
    assert names("grade=C") == []
    assert names("grade=B&alerts=yes&region=360400") == ["甲检测"]
    assert names("q=丙") == ["丙检测"]
    row = re.search(
        rf'data-institution="{a.id}">(.*?)</tr>', browser_client.get("/institutions").text, re.S
    )
    assert 'data-facet="grade">B<' in row.group(1)
    assert 'data-facet="alerts">2<' in row.group(1)


def test_bad_filters_are_refused_in_chinese(browser_client, factory):
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    for query in ("grade=Z", "alerts=maybe", "region=360102", "region=abc", "status=gone"):
        refused = browser_client.get(f"/institutions?{query}")
        assert refused.status_code == 400, query
        assert "筛选条件" in refused.text, query
    assert browser_client.get("/institutions?q=" + "x" * 101).status_code in (400, 422)


def test_the_export_has_the_same_rows_and_columns(browser_client, factory):
    from io import BytesIO

    from openpyxl import load_workbook

    a = factory.institution(region_code="360402", name="甲检测")
    factory.institution(region_code="360102", name="南昌的")  # outside the city's scope
    factory.alert(a)
    factory.db.commit()
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    answer = browser_client.get("/institutions?alerts=yes&format=xlsx")
    assert answer.status_code == 200
    sheet = load_workbook(BytesIO(answer.content)).active
    rows = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows[0][:4] == ["检测机构", "机构编号", "所在地", "状态"]
    assert "未处理预警" in rows[0]
    assert [r[0] for r in rows[1:]] == ["甲检测"]
    assert rows[1][rows[0].index("未处理预警")] == "1"


def test_the_list_is_in_the_overseers_menu(browser_client, factory):
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    assert 'href="/institutions"' in browser_client.get("/inbox").text
    browser_client.cookies.clear()
    inst = factory.institution()
    login(browser_client, factory.user(Role.INSTITUTION_ADMIN, institution=inst).username)
    assert 'href="/institutions"' not in browser_client.get("/inbox").text
    own = browser_client.get("/institutions")  # its own, should it ask
    assert _listed(own.text) == [inst.name]
