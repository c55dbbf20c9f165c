"""training and spot checks: exams and certificates of institution staff (training,
capability_assessment), witnesses' and samplers' training (member_training), stations' spot checks
of who is on duty (spot_check), people's photos (person.photo_sha256)

Revision ID: f4ee1cee8602
Revises: 83075146ed04
Create Date: 2026-11-23 11:18:06.224102
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "f4ee1cee8602"
down_revision: str | None = "83075146ed04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_training",
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("course", sa.String(length=200), nullable=False),
        sa.Column("syllabus", sa.Text(), nullable=True),
        sa.Column("organiser", sa.String(length=100), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("exam_score", sa.Numeric(precision=5, scale=1), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("result", sa.String(length=64), nullable=True),
        sa.Column("certificate_no", sa.String(length=64), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_member_training_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_training")),
    )
    with op.batch_alter_table("member_training", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_member_training_region_code"), ["region_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_member_training_user_id"), ["user_id"], unique=False)

    op.create_table(
        "spot_check",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("found_name", sa.String(length=64), nullable=False),
        sa.Column("is_appointed", sa.Boolean(), nullable=False),
        sa.Column("photo_sha256", sa.String(length=64), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("checked_by", sa.Integer(), nullable=False),
        sa.Column("checked_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checked_by"], ["user_account.id"], name=op.f("fk_spot_check_checked_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["project_member.id"],
            name=op.f("fk_spot_check_member_id_project_member"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_spot_check_project_id_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spot_check")),
    )
    with op.batch_alter_table("spot_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spot_check_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_spot_check_region_code"), ["region_code"], unique=False
        )

    with op.batch_alter_table("capability_assessment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("score", sa.Numeric(precision=5, scale=1), nullable=True))
        batch_op.add_column(sa.Column("valid_until", sa.Date(), nullable=True))

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("photo_sha256", sa.String(length=64), nullable=True))

    with op.batch_alter_table("training", schema=None) as batch_op:
        batch_op.add_column(sa.Column("syllabus", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("exam_score", sa.Numeric(precision=5, scale=1), nullable=True)
        )
        batch_op.add_column(sa.Column("passed", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("valid_until", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training", schema=None) as batch_op:
        batch_op.drop_column("valid_until")
        batch_op.drop_column("passed")
        batch_op.drop_column("exam_score")
        batch_op.drop_column("syllabus")

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("photo_sha256")

    with op.batch_alter_table("capability_assessment", schema=None) as batch_op:
        batch_op.drop_column("valid_until")
        batch_op.drop_column("score")

    with op.batch_alter_table("spot_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spot_check_region_code"))
        batch_op.drop_index(batch_op.f("ix_spot_check_project_id"))

    op.drop_table("spot_check")
    with op.batch_alter_table("member_training", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_training_user_id"))
        batch_op.drop_index(batch_op.f("ix_member_training_region_code"))

    op.drop_table("member_training")
