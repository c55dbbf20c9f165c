"""Principals and the one place data scopes are applied: :func:`restrict`.

Every query for scoped data goes through ``restrict(stmt, principal, action)`` (STYLE.md habit 3):
it raises 403 when the action is not granted to the principal's role and otherwise narrows the
statement to the principal's scope, so an object outside scope is simply not found (404). An
object belongs to every scope it is part of: a region's principal sees a row in its region, and
a row whose institution or project (the foreign keys named as its ``institution`` and ``project``
scope columns) lies in its region.
A model takes part by naming its permission entity and the columns each scope kind filters on::

    __permission_entity__ = "user"
    __scope_columns__ = {"region": "region_code", "institution": "institution_id", "self": "id"}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Boolean, ColumnElement, Select, and_, false, not_, or_, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.cache_key import NO_CACHE, CacheConst
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import False_, Grouping, True_
from sqlalchemy.sql.visitors import InternalTraversal, anon_map

from jcjg.auth.choices import Role, ScopeKind
from jcjg.core import labels, pagecache
from jcjg.core.db import utcnow
from jcjg.core.errors import NotFound, PermissionDenied
from jcjg.core.regioncodes import in_subtree, prefix_bounds, scope_prefix
from jcjg.core.workdays import beijing_date

T = TypeVar("T")
# any SELECT, whatever its columns (SQLAlchemy 2.1 types a Select by its columns' types)
AnySelect = TypeVar("AnySelect", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Principal:
    """Who is asking: a logged-in user with a role and a scope, or the anonymous public."""

    user_id: int | None = None
    username: str | None = None
    display_name: str = "公众"
    role: Role | None = None
    region_code: str | None = None
    institution_id: int | None = None
    project_ids: frozenset[int] = frozenset()
    permissions: frozenset[str] = frozenset()  # the public: only what needs no permission
    session_id: int | None = None
    csrf_token: str | None = None
    via_token: bool = False
    password_expired: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def scope_kind(self) -> ScopeKind | None:
        return self.role.scope_kind if self.role else None

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def scope_key(self) -> tuple[object, ...]:
        """What the data this principal sees depends on: accounts with equal keys see the
        same rows (figures kept per scope are shared between them)."""
        return (self.role, self.region_code, self.institution_id, self.project_ids,
                self.permissions)  # fmt: skip

    def require(self, permission: str) -> None:
        if not self.can(permission):
            what = labels.label("permission", permission)
            raise PermissionDenied(f"当前账号无权执行此操作：需要“{what}”的权限。")

    def scope_label(self) -> str:
        kind = self.scope_kind
        if kind is ScopeKind.GLOBAL:
            return "全部数据"
        if kind is ScopeKind.REGION:
            return f"行政区划 {self.region_code} 及下辖"
        if kind is ScopeKind.INSTITUTION:
            return "本检测机构"
        if kind is ScopeKind.PROJECT:
            return f"参与的 {len(self.project_ids)} 个工程项目"
        if kind is ScopeKind.SELF:
            return "本人数据"
        return "公开信息"

    def covers_region(self, code: str | None) -> bool:
        """Whether a region-scoped or global principal's scope includes region ``code``."""
        if self.scope_kind is ScopeKind.GLOBAL:
            return True
        if self.scope_kind is ScopeKind.REGION and self.region_code and code:
            return in_subtree(code, self.region_code)
        return False


ANONYMOUS = Principal()


def _column(model: Any, kind: str) -> Any:
    name = getattr(model, "__scope_columns__", {}).get(kind)
    return getattr(model, name) if name else None


# A row that names an institution or a project belongs to their scopes as well: a lab's test
# record is its region's and its institution's, and the region's of the project it was made for.
_FOLLOWED = ("institution", "project")


_REFERENCED: dict[tuple[Any, str], tuple[Any, Any] | None] = {}


