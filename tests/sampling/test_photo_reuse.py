"""``photo_reuse``: a photo taken for one sample uploaded again for another, as the same file or
the same picture saved again, is found through the photo index; photos of other specimens, a
sample's own photos (its receipt photo shows its own cubes) and portraits of different roles
are not."""

from __future__ import annotations

import datetime as dt
import io

from PIL import Image
from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.demo.sampling import recompressed
from jcjg.sampling import reuse
from jcjg.sampling.models import PhotoPrint
from tests.factories import photo
from tests.sampling.conftest import NOW


def _open(db) -> dict[str, Alert]:
    db.expire_all()
    stmt = select(Alert).where(Alert.rule_id == "photo_reuse", Alert.status == "open")
    return {a.subject_number or "": a for a in db.scalars(stmt)}


def _swept(db, at: dt.datetime) -> dict[str, Alert]:
    """The open alerts after what was written is committed and the rule swept at ``at``."""
    db.commit()
    run_rule(db, "photo_reuse", now=at)
    db.commit()
    return _open(db)


def test_bands_split_the_hash_and_near_copies_share_one():
    assert reuse.bands("0123456789abcdef") == (0xCDEF, 0x89AB, 0x4567, 0x0123)
    assert reuse.bands(None) == (None, None, None, None)
    # three bits apart in three bands: the fourth band is the same
    a, b = "0123456789abcdef", f"{0x0123456789ABCDEF ^ 0x0001000100010000:016x}"
    assert sum(x == y for x, y in zip(reuse.bands(a), reuse.bands(b), strict=True)) == 1


def test_a_flat_frame_has_no_bands_and_is_compared_by_its_file_only():
    """A blank, dark or burnt-out frame's dHash is (almost) all 0 or all 1 bits: as near to
    every other flat frame as to its own copies, so it is not banded nor compared by it."""
    for flat in ("0000000000000000", "ffffffffffffffff", "000000000000000f", "fff0ffffffffffff"):
        assert not reuse.informative(flat)
        assert reuse.bands(flat) == (None, None, None, None)
    assert reuse.informative("000000000000001f")
    assert reuse.informative("0123456789abcdef")
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    dark, darker = (
        PhotoPrint(id=i, kind="sample", sha256=sha, phash="0000000000000000", taken_at=at)
        for i, sha in ((1, "a" * 64), (2, "b" * 64))
    )
    assert reuse.same_picture(dark, darker, 3) is None
    darker.sha256 = dark.sha256
    assert reuse.same_picture(dark, darker, 3) == 0


def test_two_different_dark_frames_are_not_one_photo_the_same_file_is(chain):
    db = chain.db

    def frame(grey: int) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (640, 480), (grey, grey, grey)).save(out, "JPEG", quality=90)
        return out.getvalue()

    chain.register(seed=60, photos={"sample": frame(8), "tag": photo(560), "sampler": photo(1500)})
    other = chain.register(
        seed=61,
        at=NOW + dt.timedelta(hours=1),
        photos={"sample": frame(14), "tag": photo(561), "sampler": photo(1501)},
    )
    db.commit()
    prints = db.scalars(select(PhotoPrint).where(PhotoPrint.kind == "sample")).all()
    assert not any(reuse.informative(p.phash) for p in prints)
    assert other.sample_code not in _swept(db, NOW + dt.timedelta(hours=2))
    again = chain.register(
        seed=62,
        at=NOW + dt.timedelta(hours=2),
        photos={"sample": frame(14), "tag": photo(562), "sampler": photo(1502)},
    )
    (line,) = _swept(db, NOW + dt.timedelta(hours=3))[again.sample_code].facts["相同的照片"]
    assert f"样品 {other.sample_code} 的样品照片" in line
    assert "文件完全相同" in line


