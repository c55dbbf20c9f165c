"""Reference data by edition: the editions loaded, regions valid from/to an edition with what
replaced them and the history of changes, catalogue rows valid from/to an edition (a code may
now have several rows, one current).

Rows already held (regions and a catalogue loaded by the demo before this revision) keep no
edition until ``jcjg db upgrade`` loads the first one, which adopts them as they are.

Revision ID: 162d688ed1cb
Revises: d009cf0e14c0
Create Date: 2026-11-22 09:13:43.247752
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "162d688ed1cb"
down_revision: str | None = "d009cf0e14c0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reference_edition",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("published_date", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("loaded_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_edition")),
        sa.UniqueConstraint("kind", "code", name=op.f("uq_reference_edition_kind_code")),
    )
    op.create_table(
        "region_change",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("name_before", sa.String(length=64), nullable=True),
        sa.Column("name_after", sa.String(length=64), nullable=True),
        sa.Column("replaced_by", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"], ["region.code"], name=op.f("fk_region_change_code_region")
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["reference_edition.id"],
            name=op.f("fk_region_change_edition_id_reference_edition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_change")),
    )
    with op.batch_alter_table("region_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_region_change_code"), ["code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_region_change_edition_id"), ["edition_id"], unique=False
        )

    with op.batch_alter_table("parameter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("valid_to_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_parameter_code"), type_="unique")
        batch_op.create_index(batch_op.f("ix_parameter_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_parameter_valid_to_id"), ["valid_to_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_parameter_code_valid_from_id"), ["code", "valid_from_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_parameter_valid_from_id_reference_edition"),
            "reference_edition",
            ["valid_from_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_parameter_valid_to_id_reference_edition"),
            "reference_edition",
            ["valid_to_id"],
            ["id"],
        )

    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("valid_to_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("replaced_by", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.create_index(batch_op.f("ix_region_valid_to_id"), ["valid_to_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_region_valid_to_id_reference_edition"),
            "reference_edition",
            ["valid_to_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_region_valid_from_id_reference_edition"),
            "reference_edition",
            ["valid_from_id"],
            ["id"],
        )

    with op.batch_alter_table("specialty", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("valid_to_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_specialty_code"), type_="unique")
        batch_op.create_index(batch_op.f("ix_specialty_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_specialty_valid_to_id"), ["valid_to_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_specialty_code_valid_from_id"), ["code", "valid_from_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_specialty_valid_from_id_reference_edition"),
            "reference_edition",
            ["valid_from_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_specialty_valid_to_id_reference_edition"),
            "reference_edition",
            ["valid_to_id"],
            ["id"],
        )

    with op.batch_alter_table("test_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("valid_to_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_test_item_code"), type_="unique")
        batch_op.create_index(batch_op.f("ix_test_item_code"), ["code"], unique=False)
        batch_op.create_index(batch_op.f("ix_test_item_valid_to_id"), ["valid_to_id"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_test_item_code_valid_from_id"), ["code", "valid_from_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_test_item_valid_to_id_reference_edition"),
            "reference_edition",
            ["valid_to_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_test_item_valid_from_id_reference_edition"),
            "reference_edition",
            ["valid_from_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("test_item", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_test_item_valid_from_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_test_item_valid_to_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_test_item_code_valid_from_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_test_item_valid_to_id"))
        batch_op.drop_index(batch_op.f("ix_test_item_code"))
        batch_op.create_unique_constraint(batch_op.f("uq_test_item_code"), ["code"])
        batch_op.drop_column("valid_to_id")
        batch_op.drop_column("valid_from_id")

    with op.batch_alter_table("specialty", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_specialty_valid_to_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_specialty_valid_from_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_specialty_code_valid_from_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_specialty_valid_to_id"))
        batch_op.drop_index(batch_op.f("ix_specialty_code"))
        batch_op.create_unique_constraint(batch_op.f("uq_specialty_code"), ["code"])
        batch_op.drop_column("valid_to_id")
        batch_op.drop_column("valid_from_id")

    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_region_valid_from_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_region_valid_to_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_region_valid_to_id"))
        batch_op.drop_column("replaced_by")
        batch_op.drop_column("valid_to_id")
        batch_op.drop_column("valid_from_id")

    with op.batch_alter_table("parameter", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_parameter_valid_to_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_parameter_valid_from_id_reference_edition"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_parameter_code_valid_from_id"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_parameter_valid_to_id"))
        batch_op.drop_index(batch_op.f("ix_parameter_code"))
        batch_op.create_unique_constraint(batch_op.f("uq_parameter_code"), ["code"])
        batch_op.drop_column("valid_to_id")
        batch_op.drop_column("valid_from_id")

    with op.batch_alter_table("region_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_region_change_edition_id"))
        batch_op.drop_index(batch_op.f("ix_region_change_code"))

    op.drop_table("region_change")
    op.drop_table("reference_edition")
