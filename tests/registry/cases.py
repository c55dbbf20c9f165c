"""The registry domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt
import hashlib

from jcjg.auth.choices import Role
from jcjg.generic.spec import specs
from jcjg.registry.models import ELicence, SigningCertificate
from jcjg.tenancy.models import Institution
from tests.factories import Factory, catalogue, registry_row
from tests.generic import (
    AS,
    AU,
    IA,
    IS_,
    A,
    C,
    Change,
    Make,
    P,
    Routes,
    S,
    ScopeCase,
    region_outsiders,
)


def _registry_case(kind: str) -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict]:
        inst = f.institution(region_code="360403")
        obj = registry_row(f, kind, inst)
        if kind == "licences":
            from jcjg.core.blobs import blob_store

            obj.blob_digest = blob_store(f.settings).put(b"%PDF-1.4 licence")
            f.db.flush()
        f.db.commit()
        return obj.id, {"inst": inst}

    url = (
        "/registry/licences/{id}/file" if kind == "licences" else f"/api/v1/registry/{kind}/{{id}}"
    )
    return ScopeCase(
        make,
        url,
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
        session=kind == "licences",
    )


def _touch(obj: object) -> None:
    """Change one ordinary column of a registry row."""
    for name in ("name", "course", "method", "position", "number", "local_office"):
        if hasattr(obj, name):
            setattr(obj, name, f"改过的{name}")
            return
    if hasattr(obj, "end_date"):
        import datetime as dt

        obj.end_date = dt.date(2030, 1, 1)
        return
    if hasattr(obj, "parameter_id"):  # a capability: point it at another parameter
        from sqlalchemy.orm import object_session

        db = object_session(obj)
        obj.parameter_id = catalogue(db, code="98")[2].id
        return
    raise AssertionError(f"no field to change on {type(obj).__name__}")


def _signing_certificate(f: Factory, inst: Institution | None = None) -> object:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from jcjg.registry.models import Person, SigningCertificate

    inst = inst or f.institution(region_code="360403")
    person = Person(
        institution_id=inst.id, region_code=inst.region_code, name="王签字",
        id_number="360403198001010015",
    )  # fmt: skip
    f.db.add(person)
    f.db.flush()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "王签字")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    der = cert.public_bytes(serialization.Encoding.DER)
    row = SigningCertificate(
        institution_id=inst.id, region_code=inst.region_code, person_id=person.id,
        sha256=hashlib.sha256(der).hexdigest(), subject="CN=王签字", serial_number="1",
        not_before=now, not_after=now + dt.timedelta(days=365), der=der,
    )  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _signing_certificate_case() -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict]:
        inst = f.institution(region_code="360403")
        row = _signing_certificate(f, inst)
        f.db.commit()
        return row.id, {"inst": inst}  # type: ignore[attr-defined]

    return ScopeCase(
        make,
        None,
        region_outsiders,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    )


_KINDS = {kind: spec for kind, spec in specs().items() if not spec.is_institution}
SCOPED: dict[type, ScopeCase] = {spec.model: _registry_case(kind) for kind, spec in _KINDS.items()}
SCOPED[ELicence] = _registry_case("licences")
SCOPED[SigningCertificate] = _signing_certificate_case()

WRITES: dict[type, tuple[Make, Change]] = {
    spec.model: (lambda f, k=kind: registry_row(f, k, f.institution()), _touch)
    for kind, spec in _KINDS.items()
}
WRITES[ELicence] = (
    lambda f: registry_row(f, "licences", f.institution()),
    lambda o: setattr(o, "number", "L-CHANGED"),
)
WRITES[SigningCertificate] = (_signing_certificate, lambda c: setattr(c, "subject", "CN=改名"))


ROUTES: Routes = {
    ("GET", "/registry"): "institution:read",
    ("GET", "/registry/{kind}"): "institution:read",
    ("GET", "/registry/{kind}/{row_id:int}"): "institution:read",
    ("GET", "/registry/{kind}/{row_id:int}/history"): "institution:read",
    ("GET", "/registry/{kind}/export"): "institution:read",
    ("GET", "/registry/institutions/{institution_id}/licences"): "institution:read",
    ("GET", "/institutions/{institution_id}"): "institution:read",
    ("GET", "/institutions"): "institution:read",
    ("GET", "/registry/licences/{licence_id}/file"): "institution:read",
    ("GET", "/api/v1/registry/{kind}"): "institution:read",
    ("GET", "/api/v1/registry/{kind}/fields"): "institution:read",
    ("GET", "/api/v1/registry/{kind}/{row_id:int}"): "institution:read",
    ("GET", "/registry/{kind}/new"): "institution:update",
    ("POST", "/registry/{kind}"): "institution:update",
    ("GET", "/registry/{kind}/{row_id:int}/edit"): "institution:update",
    ("POST", "/registry/{kind}/{row_id:int}"): "institution:update",
    ("POST", "/registry/{kind}/{row_id:int}/delete"): "institution:update",
    ("GET", "/registry/{kind}/import"): "institution:update",
    ("POST", "/registry/{kind}/import"): "institution:update",
    ("GET", "/registry/{kind}/template"): "institution:update",
    ("POST", "/registry/institutions/{institution_id}/licences"): "institution:update",
    ("POST", "/api/v1/registry/{kind}"): "institution:update",
    ("PATCH", "/api/v1/registry/{kind}/{row_id:int}"): "institution:update",
    ("DELETE", "/api/v1/registry/{kind}/{row_id:int}"): "institution:update",
    ("POST", "/registry/{kind}/{row_id:int}/status"): "institution:status",
    ("POST", "/api/v1/registry/{kind}/{row_id:int}/status"): "institution:status",
    ("POST", "/registry/{kind}/{row_id:int}/unmask"): "personal_data:unmask",
    ("GET", "/api/v1/registry/{kind}/{row_id:int}/personal-data"): "personal_data:unmask",
    # a person's photo (blurred; clear with person_photo:view, checked in the endpoint) and
    # training history
    ("GET", "/registry/people/{person_id}/profile"): "institution:read",
    ("GET", "/registry/people/{person_id}/photo"): "institution:read",
    ("POST", "/registry/people/{person_id}/photo"): "institution:update",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "institution:read": frozenset({P, A, C, S, IA, IS_, AU, AS}),
    "institution:create": frozenset({P, A, C}),
    "institution:update": frozenset({P, A, C, IA}),
    "institution:status": frozenset({P, A, C}),
    "person_photo:view": frozenset({P, A, C, S, IA}),
}
