"""The exchange client list's columns and export (``core.listing``): contacts' names and phones
masked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.db import utcnow
from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.masking import mask_name, mask_phone
from jcjg.core.pagination import Key, Order
from jcjg.exchange.choices import ClientKind, ClientStatus
from jcjg.exchange.models import Client
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

_WAITING = Client.status != ClientStatus.PENDING.value
# the applications waiting first, then the newest
CLIENT_ORDER = Order(
    (
        Key(_WAITING, lambda c: c.status != ClientStatus.PENDING.value, descending=False),
        Key(Client.id, lambda c: c.id),
    ),
    (False, 0),
)


def institution_names(db: Session, clients: Sequence[Client]) -> dict[int, str]:
    ids = sorted({c.institution_id for c in clients if c.institution_id is not None})
    if not ids:
        return {}
    rows = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {int(i): str(n) for i, n in rows}


def _cells(db: Session, rows: Sequence[Client]) -> list[list[str]]:
    names = institution_names(db, rows)
    places = regions.display_names(db=db, codes=(c.region_code for c in rows))
    now = utcnow()
    out = []
    for c in rows:
        valid = sum(k.state(now) == "valid" for k in c.keys)
        whose = names.get(c.institution_id, "") if c.institution_id else ""
        out.append(
            [
                c.name,
                label(ClientKind, c.kind),
                whose or places.get(c.region_code, c.region_code),
                label(ClientStatus, c.status),
                f"{valid} / {len(c.keys)}",
                when(c.last_seen_at),
                mask_name(c.contact_name) if c.contact_name else "",
                mask_phone(c.contact_phone) if c.contact_phone else "",
            ]
        )
    return out


CLIENTS = ListView(
    name="client",
    title="数据接入方",
    columns=(
        Column("name", "接入方", Client.name),
        Column("kind", "类型", Client.kind),
        Column("owner", "检测机构 / 行政区划"),
        Column("status", "状态", Client.status),
        Column("keys", "有效密钥 / 全部"),
        Column("last_seen_at", "最后成功报送", Client.last_seen_at),
        Column("contact_name", "联系人"),
        Column("contact_phone", "联系电话"),
    ),
    order=CLIENT_ORDER,
    cells=_cells,
)
