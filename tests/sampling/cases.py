"""The sampling domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.projects.models import Project, ProjectMember
from jcjg.sampling import service as sampling_service
from jcjg.sampling.models import (
    Commission,
    ConcretePour,
    IdentityCheck,
    Sample,
    SampleCode,
    SampleCodeBatch,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from tests.factories import Factory, photo
from tests.generic import (
    AU,
    IA,
    IS_,
    PU,
    PUBLIC,
    SA,
    A,
    C,
    Change,
    Make,
    P,
    Routes,
    S,
    ScopeCase,
    W,
)


def chain_case(model: type) -> ScopeCase:
    """An object of the sampling chain in a project of 九江: a witness of another project, a
    station of 南昌 and another institution's staff do not find it; the project's witness does."""

    def make(f: Factory) -> tuple[int, dict]:
        from tests.sampling.conftest import make_chain

        chain = make_chain(f.db, f.settings, f)
        sample = chain.register()
        chain.seal(sample)
        lab = f.institution()
        commission = Commission(
            institution_id=lab.id,
            region_code=chain.project.region_code,
            project_id=chain.project.id,
            number="WT-SCOPE",
            year=2026,
            seq=1,
            commissioned_on=sample.sampled_at.date(),
        )
        f.db.add(commission)
        f.db.flush()
        receipt = sampling_service.check_receipt(
            db=f.db,
            settings=f.settings,
            data=sampling_service.ReceiptInput(
                sample_code=sample.sample_code, institution=lab, photo=photo(1, 1)
            ),
            now=sample.sampled_at,
        )
        objects = {
            Project: chain.project,
            ProjectMember: f.db.scalars(
                select(ProjectMember).where(ProjectMember.project_id == chain.project.id)
            ).first(),
            SampleCodeBatch: f.db.scalars(
                select(SampleCodeBatch).where(SampleCodeBatch.project_id == chain.project.id)
            ).first(),
            SampleCode: f.db.scalars(
                select(SampleCode).where(SampleCode.code == sample.sample_code)
            ).one(),
            Sample: sample,
            WitnessKey: f.db.scalars(
                select(WitnessKey).where(WitnessKey.key_id == chain.key_id)
            ).one(),
            SampleSeal: f.db.scalars(
                select(SampleSeal).where(SampleSeal.sample_id == sample.id)
            ).one(),
            WitnessRecord: f.db.scalars(
                select(WitnessRecord).where(WitnessRecord.sample_id == sample.id)
            ).one(),
            IdentityCheck: f.db.scalars(
                select(IdentityCheck).where(IdentityCheck.sample_id == sample.id)
            ).first(),
            Commission: commission,
            SampleReceipt: receipt,
            ConcretePour: _pour(f, chain.project, chain.sampler.id),
        }
        f.db.commit()
        return objects[model].id, {"witness": chain.witness}

    def outsiders(f: Factory, info: dict) -> list:
        # a lab reads samples, not projects: for a project's rows, a party of another project
        other = (
            Role.INSTITUTION_STAFF if model.__permission_entity__ == "sample" else Role.PARTY_UNIT
        )
        return [
            f.user(Role.WITNESS),  # assigned to another project
            f.user(Role.STATION, region_code="360100"),
            f.user(other),
        ]

    return ScopeCase(make, None, outsiders, lambda f, i: i["witness"])


def _bare_batch(f: Factory) -> SampleCodeBatch:
    project = f.project()
    batch = SampleCodeBatch(
        project_id=project.id, region_code=project.region_code, year=2026, first_serial=1, count=1
    )
    f.db.add(batch)
    return batch


def _bare_sample(f: Factory) -> Sample:
    project = f.project()
    user = f.user(Role.SAMPLER, project_ids=(project.id,), commit=False)
    sample = Sample(
        sample_code=f"3604022600{f._next():05d}X",
        project_id=project.id,
        region_code=project.region_code,
        material="混凝土试块",
        prepared_at=dt.datetime(2026, 11, 18, tzinfo=dt.UTC),
        sampler_user_id=user.id,
        photo_sample_sha256="a" * 64,
        photo_tag_sha256="b" * 64,
        photo_person_sha256="c" * 64,
        sample_phash="0" * 16,
    )
    f.db.add(sample)
    return sample


def _pour(f: Factory, project: Project, user_id: int) -> ConcretePour:
    at = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)
    pour = ConcretePour(project_id=project.id, region_code=project.region_code,
                        structure_part="3 层梁板", grade="C30", volume_m3=120.0, started_at=at,
                        ended_at=at + dt.timedelta(hours=3), recorded_by=user_id)  # fmt: skip
    f.db.add(pour)
    f.db.flush()
    return pour


def _bare_pour(f: Factory) -> ConcretePour:
    project = f.project()
    return _pour(f, project, f.user(Role.SAMPLER, project_ids=(project.id,), commit=False).id)


def _bare_key(f: Factory) -> WitnessKey:
    user = f.user(Role.WITNESS, commit=False)
    key = WitnessKey(user_id=user.id, key_id=f"{f._next():064d}", public_key=b"k" * 32)
    f.db.add(key)
    return key


def _bare_commission(f: Factory) -> Commission:
    project, lab = f.project(), f.institution()
    commission = Commission(
        institution_id=lab.id,
        region_code=project.region_code,
        project_id=project.id,
        number=f"WT-{f._next()}",
        year=2026,
        seq=1,
        commissioned_on=dt.date(2026, 11, 18),
    )
    f.db.add(commission)
    return commission


SCOPED: dict[type, ScopeCase] = {
    model: chain_case(model)
    for model in (
        SampleCodeBatch,
        SampleCode,
        Sample,
        WitnessKey,
        SampleSeal,
        WitnessRecord,
        IdentityCheck,
        Commission,
        SampleReceipt,
        ConcretePour,
    )
}

WRITES: dict[type, tuple[Make, Change]] = {
    SampleCodeBatch: (_bare_batch, lambda b: setattr(b, "count", 2)),
    Sample: (_bare_sample, lambda s: setattr(s, "structure_part", "2 层柱")),
    WitnessKey: (_bare_key, lambda k: setattr(k, "device", "新手机")),
    Commission: (_bare_commission, lambda c: setattr(c, "client_unit", "新委托单位")),
    ConcretePour: (_bare_pour, lambda p: setattr(p, "volume_m3", 150.0)),
}


ROUTES: Routes = {
    ("POST", "/projects/{project_id}/codes"): "sample:issue_codes",
    ("GET", "/projects/{project_id}/codes/{batch_id}.pdf"): "sample:issue_codes",
    ("GET", "/samples"): "sample:read",
    ("GET", "/samples/{code}"): "sample:read",
    ("GET", "/samples/{code}/photos/{role}"): "sample:read",
    ("GET", "/photo-prints/{print_id}/compare/{other_id}"): "sample:read",
    ("GET", "/samples/{code}/witness-record.pdf"): "sample:read",
    ("GET", "/samples/{code}/witness-record.json"): "sample:read",
    ("GET", "/commissions"): "sample:read",
    ("GET", "/commissions/{commission_id}"): "sample:read",
    ("GET", "/receipt"): "sample:receive",
    ("POST", "/receipt"): "sample:receive",
    ("GET", "/m"): "project:read",
    ("GET", "/m/projects/{project_id}"): "project:read",
    ("POST", "/m/projects/{project_id}/samples"): "sample:register",
    ("POST", "/m/projects/{project_id}/pours"): "sample:register",
    ("GET", "/pours/{pour_id}"): "sample:read",
    ("GET", "/m/keys"): "sample:seal",
    ("GET", "/m/kept-photos/{token}"): "sample:register",
    ("POST", "/m/keys"): "sample:seal",
    ("POST", "/m/keys/{key_id}/revoke"): "sample:seal",
    ("GET", "/witnesses/{user_id}/keys"): "sample:revoke_key",
    ("POST", "/witnesses/{user_id}/keys/{key_id}/revoke"): "sample:revoke_key",
    ("GET", "/m/samples/{code}/seal"): "sample:seal",
    ("POST", "/m/samples/{code}/seal/prepare"): "sample:seal",
    ("POST", "/m/samples/{code}/seal"): "sample:seal",
    ("GET", "/s/{code}"): PUBLIC,
    ("GET", "/w/{token}"): PUBLIC,
    ("GET", "/witness-keys/{key_id}"): PUBLIC,
    # the same chain by API (a vendor's site app, a witness app)
    ("GET", "/api/v1/sampling/projects"): "project:read",
    ("GET", "/api/v1/projects/{project_id}/pours"): "project:read",
    ("POST", "/api/v1/projects/{project_id}/pours"): "sample:register",
    ("POST", "/api/v1/projects/{project_id}/samples"): "sample:register",
    ("GET", "/api/v1/samples/{code}"): "sample:read",
    ("GET", "/api/v1/witness-keys"): "sample:seal",
    ("POST", "/api/v1/witness-keys"): "sample:seal",
    ("POST", "/api/v1/witness-keys/{key_id}/revoke"): "sample:seal",
    ("POST", "/api/v1/witnesses/{user_id}/keys/{key_id}/revoke"): "sample:revoke_key",
    ("POST", "/api/v1/samples/{code}/seal/statement"): "sample:seal",
    ("POST", "/api/v1/samples/{code}/seal"): "sample:seal",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "sample:read": frozenset({P, A, C, S, IA, IS_, PU, W, SA, AU}),
    "sample:issue_codes": frozenset({P, S, PU}),
    "sample:register": frozenset({P, SA}),
    "sample:seal": frozenset({P, W}),
    "sample:receive": frozenset({P, IA, IS_}),
    "sample:revoke_key": frozenset({P, A, C, S}),
}
