"""The analysis workbench: a saved analysis exported to xlsx matches independent SQL written
by hand against the tables (on SQLite and PostgreSQL), from the rows and from the tally; bad
definitions refused; saved analyses seen by their owner and, shared, within the region only;
results always within the reader's scope."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.testing.models import TestRecord
from jcjg.testing.stats import refresh_tally
from tests.factories import Factory, login, page_csrf

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

UTC = dt.UTC


def _records(f: Factory) -> dict[str, Any]:
    """Three labs: two of 九江 (counties 360403, 360402), one of 南昌; records over three months
    with various durations and some nonconforming."""
    labs = [f.institution("360403"), f.institution("360402"), f.institution("360102")]
    n = 0
    for lab_i, lab in enumerate(labs):
        for month in (8, 9, 10):
            for k in range(5 + lab_i + month % 3):
                n += 1
                end = dt.datetime(2026, month, 3 + k, 6, 0, tzinfo=UTC)
                f.db.add(TestRecord(
                    institution_id=lab.id, region_code=lab.region_code, number=f"JL-A-{n}",
                    kind="concrete_compression" if k % 2 else "rebar_tensile",
                    item_code="0108" if k % 2 else "0201",
                    started_at=end - dt.timedelta(minutes=3 + (k * 7 + lab_i) % 11),
                    ended_at=end, received_at=end + dt.timedelta(minutes=10),
                    acquisition="auto", lab_judgement="conforming",
                    nonconforming_by="lab" if (k + month) % 4 == 0 else "",
                ))  # fmt: skip
    f.db.flush()
    return {"labs": labs}


def _get(client: Any, token: str, path: str, **kw: Any) -> Any:
    return client.get(path, headers={"Authorization": f"Bearer {token}"}, **kw)


def _post(client: Any, token: str, path: str, body: Any) -> Any:
    return client.post(path, headers={"Authorization": f"Bearer {token}"}, json=body)


RATE_BY_COUNTY_MONTH = {
    "dataset": "test_records", "dimensions": ["county", "month"],
    "measures": ["records", "nonconforming", "nonconforming_rate"],
    "since": "2026-08", "until": "2026-10", "chart": "line",
}  # fmt: skip
P95_BY_ITEM = {"dataset": "test_records", "dimensions": ["item"],
               "measures": ["records", "duration_p50", "duration_p95"], "chart": "bar"}  # fmt: skip


def _sheet(data: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(data))
    return [list(r) for r in book["结果"].iter_rows(values_only=True)]


def _month_sql(db: Session) -> str:
    if db.get_bind().dialect.name == "postgresql":
        return "to_char(ended_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
    return "strftime('%Y-%m', ended_at, '+8 hours')"


def _independent_rates(db: Session) -> dict[tuple[str, str], tuple[int, int, float]]:
    """By hand: 九江's records (region codes 3604xx) by county and Beijing month."""
    month = _month_sql(db)
    rows = db.execute(text(
        f"SELECT region_code, {month} AS m, count(*), "
        "sum(CASE WHEN nonconforming_by <> '' THEN 1 ELSE 0 END) FROM test_record "
        "WHERE region_code >= '360400' AND region_code < '360500' "
        f"AND {month} BETWEEN '2026-08' AND '2026-10' GROUP BY region_code, {month}"
    ))  # fmt: skip
    return {(r, m): (n, bad, round(100.0 * bad / n, 2)) for r, m, n, bad in rows}


