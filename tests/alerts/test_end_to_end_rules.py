"""The rules fed by the phone pages and the rules driven by time, each from outside: the
sampler, the witness, the lab and the station use the real pages (logged in, with the CSRF
token, as the phone pages' scripts send it), a LIMS the signed exchange; the scheduled jobs'
work then runs with a moved clock (``alerts.sweep`` is ``engine.sweep``, ``exchange.monitor``
runs its two rules; both take ``now=``). Each rule opens its alert for the case that breaks
it, which the station then finds on its alert list, and none for the clean case beside it.

The service-level tests of each rule (thresholds, calendars, edge cases) are in their
domains' tests; ``rectification_order_overdue`` is already driven through its pages in
tests/rectification/test_orders.py."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from jcjg.alerts import engine
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserProject
from jcjg.config import Settings, settings_in_use
from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING
from jcjg.exchange.models import ClientStat
from jcjg.exchange.monitor import Recorder
from jcjg.nonconformity.models import Nonconformity
from jcjg.projects import training
from jcjg.sampling.models import Sample
from tests.exchange.conftest import Lims, make_lims
from tests.factories import catalogue, login, page_csrf, photo
from tests.sampling.conftest import Chain, make_chain, principal_of
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}
SITE = (29.7112, 116.0021)  # the factory's project site
OFF_SITE = (29.7412, 116.0021)  # 3.3 km north


def _as(http: TestClient, user: User, home: str = "/m") -> TestClient:
    """``http`` logged in as ``user``, the page's CSRF token in the header the phone pages'
    scripts send with every form and fetch."""
    http.cookies.clear()
    http.headers.pop("X-CSRF-Token", None)
    login(http, user.username)
    http.headers["X-CSRF-Token"] = page_csrf(http, home)
    return http


def _ok(response, what: str) -> None:
    assert response.status_code in (200, 303), f"{what}: {response.status_code} {response.text}"


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def _register(http: TestClient, chain: Chain, seed: int, minutes_ago: int = 12) -> str:
    """The sampler's phone registers a sample made ``minutes_ago``: its code."""
    code = chain.next_code()
    response = http.post(
        f"/m/projects/{chain.project.id}/samples",
        data={
            "sample_code": code,
            "material": "混凝土试块",
            "specification": "C30",
            "structure_part": "2 层梁板",
            "specimen_count": "3",
            "specimen_size": "150×150×150 mm",
            "prepared_at": _local(utcnow() - dt.timedelta(minutes=minutes_ago)),
            "latitude": f"{SITE[0]:.6f}",
            "longitude": f"{SITE[1]:.6f}",
            "accuracy": "8",
        },
        files={
            "photo_sample": ("sample.jpg", photo(seed), "image/jpeg"),
            "photo_tag": ("tag.jpg", photo(seed + 500), "image/jpeg"),
            "photo_sampler": ("me.jpg", photo(1001), "image/jpeg"),
        },
    )
    _ok(response, f"取样登记 {code}")
    return code


@dataclass
class Seal:
    """A witness's phone: its seal key, enrolled once through /m/keys."""

    http: TestClient
    key: Ed25519PrivateKey
    key_id: str

    @classmethod
    def enrol(cls, http: TestClient) -> Seal:
        key = Ed25519PrivateKey.generate()
        raw = base64.b64encode(key.public_key().public_bytes_raw()).decode()
        response = http.post("/m/keys", json={"public_key": raw, "device": "测试手机"})
        _ok(response, "登记封志密钥")
        return cls(http, key, response.json()["key_id"])

    def seal(self, code: str, seed: int, at: tuple[float, float] = SITE) -> None:
        """Photos and position to the platform, its statement signed on the phone, sent back."""
        prepared = self.http.post(
            f"/m/samples/{code}/seal/prepare",
            data={"key_id": self.key_id, "latitude": f"{at[0]:.6f}",
                  "longitude": f"{at[1]:.6f}", "accuracy": "6"},
            files={"photo_seal": ("seal.jpg", photo(seed, 1), "image/jpeg"),
                   "photo_witness": ("w.jpg", photo(1002), "image/jpeg")},
        )  # fmt: skip
        _ok(prepared, f"封样准备 {code}")
        statement = prepared.json()["statement"]
        signature = self.key.sign(base64.b64decode(statement))
        sealed = self.http.post(
            f"/m/samples/{code}/seal",
            json={"statement": statement, "signature": base64.b64encode(signature).decode()},
        )
        _ok(sealed, f"见证封样 {code}")


def _sweep(db, settings: Settings, at: dt.datetime) -> None:
    """The daily ``alerts.sweep`` job's work with the clock at ``at``, with the app's settings
    as the worker runs it."""
    with settings_in_use(settings):
        result = engine.sweep(db, now=at)
    db.commit()
    assert result.failed == {}