def test_a_file_under_many_samples_costs_each_a_bounded_search(db, monkeypatch):
    """One file entered under SOUGHT + 30 subjects: each later one is flagged, compared with
    the SOUGHT latest before it, not with every earlier one; the count says "at least"."""
    compared = []
    same_picture = reuse.same_picture
    monkeypatch.setattr(
        reuse, "same_picture", lambda a, b, d: compared.append(1) or same_picture(a, b, d)
    )
    n = reuse.SOUGHT + 30
    for i in range(n):
        reuse.add_prints(
            db, subject_type="onsite_record", subject_id=90_000 + i, label=f"XC-{i:04d}",
            region_code="360402", taken_at=NOW + dt.timedelta(minutes=i),
            photos=[("onsite", "c" * 64, None)],
        )  # fmt: skip
    db.commit()
    run_rule(db, "photo_reuse", now=NOW + dt.timedelta(days=1))
    db.commit()
    alerts = _open(db)
    assert len(alerts) == n - 1  # all but the first
    assert len(compared) == sum(min(i, reuse.SOUGHT) for i in range(n))
    assert alerts["XC-0001"].facts["相同照片数"] == 1
    assert alerts[f"XC-{reuse.SOUGHT:04d}"].facts["相同照片数"] == reuse.SOUGHT
    last = alerts[f"XC-{n - 1:04d}"].facts
    assert last["相同照片数"] == f"{reuse.SOUGHT} 以上"
    assert len(last["相同的照片"]) == 20
    assert f"XC-{n - 2:04d}" in last["相同的照片"][0]  # the latest first


def test_a_portrait_is_not_crowded_out_by_scene_photos_of_its_file(db):
    """Only photos of one family can be the same picture, so the latest photos a portrait is
    compared with are portraits of its role: a file re-used as the sampler's portrait of two
    samples is found though it was uploaded as a scene photo of SOUGHT + 20 records between."""

    def entered(subject_type: str, subject_id: int, kind: str, minutes: int) -> None:
        reuse.add_prints(
            db, subject_type=subject_type, subject_id=subject_id, label=f"{kind}-{subject_id}",
            region_code="360402", taken_at=NOW + dt.timedelta(minutes=minutes),
            photos=[(kind, "9" * 64, None)],
        )  # fmt: skip

    entered("sample", 70_001, "sampler", 0)
    for n in range(reuse.SOUGHT + 20):
        entered("onsite_record", 71_000 + n, "onsite", 1 + n)
    entered("sample", 70_002, "sampler", reuse.SOUGHT + 30)
    facts = _swept(db, NOW + dt.timedelta(days=1))["sampler-70002"].facts
    assert facts["相同照片数"] == 1
    assert "sampler-70001" in facts["相同的照片"][0]


def test_a_region_sets_how_far_back_photos_are_compared(db):
    """window_days per region: the default compares a year back; a region that set 30 days
    compares a month, one that set 500 days further than the default."""
    for n, (region, days_ago) in enumerate(
        (region, days_ago) for region in ("360402", "360403", "360404") for days_ago in (400, 40, 1)
    ):
        reuse.add_prints(
            db, subject_type="onsite_record", subject_id=80_000 + n,
            label=f"XC-{region}-{days_ago}", region_code=region,
            taken_at=NOW - dt.timedelta(days=days_ago),
            photos=[("onsite", region[-1] * 64, None)],
        )  # fmt: skip
    for region, days in (("360403", 30), ("360404", 500)):
        db.add(RuleThreshold(rule_id="photo_reuse", region_code=region, key="window_days",
                             value=days))  # fmt: skip
    db.commit()
    run_rule(db, "photo_reuse", now=NOW)
    db.commit()
    counts = {number: alert.facts["相同照片数"] for number, alert in _open(db).items()}
    assert counts == {"XC-360402-1": 1, "XC-360404-40": 1, "XC-360404-1": 2}


def test_a_sample_photo_saved_again_for_another_sample_is_found(chain):
    db = chain.db
    first = chain.register(seed=11)
    chain.seal(first)
    # the next sample's own photos: quiet
    own = chain.register(seed=12, at=NOW + dt.timedelta(hours=1))
    # the first sample's photo, shrunk and saved again: a near copy
    copied = chain.register(
        seed=13,
        at=NOW + dt.timedelta(hours=2),
        photos={"sample": recompressed(photo(11)), "tag": photo(513), "sampler": photo(1001)},
    )
    db.commit()
    prints = db.scalars(select(PhotoPrint).where(PhotoPrint.subject_id == copied.id)).all()
    assert {p.kind for p in prints} == {"sample", "tag", "sampler"}
    assert all(p.project_id == chain.project.id for p in prints)
    run_rule(db, "photo_reuse", now=NOW + dt.timedelta(hours=3))
    db.commit()
    alerts = _open(db)
    # the sampler's portrait (the same file at every sample in these fixtures) counts too
    assert copied.sample_code in alerts
    facts = alerts[copied.sample_code].facts["相同的照片"]
    assert any(
        f"样品 {first.sample_code} 的样品照片" in line and "文件不同" in line for line in facts
    )
    assert not any(f"样品 {own.sample_code} 的样品照片" in line for line in facts)