def _referenced(model: Any, kind: str) -> tuple[Any, Any] | None:
    """The scope column of ``kind`` and the scoped model its foreign key points at, when the
    column is a foreign key to another model (not the row's own id). Found once per model
    and kind (a walk of every mapper; every scoped query asked it, issue 44)."""
    key = (model, kind)
    if key not in _REFERENCED:
        _REFERENCED[key] = _find_referenced(model, kind)
    return _REFERENCED[key]


def _find_referenced(model: Any, kind: str) -> tuple[Any, Any] | None:
    col = _column(model, kind)
    if col is None:
        return None
    for fk in getattr(col, "foreign_keys", ()):
        for mapper in model.registry.mappers:
            target = mapper.class_
            scoped = getattr(target, "__scope_columns__", None)
            if mapper.local_table is fk.column.table and target is not model and scoped:
                return col, target
    return None


def filed_here(model: Any, principal: Principal, on: dt.date | None = None) -> Select[Any] | None:
    """:func:`filed_in` the principal's region."""
    return filed_in(model, principal.region_code, on)


def filed_in(model: Any, code: str | None, on: dt.date | None = None) -> Select[Any] | None:
    """The ids of ``model`` rows (institutions) filed to work in region ``code`` with a filing
    in force on ``on`` (today, Beijing): filed in the region or below it, or in a region above
    it (a province's filing covers its cities). None when the model declares no filings
    (``__scope_filings__``) or there is no region."""
    spec = getattr(model, "__scope_filings__", None)
    if not spec or not code:
        return None
    table = model.metadata.tables.get(spec["table"])
    if table is None:
        return None
    day = on or beijing_date(utcnow())
    region = table.c[spec["region"]]
    above = sorted({f"{code[:2]}0000", f"{code[:4]}00"} - {code})
    return select(table.c[spec["institution"]]).where(
        or_(in_prefix(region, scope_prefix(code)), region.in_(above)),
        table.c[spec["status"]] == spec["in_force"],
        table.c[spec["from"]] <= day,
        table.c[spec["until"]] >= day,
    )


def region_clause(model: Any, code: str) -> ColumnElement[bool]:
    """``model`` rows that belong to region ``code``'s subtree by their own region, or by the
    region of the institution or project they name: what a filter by region means on a list
    (an out-of-province project's alert belongs to the lab's home region as well as the
    project's). Filings are not followed: a filter names where things are."""
    clauses: list[ColumnElement[bool]] = []
    col = _column(model, "region")
    if col is not None:
        clauses.append(in_prefix(col, scope_prefix(code)))
    clauses += _followed(model, code, None)
    return or_(*clauses) if clauses else false()


def hashed(model: Any) -> bool:
    """Whether ``model``'s rows are matched with the scope's sets of ids by a hash
    (``__scope_hashed__``, see :class:`InSelect`)."""
    return bool(getattr(model, "__scope_hashed__", False))


def _followed(model: Any, code: str | None, filed: Principal | None) -> list[ColumnElement[bool]]:
    """Rows whose institution or project lies in region ``code``, or (``filed``: that
    principal's) whose institution is filed to work there."""
    out: list[ColumnElement[bool]] = []
    for kind in _FOLLOWED:
        found = _referenced(model, kind)
        if found is None:
            continue
        col, target = found
        region = _column(target, "region")
        if region is not None and code:
            pk = target.__mapper__.primary_key[0]
            inside = select(pk).where(in_prefix(region, scope_prefix(code)))
            out.append(InSelect(col, inside, hashed=hashed(model)))
        ids = filed_here(target, filed) if filed is not None else None
        if ids is not None:
            out.append(InSelect(col, ids, hashed=hashed(model)))
    return out


