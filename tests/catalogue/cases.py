"""The catalogue domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from tests.factories import Factory, catalogue
from tests.generic import EVERYONE, A, Change, Make, P, Routes


def _bare_specialty(f: Factory) -> Specialty:
    specialty = Specialty(code=f"S{f._next()}", name="无项目的专项")
    f.db.add(specialty)
    f.db.flush()
    return specialty


def _bare_item(f: Factory) -> TestItem:
    item = TestItem(specialty_id=_bare_specialty(f).id, code=f"I{f._next()}", name="无参数的项目")
    f.db.add(item)
    f.db.flush()
    return item


def _catalogue_row(f: Factory, which: int) -> object:
    return catalogue(f.db, code=f"9{f._next() % 10}")[which]


WRITES: dict[type, tuple[Make, Change]] = {
    Specialty: (lambda f: _bare_specialty(f), lambda o: setattr(o, "min_inspectors", 9)),
    TestItem: (lambda f: _bare_item(f), lambda o: setattr(o, "name", "改名项目")),
    Parameter: (lambda f: _catalogue_row(f, 2), lambda o: setattr(o, "required", False)),
}


ROUTES: Routes = {
    ("GET", "/catalogue"): "catalogue:read",
    ("GET", "/api/v1/catalogue/specialties"): "catalogue:read",
    ("GET", "/api/v1/catalogue/editions"): "catalogue:read",
    ("POST", "/catalogue/specialties/{specialty_id}"): "catalogue:update",
    ("POST", "/catalogue/items/{test_item_id}/parameters"): "catalogue:update",
    ("POST", "/catalogue/parameters/{parameter_id}/required"): "catalogue:update",
    ("PATCH", "/api/v1/catalogue/specialties/{specialty_id}/requirements"): "catalogue:update",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "catalogue:read": EVERYONE,
    "catalogue:update": frozenset({P, A}),
}
