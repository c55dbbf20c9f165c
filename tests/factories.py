"""Test data builders and a login helper."""

from __future__ import annotations

import io
import random
import re
import secrets
from dataclasses import dataclass, field

from fastapi.testclient import TestClient
from PIL import Image, ImageChops
from sqlalchemy import update
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role, ScopeKind
from jcjg.auth.models import User, UserProject
from jcjg.auth.passwords import hash_password
from jcjg.auth.sessions import create_api_token
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.projects.models import Project
from jcjg.registry.codes import check_character
from jcjg.tenancy.models import Institution

PASSWORD = "Jcjg-test-2026"

# A default scope per kind: Jiujiang (九江市) for region roles, a new project there for project
# roles.
DEFAULT_REGION = "360400"


@dataclass
class Factory:
    db: Session
    settings: Settings
    counter: list[int] = field(default_factory=lambda: [0])

    def _next(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    def institution(self, region_code: str = "360403", name: str | None = None) -> Institution:
        n = self._next()
        body = f"91{region_code}MA{n:07d}"[:17].ljust(17, "1")
        inst = Institution(
            code=f"T-{secrets.token_hex(3)}-{n}",
            name=name or f"测试检测机构{n}",
            credit_code=body + check_character(body),
            region_code=region_code,
        )
        self.db.add(inst)
        self.db.flush()
        return inst

    def user(
        self,
        role: Role = Role.PLATFORM_ADMIN,
        *,
        region_code: str | None = None,
        institution: Institution | None = None,
        project_ids: tuple[int, ...] = (),
        password: str = PASSWORD,
        username: str | None = None,
        commit: bool = True,
        **extra: object,
    ) -> User:
        kind = role.scope_kind
        if kind is ScopeKind.INSTITUTION and institution is None:
            institution = self.institution()
        if region_code is None and kind is not ScopeKind.GLOBAL:
            region_code = institution.region_code if institution else DEFAULT_REGION
        if kind is ScopeKind.PROJECT and not project_ids:
            project_ids = (self.project().id,)
        user = User(
            username=username or f"{role.value}_{self._next()}_{secrets.token_hex(2)}",
            role=role.value,
            region_code=region_code,
            institution_id=institution.id if institution else None,
            password_hash=hash_password(password),
            **({"display_name": f"测试{role.label}"} | extra),
        )
        user.projects = [UserProject(project_id=p) for p in project_ids]
        self.db.add(user)
        self.db.flush()
        if commit:
            self.db.commit()
        return user

    def project(self, region_code: str = "360402", **values: object) -> Project:
        n = self._next()
        fields: dict[str, object] = {
            "code": f"XM-{secrets.token_hex(3)}-{n}",
            "name": f"测试工程{n}",
            "site_latitude": 29.7112,
            "site_longitude": 116.0021,
            "site_radius_m": 300,
            "contractor_unit": "测试施工单位",
            "supervisor_unit": "测试监理单位",
        }
        project = Project(region_code=region_code, **(fields | values))
        self.db.add(project)
        self.db.flush()
        return project

    def alert(
        self, institution: Institution, subject: str = "压力试验机 YAW-2000", **values: object
    ) -> Alert:
        """An open alert on a piece of the institution's equipment (a calibration lapsed), as
        the rules raise it; ``values`` override any column."""
        n, now = self._next(), utcnow()
        fields: dict[str, object] = {
            "rule_id": "calibration_expired", "key": f"equipment:{institution.id}:{n}",
            "severity": "critical", "subject_type": "equipment", "subject_id": str(n),
            "subject_repr": subject, "institution_id": institution.id,
            "region_code": institution.region_code, "facts": {"过期天数": 12},
            "first_seen_at": now, "last_seen_at": now,
        }  # fmt: skip
        row = Alert(**(fields | values))
        self.db.add(row)
        self.db.flush()
        return row

    def token(self, user: User) -> str:
        token, _ = create_api_token(db=self.db, settings=self.settings, user=user, name="test")
        self.db.commit()
        return token


def photo(seed: int, variant: int = 0) -> bytes:
    """A JPEG for tests: a 9 × 8 grid of grey blocks drawn from ``seed``, one block per pixel
    of the perceptual hash (dHash), so two seeds give hashes as far apart as random ones (about
    32 of 64 bits; the receipt check allows 12); a ``variant`` > 0 is the same subject taken
    again, a little lighter or darker and moved by a pixel or two, within a few bits."""
    rng = random.Random(seed)
    image = Image.new("L", (9, 8))
    image.putdata([rng.randrange(256) for _ in range(9 * 8)])
    image = image.resize((450, 400), Image.Resampling.NEAREST)
    if variant:
        again = random.Random(seed * 1000 + variant)
        image = ImageChops.offset(image, again.randint(-2, 2), again.randint(-2, 2))
        gain = 1 + again.uniform(-0.05, 0.05)
        image = image.point(lambda v: min(255, int(v * gain)))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Log ``client`` in through the login form, as a browser would."""
    page = client.get("/login", headers={"accept": "text/html"})
    token = csrf_from(page.text)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    return client


def demo_passwords(db: Session) -> None:
    """Every demo account logs in with :data:`PASSWORD` (``jcjg demo load`` prints the
    passwords it makes once, and the run's demo region was loaded before the test began)."""
    from jcjg.demo.load import USERS

    db.execute(
        update(User)
        .where(User.username.in_([u.username for u in USERS]))
        .values(password_hash=hash_password(PASSWORD))
    )
    db.flush()


def page_csrf(client: TestClient, path: str = "/") -> str:
    """The CSRF token of a logged-in page."""
    return csrf_from(client.get(path, headers={"accept": "text/html"}).text)


def all_routes(routes: list) -> list:
    """Every route of the app, looking inside included routers."""
    out = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            out.extend(all_routes(inner.routes))
        else:
            out.append(route)
    return out


def id_number(seed: int, birth: str = "19850312") -> str:
    """A valid 18-character resident ID number (ISO 7064 MOD 11-2 check) from a seed."""
    from jcjg.registry.codes import id_check_character

    first17 = f"360402{birth}{seed % 1000:03d}"
    return first17 + id_check_character(first17)


def catalogue(db: Session, code: str = "99") -> tuple[object, object, object]:
    """A specialty with one test item and one required parameter (codes prefixed ``code``)."""
    from jcjg.catalogue.models import Parameter, Specialty, TestItem

    specialty = db.query(Specialty).filter_by(code=code).first()
    if specialty is None:
        specialty = Specialty(code=code, name=f"测试专项{code}", min_inspectors=2)
        db.add(specialty)
        db.flush()
        item = TestItem(specialty_id=specialty.id, code=f"{code}01", name="测试项目", standards=[])
        db.add(item)
        db.flush()
        db.add(Parameter(test_item_id=item.id, code=f"{code}0101", name="强度", required=True))
        db.flush()
    item = (
        specialty.items[0]
        if specialty.items
        else db.query(TestItem).filter_by(code=f"{code}01").one()
    )
    parameter = (
        item.parameters[0]
        if item.parameters
        else db.query(Parameter).filter_by(code=f"{code}0101").one()
    )
    return specialty, item, parameter


def registry_row(factory: Factory, kind: str, institution: Institution) -> object:  # noqa: PLR0912
    """A valid record of a registry kind for ``institution`` (through the model, flushed)."""
    import datetime as dt

    from jcjg.registry import models as m

    db = factory.db
    specialty, _item, parameter = catalogue(db)
    base = {"institution_id": institution.id, "region_code": institution.region_code}
    n = factory._next()
    if kind == "labs":
        obj = m.Lab(name=f"场所{n}", address="九江市濂溪区测试路1号", area_m2=500, **base)
    elif kind == "people":
        obj = m.Person(name=f"张{n}", id_number=id_number(n), title="intermediate", **base)
    elif kind == "equipment":
        obj = m.Equipment(name=f"压力试验机{n}", status="in_use", **base)
    elif kind == "capabilities":
        lab = registry_row(factory, "labs", institution)
        obj = m.Capability(lab_id=lab.id, parameter_id=parameter.id, **base)
    elif kind == "filings":
        obj = m.InstitutionFiling(
            filing_number=f"BA-{n}-{secrets.token_hex(2)}", filed_region_code="330100",
            valid_from=dt.date(2025, 1, 1), valid_until=dt.date(2099, 1, 1), status="filed",
            **base,
        )  # fmt: skip
    elif kind == "certificates":
        obj = m.QualificationCertificate(
            number=f"CERT-{n}-{secrets.token_hex(2)}",
            issued_by="江西省住房和城乡建设厅",
            issue_date=dt.date(2024, 1, 1),
            valid_until=dt.date(2029, 1, 1),
            **base,
        )
    elif kind in ("trainings", "assessments", "assignments", "signatories"):
        person = registry_row(factory, "people", institution)
        if kind == "trainings":
            obj = m.Training(
                person_id=person.id, course="混凝土检测", start_date=dt.date(2025, 3, 1), **base
            )
        elif kind == "assessments":
            obj = m.CapabilityAssessment(
                person_id=person.id,
                specialty_id=specialty.id,
                assessed_on=dt.date(2025, 4, 1),
                method="盲样考核",
                result="passed",
                **base,
            )
        elif kind == "assignments":
            obj = m.Assignment(
                person_id=person.id,
                specialty_id=specialty.id,
                start_date=dt.date(2025, 5, 1),
                **base,
            )
        else:
            obj = m.Signatory(person_id=person.id, position="技术负责人", **base)
    elif kind == "licences":
        obj = m.ELicence(
            kind="certificate",
            number=f"L{n}",
            filename="证书.pdf",
            content_type="application/pdf",
            blob_digest="0" * 64,
            size=1,
            **base,
        )
    else:
        raise ValueError(kind)
    db.add(obj)
    db.flush()
    return obj


def camera(factory: Factory, institution: Institution, **values: object) -> object:
    """A camera of ``institution`` (a mechanical-testing bullet camera unless ``values`` say
    otherwise), flushed."""
    from jcjg.video.models import Camera

    n = factory._next()
    fields: dict[str, object] = {
        "institution_id": institution.id, "region_code": institution.region_code,
        "code": f"CAM-{n}", "name": f"摄像机{n}", "place_kind": "mechanical",
        "stream_url": f"rtsp://127.0.0.1:8554/cam{n}",
    }  # fmt: skip
    row = Camera(**(fields | values))
    factory.db.add(row)
    factory.db.flush()
    return row


def recorded(db: Session, cam: object, start: object, seconds: float, step: float = 4.0) -> list:
    """Segments of ``cam`` from ``start`` for ``seconds`` (``step`` each), entered as the
    recorder enters them, with fake files (no video)."""
    import datetime as dt

    from jcjg.video import segments

    assert isinstance(start, dt.datetime)
    rows, offset = [], 0.0
    while offset < seconds:
        length = min(step, seconds - offset)
        at = start + dt.timedelta(seconds=offset)
        rows.append(segments.ingest(db, camera=cam, relative_path=f"fake/{at:%H%M%S%f}.ts",
                                    started_at=at, duration_s=length, sha256="0" * 64,
                                    size_bytes=1))  # fmt: skip
        offset += length
    return rows
