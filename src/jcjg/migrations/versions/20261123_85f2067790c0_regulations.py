"""The regulations the platform cites (title, issuer, number, status), keyed by the code the
rules' clauses use; its rows come with the schema (reference data, not demo).

Revision ID: 85f2067790c0
Revises: 118b4ab610b5
Create Date: 2026-11-23 01:30:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "85f2067790c0"
down_revision: str | None = "118b4ab610b5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# From the documents themselves (../shared/seeds/README.md numbers them 000-004).
ROWS = [
    ("000", "建设工程检测监管信息服务平台技术标准", "中国工程建设标准化协会",
     "T/CECS ×××-202X", "征求意见稿", None),
    ("001", "建设工程质量检测信息管理平台建设与管理规范", "宝鸡市市场监督管理局",
     "DB 6103/T", "征求意见稿", None),
    ("002", "广西壮族自治区建设工程质量检测信息管理办法", "广西壮族自治区住房和城乡建设厅",
     "", "", dt.date(2015, 9, 14)),
    ("003", "关于加强全市建设工程质量检测数据监管的通知", "九江市住房和城乡建设局",
     "九住建质安字〔2024〕80号", "", None),
    ("004", "广东省住房和城乡建设厅关于启用新版广东省建设工程检测监管服务平台的通知",
     "广东省住房和城乡建设厅", "", "", dt.date(2021, 7, 7)),
    ("jz57", "建设工程质量检测管理办法", "住房和城乡建设部", "住房和城乡建设部令第57号", "",
     dt.date(2022, 12, 29)),
]  # fmt: skip


def upgrade() -> None:
    table = op.create_table(
        "regulation",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("issued_date", sa.Date(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regulation")),
        sa.UniqueConstraint("code", name=op.f("uq_regulation_code")),
    )
    keys = ("code", "title", "issuer", "number", "status", "issued_date")
    op.bulk_insert(table, [dict(zip(keys, row, strict=True)) for row in ROWS])


def downgrade() -> None:
    op.drop_table("regulation")