def in_prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix`` (a region code's), as a range an index can answer
    in any collation (``LIKE '36%'`` needs the C collation or a pattern index)."""
    low, high = prefix_bounds(prefix)
    return and_(column >= low, column < high)


class InSelect(ColumnElement[bool]):
    """``column IN (select)``, written ``column = ANY(ARRAY(select))`` on PostgreSQL: there
    the ids become one array the planner can look up in ``column``'s index (OR-ed with the
    other scope clauses as a BitmapOr) and count rows by, where ``IN`` is a hashed subplan
    that makes it scan the table and guess half of it.

    Unless ``hashed`` (the model's ``__scope_hashed__``): then ``IN (select)`` on PostgreSQL
    too. The array is searched one item after another for each row the planner does not
    find by an index (PostgreSQL hashes only an array written as a constant), so a table
    whose scoped statements read it whole, counts and sums over a region's share of it with
    no other index to narrow them, compares each row outside the region with every id of
    the region's institutions and projects; the hashed subplan looks each row up once. Chosen
    per table by measuring its statements both ways (docs/development/performance.md,
    nineteenth pass): it pays for the nonconformity register and loses several-fold for
    alerts and reports, whose statements combine the scope with other indexes."""

    __visit_name__ = "in_select"
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - declared so by SQLAlchemy (its cache key)
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
        ("hashed", InternalTraversal.dp_boolean),
    ]
    type = Boolean()
    _is_implicitly_boolean = True  # a predicate, never compared with 1 where booleans are ints

    def __init__(self, column: Any, ids: Select[Any], hashed: bool = False) -> None:
        self.column = column
        self.ids = ids
        self.hashed = hashed


@compiles(InSelect)
def _in_select(element: InSelect, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.column.in_(element.ids), **kw))


@compiles(InSelect, "postgresql")
def _in_select_postgresql(element: InSelect, compiler: SQLCompiler, **kw: Any) -> str:
    # ``scope_arrays``: an estimate's EXPLAIN (core.pagination), whose planner would guess half
    # the table for each hashed subplan where it estimates an array's rows by the statistics
    if element.hashed and not kw.get("scope_arrays"):
        return _in_select(element, compiler, **kw)
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY{compiler.process(element.ids.scalar_subquery(), **kw)})"


class KeptClause(ColumnElement[bool]):
    """A clause made once and held by many statements (a scope's), whose cache key is walked
    once: SQLAlchemy finds a statement's compiled form by a key it makes by walking the whole
    statement, and a scope clause (three sub-selects, ~30 elements) made ~150 µs of every
    scoped statement's ~170 (issue 44). The key of ``clause`` is made once, by itself, and
    given again with its bound parameters (the same objects each time: their values are the
    clause's). What it leaves out, an element both inside the clause and elsewhere in the
    statement, is written alike in every statement that holds the clause, so equal keys still
    mean the same SQL; a clause whose key cannot be kept (not cacheable, ``params()``) is
    walked each time."""

    __visit_name__ = "kept_clause"
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - declared so by SQLAlchemy (its traversals)
        ("clause", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()
    _is_implicitly_boolean = True

    def __init__(self, clause: ColumnElement[bool]) -> None:
        self.clause = clause
        self._kept: tuple[Any, ...] | None = None  # (the clause it is of, its key, its binds)

    def _gen_cache_key(self, anon_map_: Any, bindparams: list[Any] | None) -> Any:
        kept = self._kept
        if kept is None or kept[0] is not self.clause:  # a copy given another clause
            own = anon_map()
            binds: list[Any] = []
            key = self.clause._gen_cache_key(own, binds)
            if key is None or NO_CACHE in own or CacheConst.PARAMS in own:
                return super()._gen_cache_key(anon_map_, bindparams)
            kept = self._kept = (self.clause, (KeptClause, key), tuple(binds))
        if bindparams is not None:
            bindparams.extend(kept[2])
        return kept[1]

    @property
    def _from_objects(self) -> list[Any]:
        return self.clause._from_objects

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        # grouped where the clause itself would be (an OR within an AND)
        return self if self.clause.self_group(against=against) is self.clause else Grouping(self)

    def _negate(self) -> ColumnElement[bool]:
        return not_(self.clause)


@compiles(KeptClause)
def _kept_clause(element: KeptClause, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clause, **kw))


# The scope clauses made (scope_clause), by model, what of the principal they depend on, and day
_CLAUSES: dict[tuple[Any, ...], ColumnElement[bool]] = {}
_CLAUSES_KEPT = 4096  # clauses a process keeps (then made afresh)


def scope_clause(model: Any, principal: Principal, filed: bool = True) -> ColumnElement[bool]:
    """The WHERE clause limiting ``model`` rows to ``principal``'s scope: every scope a row
    belongs to grants it, its own columns' and those of the institution and project it names.
    Without ``filed``, a region's principal loses what only a filing in force there gives it
    (the registry of an institution filed there: read, not kept).

    Made once per model, scope and (Beijing) day, then kept: a clause is an immutable
    expression that any number of statements may hold, and a page's 2-7 scoped statements
    built theirs anew, ~8 % of a list page's CPU (issue 44)."""
    kind = principal.scope_kind
    own = kind is not ScopeKind.GLOBAL and principal.user_id is not None
    if own and _column(model, "self") is not None:
        pagecache.personal()  # the reader's own rows: a page reading them is theirs alone
    key = (model, kind, principal.region_code, principal.institution_id,
           principal.project_ids, principal.user_id, filed, beijing_date(utcnow()))  # fmt: skip
    clause = _CLAUSES.get(key)
    if clause is None:
        clause = _scope_clause(model, principal, filed)
        if not isinstance(clause, (True_, False_)):
            clause = KeptClause(clause)
        if len(_CLAUSES) >= _CLAUSES_KEPT:
            _CLAUSES.clear()
        _CLAUSES[key] = clause
    return clause


def _scope_clause(model: Any, principal: Principal, filed: bool) -> ColumnElement[bool]:
    kind = principal.scope_kind
    if kind is ScopeKind.GLOBAL:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if kind is ScopeKind.REGION and principal.region_code:
        col = _column(model, "region")
        if col is not None:
            clauses.append(in_prefix(col, scope_prefix(principal.region_code)))
        clauses += _followed(model, principal.region_code, principal if filed else None)
        ids = filed_here(model, principal) if filed else None
        if ids is not None:  # an institution filed to work here
            clauses.append(InSelect(model.__mapper__.primary_key[0], ids, hashed=hashed(model)))
    elif kind is ScopeKind.INSTITUTION and principal.institution_id is not None:
        col = _column(model, "institution")
        if col is not None:
            clauses.append(col == principal.institution_id)
    elif kind is ScopeKind.PROJECT and principal.project_ids:
        col = _column(model, "project")
        if col is not None:
            clauses.append(col.in_(sorted(principal.project_ids)))
    # Everyone sees their own records of a kind they may read (their account, their tokens).
    own = _column(model, "self")
    if own is not None and principal.user_id is not None:
        clauses.append(own == principal.user_id)
    if not clauses:
        return false()
    return or_(*clauses)


def restrict(stmt: AnySelect, principal: Principal, action: str, filed: bool = True) -> AnySelect:
    """Apply the permission check and the data scope of ``principal`` to ``stmt``
    (``filed``: see :func:`scope_clause`).

    ``stmt`` selects a scoped model (its first entity). Raises :class:`PermissionDenied` when
    ``<entity>:<action>`` is not granted.
    """
    model = stmt.column_descriptions[0]["entity"]
    entity = getattr(model, "__permission_entity__", None)
    if entity is None:
        raise TypeError(f"{model!r} is not a scoped model")
    principal.require(f"{entity}:{action}")
    return stmt.where(scope_clause(model, principal, filed))


def get_scoped(
    db: Session, model: type[T], ident: Any, principal: Principal, action: str, filed: bool = True
) -> T:
    """One object by primary key, within scope; :class:`NotFound` (404) otherwise."""
    pk = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    stmt = restrict(select(model).where(pk == ident), principal, action, filed)
    obj: T | None = db.scalars(stmt).first()
    if obj is None:
        raise NotFound()
    return obj
