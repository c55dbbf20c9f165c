"""The catalogue domain: the qualification catalogue (specialty, test item, parameter)."""

from typing import Any

from fastapi import Request

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, EVERY_ROLE, by_permission
from jcjg.catalogue import models, regulations
from jcjg.catalogue.regulations import RegulationLevel, RegulationStatus, page_citers
from jcjg.core import editions
from jcjg.core.domains import PORTAL, Domain, NavEntry, PortalEntry

# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "regulation": "法规与标准",
    "specialty": "检测专项",
    "test_item": "检测项目",
    "parameter": "检测参数",
}


def page_context(request: Request | None) -> dict[str, Any]:
    """``basis``, ``basis_in`` and ``without_references`` on every page (a sentence's basis and
    a description's references cited by title, only where they apply: docs/regulations.md)."""
    return page_citers(request.app.state if request is not None else None)


DOMAIN = Domain(
    name="catalogue",
    title="资质目录",
    models=(editions, models, regulations),  # its reference data: editions, rows, regulations
    routers=(
        "jcjg.catalogue.views:pages",
        "jcjg.catalogue.views:api",
        "jcjg.catalogue.library:router",
        "jcjg.catalogue.library_api:api",
    ),
    permissions={
        "catalogue:read": "查看资质目录（专项、检测项目、参数）",
        "catalogue:update": "维护资质目录",
        "regulation:manage": "维护法规库中本辖区发布的法规、规范性文件和标准",
    },
    grants=by_permission(
        {
            "catalogue:read": EVERY_ROLE,
            "catalogue:update": (Role.PROVINCIAL_AUTHORITY,),
            "regulation:manage": AUTHORITIES,
        }
    ),
    nav=(
        NavEntry(
            title="资质目录",
            href="/catalogue",
            group="检测机构",
            permission="catalogue:read",
            order=20,
            text="检测专项、检测项目、参数及人员设备场所最低要求",
        ),
        NavEntry(
            title="法规库",
            href="/regulations",
            group="行业管理",
            permission="catalogue:read",
            order=90,
            text="法律、法规、规章、规范性文件和标准：效力层级、状态、全文与检索",
        ),
    ),
    labels={
        "entity": ENTITIES,
        "regulation_level": RegulationLevel,
        "regulation_status": RegulationStatus,
    },
    hooks={
        "templates.context": page_context,
        PORTAL: lambda: [
            PortalEntry(
                "政策法规",
                "/regulations",
                "建设工程质量检测的法律、法规、规章、规范性文件与标准",
                order=60,
            )
        ],
    },
)
