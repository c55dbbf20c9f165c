"""The identity check (000 4.3.4 item 2; 001 7.1.2): dlib's face comparison accepts two photos
of one person and refuses another's, says when a photo shows no face, judges by the region's
threshold, records what it found, and a failed check raises ``identity_mismatch``.

The faces are two public-domain portraits (src/jcjg/demo/faces/README.md): Eileen Collins,
photographed again (cropped, scaled, turned, lit differently), and Grace Hopper."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.demo.faces import collins, hopper
from jcjg.projects.models import ProjectMember
from jcjg.sampling import identity
from jcjg.sampling.choices import IdentityResult
from jcjg.sampling.identity import DlibMatcher, NotChecked, load_matcher, threshold_for
from jcjg.sampling.models import IdentityCheck, Sample
from tests.factories import photo
from tests.sampling.conftest import Chain

pytestmark = pytest.mark.xdist_group("faces")  # one worker loads the models for all of them


@pytest.fixture(scope="module")
def matcher() -> DlibMatcher:
    return DlibMatcher()


# --- the matcher -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", [1, 2, 3, 5, 8])
def test_two_photos_of_one_person_pass(matcher: DlibMatcher, variant: int):
    outcome = matcher.compare(collins(variant), collins(), threshold=0.6)
    assert outcome.result == IdentityResult.PASSED
    assert outcome.distance is not None
    assert outcome.distance < 0.3
    assert outcome.method == "dlib-resnet-v1"


@pytest.mark.parametrize("enrolled", [0, 4])
def test_another_persons_photo_fails(matcher: DlibMatcher, enrolled: int):
    outcome = matcher.compare(hopper(), collins(enrolled), threshold=0.6)
    assert outcome.result == IdentityResult.FAILED
    assert outcome.distance is not None
    assert outcome.distance > 0.6


@pytest.mark.parametrize(
    "live",
    [photo(1001), b"", b"GIF89a not really", b"\xff\xd8\xff\xe0" + b"\x00" * 64],
    ids=["plain picture", "empty", "not an image", "broken jpeg"],
)
def test_a_photo_without_a_face_is_no_face(matcher: DlibMatcher, live: bytes):
    outcome = matcher.compare(live, collins(), threshold=0.6)
    assert outcome == identity.MatchResult(IdentityResult.NO_FACE, "dlib-resnet-v1")


def test_nothing_to_compare_with_is_not_checked(matcher: DlibMatcher):
    assert matcher.compare(collins(1), None, threshold=0.6).result == IdentityResult.NOT_CHECKED
    # a registered photo without a face cannot be compared with: never "passed"
    no_face = matcher.compare(collins(1), photo(7), threshold=0.6)
    assert no_face.result == IdentityResult.NOT_CHECKED
    assert no_face.distance is None


def test_the_threshold_decides(matcher: DlibMatcher):
    distance = matcher.compare(collins(2), collins(), threshold=0.6).distance
    assert distance is not None
    assert matcher.compare(collins(2), collins(), threshold=distance).result == "passed"
    strict = matcher.compare(collins(2), collins(), threshold=distance - 0.001)
    assert strict.result == IdentityResult.FAILED
    assert strict.distance == distance


def test_a_portrait_taken_sideways_is_turned_upright(matcher: DlibMatcher):
    """Phones store the photo as the sensor saw it, with an EXIF orientation tag."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(collins(1))) as image:
        turned = image.rotate(90, expand=True)
        exif = Image.Exif()
        exif[0x0112] = 6  # "turn 90° clockwise to view"
        out, untagged = io.BytesIO(), io.BytesIO()
        turned.save(out, "JPEG", exif=exif.tobytes())
        turned.save(untagged, "JPEG")
    assert matcher.compare(out.getvalue(), collins(), threshold=0.6).result == "passed"
    # the detector finds upright faces only: without the tag the face is not found
    assert matcher.compare(untagged.getvalue(), collins(), threshold=0.6).result == "no_face"


