"""The catalogue domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.catalogue.regulations import Regulation
from tests.factories import Factory, catalogue
from tests.generic import EVERYONE, PUBLIC, A, C, Change, Make, P, Routes


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


def _regulation(f: Factory) -> Regulation:
    n = f._next()
    row = Regulation(
        code=f"T{n}", title=f"测试规范性文件{n}", issuer="九江市住房和城乡建设局",
        level="normative_document", region_code="360400", status="in_force",
    )  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


WRITES: dict[type, tuple[Make, Change]] = {
    Regulation: (_regulation, lambda o: setattr(o, "status", "repealed")),
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
    ("GET", "/regulations"): PUBLIC,
    ("GET", "/regulations/{regulation_id}"): PUBLIC,
    ("GET", "/regulations/{regulation_id}/file"): PUBLIC,
    ("GET", "/api/v1/regulations"): "catalogue:read",
    ("GET", "/api/v1/regulations/{regulation_id}"): "catalogue:read",
    ("POST", "/api/v1/regulations"): "regulation:manage",
    ("PUT", "/api/v1/regulations/{regulation_id}"): "regulation:manage",
    ("GET", "/regulations/new"): "regulation:manage",
    ("POST", "/regulations"): "regulation:manage",
    ("GET", "/regulations/{regulation_id}/edit"): "regulation:manage",
    ("POST", "/regulations/{regulation_id}"): "regulation:manage",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "catalogue:read": EVERYONE,
    "catalogue:update": frozenset({P, A}),
    "regulation:manage": frozenset({P, C, A}),
}