def _independent_p95(db: Session, q: float) -> dict[str, float]:
    """By hand, in Python over the raw durations: the nearest rank ⌈q·n⌉ of each item's."""
    out: dict[str, list[float]] = {}
    for item, start, end in db.execute(text(
        "SELECT item_code, started_at, ended_at FROM test_record "
        "WHERE region_code >= '360400' AND region_code < '360500'"
    )):  # fmt: skip
        s = start if isinstance(start, dt.datetime) else dt.datetime.fromisoformat(start)
        e = end if isinstance(end, dt.datetime) else dt.datetime.fromisoformat(end)
        out.setdefault(item, []).append((e - s).total_seconds() / 60)
    found = {}
    for item, values in out.items():
        values.sort()
        rank = max(1, -(-round(q * 100) * len(values) // 100))
        found[item] = round(values[rank - 1], 1)
    return found


@pytest.mark.parametrize("tallied", [False, True], ids=["rows", "tally"])
def test_saved_analysis_xlsx_matches_independent_sql(
    factory: Factory, client: Any, tallied: bool
) -> None:
    _records(factory)
    if tallied:
        refresh_tally(factory.db)
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    token = factory.token(user)
    made = _post(
        client,
        token,
        "/api/v1/analyses",
        {"name": "九江各县不合格率（月）", "definition": RATE_BY_COUNTY_MONTH},
    )
    assert made.status_code == 201, made.text
    answer = _get(
        client, token, f"/api/v1/analyses/{made.json()['id']}/export", params={"format": "xlsx"}
    )
    assert answer.status_code == 200
    sheet = _sheet(answer.content)
    assert sheet[0] == ["县（区）", "月份", "记录数", "不合格数", "不合格率（%）"]
    names = {"浔阳区": "360403", "濂溪区": "360402"}
    got = {(names[c], m): (n, bad, rate) for c, m, n, bad, rate in sheet[1:]}
    assert got == _independent_rates(factory.db)
    assert len(got) == 6  # two counties of 九江 × three months; 南昌 never in it


def test_percentiles_match_independent_computation(factory: Factory, client: Any) -> None:
    _records(factory)
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    token = factory.token(user)
    answer = _post(client, token, "/api/v1/analysis-runs", P95_BY_ITEM)
    assert answer.status_code == 200, answer.text
    rows = {r[0]: r for r in answer.json()["rows"]}
    p50, p95 = _independent_p95(factory.db, 0.5), _independent_p95(factory.db, 0.95)
    assert {k: r[3] for k, r in rows.items()} == {_item(factory.db, k): v for k, v in p95.items()}
    assert {k: r[2] for k, r in rows.items()} == {_item(factory.db, k): v for k, v in p50.items()}


def test_quarters_are_beijing_ones_and_percentiles_come_with_averages(
    factory: Factory, client: Any
) -> None:
    """A Beijing quarter starts at 00:00 Beijing (16:00 UTC the day before): 23:30 on 30
    September is the third quarter, 00:30 on 1 October the fourth. The average and the
    percentile of one analysis (one query on PostgreSQL, two on SQLite) agree with Python."""
    lab = factory.institution("360403")
    delays = {"2026-Q3": [4, 9, 30, 61], "2026-Q4": [2, 5, 7]}
    ends = {
        "2026-Q3": dt.datetime(2026, 9, 30, 15, 30, tzinfo=UTC),
        "2026-Q4": dt.datetime(2026, 9, 30, 16, 30, tzinfo=UTC),
    }
    for quarter, minutes in delays.items():
        for i, m in enumerate(minutes):
            end = ends[quarter] - dt.timedelta(seconds=i)
            factory.db.add(TestRecord(
                institution_id=lab.id, region_code=lab.region_code, number=f"JL-Q-{quarter}-{i}",
                kind="rebar_tensile", item_code="0201", started_at=end - dt.timedelta(minutes=5),
                ended_at=end, received_at=end + dt.timedelta(minutes=m), acquisition="auto",
            ))  # fmt: skip
    factory.db.flush()
    token = factory.token(factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    definition = {
        "dataset": "test_records", "dimensions": ["quarter"],
        "measures": ["records", "upload_delay_avg", "upload_delay_p90"], "chart": "bar",
    }  # fmt: skip
    answer = _post(client, token, "/api/v1/analysis-runs", definition)
    assert answer.status_code == 200, answer.text
    rows = {r[0]: r[1:] for r in answer.json()["rows"]}
    expected = {}
    for quarter, minutes in delays.items():
        ordered = sorted(minutes)
        rank = -(-90 * len(ordered) // 100)  # nearest rank, ⌈0.9·n⌉
        expected[quarter] = [len(minutes), round(sum(minutes) / len(minutes), 1),
                             float(ordered[rank - 1])]  # fmt: skip
    assert rows == expected


def _item(db: Session, code: str) -> str:
    return str(
        db.execute(text("SELECT name FROM test_item WHERE code = :c LIMIT 1"), {"c": code}).scalar()
    )


@pytest.mark.parametrize("bad", [
    {"dataset": "users", "measures": ["records"]},
    {"dataset": "test_records", "measures": []},
    {"dataset": "test_records", "measures": ["records"], "dimensions": ["password"]},
    {"dataset": "test_records", "measures": ["records"], "since": "2026-13"},
    {"dataset": "test_records", "measures": ["records"], "since": "2026-10", "until": "2026-01"},
    {"dataset": "test_records", "measures": ["records"], "filters": {"institution": "1 OR 1=1"}},
    {"dataset": "test_records", "measures": ["records"], "filters": {"sql": "x"}},
    {"dataset": "test_records", "measures": ["records"], "chart": "radar"},
    {"dataset": "test_records", "measures": ["records"], "extra": 1},
])  # fmt: skip
def test_bad_definitions_are_refused(factory: Factory, client: Any, bad: dict[str, Any]) -> None:
    token = factory.token(factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    answer = _post(client, token, "/api/v1/analysis-runs", bad)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    made = _post(client, token, "/api/v1/analyses", {"name": "坏", "definition": bad})
    assert made.status_code == 422
    assert _get(client, token, "/api/v1/analyses").json()["total"] == 0


def test_sharing_within_the_region_and_owner_only_changes(factory: Factory, client: Any) -> None:
    _records(factory)
    owner = factory.token(factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    colleague = factory.token(factory.user(Role.STATION, region_code="360400"))
    nanchang = factory.token(factory.user(Role.CITY_AUTHORITY, region_code="360100"))
    made = _post(
        client, owner, "/api/v1/analyses", {"name": "月度", "definition": RATE_BY_COUNTY_MONTH}
    )
    path = f"/api/v1/analyses/{made.json()['id']}"
    assert _get(client, colleague, path).status_code == 404  # not shared yet
    client.patch(path, headers={"Authorization": f"Bearer {owner}"}, json={"shared": True})
    assert _get(client, colleague, path).status_code == 200
    assert _get(client, nanchang, path).status_code == 404  # another city
    refused = client.delete(path, headers={"Authorization": f"Bearer {colleague}"})
    assert refused.status_code == 403
    # 南昌 running the same definition sees only 南昌's records
    rows = _post(client, nanchang, "/api/v1/analysis-runs", RATE_BY_COUNTY_MONTH).json()["rows"]
    assert {r[0] for r in rows} == {"东湖区"}


def test_workbench_page_and_exports(factory: Factory, client: Any) -> None:
    _records(factory)
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(client, user.username)
    query = ("dataset=test_records&dim=city&dim=month&measure=records&measure=nonconforming_rate"
             "&chart=bar&since=2026-08")  # fmt: skip
    page = client.get(f"/analytics?{query}")
    assert page.status_code == 200
    assert "九江市" in page.text
    assert "不合格率" in page.text
    bad = client.get("/analytics?dataset=test_records&measure=nope")
    assert bad.status_code == 422
    assert "该数据集没有指标" in bad.text
    pdf = client.get(f"/analytics/export?{query}&format=pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    csrf = page_csrf(client, f"/analytics?{query}")
    saved = client.post("/analytics/saved", data={"csrf_token": csrf, "name": "九江月度",
                        "query": query, "shared": "1", "schedule": "monthly"},
                        follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303
    again = client.get(saved.headers["location"])
    assert again.status_code == 200
    assert "九江月度" in again.text
    sheet = _sheet(
        client.get(
            f"/analytics/export?{saved.headers['location'].split('?')[1]}&format=xlsx"
        ).content
    )
    assert sheet[0] == ["市", "月份", "记录数", "不合格率（%）"]
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")


def test_scheduled_analysis_runs_when_due_and_tells_its_owner(
    factory: Factory, client: Any
) -> None:
    import logging

    from jcjg.analytics.jobs import scheduled
    from jcjg.notify.models import Notification

    _records(factory)
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    token = factory.token(user)
    body = {"name": "每周", "schedule": "weekly", "definition": RATE_BY_COUNTY_MONTH}
    made = _post(client, token, "/api/v1/analyses", body)
    assert made.status_code == 201
    factory.db.expire_all()
    scheduled(factory.db, logging.getLogger("test"))
    scheduled(factory.db, logging.getLogger("test"))  # not due again within the week
    sent = factory.db.query(Notification).filter_by(user_id=user.id, kind="analysis").all()
    assert len(sent) == 1
    assert "每周" in sent[0].title
    assert sent[0].link.endswith(f"saved={made.json()['id']}&format=xlsx")


def test_filters_and_dimensions_by_region_institution_or_none(
    factory: Factory, client: Any
) -> None:
    labs = _records(factory)["labs"]
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    token = factory.token(province)
    by_lab = _post(client, token, "/api/v1/analysis-runs", {
        "dataset": "test_records", "dimensions": ["institution"], "measures": ["records"],
        "filters": {"region": "360400"}, "chart": "pie"})  # fmt: skip
    assert by_lab.status_code == 200, by_lab.text
    counted = {
        lab.name: factory.db.query(TestRecord).filter_by(institution_id=lab.id).count()
        for lab in labs[:2]
    }
    assert {r[0]: r[1] for r in by_lab.json()["rows"]} == counted  # 南昌's lab filtered out
    total = _post(client, token, "/api/v1/analysis-runs", {
        "dataset": "test_records", "measures": ["records", "duration_p50"],
        "filters": {"institution": labs[2].id}, "chart": "bar"})  # fmt: skip
    assert total.status_code == 200, total.text
    only = total.json()["rows"]
    assert len(only) == 1
    assert only[0][0] == factory.db.query(TestRecord).filter_by(institution_id=labs[2].id).count()
    by_city = _post(client, token, "/api/v1/analysis-runs", {
        "dataset": "test_records", "dimensions": ["city", "kind"],
        "measures": ["records"], "chart": "bar"})  # fmt: skip
    assert by_city.status_code == 200, by_city.text
    cities = {r[0] for r in by_city.json()["rows"]}
    assert cities == {"九江市", "南昌市"}
    from jcjg.analytics import engine
    from jcjg.analytics.schemas import Definition
    from jcjg.auth.sessions import principal_for

    who = principal_for(db=factory.db, user=province, settings=factory.settings)
    two = engine.run(
        factory.db,
        who,
        Definition(dataset="test_records", dimensions=["city", "kind"], measures=["records"]),
    )
    chart = two.chart("bar")
    assert chart["categories"] == sorted(cities, key=chart["categories"].index)
    assert len(chart["series"]) == 2  # one series per test kind
    flat = engine.run(factory.db, who, Definition(dataset="test_records", measures=["records"]))
    assert flat.chart("pie")["categories"] == ["合计"]


def test_the_saved_list_filters_counts_and_exports(factory: Factory, client: Any) -> None:
    from jcjg.analytics.models import Analysis
    from tests.lists import sheet

    me = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    colleague = factory.user(Role.STATION, region_code="360400")
    stranger = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    rows = [
        (me, "本人记录月报", "test_records", False, "monthly"),
        (me, "本人预警分析", "alerts", False, ""),
        (colleague, "同事共享的报告统计", "reports", True, "weekly"),
        (colleague, "同事未共享的分析", "test_records", False, ""),
        (stranger, "南昌共享的分析", "test_records", True, ""),
    ]
    for owner, name, dataset, shared, schedule in rows:
        factory.db.add(Analysis(
            name=name, owner_id=owner.id, region_code=owner.region_code, shared=shared,
            schedule=schedule, definition={"dataset": dataset, "measures": ["records"]},
        ))  # fmt: skip
    factory.db.commit()
    page = login(client, me.username)

    def names(query: str) -> set[str]:
        answer = page.get(f"/analytics/saved?{query}", headers={"accept": "text/html"})
        assert answer.status_code == 200, answer.text[:300]
        return {r[0] for r in sheet(page.get(f"/analytics/saved?{query}&format=xlsx"))[1:]}

    assert names("") == {"本人记录月报", "本人预警分析", "同事共享的报告统计"}
    assert names("owner=mine") == {"本人记录月报", "本人预警分析"}
    assert names("dataset=alerts") == {"本人预警分析"}
    assert names("schedule=none") == {"本人预警分析"}
    assert names("schedule=weekly") == {"同事共享的报告统计"}
    assert names("q=月报") == {"本人记录月报"}
    assert page.get("/analytics/saved?dataset=nonsense").status_code in (400, 422)
    bench = page.get("/analytics", headers={"accept": "text/html"}).text
    assert "全部保存的分析（3 个）" in bench


def test_filters_are_picked_from_the_readers_scope(factory: Factory, client: Any) -> None:
    labs = _records(factory)["labs"]
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    factory.db.commit()
    page = login(client, user.username)
    html = page.get("/analytics?dataset=test_records&measure=records&dim=institution",
                    headers={"accept": "text/html"}).text  # fmt: skip
    institution = html.split('id="a-f-institution"')[1].split("</select>")[0]
    assert labs[0].name in institution
    assert labs[1].name in institution
    assert labs[2].name not in institution  # 南昌's lab: not the reader's
    region = html.split('id="a-f-region"')[1].split("</select>")[0]
    assert 'value="360403"' in region
    assert 'value="360102"' not in region
    kinds = html.split('id="a-f-kind"')[1].split("</select>")[0]
    assert "混凝土" in kinds or "钢筋" in kinds
    picked = page.get(f"/analytics?dataset=test_records&measure=records&f_institution={labs[0].id}",
                      headers={"accept": "text/html"})  # fmt: skip
    assert picked.status_code == 200
    assert f'<option value="{labs[0].id}" selected>' in picked.text


def test_a_result_is_kept_a_while_per_scope_and_says_when_counted(
    factory: Factory, client: Any
) -> None:
    """With JCJG_ANALYSIS_RESULTS_SECONDS, one scope's answer to one definition is counted once
    in that time (its counted_at says when; a record added meanwhile shows only once it is
    counted again); another scope or another definition is counted for itself."""
    from jcjg.core.memo import TimedMemo

    _records(factory)
    jiujiang = factory.token(factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    province = factory.token(factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    factory.db.commit()
    by_city = {"dataset": "test_records", "dimensions": ["city"], "measures": ["records"]}

    def ask(token: str, definition: dict[str, Any]) -> tuple[dict[str, int], str]:
        answer = _post(client, token, "/api/v1/analysis-runs", definition)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return {row[0]: row[1] for row in body["rows"]}, body["counted_at"]

    client.app.state.analyses = TimedMemo(60)
    try:
        first, at = ask(jiujiang, by_city)
        assert at
        assert set(first) == {"九江市"}
        lab = factory.institution("360403")
        end = dt.datetime(2026, 9, 9, 6, 0, tzinfo=UTC)
        factory.db.add(TestRecord(
            institution_id=lab.id, region_code="360403", number="JL-NEW", kind="other",
            item_code="0108", started_at=end - dt.timedelta(minutes=5), ended_at=end,
            received_at=end, acquisition="manual", lab_judgement="conforming",
        ))  # fmt: skip
        factory.db.commit()
        assert ask(jiujiang, by_city) == (first, at)  # kept: the same figures, the same time
        wider, _ = ask(province, by_city)  # another scope: counted now
        assert wider["九江市"] == first["九江市"] + 1
        assert "南昌市" in wider
        other, _ = ask(jiujiang, by_city | {"since": "2026-01"})  # another definition
        assert other["九江市"] == first["九江市"] + 1
        client.app.state.analyses.clear()
        again, later = ask(jiujiang, by_city)
        assert again["九江市"] == first["九江市"] + 1
        assert later >= at
    finally:
        client.app.state.analyses = TimedMemo(0)


def test_withdrawn_alerts_are_not_counted(factory: Factory) -> None:
    """An alert withdrawn because it lived only inside a registry sync is not a finding: the
    预警 data set leaves it out, as the lists and the period reports do."""
    from jcjg.analytics import engine
    from jcjg.analytics.schemas import Definition
    from jcjg.auth.sessions import principal_for

    lab = factory.institution()
    factory.alert(lab)
    factory.alert(lab, status="closed")
    factory.alert(lab, status="withdrawn", rule_id="staffing_below_standard")
    factory.db.commit()
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    who = principal_for(db=factory.db, user=city, settings=factory.settings)
    found = engine.run(
        factory.db,
        who,
        Definition(dataset="alerts", dimensions=["status"], measures=["alerts", "open"]),
    )
    assert sorted(k[0] for k in found.keys) == ["closed", "open"]
    assert sorted(found.values) == [[1, 0], [1, 1]]  # 已关闭 and 未处理, no 已撤回 row
