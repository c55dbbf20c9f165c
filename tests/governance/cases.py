"""The governance domain's generic cases (tests/generic.py: routes, grants, change-logged
models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.governance.models import DataElement, DataStandard
from tests.factories import Factory
from tests.generic import EVERYONE, A, P, Routes

READ = "data_standard:read"
ROUTES: Routes = {
    ("GET", "/api/v1/governance/standards"): READ,
    ("GET", "/api/v1/governance/standards/{version}"): READ,
    ("GET", "/governance"): READ,
    ("POST", "/governance/versions"): "data_standard:edit",
    ("GET", "/governance/versions/{version}"): READ,
    ("GET", "/governance/versions/{version}/data-standard.md"): READ,
    ("GET", "/governance/versions/{version}/elements"): READ,
    ("GET", "/governance/versions/{version}/elements/{element_id}"): READ,
    ("POST", "/governance/versions/{version}/elements/{element_id}"): "data_standard:edit",
    ("POST", "/governance/versions/{version}/submit"): "data_standard:edit",
    ("POST", "/governance/versions/{version}/discard"): "data_standard:edit",
    ("POST", "/governance/versions/{version}/review"): "data_standard:review",
}

GRANTS: dict[str, frozenset[Role]] = {
    READ: EVERYONE,
    "data_standard:edit": frozenset({P, A}),
    "data_standard:review": frozenset({P, A}),
}


def _standard(f: Factory) -> DataStandard:
    row = DataStandard(version=900 + f._next(), title="测试修订", status="draft")
    f.db.add(row)
    f.db.flush()
    return row


def _element(f: Factory) -> DataElement:
    row = DataElement(standard_id=_standard(f).id, element_id="grade", name="等级", type="string")
    f.db.add(row)
    f.db.flush()
    return row


WRITES = {
    DataStandard: (_standard, lambda s: setattr(s, "note", "修订说明")),
    DataElement: (_element, lambda e: setattr(e, "name", "强度等级")),
}