def test_models_load_once_per_process():
    assert load_matcher("") is load_matcher("")
    assert isinstance(load_matcher(""), DlibMatcher)
    DlibMatcher().descriptor(collins())
    DlibMatcher().descriptor(collins(1))
    assert identity._models.cache_info().misses <= 1


def test_a_deployment_can_turn_comparison_off():
    matcher = load_matcher("jcjg.sampling.identity:NotChecked")
    assert isinstance(matcher, NotChecked)
    assert matcher.compare(collins(1), collins(), threshold=0.6).result == "not_checked"


def test_model_files_are_those_of_the_public_domain_models():
    folder = identity.models_dir()
    assert (folder / "shape_predictor_5_face_landmarks.dat").stat().st_size > 5_000_000
    assert (folder / "dlib_face_recognition_resnet_model_v1.dat").stat().st_size > 20_000_000


def test_without_the_models_package_it_says_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(identity.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(identity.NoFaceModels, match="face_recognition_models 未安装"):
        identity.models_dir()


# --- the threshold by region -------------------------------------------------------------------


def test_threshold_by_region_longest_prefix_wins(settings: Settings):
    assert threshold_for(settings, "360402") == 0.6
    settings.identity_threshold = {"": 0.58, "36": 0.55, "3604": 0.5}
    assert threshold_for(settings, "360402") == 0.5
    assert threshold_for(settings, "360102") == 0.55
    assert threshold_for(settings, "110101") == 0.58


@pytest.mark.parametrize("value", [0, -0.1, 2.5])
def test_settings_refuse_a_threshold_out_of_range(value: float):
    with pytest.raises(ValidationError, match="JCJG_IDENTITY_THRESHOLD"):
        Settings(env="dev", identity_threshold={"36": value})


def test_threshold_read_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JCJG_IDENTITY_THRESHOLD", '{"": 0.58, "3604": 0.5}')
    assert Settings(env="dev").identity_threshold == {"": 0.58, "3604": 0.5}


# --- recorded with the chain, and the rule ------------------------------------------------------


def _enrol(chain: Chain, role: str, portrait: bytes) -> None:
    member = chain.db.scalars(
        select(ProjectMember).where(
            ProjectMember.project_id == chain.project.id, ProjectMember.role == role
        )
    ).one()
    member.photo_sha256 = blob_store(chain.settings).put(portrait)
    chain.db.flush()


def _register(chain: Chain, live: bytes, seed: int) -> Sample:
    return chain.register(
        seed=seed, photos={"sample": photo(seed), "tag": photo(seed + 500), "sampler": live}
    )


def _checks(chain: Chain, sample: Sample) -> dict[str, IdentityCheck]:
    rows = chain.db.scalars(select(IdentityCheck).where(IdentityCheck.sample_id == sample.id))
    return {row.action: row for row in rows}


def _alerts(chain: Chain) -> dict[str, Alert]:
    run_rule(chain.db, "identity_mismatch", project_ids=[chain.project.id])
    rows = chain.db.scalars(
        select(Alert).where(Alert.rule_id == "identity_mismatch", Alert.status == "open")
    )
    return {a.key: a for a in rows}


def test_the_sampler_and_the_witness_pass_and_nothing_fires(chain: Chain):
    _enrol(chain, "sampler", collins())
    _enrol(chain, "witness", collins(6))
    sample = _register(chain, collins(1), seed=61)
    chain.seal(sample, witness_photo=collins(2))
    checks = _checks(chain, sample)
    for action in ("sample:register", "sample:seal"):
        row = checks[action]
        assert row.result == "passed"
        assert row.method == "dlib-resnet-v1"
        assert row.distance is not None
        assert 0 < row.distance <= 0.6
        assert row.threshold == 0.6
        assert row.reference_photo_sha256 is not None
    assert _alerts(chain) == {}


def test_another_person_fails_and_raises_identity_mismatch(chain: Chain):
    _enrol(chain, "sampler", collins())
    _enrol(chain, "witness", collins())
    honest = _register(chain, collins(1), seed=62)
    impostor = _register(chain, hopper(), seed=63)
    chain.seal(honest, witness_photo=photo(5))  # the witness photographed the ceiling
    row = _checks(chain, impostor)["sample:register"]
    assert row.result == "failed"
    assert row.distance is not None
    assert row.distance > 0.6
    alerts = _alerts(chain)
    no_face = _checks(chain, honest)["sample:seal"]
    assert no_face.result == "no_face"
    assert no_face.distance is None
    assert set(alerts) == {f"identity_check:{row.id}", f"identity_check:{no_face.id}"}
    failed = alerts[f"identity_check:{row.id}"]
    assert failed.subject_id == impostor.sample_code
    assert failed.facts["result"] == "核验未通过"
    assert failed.facts["stage"] == "取样登记（取样人员）"
    assert failed.facts["distance"] > failed.facts["threshold"] == 0.6
    assert alerts[f"identity_check:{no_face.id}"].facts["result"] == "未检测到人脸"


def test_the_regions_threshold_is_applied_and_recorded(chain: Chain):
    _enrol(chain, "sampler", collins())
    chain.settings.identity_threshold = {chain.project.region_code[:4]: 0.01}
    sample = _register(chain, collins(5), seed=64)
    row = _checks(chain, sample)["sample:register"]
    assert row.result == "failed"
    assert row.threshold == 0.01
    assert set(_alerts(chain)) == {f"identity_check:{row.id}"}


def test_without_a_registered_photo_nothing_is_claimed_and_nothing_fires(chain: Chain):
    sample = _register(chain, hopper(), seed=65)
    row = _checks(chain, sample)["sample:register"]
    assert (row.result, row.distance, row.threshold) == ("not_checked", None, None)
    assert _alerts(chain) == {}


# --- pages: the result shown, the photos of people masked, unmasked reads audited ---------------

HTML = {"accept": "text/html"}


def test_the_phone_shows_the_sampler_the_result(browser_client, chain: Chain):
    from jcjg.core.db import utcnow
    from tests.factories import login, page_csrf

    _enrol(chain, "sampler", collins())
    chain.db.commit()
    http = login(browser_client, chain.sampler.username)
    path = f"/m/projects/{chain.project.id}"
    token = page_csrf(http, path)
    answers = {}
    for name, live in (("self", collins(3)), ("other", hopper())):
        answers[name] = http.post(
            f"{path}/samples",
            data={
                "csrf_token": token,
                "sample_code": chain.next_code(),
                "material": "混凝土试块",
                "specimen_count": "3",
                "prepared_at": utcnow().astimezone(chain.settings.tz).strftime("%Y-%m-%dT%H:%M"),
                "latitude": "29.7112",
                "longitude": "116.0021",
            },
            files={
                "photo_sample": ("s.jpg", photo(71), "image/jpeg"),
                "photo_tag": ("t.jpg", photo(571), "image/jpeg"),
                "photo_sampler": ("me.jpg", live, "image/jpeg"),
            },
            headers=HTML,
        )
        assert answers[name].status_code == 200, answers[name].text[-1500:]
    assert 'data-testid="identity-result">核验通过' in answers["self"].text
    assert "人脸距离 0." in answers["self"].text
    assert 'data-testid="identity-result">核验未通过' in answers["other"].text
    assert "已预警监督站" in answers["other"].text


def test_person_photos_are_masked_and_each_unmasked_read_audited(browser_client, chain, factory):
    from jcjg.audit.models import AuditLog
    from jcjg.auth.choices import Role
    from tests.factories import login

    _enrol(chain, "sampler", collins())
    sample = _register(chain, hopper(), seed=72)
    check = _checks(chain, sample)["sample:register"]
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400", commit=False)
    lab = factory.user(Role.INSTITUTION_STAFF, commit=False)
    chain.db.commit()

    login(browser_client, chain.sampler.username)
    page = browser_client.get(f"/samples/{sample.sample_code}", headers=HTML)
    assert page.status_code == 200
    assert 'data-testid="identity-result">核验未通过' in page.text
    assert f"人脸距离 {check.distance:.3f}（阈值 0.6）" in page.text
    assert "/photos/sampler" not in page.text  # masked, and no way to unmask
    assert "取样人员照片（个人信息，已隐藏）" in page.text
    for role in ("sampler", "reference"):
        denied = browser_client.get(
            f"/samples/{sample.sample_code}/photos/{role}?check={check.id}", headers=HTML
        )
        assert denied.status_code == 403
    assert browser_client.get(f"/samples/{sample.sample_code}/photos/sample").status_code == 200

    browser_client.cookies.clear()
    login(browser_client, city.username)
    page = browser_client.get(f"/samples/{sample.sample_code}", headers=HTML)
    assert "查看原图（留痕）" in page.text
    assert f"/photos/reference?check={check.id}" in page.text
    before = chain.db.query(AuditLog).filter_by(action="unmask").count()
    live = browser_client.get(f"/samples/{sample.sample_code}/photos/sampler")
    assert live.status_code == 200
    assert live.content == hopper()
    assert live.headers["cache-control"] == "private, no-store"
    enrolled = browser_client.get(
        f"/samples/{sample.sample_code}/photos/reference?check={check.id}"
    )
    assert enrolled.status_code == 200
    assert enrolled.content == collins()
    chain.db.expire_all()
    rows = chain.db.query(AuditLog).filter_by(action="unmask").order_by(AuditLog.id).all()
    assert len(rows) == before + 2
    assert [r.detail for r in rows[-2:]] == ["查看取样人员照片原图", "查看登记人员照片原图"]
    # another sample's check, a check that does not exist, a huge id: not found
    other = _register(chain, collins(1), seed=73)
    chain.db.commit()
    for bad in (str(_checks(chain, other)["sample:register"].id), "999999", "9" * 30, "x"):
        answer = browser_client.get(f"/samples/{sample.sample_code}/photos/reference?check={bad}")
        assert answer.status_code in (400, 404, 422), bad
    # a lab of no concern to the project sees no sample at all
    browser_client.cookies.clear()
    login(browser_client, lab.username)
    assert browser_client.get(f"/samples/{sample.sample_code}/photos/sampler").status_code in (
        403,
        404,
    )


def test_the_station_opens_the_photos_of_people_and_a_lab_does_not(browser_client, chain, factory):
    from jcjg.audit.models import AuditLog
    from jcjg.auth.choices import Role
    from tests.factories import login

    _enrol(chain, "sampler", collins())
    sample = _register(chain, hopper(), seed=74)
    chain.db.commit()
    before = chain.db.query(AuditLog).filter_by(action="unmask").count()
    login(browser_client, chain.station.username)
    page = browser_client.get(f"/samples/{sample.sample_code}", headers=HTML)
    assert "查看原图（留痕）" in page.text
    # the station that reviews identity_mismatch opens them too (audited); the receiving lab not
    receiving = factory.user(Role.INSTITUTION_ADMIN, commit=False)
    chain.db.commit()
    browser_client.cookies.clear()
    login(browser_client, chain.station.username)
    assert browser_client.get(f"/samples/{sample.sample_code}/photos/sampler").status_code == 200
    chain.db.expire_all()
    assert chain.db.query(AuditLog).filter_by(action="unmask").count() == before + 1
    browser_client.cookies.clear()
    login(browser_client, receiving.username)
    assert browser_client.get(f"/samples/{sample.sample_code}/photos/sampler").status_code in (
        403,
        404,
    )
