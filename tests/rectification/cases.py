"""The rectification domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.rectification.models import RectificationOrder
from tests.factories import Factory
from tests.generic import PUBLIC, Routes, ScopeCase, with_station_elsewhere


def _rectification_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    order = RectificationOrder(number=f"ZG3604002026{f._next():04d}", institution_id=inst.id,
                               region_code="360400", grounds=["not_uploaded"], findings="未上传",
                               requirement="补传", deadline=utcnow().date(),
                               status="issued")  # fmt: skip
    f.db.add(order)
    f.db.commit()
    return order.id, {"inst": inst}


SCOPED: dict[type, ScopeCase] = {
    RectificationOrder: ScopeCase(
        _rectification_obj,
        "/rectification-orders/{id}",
        with_station_elsewhere,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
        session=True,
    ),
}


ROUTES: Routes = {
    ("GET", "/rectification-orders"): "alert:read",
    ("GET", "/rectification-orders/new"): "case:handle",
    ("POST", "/rectification-orders/new"): "case:handle",
    ("GET", "/rectification-orders/{order_id}"): "alert:read",
    ("POST", "/rectification-orders/{order_id}"): "alert:read",  # and the step's handle/answer
    ("GET", "/rectification-orders/{order_id}/evidence/{sha256}"): "alert:read",
    ("GET", "/public/rectification-orders"): PUBLIC,
    ("GET", "/public/rectification-orders/{number}"): PUBLIC,
}
