"""A registry list answers ``?format=xlsx`` on its own address (core.listing): the filtered
rows, another institution's never, personal data masked, every export audited."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.generic.spec import specs
from jcjg.generic.tabular import header
from tests.factories import login, registry_row
from tests.lists import column, sheet

HTML = {"accept": "text/html"}


def test_a_registry_list_exports_its_filtered_rows(browser_client, db, factory):
    inst = factory.institution(name="甲检测")
    other = factory.institution(name="乙检测")
    mine = [registry_row(factory, "people", inst) for _ in range(3)]
    theirs = registry_row(factory, "people", other)
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    login(browser_client, province.username)

    page = browser_client.get(f"/registry/people?institution_id={inst.id}", headers=HTML)
    assert "共 3 条" in page.text
    link = page.text.split('data-testid="export-xlsx"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert link == f"/registry/people?institution_id={inst.id}&amp;format=xlsx"
    rows = sheet(browser_client.get(f"/registry/people?institution_id={inst.id}&format=xlsx"))
    assert rows[0] == header(specs()["people"])
    assert sorted(column(rows, "姓名")) == sorted(p.name for p in mine)
    assert theirs.name not in column(rows, "姓名")
    ids = column(rows, "身份证号")
    assert all(p.id_number not in ids for p in mine)  # masked as on the page
    assert sorted(ids) == sorted(p.id_number[:6] + "********" + p.id_number[-4:] for p in mine)
    everyone = sheet(browser_client.get("/registry/people?format=xlsx"))
    assert len(everyone) == 5

    named = sheet(browser_client.get(f"/registry/people?q={mine[0].name}&format=xlsx"))
    assert column(named, "姓名") == [mine[0].name]
    csv = browser_client.get(f"/registry/people?institution_id={inst.id}&format=csv")
    assert csv.status_code == 200
    assert csv.content.decode("utf-8-sig").count("\n") == 4
    assert browser_client.get("/registry/people?sort=id_number", headers=HTML).status_code == 400

    logged = db.scalars(
        select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)
    ).all()
    assert len(logged) == 4
    assert "（3 条）" in logged[0].detail

    # the institution's own staff: its rows only, whatever it asks
    staff = factory.user(Role.INSTITUTION_ADMIN, institution=other)
    db.commit()
    browser_client.cookies.clear()
    login(browser_client, staff.username)
    own = sheet(browser_client.get(f"/registry/people?institution_id={inst.id}&format=xlsx"))
    assert len(own) == 1
    assert column(sheet(browser_client.get("/registry/people?format=xlsx")), "姓名") == [
        theirs.name
    ]


def test_every_registry_list_sorts_each_sortable_column_and_refuses_the_rest(
    browser_client, db, factory
):
    """A list of references (specialties) has no order: its sort link was a 500."""
    from jcjg.generic.tabular import list_view

    inst = factory.institution()
    registry_row(factory, "people", inst)
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    login(browser_client, province.username)
    for kind, spec in specs().items():
        view = list_view(spec)
        for column_ in view.columns:
            for order in ("asc", "desc"):
                url = f"/registry/{kind}?sort={column_.key}&order={order}"
                answer = browser_client.get(url, headers=HTML)
                assert answer.status_code == (200 if column_.sort is not None else 400), url
        multi = [f.name for f in spec.fields if f.kind == "multi"]
        for name in multi:
            assert (
                browser_client.get(f"/registry/{kind}?sort={name}", headers=HTML).status_code == 400
            )
