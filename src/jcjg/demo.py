"""Demo data for ``make run``: the regions, a province (江西省) with two cities, three
institutions (their registration notarised in the log) and one account per role.

Idempotent: a second run adds nothing and prints no password (passwords of accounts it creates
are printed once, never stored in clear)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserProject
from jcjg.auth.passwords import generate_password, hash_password
from jcjg.catalogue.service import load_seed
from jcjg.ledger.service import notarise
from jcjg.regions.service import load_regions
from jcjg.registry.codes import check_character
from jcjg.registry.models import Institution

DEMO_PROVINCE = "360000"  # 江西省


def _credit(first17: str) -> str:
    return first17 + check_character(first17)


INSTITUTIONS = [
    ("JX-JJ-0001", "九江市建设工程质量检测中心", _credit("12360400MB1234567"), "360403"),
    ("JX-JJ-0002", "九江恒信建设工程检测有限公司", _credit("91360402MA3ABCDE1"), "360402"),
    ("JX-NC-0001", "南昌市建科工程检测有限公司", _credit("91360102MA3XYK123"), "360102"),
]


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    region_code: str | None
    institution_code: str | None = None
    project_ids: tuple[int, ...] = ()


USERS = [
    DemoUser("admin", "平台管理员", Role.PLATFORM_ADMIN, None),
    DemoUser("jx_province", "江西省住建厅质安处", Role.PROVINCIAL_AUTHORITY, "360000"),
    DemoUser("jj_city", "九江市住建局", Role.CITY_AUTHORITY, "360400"),
    DemoUser("nc_city", "南昌市住建局", Role.CITY_AUTHORITY, "360100"),
    DemoUser("jj_station", "九江市建设工程质量安全监督站", Role.STATION, "360400"),
    DemoUser("lab_admin", "检测中心管理员", Role.INSTITUTION_ADMIN, "360403", "JX-JJ-0001"),
    DemoUser("lab_staff", "检测中心检测员", Role.INSTITUTION_STAFF, "360403", "JX-JJ-0001"),
    DemoUser("lab2_admin", "恒信检测管理员", Role.INSTITUTION_ADMIN, "360402", "JX-JJ-0002"),
    DemoUser("owner_unit", "建设单位项目负责人", Role.PARTY_UNIT, "360400", project_ids=(1,)),
    DemoUser("witness", "监理见证员", Role.WITNESS, "360400", project_ids=(1,)),
    DemoUser("sampler", "施工取样员", Role.SAMPLER, "360400", project_ids=(1,)),
    DemoUser("expert", "省库专家", Role.EXPERT, "360000"),
    DemoUser("auditor", "省厅审计员", Role.AUDITOR, "360000"),
]


def load(db: Session) -> list[tuple[str, str, str]]:
    """Load what is missing; returns (username, role label, password) of accounts created."""
    load_regions(db=db)
    load_seed(db=db)
    by_code = {i.code: i for i in db.scalars(select(Institution))}
    for code, name, credit, region in INSTITUTIONS:
        if code not in by_code:
            inst = Institution(code=code, name=name, credit_code=credit, region_code=region)
            db.add(inst)
            by_code[code] = inst
            record = {"code": code, "name": name, "credit_code": credit, "region_code": region}
            notarise(db, "institution:register", record)
    db.flush()
    existing = set(db.scalars(select(User.username)))
    created: list[tuple[str, str, str]] = []
    for demo in USERS:
        if demo.username in existing:
            continue
        password = generate_password()
        institution = by_code[demo.institution_code] if demo.institution_code else None
        user = User(
            username=demo.username,
            display_name=demo.display_name,
            role=demo.role.value,
            region_code=demo.region_code,
            institution_id=institution.id if institution else None,
            password_hash=hash_password(password),
        )
        user.projects = [UserProject(project_id=p) for p in demo.project_ids]
        db.add(user)
        created.append((demo.username, demo.role.label, password))
    db.flush()
    return created