def _open(db, rule_id: str) -> dict[str, Alert]:
    """The rule's open alerts by subject."""
    db.expire_all()
    rows = db.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open"))
    return {a.subject_id: a for a in rows}


def _keys(db, rule_id: str) -> set[str]:
    db.expire_all()
    return set(
        db.scalars(select(Alert.key).where(Alert.rule_id == rule_id, Alert.status == "open"))
    )


def _station_sees(http: TestClient, user: User, rule_id: str, *subjects: str) -> str:
    """The station's alert list filtered to the rule names each subject: the page."""
    _as(http, user, home="/alerts")
    page = http.get(f"/alerts?rule_id={rule_id}", headers=HTML)
    assert page.status_code == 200
    for subject in subjects:
        assert subject in page.text
    return page.text


# --- the phone pages --------------------------------------------------------------------------


@pytest.fixture
def chain(db, settings, factory) -> Chain:
    """A project with its sampler and witness assigned, a station, codes issued."""
    return make_chain(db, settings, factory)


def _sealed_pair(http: TestClient, chain: Chain, *, off_site: bool = False) -> tuple[str, str]:
    """Two samples registered and sealed on the phones: the clean one and the second (sealed
    3 km away when ``off_site``)."""
    _as(http, chain.sampler)
    clean, other = _register(http, chain, 11), _register(http, chain, 12)
    witness = Seal.enrol(_as(http, chain.witness))
    witness.seal(clean, 11)
    witness.seal(other, 12, at=OFF_SITE if off_site else SITE)
    return clean, other


def test_sampling_window_on_the_phones(browser_client: TestClient, chain: Chain) -> None:
    db = chain.db
    db.commit()
    http = _as(browser_client, chain.sampler)
    on_time = _register(http, chain, 21)
    late = _register(http, chain, 22, minutes_ago=50)  # registered 50 minutes after making
    waiting = _register(http, chain, 23)  # never sealed
    Seal.enrol(_as(http, chain.witness)).seal(on_time, 21)
    ids = {c: db.scalars(select(Sample.id).where(Sample.sample_code == c)).one()
           for c in (on_time, late, waiting)}  # fmt: skip
    # at the registration: the late sampler only
    assert _keys(db, "sampling_window") == {f"sampler:{ids[late]}"}
    # two hours on, the unsealed samples have waited past the witness's 30 minutes
    _sweep(db, chain.settings, utcnow() + dt.timedelta(hours=2))
    assert _keys(db, "sampling_window") == {
        f"sampler:{ids[late]}",
        f"witness:{ids[late]}",
        f"witness:{ids[waiting]}",
    }
    page = _station_sees(http, chain.station, "sampling_window", late, waiting)
    assert on_time not in page


def test_witness_off_site_on_the_phones(browser_client: TestClient, chain: Chain) -> None:
    chain.db.commit()
    clean, far = _sealed_pair(browser_client, chain, off_site=True)
    opened = _open(chain.db, "witness_off_site")
    assert set(opened) == {far}  # at the seal
    assert opened[far].facts["distance_m"] > 3000
    _sweep(chain.db, chain.settings, utcnow() + dt.timedelta(days=1))  # the next day's keeps it
    assert set(_open(chain.db, "witness_off_site")) == {far}
    page = _station_sees(browser_client, chain.station, "witness_off_site", far)
    assert clean not in page


def test_witness_not_assigned_on_the_phones(browser_client: TestClient, chain: Chain) -> None:
    # a witness who has the project on the platform but no assignment to it
    stand_in = chain.factory.user(Role.WITNESS, commit=False)
    stand_in.projects.append(UserProject(project_id=chain.project.id))
    chain.db.commit()
    http = _as(browser_client, chain.sampler)
    assigned, covered = _register(http, chain, 31), _register(http, chain, 32)
    Seal.enrol(_as(http, chain.witness)).seal(assigned, 31)
    Seal.enrol(_as(http, stand_in)).seal(covered, 32)
    assert set(_open(chain.db, "witness_not_assigned")) == {covered}
    _sweep(chain.db, chain.settings, utcnow() + dt.timedelta(days=1))
    assert set(_open(chain.db, "witness_not_assigned")) == {covered}
    page = _station_sees(browser_client, chain.station, "witness_not_assigned", covered)
    assert assigned not in page


