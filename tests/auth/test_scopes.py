"""Scopes follow the work: an object belongs to every scope it is part of. A Jiujiang lab's
test on a Nanchang project is Jiujiang's (the lab's region and institution) and Nanchang's (the
project's region and parties), and nobody else's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, inspect, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import util as sql_util

from jcjg.alerts.models import Alert, Case
from jcjg.auth import scopes
from jcjg.auth.choices import Role
from jcjg.auth.scopes import Principal, _referenced, get_scoped, restrict, scope_clause
from jcjg.auth.sessions import principal_for
from jcjg.contracts.models import Contract
from jcjg.core import pagination
from jcjg.core.db import Base, utcnow
from jcjg.core.workdays import beijing_date
from jcjg.nonconformity.models import Nonconformity
from jcjg.reports.models import Report
from jcjg.sampling.models import Commission
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord
from tests.factories import Factory, registry_row

JIUJIANG_LAB = "360403"  # 濂溪区, 九江市
NANCHANG_SITE = "360102"  # 东湖区, 南昌市


def _record(f: Factory, lab: Institution, project_id: int) -> TestRecord:
    now = utcnow()
    row = TestRecord(institution_id=lab.id, region_code=lab.region_code, project_id=project_id,
                     number=f"JL-{f._next()}", kind="concrete_compression", item_code="0108",
                     started_at=now, ended_at=now, acquisition="manual")  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _alert(f: Factory, lab: Institution, project_id: int) -> Alert:
    return f.alert(lab, project_id=project_id)


def _case(f: Factory, lab: Institution, project_id: int) -> Case:
    alert = _alert(f, lab, project_id)
    case = Case(alert_id=alert.id, status="confirmed", region_code=alert.region_code,
                institution_id=lab.id, project_id=project_id)  # fmt: skip
    f.db.add(case)
    f.db.flush()
    return case


def _report(f: Factory, lab: Institution, project_id: int) -> Report:
    row = Report(institution_id=lab.id, region_code=lab.region_code, project_id=project_id,
                 number=f"BG-{f._next()}", year=2026, sequence=1, code_year=2026,
                 code_serial=f._next(), supervision_code=f"JG{f._next():014d}",
                 token="t" * 32, items=["0108"], issued_on=dt.date(2026, 11, 2),
                 signatories=[], message_id=f"m-{f._next()}")  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _contract(f: Factory, lab: Institution, project_id: int) -> Contract:
    row = Contract(institution_id=lab.id, region_code=lab.region_code, project_id=project_id,
                   number=f"HT-{f._next()}", year=2026, sequence=1, client_unit="建设单位",
                   signed_on=dt.date(2026, 11, 2), pdf_sha256="0" * 64)  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _nonconformity(f: Factory, lab: Institution, project_id: int) -> Nonconformity:
    record = _record(f, lab, project_id)
    row = Nonconformity(institution_id=lab.id, region_code=NANCHANG_SITE, project_id=project_id,
                        test_record_id=record.id, found_by="lab", material="混凝土",
                        item_code="0108", deadline=dt.date(2026, 12, 1))  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _commission(f: Factory, lab: Institution, project_id: int) -> Commission:
    row = Commission(institution_id=lab.id, region_code=NANCHANG_SITE, project_id=project_id,
                     number=f"WT-{f._next()}", year=2026, seq=1,
                     commissioned_on=dt.date(2026, 11, 2))  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


MAKERS: dict[type, Callable[[Factory, Institution, int], Any]] = {
    TestRecord: _record,
    Alert: _alert,
    Case: _case,
    Report: _report,
    Contract: _contract,
    Nonconformity: _nonconformity,
    Commission: _commission,
}


@pytest.mark.parametrize("model", list(MAKERS), ids=lambda m: m.__name__)
def test_a_labs_work_on_a_project_elsewhere_is_seen_from_both_sides(
    db: Session, factory: Factory, model: type
) -> None:
    lab = factory.institution(region_code=JIUJIANG_LAB)
    project = factory.project(region_code=NANCHANG_SITE)
    obj = MAKERS[model](factory, lab, project.id)
    insiders = {
        "the lab's city station": factory.user(Role.STATION, region_code="360400"),
        "the project's city station": factory.user(Role.STATION, region_code="360100"),
        "the province": factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"),
        "the lab's staff": factory.user(Role.INSTITUTION_STAFF, institution=lab),
        "the project's party": factory.user(Role.PARTY_UNIT, project_ids=(project.id,)),
    }
    other_lab, other_project = factory.institution(), factory.project()
    outsiders = {
        "a third city's station": factory.user(Role.STATION, region_code="360300"),
        "another province": factory.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),
        "another lab's staff": factory.user(Role.INSTITUTION_STAFF, institution=other_lab),
        "another project's party": factory.user(Role.PARTY_UNIT, project_ids=(other_project.id,)),
    }
    entity = model.__permission_entity__  # type: ignore[attr-defined]
    action = "read"
    for who, user in insiders.items():
        principal = principal_for(db=db, user=user, settings=factory.settings)
        if not principal.can(f"{entity}:{action}"):
            continue  # a party unit reads no alerts: not a scope question
        assert get_scoped(db, model, obj.id, principal, action).id == obj.id, who
    for who, user in outsiders.items():
        principal = principal_for(db=db, user=user, settings=factory.settings)
        if not principal.can(f"{entity}:{action}"):
            continue
        stmt = restrict(select(model).where(model.id == obj.id), principal, action)  # type: ignore[attr-defined]
        assert db.scalars(stmt).first() is None, who


def test_every_object_naming_an_institution_or_project_follows_their_scopes() -> None:
    """Each scoped model whose institution or project scope column is a foreign key is granted
    through it (restrict does it in one place: no model opts in or out)."""
    followed = []
    for mapper in Base.registry.mappers:
        model = mapper.class_
        for kind in ("institution", "project"):
            name = getattr(model, "__scope_columns__", {}).get(kind)
            if name is None or name == "id":
                continue
            column = getattr(model, name)
            if getattr(column, "foreign_keys", None):
                assert _referenced(model, kind) is not None, (model.__name__, kind)
                followed.append((model.__name__, kind))
    names = {m for m, _ in followed}
    assert {"TestRecord", "Report", "Alert", "Nonconformity", "Contract", "Commission"} <= names


def test_a_scope_clause_is_made_once_per_scope_and_day(monkeypatch: pytest.MonkeyPatch) -> None:
    city = Principal(user_id=1, role=Role.CITY_AUTHORITY, region_code="360400")
    same = Principal(user_id=1, role=Role.CITY_AUTHORITY, region_code="360400", session_id=7,
                     display_name="另一会话")  # fmt: skip
    other = Principal(user_id=1, role=Role.CITY_AUTHORITY, region_code="360100")
    first = scope_clause(Institution, city)
    assert scope_clause(Institution, same) is first  # kept: the same scope
    assert scope_clause(Institution, other) is not first
    assert scope_clause(Institution, city, filed=False) is not first
    assert scope_clause(TestRecord, city) is not first
    # the next day it is made again: the filings in force that day
    tomorrow = utcnow() + dt.timedelta(days=1)
    monkeypatch.setattr(scopes, "utcnow", lambda: tomorrow)
    later = scope_clause(Institution, city)
    assert later is not first
    day = beijing_date(tomorrow)
    assert isinstance(later, scopes.KeptClause)
    assert later.clause.compare(scopes._scope_clause(Institution, city, True))
    assert not first.compare(later)
    assert day in [b.value for b in later._generate_cache_key().bindparams]


READ = frozenset({"institution:read"})


def test_two_scopes_statements_share_a_compiled_form_and_keep_their_own_rows(
    db: Session, factory: Factory
) -> None:
    """A kept scope clause's cache key is walked once and given again (issue 44): statements of
    two cities are one compiled form (equal keys), each executed with its own city's values,
    and a statement holding the clause twice, counted, or negated reads what the clause says."""
    jiujiang, nanchang = (
        factory.institution(region_code=JIUJIANG_LAB),
        factory.institution(region_code=NANCHANG_SITE),
    )
    elsewhere = factory.institution(region_code="440103")
    cities = {
        code: Principal(user_id=None, role=Role.STATION, region_code=code, permissions=READ)
        for code in ("360400", "360100")
    }
    ours = {jiujiang.id, nanchang.id, elsewhere.id}
    found: dict[str, set[int]] = {}
    keys = []
    for _ in range(2):  # the second round from SQLAlchemy's cache of compiled statements
        for code, city in cities.items():
            stmt = restrict(select(Institution.id), city, "read", filed=False)
            keys.append(stmt._generate_cache_key())
            found[code] = set(db.scalars(stmt)) & ours
    assert found == {"360400": {jiujiang.id}, "360100": {nanchang.id}}
    assert keys[0] == keys[1] == keys[2]  # one compiled form for both cities
    assert [b.value for b in keys[0].bindparams] != [b.value for b in keys[1].bindparams]

    city = cities["360400"]
    clause = scope_clause(Institution, city, filed=False)
    assert isinstance(clause, scopes.KeptClause)
    kept = clause._kept
    assert kept is not None  # walked once, by the first statement, and given again since
    select(Institution.id).where(clause)._generate_cache_key()
    assert clause._kept is kept
    twice = select(Institution.id).where(clause, or_(clause, Institution.id == nanchang.id))
    assert set(db.scalars(twice)) & ours == {jiujiang.id}
    either = select(Institution.id).where(or_(Institution.id == elsewhere.id, clause))
    assert set(db.scalars(either)) & ours == {jiujiang.id, elsewhere.id}
    # an OR kept whole within an AND: not "a AND b OR c"
    narrowed = select(Institution.id).where(Institution.id != jiujiang.id, clause)
    assert set(db.scalars(narrowed)) & ours == set()
    assert set(db.scalars(select(Institution.id).where(~clause))) & ours == {
        nanchang.id,
        elsewhere.id,
    }
    counted = select(func.count()).select_from(
        restrict(select(Institution), city, "read", filed=False).subquery()
    )
    assert db.scalar(counted) == len(
        set(db.scalars(restrict(select(Institution.id), city, "read", filed=False)))
    )


def test_a_kept_clause_copied_onto_an_alias_is_keyed_as_the_copy() -> None:
    """An ORM adaptation copies the clause with another inside (an alias's columns): the copy's
    key is its own, not the one kept for the original."""
    city = Principal(user_id=None, role=Role.STATION, region_code="360400")
    clause = scope_clause(Institution, city, filed=False)
    assert isinstance(clause, scopes.KeptClause)
    original = clause._generate_cache_key()
    alias = aliased(Institution)
    copy = sql_util.ClauseAdapter(inspect(alias).selectable).traverse(clause)
    assert isinstance(copy, scopes.KeptClause)
    assert copy is not clause
    assert copy._generate_cache_key() != original
    assert clause._generate_cache_key() == original
    sql = str(select(alias.id).where(copy).compile())
    assert "institution_1.region_code" in sql


def test_a_table_matched_by_a_hash_sees_what_every_table_sees(
    db: Session, factory: Factory
) -> None:
    """The nonconformity register (``__scope_hashed__``) is matched with the scope's sets of
    ids by ``IN (subquery)`` on PostgreSQL, where alerts keep ``= ANY(ARRAY(subquery))``
    (issue 44): the same rows either way, by each of the sets (the lab's city through its
    institution, the project's city through its project, a region where the lab is filed to
    work through the filing), and none for a city of neither."""
    assert scopes.hashed(Nonconformity)
    assert not scopes.hashed(Alert)
    lab = factory.institution(region_code=JIUJIANG_LAB)
    registry_row(factory, "filings", lab)  # in force in 杭州市 (330100)
    project = factory.project(region_code=NANCHANG_SITE)
    row = _nonconformity(factory, lab, project.id)
    row.region_code = "360302"  # its own region in neither city: only the sets find it
    db.flush()
    station = {code: Principal(user_id=None, role=Role.STATION, region_code=code,
                               permissions=frozenset({"test_record:read"}))
               for code in ("360400", "360100", "330100", "360200")}  # fmt: skip
    postgresql = db.get_bind().dialect.name == "postgresql"
    for code, principal in station.items():
        stmt = restrict(select(Nonconformity.id), principal, "read")
        sql = str(stmt.compile(dialect=db.get_bind().dialect))
        assert "ANY(ARRAY(" not in sql
        assert sql.count(" IN (SELECT ") == 3  # institutions, filed institutions, projects
        found = set(db.scalars(stmt.where(Nonconformity.id == row.id)))
        assert found == ({row.id} if code != "360200" else set()), code
        counted = select(func.count()).select_from(restrict(select(Nonconformity), principal,
                                                            "read").subquery())  # fmt: skip
        assert db.scalar(counted) == len(set(db.scalars(stmt))), code
    reader = Principal(user_id=None, role=Role.STATION, region_code="360100",
                       permissions=frozenset({"alert:read"}))  # fmt: skip
    alerts = restrict(select(Alert.id), reader, "read")
    assert ("ANY(ARRAY(" in str(alerts.compile(dialect=db.get_bind().dialect))) is postgresql
    # an estimate's EXPLAIN plans the arrays: the planner guesses half the table for each
    # hashed subplan, and a long register would show "约" most of the table
    explained = str(pagination._Explain(stmt).compile(dialect=db.get_bind().dialect))
    assert ("ANY(ARRAY(" in explained) is postgresql
    if postgresql:
        assert 0 < pagination.planner_rows(db, stmt) < 1000
    # the two forms are two compiled statements, never one for the other
    ids, column = select(Institution.id), Nonconformity.institution_id
    hashed = scopes.InSelect(column, ids, hashed=True)._generate_cache_key()
    assert hashed != scopes.InSelect(column, ids)._generate_cache_key()
