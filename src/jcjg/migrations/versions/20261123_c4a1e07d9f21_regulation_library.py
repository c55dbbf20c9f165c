"""The regulation library: level, issuing region, effective and repeal dates, status as a fixed
set (in force, draft, repealed, replaced), replaced-by, full text or a file, a note. The rows
the rules cite get their level, region and dates, the source documents 000-004 their full text
(``catalogue/data/regulations/``), the regulation and standards the rules cite by number are
added with the versions they replaced; the penalty basis ``JCGL57`` (a second row for the same
rule as ``jz57``) becomes ``jz57``.

Revision ID: c4a1e07d9f21
Revises: bcbe63da03d6
Create Date: 2026-11-23 18:40:00
"""

import datetime as dt
from collections.abc import Sequence
from importlib import resources

import sqlalchemy as sa
from alembic import op

revision: str = "c4a1e07d9f21"
down_revision: str | None = "bcbe63da03d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

D = dt.date
# code: level, issuing region, status, issued, effective, repealed
EXISTING = {
    "000": ("group_standard", "", "draft", None, None, None),
    "001": ("local_standard", "610300", "draft", None, None, None),
    "002": ("normative_document", "450000", "in_force", D(2015, 9, 14), None, None),
    "003": ("normative_document", "360400", "in_force", D(2024, 10, 18), None, None),
    "004": ("normative_document", "440000", "in_force", D(2021, 7, 7), None, None),
    "jz57": ("departmental_rule", "", "in_force", D(2022, 12, 29), D(2023, 3, 1), None),
    "XZCFF": ("law", "", "in_force", D(2021, 1, 22), D(2021, 7, 15), None),
    "JSGCZL": ("administrative_regulation", "", "in_force", D(2000, 1, 30), D(2000, 1, 30), None),
}  # fmt: skip
# code, title, issuer, number, level, status, issued, effective, repealed, replaced by
ADDED = [
    ("jz141", "建设工程质量检测管理办法", "建设部", "建设部令第141号", "departmental_rule",
     "replaced", D(2005, 9, 28), D(2005, 11, 1), D(2023, 3, 1), "jz57"),
    ("GB/T 50081-2019", "混凝土物理力学性能试验方法标准", "住房和城乡建设部、国家市场监督管理总局",
     "GB/T 50081-2019", "national_standard", "in_force", D(2019, 6, 19), D(2019, 12, 1), None,
     None),
    ("GB/T 50081-2002", "普通混凝土力学性能试验方法标准", "建设部、国家质量监督检验检疫总局",
     "GB/T 50081-2002", "national_standard", "replaced", None, None, D(2019, 12, 1),
     "GB/T 50081-2019"),
    ("GB/T 17671-2021", "水泥胶砂强度检验方法（ISO法）", "国家市场监督管理总局、国家标准化管理委员会",
     "GB/T 17671-2021", "national_standard", "in_force", D(2021, 8, 20), D(2022, 3, 1), None,
     None),
    ("GB/T 17671-1999", "水泥胶砂强度检验方法（ISO法）", "国家质量技术监督局", "GB/T 17671-1999",
     "national_standard", "replaced", None, None, D(2022, 3, 1), "GB/T 17671-2021"),
    ("GB/T 228.1-2021", "金属材料 拉伸试验 第1部分：室温试验方法",
     "国家市场监督管理总局、国家标准化管理委员会", "GB/T 228.1-2021", "national_standard",
     "in_force", None, None, None, None),
    ("GB/T 1499.1-2024", "钢筋混凝土用钢 第1部分：热轧光圆钢筋",
     "国家市场监督管理总局、国家标准化管理委员会", "GB/T 1499.1-2024", "national_standard",
     "in_force", None, None, None, None),
    ("GB/T 1499.2-2024", "钢筋混凝土用钢 第2部分：热轧带肋钢筋",
     "国家市场监督管理总局、国家标准化管理委员会", "GB/T 1499.2-2024", "national_standard",
     "in_force", None, None, None, None),
    ("GB 175-2023", "通用硅酸盐水泥", "国家市场监督管理总局、国家标准化管理委员会", "GB 175-2023",
     "national_standard", "in_force", None, None, None, None),
    ("GB/T 50107-2010", "混凝土强度检验评定标准", "住房和城乡建设部、国家质量监督检验检疫总局",
     "GB/T 50107-2010", "national_standard", "in_force", None, None, None, None),
    ("GB 50204-2015", "混凝土结构工程施工质量验收规范", "住房和城乡建设部、国家质量监督检验检疫总局",
     "GB 50204-2015", "national_standard", "in_force", None, None, None, None),
    ("JGJ/T 23-2011", "回弹法检测混凝土抗压强度技术规程", "住房和城乡建设部", "JGJ/T 23-2011",
     "industry_standard", "in_force", None, None, None, None),
]  # fmt: skip