def test_seal_invalid_after_an_edit_behind_the_pages(
    browser_client: TestClient, chain: Chain
) -> None:
    chain.db.commit()
    intact, edited = _sealed_pair(browser_client, chain)
    assert _open(chain.db, "seal_invalid") == {}
    # an insider with database access changes the sealed sample's perceptual hash
    sample = chain.db.scalars(select(Sample).where(Sample.sample_code == edited)).one()
    changed = f"{int(sample.sample_phash, 16) ^ 0xFFFF0000FFFF:016x}"
    chain.db.execute(update(Sample).where(Sample.id == sample.id).values(sample_phash=changed))
    chain.db.commit()
    assert _open(chain.db, "seal_invalid") == {}
    _sweep(chain.db, chain.settings, utcnow() + dt.timedelta(days=1))  # the night's sweep finds it
    opened = _open(chain.db, "seal_invalid")
    assert set(opened) == {edited}
    page = _station_sees(browser_client, chain.station, "seal_invalid", edited)
    assert intact not in page


def test_sample_photo_mismatch_at_the_labs_receipt_page(
    browser_client: TestClient, chain: Chain
) -> None:
    lab = chain.factory.institution()
    receiver = chain.factory.user(Role.INSTITUTION_STAFF, institution=lab, commit=False)
    chain.db.commit()
    genuine, swapped = _sealed_pair(browser_client, chain)
    http = _as(browser_client, receiver, home="/receipt")
    for code, picture, says in ((genuine, photo(11, 3), "核验通过"), (swapped, photo(77), "拒收")):
        token = page_csrf(http, "/receipt")
        answer = http.post(
            "/receipt",
            headers=HTML,
            data={"csrf_token": token, "sample_code": code, "tag_intact": "1"},
            files={"photo": ("receipt.jpg", picture, "image/jpeg")},
        )
        assert answer.status_code == 200, answer.text
        assert says in answer.text
    _sweep(chain.db, chain.settings, utcnow() + dt.timedelta(hours=1))
    assert set(_open(chain.db, "sample_photo_mismatch")) == {swapped}
    page = _station_sees(browser_client, chain.station, "sample_photo_mismatch", swapped)
    assert genuine not in page


def _trained(chain: Chain, user: User) -> None:
    """The station records the sampler's passed training (no one untrained is assigned)."""
    today = utcnow().astimezone(BEIJING).date()
    training.add_training(
        db=chain.db,
        principal=principal_of(chain.station),
        raw={"username": user.username, "role": "sampler", "course": "见证取样人员上岗培训",
             "organiser": "九江市建设工程质量监督站",
             "start_date": (today - dt.timedelta(days=30)).isoformat(), "hours": 16,
             "exam_score": "85", "passed": True, "certificate_no": f"PX-{user.id:05d}",
             "valid_until": (today + dt.timedelta(days=365)).isoformat()},
    )  # fmt: skip


def test_assignment_change_late_from_the_project_page(
    browser_client: TestClient, chain: Chain
) -> None:
    early = chain.factory.user(Role.SAMPLER, project_ids=(chain.project.id,), commit=False)
    late = chain.factory.user(Role.SAMPLER, project_ids=(chain.project.id,), commit=False)
    for user, name in ((early, "周早报"), (late, "吴迟报")):
        user.display_name = name
        _trained(chain, user)
    chain.db.commit()
    http = _as(browser_client, chain.station, home=f"/projects/{chain.project.id}")
    today = utcnow().astimezone(BEIJING).date()
    # reported tomorrow's change today; and one three weeks ahead, in time whatever the holidays
    for user, starts in ((late, 1), (early, 21)):
        token = page_csrf(http, f"/projects/{chain.project.id}")
        response = http.post(
            f"/projects/{chain.project.id}/members",
            headers=HTML,
            data={"csrf_token": token, "username": user.username, "role": "sampler",
                  "starts_on": (today + dt.timedelta(days=starts)).isoformat()},
        )  # fmt: skip
        assert response.status_code == 303, response.text
    opened = _open(chain.db, "assignment_change_late")
    assert [a.subject_repr for a in opened.values()] == [f"取样人员 {late.display_name}"]
    _sweep(chain.db, chain.settings, utcnow() + dt.timedelta(days=1))
    assert len(_open(chain.db, "assignment_change_late")) == 1
    page = _station_sees(browser_client, chain.station, "assignment_change_late", late.display_name)
    assert early.display_name not in page


# --- the exchange and the clock ---------------------------------------------------------------


def _labs(lims: Lims) -> dict:
    labs = [{"name": "力学室", "address": "建设路 1 号", "area_m2": "120", "specialties": ["01"]}]
    return lims.message(labs=labs)


def _flush(http: TestClient) -> None:
    """The exchange's request tally written to the database (its counters' periodic flush)."""
    recorder: Recorder = http.app.state.exchange_recorder  # type: ignore[attr-defined]
    recorder.flush(http.app.state.sessionmaker)  # type: ignore[attr-defined]