def test_the_same_file_is_reuse_and_other_specimens_are_not(chain):
    db = chain.db
    samples = [
        chain.register(
            seed=20 + n,
            at=NOW + dt.timedelta(minutes=30 * n),
            photos={"sample": photo(20 + n), "tag": photo(520 + n), "sampler": photo(1100 + n)},
        )
        for n in range(4)
    ]
    again = chain.register(
        seed=30,
        at=NOW + dt.timedelta(hours=3),
        photos={"sample": photo(21), "tag": photo(530), "sampler": photo(1200)},
    )
    alerts = _swept(db, NOW + dt.timedelta(hours=4))
    assert set(alerts) == {again.sample_code}
    (line,) = alerts[again.sample_code].facts["相同的照片"]
    assert f"样品 {samples[1].sample_code} 的样品照片" in line
    assert "文件完全相同" in line
    assert alerts[again.sample_code].subject_type == "sample"
    assert alerts[again.sample_code].project_id == chain.project.id


def test_a_portrait_is_compared_with_its_own_role_only(chain):
    db = chain.db
    first = chain.register(
        seed=40, photos={"sample": photo(40), "tag": photo(540), "sampler": photo(1300)}
    )
    # the witness's portrait at the seal is the same file as the sampler's: another role
    chain.seal(first, witness_photo=photo(1300))
    db.commit()
    run_rule(db, "photo_reuse", now=NOW + dt.timedelta(hours=1))
    db.commit()
    assert _open(db) == {}


def test_the_two_photos_are_drawn_side_by_side_for_those_who_may_see_them(
    chain, app, browser_client
):
    from fastapi.testclient import TestClient
    from PIL import Image

    from jcjg.auth.choices import Role
    from tests.factories import login

    db = chain.db
    first = chain.register(seed=51)
    copied = chain.register(
        seed=52,
        at=NOW + dt.timedelta(hours=1),
        photos={"sample": recompressed(photo(51)), "tag": photo(552), "sampler": photo(1401)},
    )
    db.commit()
    run_rule(db, "photo_reuse", now=NOW + dt.timedelta(hours=2))
    db.commit()
    alert = _open(db)[copied.sample_code]
    figure = alert.facts["figure"]
    mine = db.scalars(
        select(PhotoPrint).where(PhotoPrint.subject_id == copied.id, PhotoPrint.kind == "sample")
    ).one()
    theirs = db.scalars(
        select(PhotoPrint).where(PhotoPrint.subject_id == first.id, PhotoPrint.kind == "sample")
    ).one()
    assert figure == f"/photo-prints/{mine.id}/compare/{theirs.id}"
    login(browser_client, chain.station.username)
    drawn = browser_client.get(figure)
    assert drawn.status_code == 200
    assert drawn.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(drawn.content))
    assert image.height == reuse.PANEL_HEIGHT
    assert image.width > 2 * reuse.PANEL_HEIGHT  # two panels and the gap
    page = browser_client.get(f"/alerts/{alert.id}", headers={"accept": "text/html"})
    assert figure in page.text
    # portraits are never drawn; a stranger sees nothing
    portrait = db.scalars(
        select(PhotoPrint).where(PhotoPrint.subject_id == copied.id, PhotoPrint.kind == "sampler")
    ).one()
    assert browser_client.get(f"/photo-prints/{portrait.id}/compare/{theirs.id}").status_code == 404
    elsewhere = chain.factory.user(Role.STATION, region_code="360100")
    with TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as other:
        login(other, elsewhere.username)
        assert other.get(figure).status_code == 404
