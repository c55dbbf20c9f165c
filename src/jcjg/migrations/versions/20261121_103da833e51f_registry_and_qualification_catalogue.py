"""registry and qualification catalogue: institutions in full, labs, people, trainings,
capability assessments, assignments, equipment, capabilities, certificates, e-licences,
signatories; specialties, test items, parameters

Revision ID: 103da833e51f
Revises: 932fc163b6d2
Create Date: 2026-11-21 09:01:19.229542
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "103da833e51f"
down_revision: str | None = "932fc163b6d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "specialty",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("min_inspectors", sa.Integer(), nullable=False),
        sa.Column("min_intermediate_titles", sa.Integer(), nullable=False),
        sa.Column("min_senior_titles", sa.Integer(), nullable=False),
        sa.Column("min_registered_engineers", sa.Integer(), nullable=False),
        sa.Column("min_equipment_sets", sa.Integer(), nullable=False),
        sa.Column("min_testing_area_m2", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_specialty")),
        sa.UniqueConstraint("code", name=op.f("uq_specialty_code")),
    )
    op.create_table(
        "test_item",
        sa.Column("specialty_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("standards", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["specialty_id"], ["specialty.id"], name=op.f("fk_test_item_specialty_id_specialty")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_item")),
        sa.UniqueConstraint("code", name=op.f("uq_test_item_code")),
    )
    with op.batch_alter_table("test_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_item_specialty_id"), ["specialty_id"], unique=False
        )

    op.create_table(
        "e_licence",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("blob_digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_e_licence_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_e_licence")),
    )
    with op.batch_alter_table("e_licence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_e_licence_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_e_licence_region_code"), ["region_code"], unique=False)

    op.create_table(
        "lab",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("area_m2", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institution.id"], name=op.f("fk_lab_institution_id_institution")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab")),
    )
    with op.batch_alter_table("lab", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lab_institution_id"), ["institution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lab_region_code"), ["region_code"], unique=False)

    op.create_table(
        "parameter",
        sa.Column("test_item_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["test_item_id"], ["test_item.id"], name=op.f("fk_parameter_test_item_id_test_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parameter")),
        sa.UniqueConstraint("code", name=op.f("uq_parameter_code")),
    )
    with op.batch_alter_table("parameter", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_parameter_test_item_id"), ["test_item_id"], unique=False
        )

    op.create_table(
        "qualification_certificate",
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_qualification_certificate_institution_id_institution"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualification_certificate")),
        sa.UniqueConstraint("number", name=op.f("uq_qualification_certificate_number")),
    )
    with op.batch_alter_table("qualification_certificate", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_qualification_certificate_institution_id"),
            ["institution_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_qualification_certificate_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "capability",
        sa.Column("lab_id", sa.Integer(), nullable=False),
        sa.Column("parameter_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_capability_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(["lab_id"], ["lab.id"], name=op.f("fk_capability_lab_id_lab")),
        sa.ForeignKeyConstraint(
            ["parameter_id"], ["parameter.id"], name=op.f("fk_capability_parameter_id_parameter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capability")),
        sa.UniqueConstraint(
            "lab_id", "parameter_id", name=op.f("uq_capability_lab_id_parameter_id")
        ),
    )
    with op.batch_alter_table("capability", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capability_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_capability_lab_id"), ["lab_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_capability_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "equipment",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("asset_number", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("specification", sa.String(length=100), nullable=True),
        sa.Column("measuring_range", sa.String(length=100), nullable=True),
        sa.Column("accuracy", sa.String(length=64), nullable=True),
        sa.Column("calibration_body", sa.String(length=100), nullable=True),
        sa.Column("calibration_valid_until", sa.Date(), nullable=True),
        sa.Column("self_check_items", sa.String(length=200), nullable=True),
        sa.Column("self_check_method", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lab_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_equipment_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(["lab_id"], ["lab.id"], name=op.f("fk_equipment_lab_id_lab")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment")),
    )
    with op.batch_alter_table("equipment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_equipment_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_equipment_region_code"), ["region_code"], unique=False)

    op.create_table(
        "lab_specialty",
        sa.Column("lab_id", sa.Integer(), nullable=False),
        sa.Column("specialty_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lab_id"], ["lab.id"], name=op.f("fk_lab_specialty_lab_id_lab"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"],
            ["specialty.id"],
            name=op.f("fk_lab_specialty_specialty_id_specialty"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lab_id", "specialty_id", name=op.f("pk_lab_specialty")),
    )
    op.create_table(
        "person",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("education", sa.String(length=32), nullable=True),
        sa.Column("major", sa.String(length=64), nullable=True),
        sa.Column("position", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=16), nullable=False),
        sa.Column("title_major", sa.String(length=64), nullable=True),
        sa.Column("title_certificate_no", sa.String(length=64), nullable=True),
        sa.Column("years_in_testing", sa.Integer(), nullable=False),
        sa.Column("office_phone", sa.String(length=32), nullable=True),
        sa.Column("mobile", sa.String(length=11), nullable=True),
        sa.Column("resume", sa.Text(), nullable=True),
        sa.Column("key_role", sa.String(length=32), nullable=True),
        sa.Column("is_inspector", sa.Boolean(), nullable=False),
        sa.Column("inspector_certificate_no", sa.String(length=64), nullable=True),
        sa.Column("registered_certificate_no", sa.String(length=64), nullable=True),
        sa.Column("registration_kind", sa.String(length=64), nullable=True),
        sa.Column("lab_id", sa.Integer(), nullable=True),
        sa.Column("employed_from", sa.Date(), nullable=True),
        sa.Column("employed_until", sa.Date(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_person_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(["lab_id"], ["lab.id"], name=op.f("fk_person_lab_id_lab")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_id_number"), ["id_number"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_person_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_person_region_code"), ["region_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_person_registered_certificate_no"),
            ["registered_certificate_no"],
            unique=False,
        )

    op.create_table(
        "qualification_certificate_specialty",
        sa.Column("qualification_certificate_id", sa.Integer(), nullable=False),
        sa.Column("specialty_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["qualification_certificate_id"],
            ["qualification_certificate.id"],
            name=op.f(
                "fk_qualification_certificate_specialty_qualification_certificate_id_qualification_certificate"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"],
            ["specialty.id"],
            name=op.f("fk_qualification_certificate_specialty_specialty_id_specialty"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "qualification_certificate_id",
            "specialty_id",
            name=op.f("pk_qualification_certificate_specialty"),
        ),
    )
    op.create_table(
        "assignment",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("specialty_id", sa.Integer(), nullable=False),
        sa.Column("lab_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_assignment_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(["lab_id"], ["lab.id"], name=op.f("fk_assignment_lab_id_lab")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_assignment_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"], ["specialty.id"], name=op.f("fk_assignment_specialty_id_specialty")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assignment_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_assignment_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_assignment_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "capability_assessment",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("specialty_id", sa.Integer(), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=100), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("assessor", sa.String(length=64), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_capability_assessment_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_capability_assessment_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"],
            ["specialty.id"],
            name=op.f("fk_capability_assessment_specialty_id_specialty"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capability_assessment")),
    )
    with op.batch_alter_table("capability_assessment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capability_assessment_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_capability_assessment_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_capability_assessment_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "equipment_test_item",
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("test_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["equipment.id"],
            name=op.f("fk_equipment_test_item_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["test_item_id"],
            ["test_item.id"],
            name=op.f("fk_equipment_test_item_test_item_id_test_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "equipment_id", "test_item_id", name=op.f("pk_equipment_test_item")
        ),
    )
    op.create_table(
        "person_specialty",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("specialty_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_person_specialty_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"],
            ["specialty.id"],
            name=op.f("fk_person_specialty_specialty_id_specialty"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "specialty_id", name=op.f("pk_person_specialty")),
    )
    op.create_table(
        "signatory",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=16), nullable=True),
        sa.Column("lab_id", sa.Integer(), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_signatory_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(["lab_id"], ["lab.id"], name=op.f("fk_signatory_lab_id_lab")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_signatory_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signatory")),
    )
    with op.batch_alter_table("signatory", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signatory_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_signatory_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signatory_region_code"), ["region_code"], unique=False)

    op.create_table(
        "training",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("course", sa.String(length=200), nullable=False),
        sa.Column("organiser", sa.String(length=100), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("hours", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=64), nullable=True),
        sa.Column("certificate_no", sa.String(length=64), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_training_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_training_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training")),
    )
    with op.batch_alter_table("training", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_training_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_training_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_region_code"), ["region_code"], unique=False)

    op.create_table(
        "signatory_specialty",
        sa.Column("signatory_id", sa.Integer(), nullable=False),
        sa.Column("specialty_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signatory_id"],
            ["signatory.id"],
            name=op.f("fk_signatory_specialty_signatory_id_signatory"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["specialty_id"],
            ["specialty.id"],
            name=op.f("fk_signatory_specialty_specialty_id_specialty"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "signatory_id", "specialty_id", name=op.f("pk_signatory_specialty")
        ),
    )
    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.add_column(sa.Column("founded_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("registered_address", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("postcode", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("fax", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column("registration_authority", sa.String(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("registered_capital", sa.Numeric(precision=14, scale=2), nullable=True)
        )
        batch_op.add_column(sa.Column("registration_type", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("investors", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("insured_staff_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("technical_staff_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("intermediate_title_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("senior_title_count", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("equipment_set_count", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("equipment_original_value", sa.Numeric(precision=14, scale=2), nullable=True)
        )
        batch_op.add_column(
            sa.Column("floor_area_m2", sa.Numeric(precision=12, scale=2), nullable=True)
        )
        batch_op.add_column(
            sa.Column("testing_area_m2", sa.Numeric(precision=12, scale=2), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("institution", schema=None) as batch_op:
        batch_op.drop_column("testing_area_m2")
        batch_op.drop_column("floor_area_m2")
        batch_op.drop_column("equipment_original_value")
        batch_op.drop_column("equipment_set_count")
        batch_op.drop_column("senior_title_count")
        batch_op.drop_column("intermediate_title_count")
        batch_op.drop_column("technical_staff_count")
        batch_op.drop_column("insured_staff_count")
        batch_op.drop_column("investors")
        batch_op.drop_column("registration_type")
        batch_op.drop_column("registered_capital")
        batch_op.drop_column("registration_authority")
        batch_op.drop_column("email")
        batch_op.drop_column("fax")
        batch_op.drop_column("postcode")
        batch_op.drop_column("phone")
        batch_op.drop_column("registered_address")
        batch_op.drop_column("founded_date")

    op.drop_table("signatory_specialty")
    with op.batch_alter_table("training", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_region_code"))
        batch_op.drop_index(batch_op.f("ix_training_person_id"))
        batch_op.drop_index(batch_op.f("ix_training_institution_id"))

    op.drop_table("training")
    with op.batch_alter_table("signatory", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signatory_region_code"))
        batch_op.drop_index(batch_op.f("ix_signatory_person_id"))
        batch_op.drop_index(batch_op.f("ix_signatory_institution_id"))

    op.drop_table("signatory")
    op.drop_table("person_specialty")
    op.drop_table("equipment_test_item")
    with op.batch_alter_table("capability_assessment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capability_assessment_region_code"))
        batch_op.drop_index(batch_op.f("ix_capability_assessment_person_id"))
        batch_op.drop_index(batch_op.f("ix_capability_assessment_institution_id"))

    op.drop_table("capability_assessment")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_region_code"))
        batch_op.drop_index(batch_op.f("ix_assignment_person_id"))
        batch_op.drop_index(batch_op.f("ix_assignment_institution_id"))

    op.drop_table("assignment")
    op.drop_table("qualification_certificate_specialty")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_registered_certificate_no"))
        batch_op.drop_index(batch_op.f("ix_person_region_code"))
        batch_op.drop_index(batch_op.f("ix_person_institution_id"))
        batch_op.drop_index(batch_op.f("ix_person_id_number"))

    op.drop_table("person")
    op.drop_table("lab_specialty")
    with op.batch_alter_table("equipment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_equipment_region_code"))
        batch_op.drop_index(batch_op.f("ix_equipment_institution_id"))

    op.drop_table("equipment")
    with op.batch_alter_table("capability", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capability_region_code"))
        batch_op.drop_index(batch_op.f("ix_capability_lab_id"))
        batch_op.drop_index(batch_op.f("ix_capability_institution_id"))

    op.drop_table("capability")
    with op.batch_alter_table("qualification_certificate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qualification_certificate_region_code"))
        batch_op.drop_index(batch_op.f("ix_qualification_certificate_institution_id"))

    op.drop_table("qualification_certificate")
    with op.batch_alter_table("parameter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parameter_test_item_id"))

    op.drop_table("parameter")
    with op.batch_alter_table("lab", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lab_region_code"))
        batch_op.drop_index(batch_op.f("ix_lab_institution_id"))

    op.drop_table("lab")
    with op.batch_alter_table("e_licence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_e_licence_region_code"))
        batch_op.drop_index(batch_op.f("ix_e_licence_institution_id"))

    op.drop_table("e_licence")
    with op.batch_alter_table("test_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_item_specialty_id"))

    op.drop_table("test_item")
    op.drop_table("specialty")