def _monitor(db, at: dt.datetime) -> None:
    """The hourly ``exchange.monitor`` job's rules with the clock at ``at``."""
    for rule_id in ("client_silent", "client_error_spike"):
        engine.run_rule(db, rule_id, now=at)
    db.commit()


@pytest.fixture
def station(factory) -> User:
    return factory.user(Role.STATION, region_code="360400")


def test_client_silent_after_days_without_data(
    client: TestClient, browser_client: TestClient, db, settings, factory, station
) -> None:
    catalogue(db, "01")
    quiet = make_lims(db, settings, factory)
    assert quiet.post(client, "registry.labs", _labs(quiet)).status_code == 200
    _flush(client)
    _monitor(db, utcnow() + dt.timedelta(hours=1))
    assert _open(db, "client_silent") == {}
    later = utcnow() + dt.timedelta(days=21)  # three weeks on, holidays or not
    _monitor(db, later)
    opened = _open(db, "client_silent")
    assert set(opened) == {str(quiet.client.id)}
    _station_sees(browser_client, station, "client_silent", quiet.client.name)
    # it reports again: the alert closes at the next run
    assert quiet.post(client, "registry.labs", _labs(quiet)).status_code == 200
    _flush(client)
    _monitor(db, utcnow() + dt.timedelta(hours=1))
    assert _open(db, "client_silent") == {}


def test_client_error_spike_from_refused_requests(
    client: TestClient, browser_client: TestClient, db, settings, factory, station
) -> None:
    catalogue(db, "01")
    broken, sound = make_lims(db, settings, factory), make_lims(db, settings, factory)
    for n in range(44):
        # a clock decades behind: the signature refused as stale, charged to the client; 40
        # of 44 refused, so that if the run crosses an hour, the hour with most of them holds
        # 22 or more at over 80 %
        if n % 11:
            refused = broken.post(client, "registry.labs", _labs(broken), created=1_000_000)
            assert refused.status_code == 401
        else:
            assert broken.post(client, "registry.labs", _labs(broken)).status_code == 200
        assert sound.post(client, "registry.labs", _labs(sound)).status_code == 200
    _flush(client)
    db.expire_all()
    by_hour = db.execute(
        select(ClientStat.hour, func.sum(ClientStat.count))
        .where(ClientStat.client_id == broken.client.id)
        .group_by(ClientStat.hour)
    ).all()
    hour = max(by_hour, key=lambda row: row[1])[0]
    _monitor(db, hour + dt.timedelta(minutes=59))  # the hourly job's run at that hour's end
    opened = _open(db, "client_error_spike")
    assert set(opened) == {str(broken.client.id)}
    _station_sees(browser_client, station, "client_error_spike", broken.client.name)
    _monitor(db, hour + dt.timedelta(hours=2))  # the window has passed with no more refusals
    assert _open(db, "client_error_spike") == {}


def test_nonconformity_unhandled_unless_closed_on_the_pages(
    client: TestClient, browser_client: TestClient, db, settings, factory, station
) -> None:
    lab = make_lims(db, settings, factory)
    project = factory.project(region_code=lab.institution.region_code, name="滨江花园三期")
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    db.commit()
    for number in ("JL-NC-E1", "JL-NC-E2"):
        record, _ = concrete_record(lab, number=number, peaks=(400.0, 402.0, 398.0),
                                    judgement="nonconforming")  # fmt: skip
        record["project_code"] = project.code
        assert lab.post(client, "test_record", record).status_code == 200
    db.expire_all()
    handled, left = db.scalars(select(Nonconformity).order_by(Nonconformity.id)).all()
    # the lab records its handling, the station closes it
    for user, fields in ((staff, {}), (station, {"close": "1"})):
        _as(browser_client, user, home=f"/nonconformities/{handled.id}")
        token = page_csrf(browser_client, f"/nonconformities/{handled.id}")
        done = browser_client.post(
            f"/nonconformities/{handled.id}",
            data={"csrf_token": token, "handling": "retest", "note": "双倍复检合格", **fields},
        )
        assert done.status_code == 303, done.text
    _sweep(db, settings, utcnow())
    assert _open(db, "nonconformity_unhandled") == {}
    past = dt.datetime.combine(left.deadline + dt.timedelta(days=2), dt.time(12), BEIJING)
    _sweep(db, settings, past)
    opened = _open(db, "nonconformity_unhandled")
    assert set(opened) == {str(left.id)}
    assert opened[str(left.id)].facts["days_over"] == 2
    _station_sees(browser_client, station, "nonconformity_unhandled", f"不合格结果 #{left.id}")