TABLE = sa.table(
    "regulation",
    sa.column("id", sa.Integer), sa.column("code", sa.String), sa.column("title", sa.String),
    sa.column("issuer", sa.String), sa.column("number", sa.String),
    sa.column("status", sa.String), sa.column("issued_date", sa.Date),
    sa.column("level", sa.String), sa.column("region_code", sa.String),
    sa.column("effective_date", sa.Date), sa.column("repealed_date", sa.Date),
    sa.column("replaced_by_id", sa.Integer), sa.column("full_text", sa.Text),
    sa.column("file_name", sa.String), sa.column("note", sa.Text),
)  # fmt: skip


def _text(code: str) -> str:
    source = resources.files("jcjg.catalogue").joinpath(f"data/regulations/{code}.txt")
    return source.read_text(encoding="utf-8").strip() if source.is_file() else ""


def upgrade() -> None:
    with op.batch_alter_table("regulation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("level", sa.String(length=32), nullable=False,
                                      server_default="normative_document"))  # fmt: skip
        batch_op.add_column(
            sa.Column("region_code", sa.String(length=6), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("effective_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("repealed_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("replaced_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("full_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("file_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("file_name", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_regulation_level"), ["level"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_regulation_region_code"), ["region_code"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_regulation_replaced_by_id_regulation"), "regulation",
            ["replaced_by_id"], ["id"],
        )  # fmt: skip
    with op.batch_alter_table("regulation", schema=None) as batch_op:
        for name in ("level", "region_code", "full_text", "file_name", "note"):
            batch_op.alter_column(name, server_default=None)
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE penalty SET basis_code = 'jz57' WHERE basis_code = 'JCGL57'"))
    bind.execute(sa.text("DELETE FROM regulation WHERE code = 'JCGL57'"))
    bind.execute(sa.text("UPDATE regulation SET status = 'in_force' WHERE status IN ('', '现行')"))
    bind.execute(sa.text("UPDATE regulation SET status = 'draft' WHERE status = '征求意见稿'"))
    for code, (level, region, status, issued, effective, repealed) in EXISTING.items():
        bind.execute(
            TABLE.update().where(TABLE.c.code == code).values(
                level=level, region_code=region, status=status, issued_date=issued,
                effective_date=effective, repealed_date=repealed, full_text=_text(code),
            )
        )  # fmt: skip
    op.bulk_insert(
        TABLE,
        [
            {
                "code": c, "title": t, "issuer": i, "number": n, "level": lv, "status": st,
                "issued_date": iss, "effective_date": eff, "repealed_date": rep,
                "region_code": "", "full_text": "", "file_name": "", "note": "",
            }
            for c, t, i, n, lv, st, iss, eff, rep, _ in ADDED
        ],
    )  # fmt: skip
    ids = {code: id_ for code, id_ in bind.execute(sa.select(TABLE.c.code, TABLE.c.id))}
    for code, *_, replaced_by in ADDED:
        if replaced_by:
            bind.execute(
                TABLE.update().where(TABLE.c.code == code).values(replaced_by_id=ids[replaced_by])
            )


def downgrade() -> None:
    bind = op.get_bind()
    codes = [row[0] for row in ADDED]
    bind.execute(TABLE.update().values(replaced_by_id=None))
    op.execute(sa.text("DELETE FROM regulation WHERE code IN :codes").bindparams(
        sa.bindparam("codes", expanding=True, value=codes)))  # fmt: skip
    bind.execute(sa.text("UPDATE regulation SET status = '' WHERE status = 'in_force'"))
    bind.execute(sa.text("UPDATE regulation SET status = '征求意见稿' WHERE status = 'draft'"))
    with op.batch_alter_table("regulation", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_regulation_replaced_by_id_regulation"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_regulation_region_code"))
        batch_op.drop_index(batch_op.f("ix_regulation_level"))
        for name in ("note", "file_name", "file_sha256", "full_text", "replaced_by_id",
                     "repealed_date", "effective_date", "region_code", "level"):  # fmt: skip
            batch_op.drop_column(name)
    op.bulk_insert(
        sa.table("regulation", sa.column("code", sa.String), sa.column("title", sa.String),
                 sa.column("issuer", sa.String), sa.column("number", sa.String),
                 sa.column("status", sa.String), sa.column("issued_date", sa.Date)),
        [{"code": "JCGL57", "title": "建设工程质量检测管理办法", "issuer": "住房和城乡建设部",
          "number": "住房和城乡建设部令第57号", "status": "现行",
          "issued_date": D(2022, 12, 29)}],
    )  # fmt: skip
