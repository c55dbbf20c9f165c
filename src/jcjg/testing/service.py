"""Test records in: checked, curves stored with their features and fingerprints, results
recomputed; revisions kept beside the original values. Keyword-only functions; never commits."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from jcjg.config import Settings, get_settings
from jcjg.core import domains
from jcjg.core.blobs import BlobCorrupted, BlobNotFound, BlobStore, blob_store
from jcjg.core.db import memo
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.projects import service as projects
from jcjg.projects.models import Project
from jcjg.registry.models import Person
from jcjg.registry.service import registered_person_ids
from jcjg.sampling.reuse import add_prints
from jcjg.sampling.service import commission_by_number
from jcjg.tenancy.models import Institution
from jcjg.testing import curves, fpindex, judgement, labels, reuse
from jcjg.testing.choices import Acquisition, Fracture, Joint, Judgement, TestKind
from jcjg.testing.models import (
    Curve,
    CurveKey,
    OnSitePlan,
    OnSiteRecord,
    Revision,
    Specimen,
    TestRecord,
)
from jcjg.testing.schemas import (
    CurveIn,
    OnSitePlanIn,
    OnSiteRecordIn,
    RecordIn,
    RevisionIn,
    SpecimenIn,
)

# The raw values each kind needs per specimen (the lab's computed values may come beside them).
REQUIRED_VALUES: dict[TestKind, tuple[str, ...]] = {
    TestKind.CONCRETE_COMPRESSION: ("peak_kn",),
    TestKind.MORTAR_STRENGTH: ("mode", "peak_kn"),
    TestKind.REBAR_TENSILE: ("diameter_mm", "yield_kn", "max_kn", "gauge_mm"),
    TestKind.MASONRY_MORTAR: ("peak_kn",),
    TestKind.REBAR_SPLICE: ("joint", "diameter_mm", "max_kn", "fracture"),
    TestKind.BRICK_COMPRESSION: ("length_mm", "width_mm", "peak_kn"),
    TestKind.BLOCK_COMPRESSION: ("length_mm", "width_mm", "peak_kn"),
    TestKind.ROCK_COMPRESSION: ("diameter_mm", "height_mm", "peak_kn"),
    TestKind.OTHER: (),
}
# kinds whose raw values are all measured sizes and loads, so none of them can be 0 or less
POSITIVE = (TestKind.BRICK_COMPRESSION, TestKind.BLOCK_COMPRESSION, TestKind.ROCK_COMPRESSION)
# sizes the platform divides by, of any kind: never 0 or less
SIZES = ("diameter_mm", "gauge_mm", "length_mm", "width_mm", "height_mm")
MIN_SIZE_MM, MAX_SIZE_MM = 1.0, 2000.0
LOADS = ("peak_kn", "max_kn", "yield_kn")  # no press or frame the platform knows reaches
MAX_LOAD_KN = 100_000.0
# the raw values given as words, and the words each takes
WORDS: dict[str, tuple[str, ...]] = {
    "mode": ("flexural", "compressive"),
    "fracture": tuple(f.value for f in Fracture),
    "joint": tuple(j.value for j in Joint),
}

# The hook a nonconforming record is announced on (``hook(db, record, received_at)``): the
# nonconformity register enters it and tells its parties.
NONCONFORMING_RECORD = "testing.nonconforming_record"


# how far a lab's clock may run ahead of the platform's: data cannot end after they arrive
CLOCK_SLACK = dt.timedelta(minutes=5)


def _fail(field: str, message: str, kind: str = "invalid") -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message, kind)])


def _check_values(kind: TestKind, index: int, specimen: SpecimenIn) -> None:
    for name in REQUIRED_VALUES[kind]:
        value = specimen.values.get(name)
        if value is None or value == "":
            raise _fail(
                f"specimens[{index}].values.{name}", f"{kind.label}须给出 {name}", "missing"
            )
    for name, value in specimen.values.items():
        if name in WORDS and name in REQUIRED_VALUES[kind] and value not in WORDS[name]:
            raise _fail(
                f"specimens[{index}].values.{name}", f"{name} 应为 {' 或 '.join(WORDS[name])}"
            )
        if name in WORDS or name == "break_location":
            continue
        if not isinstance(value, int | float):
            raise _fail(f"specimens[{index}].values.{name}", "原始数值应为数字")
        number = float(value)
        if name in SIZES and not MIN_SIZE_MM <= number <= MAX_SIZE_MM:
            raise _fail(
                f"specimens[{index}].values.{name}",
                f"{name} 应为 {MIN_SIZE_MM:g} 至 {MAX_SIZE_MM:g} 毫米",
            )
        if kind in POSITIVE and name in REQUIRED_VALUES[kind] and number <= 0:
            raise _fail(f"specimens[{index}].values.{name}", f"{name} 应大于 0")
        if name in LOADS and number <= 0:  # no specimen breaks or yields under no force
            label = labels.FIELDS.get(name, name)
            raise _fail(f"specimens[{index}].values.{name}", f"{name}（{label}）应大于 0")
        if name in LOADS and number > MAX_LOAD_KN:
            raise _fail(f"specimens[{index}].values.{name}", f"{name} 不应超过 {MAX_LOAD_KN:g} kN")


@dataclass(frozen=True)
class ReadCurve:
    """A specimen's curve read from its points or file, with what is stored of it: its
    compressed form, features, fingerprint and band keys (None without a fingerprint). None of
    it needs the database: :func:`read_ahead` makes it before the apply transaction."""

    curve: curves.Curve
    stored: bytes
    features: curves.Features
    fingerprint: curves.Fingerprint | None
    keys: npt.NDArray[np.int64] | None

    @property
    def nbytes(self) -> int:
        """About what it holds in memory: the arrays, the compressed form and the keys."""
        arrays = (self.curve.t, self.curve.force, self.curve.displacement, self.keys)
        return len(self.stored) + sum(a.nbytes for a in arrays if a is not None)


def _read_curve(settings: Settings, kind: TestKind, specimen: SpecimenIn) -> ReadCurve | None:
    source: CurveIn | None = specimen.curve
    if source is not None:
        curve = curves.from_points(source.points)
    elif specimen.curve_sha256:
        curve = curves.from_binary(blob_store(settings).get(specimen.curve_sha256))
    else:
        return None
    print_ = curves.fingerprint(curve, kind.fingerprint_top)
    return ReadCurve(
        curve=curve,
        stored=curves.encode(curve),
        features=curves.features(curve, kind.rate_window),
        fingerprint=print_,
        keys=None
        if print_ is None
        else fpindex.keys(curves.bucket(print_.rise_s), fpindex.band_values(print_.vector)),
    )


def read_ahead(data: RecordIn, settings: Settings) -> int:
    """Each specimen's curve read (:class:`ReadCurve`), its compressed form stored (a blob
    store's write waits for the disk), and kept on the message for :func:`store_record`: the
    curve work done before the apply transaction (``prepare``). A curve that cannot be read is
    left to :func:`store_record`, which refuses it. Returns the bytes kept on the message (the
    curves' arrays, compressed forms and band keys)."""
    store = blob_store(settings)
    held = 0
    for specimen in data.specimens:
        try:
            read = _read_curve(settings, data.kind, specimen)
        except (curves.CurveError, BlobNotFound, BlobCorrupted):
            specimen._ahead = None
            continue
        if read is not None:
            store.put(read.stored)  # the handler's put finds it there
            held += read.nbytes
        specimen._ahead = (data.kind, read)
    return held


def _curve_of(
    settings: Settings, kind: TestKind, index: int, specimen: SpecimenIn
) -> ReadCurve | None:
    ahead = specimen._ahead  # read by read_ahead for this kind
    if isinstance(ahead, tuple) and ahead[0] is kind:
        return cast(ReadCurve | None, ahead[1])
    try:
        return _read_curve(settings, kind, specimen)
    except curves.CurveError as error:
        raise _fail(f"specimens[{index}].curve", str(error)) from error


def _number_taken(
    db: Session,
    model: type[TestRecord] | type[OnSitePlan] | type[OnSiteRecord],
    institution: Institution,
    number: str,
) -> bool:
    """Whether the institution already sent a record of ``model`` under ``number`` (a test
    record's number as its batch read it ahead, :func:`read_numbers_ahead`, when it did)."""
    kept = memo(db) if model is TestRecord else None
    if kept is not None:
        known = kept.get((_NUMBER, institution.id, number))
        if known is not None:
            return bool(known)
    return (
        db.scalar(
            select(model.id).where(model.institution_id == institution.id, model.number == number)
        )
        is not None
    )


_NUMBER = "testing.record_number"  # a batch's memo: (_NUMBER, institution id, number) -> taken


def read_numbers_ahead(db: Session, wanted: Sequence[tuple[int, str]]) -> None:
    """Whether each of the ``(institution id, number)`` pairs a batch's test records send is
    taken, read in one statement for the batch (one number a message: a batch's, at most
    ``exchange.apply.BATCH``) and kept in its memo for :func:`_number_taken` (a record's
    first check, one statement a record before). A record stored in the batch takes its
    number out of the memo (:func:`store_record`): the next record of that number then asks
    the database, which answers for the savepoint it is in, its row written or rolled back."""
    kept = memo(db)
    pairs = list(dict.fromkeys(wanted))
    if kept is None or not pairs:
        return
    taken = {
        (institution_id, number)
        for institution_id, number in db.execute(
            select(TestRecord.institution_id, TestRecord.number).where(
                tuple_(TestRecord.institution_id, TestRecord.number).in_(pairs)
            )
        )
    }
    for pair in pairs:
        kept[(_NUMBER, *pair)] = pair in taken


def recompute(record: TestRecord, specimens: Sequence[SpecimenIn]) -> judgement.Outcome | None:
    """The platform's own result from the raw values (None: nothing to recompute), from the
    record's fields and its specimens as sent: known before the record is written."""
    kind = TestKind(record.kind)
    values: list[dict[str, Any]] = [s.values for s in sorted(specimens, key=lambda s: s.position)]
    try:
        if kind is TestKind.CONCRETE_COMPRESSION and len(values) == 3 and record.specimen_size_mm:
            loads = [float(v["peak_kn"]) for v in values]
            return judgement.concrete(loads, record.specimen_size_mm, record.grade)
        if kind is TestKind.MORTAR_STRENGTH:
            flex = [float(v["peak_kn"]) for v in values if v.get("mode") == "flexural"]
            comp = [float(v["peak_kn"]) for v in values if v.get("mode") == "compressive"]
            if len(flex) == 3 and len(comp) == 6:
                return judgement.mortar(flex, comp, record.grade, record.age_days or 0)
        if kind is TestKind.REBAR_TENSILE:
            bars = [
                judgement.Bar(
                    diameter_mm=float(v["diameter_mm"]),
                    yield_kn=float(v["yield_kn"]),
                    max_kn=float(v["max_kn"]),
                    gauge_mm=float(v["gauge_mm"]),
                    final_gauge_mm=_float(v.get("final_gauge_mm")),
                    agt_percent=_float(v.get("agt_percent")),
                )
                for v in values
            ]
            return judgement.rebar(bars, record.grade)
        if kind is TestKind.MASONRY_MORTAR and len(values) == 3:
            return judgement.masonry_mortar([float(v["peak_kn"]) for v in values], record.grade)
        if kind is TestKind.REBAR_SPLICE and len(values) == 3:
            pulled = [
                judgement.Splice(float(v["diameter_mm"]), float(v["max_kn"]), str(v["fracture"]))
                for v in values
            ]
            joints = {str(v["joint"]) for v in values}
            if len(joints) == 1:
                return judgement.splices(pulled, record.grade, joints.pop())
        if kind in (TestKind.BRICK_COMPRESSION, TestKind.BLOCK_COMPRESSION):
            faces = [
                judgement.Face(float(v["length_mm"]), float(v["width_mm"]), float(v["peak_kn"]))
                for v in values
            ]
            judge = judgement.bricks if kind is TestKind.BRICK_COMPRESSION else judgement.blocks
            return judge(faces, record.grade)
        if kind is TestKind.ROCK_COMPRESSION:
            cores = [
                judgement.Core(float(v["diameter_mm"]), float(v["height_mm"]), float(v["peak_kn"]))
                for v in values
            ]
            return judgement.rock(cores, record.grade)
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return None
    return None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _judgement(outcome: judgement.Outcome | None) -> Judgement:
    if outcome is None:
        return Judgement.NONE
    if outcome.void:
        return Judgement.VOID
    if outcome.conforming is None:
        return Judgement.NONE
    return Judgement.CONFORMING if outcome.conforming else Judgement.NONCONFORMING


def store_record(
    *,
    db: Session,
    settings: Settings,
    institution: Institution,
    data: RecordIn,
    received_at: dt.datetime,
    message_id: str | None = None,
) -> TestRecord:
    """One test record with its specimens and curves (a 422 leaves nothing written)."""
    _check_record(db, institution, data, received_at)
    commission = commission_by_number(db, institution, data.commission_number)
    project = projects.project_by_code(db, data.project_code)
    if commission is not None and project is not None and commission.project_id != project.id:
        raise _fail("project_code", "委托所属的工程项目与 project_code 不一致")
    project_id = project.id if project else (commission.project_id if commission else None)
    record = TestRecord(
        institution_id=institution.id,
        region_code=institution.region_code,
        project_id=project_id,
        commission_id=commission.id if commission else None,
        number=data.number,
        sequence=data.sequence,
        kind=data.kind.value,
        item_code=data.item_code,
        parameter_codes=list(data.parameter_codes),
        standard=data.standard,
        lab_name=data.lab_name,
        equipment=list(data.equipment),
        inspectors=[i.name for i in data.inspectors],
        inspector_person_ids=registered_person_ids(
            db, institution.id, [i.id_number for i in data.inspectors]
        ),
        started_at=data.started_at,
        ended_at=data.ended_at,
        received_at=received_at,
        environment=data.environment.model_dump(exclude_none=True),
        acquisition=data.acquisition.value,
        grade=data.grade,
        age_days=data.age_days,
        specimen_size_mm=data.specimen_size_mm,
        results=dict(data.results),
        lab_judgement=data.judgement.value,
        message_id=message_id,
    )
    # the platform's result, known before the record is written: one INSERT with it (an
    # INSERT and then an UPDATE a record before)
    outcome = recompute(record, data.specimens)
    record.recomputed = outcome.as_json() if outcome else {}
    record.platform_judgement = _judgement(outcome).value
    record.nonconforming_by = nonconforming_by(record.lab_judgement, record.platform_judgement)
    db.add(record)
    db.flush()
    kept = memo(db)
    if kept is not None:  # its number is taken now, unless its savepoint is rolled back
        kept.pop((_NUMBER, institution.id, record.number), None)
    # the curves read first (a bad one refuses the record before any specimen is written), then
    # the specimens in one flush, their curves in another and the curves' band keys in one
    # executemany: two flushes and one statement, not one flush a specimen and one a curve
    read = [
        _curve_of(settings, data.kind, index, item) for index, item in enumerate(data.specimens)
    ]
    rows = [_specimen(record, item) for item in data.specimens]
    db.add_all(rows)
    db.flush()
    store = blob_store(settings)
    made = [
        _curve_row(store, record, specimen, curve, item.curve_sha256)
        for specimen, curve, item in zip(rows, read, data.specimens, strict=True)
        if curve is not None
    ]
    if made:
        db.add_all(row for row, _ in made)
        db.flush()
        keys = [
            {"curve_id": row.id, "key": k}
            for row, bands in made
            if bands is not None
            for k in bands.ravel().tolist()
        ]
        if keys:  # no unit of work for these (nothing listens for them): one executemany
            db.execute(insert(_CURVE_KEY), keys)
    if record.nonconforming_by:  # onto the register, its parties told at once
        for hook in domains.hooks(NONCONFORMING_RECORD):
            hook(db, record, received_at)
    return record


def _check_record(
    db: Session, institution: Institution, data: RecordIn, received_at: dt.datetime
) -> None:
    """What a record must be before anything is written: its times, a number not uploaded
    before, a specimen size the kind allows, distinct specimens with their values, and a
    curve for each specimen of an automatically acquired mechanical test."""
    kind = data.kind
    if data.ended_at < data.started_at:
        raise _fail("ended_at", "结束时间不能早于开始时间")
    if data.ended_at > received_at + CLOCK_SLACK:
        raise _fail("ended_at", "结束时间晚于平台收到数据的时间")
    if _number_taken(db, TestRecord, institution, data.number):
        raise _fail(
            "number", "该原始记录编号已上传；原始数据不能覆盖，更正请报送数据修改记录", "unique"
        )
    if kind is TestKind.CONCRETE_COMPRESSION and data.specimen_size_mm not in (100, 150, 200):
        raise _fail("specimen_size_mm", "混凝土立方体试件边长应为 100、150 或 200 mm")
    positions = [s.position for s in data.specimens]
    if len(set(positions)) != len(positions):
        raise _fail("specimens", "试件序号不能重复")
    needs_curve = data.acquisition is Acquisition.AUTO and kind is not TestKind.OTHER
    for index, specimen in enumerate(data.specimens):
        _check_values(kind, index, specimen)
        if needs_curve and specimen.curve is None and not specimen.curve_sha256:
            raise _fail(
                f"specimens[{index}].curve",
                "自动采集的力学试验须上传力值-时间曲线（001 6.3.2.1）",
                "missing",
            )


def _specimen(record: TestRecord, item: SpecimenIn) -> Specimen:
    """One specimen of the record (its curve is :func:`_curve_row`'s)."""
    return Specimen(
        test_record_id=record.id,
        institution_id=record.institution_id,
        region_code=record.region_code,
        project_id=record.project_id,
        position=item.position,
        sample_code=item.sample_code,
        values=dict(item.values),
    )


_CURVE_KEY = cast(Table, CurveKey.__table__)  # the table, for one Core executemany of the keys


def _curve_row(
    store: BlobStore,
    record: TestRecord,
    specimen: Specimen,
    read: ReadCurve,
    upload_sha256: str | None,
) -> tuple[Curve, npt.NDArray[np.int64] | None]:
    """A specimen's force-time curve: stored compressed, its features computed; with the band
    keys of its fingerprint (None without one), by which a curve reused elsewhere is found."""
    stored, features, print_ = read.stored, read.features, read.fingerprint
    digest = store.put(stored)
    row = Curve(
        specimen_id=specimen.id,
        test_record_id=record.id,
        institution_id=record.institution_id,
        region_code=record.region_code,
        project_id=record.project_id,
        blob_digest=digest,
        upload_sha256=upload_sha256,
        stored_bytes=len(stored),
        n_points=features.n_points,
        sampling_hz=features.sampling_hz,
        duration_s=features.duration_s,
        peak_kn=features.peak_kn,
        time_to_peak_s=features.time_to_peak_s,
        rate_kn_s=features.rate_kn_s,
        has_displacement=read.curve.displacement is not None,
        fp_vector=print_.vector.tobytes() if print_ else None,
        fp_peak_kn=print_.peak_kn if print_ else None,
        fp_rise_s=print_.rise_s if print_ else None,
    )
    return row, read.keys


def nonconforming_by(lab: str, platform: str) -> str:
    """Who judged a result nonconforming: the mark that puts a record on the nonconformity
    register (000 4.3.4 item 6), whichever side found it."""
    bad = Judgement.NONCONFORMING.value
    return {(True, True): "both", (True, False): "lab", (False, True): "platform"}.get(
        (lab == bad, platform == bad), ""
    )


def load_curve(settings: Settings, row: Curve) -> curves.Curve:
    return curves.decode(blob_store(settings).get(row.blob_digest))


def curve_json(settings: Settings, row: Curve) -> dict[str, Any]:
    """A curve's points for playback: ``t`` (s), ``f`` (kN), ``d`` (mm, when measured)."""
    curve = load_curve(settings, row)
    body: dict[str, Any] = {
        "t": [round(float(v), 3) for v in curve.t],
        "f": [round(float(v), 3) for v in curve.force],
        "peak_kn": row.peak_kn,
        "rate_kn_s": row.rate_kn_s,
        "sampling_hz": row.sampling_hz,
    }
    if curve.displacement is not None:
        body["d"] = [round(float(v), 3) for v in curve.displacement]
    return body


def fingerprint_of(row: Curve) -> curves.Fingerprint | None:
    return _fingerprint(row.fp_vector, row.fp_peak_kn, row.fp_rise_s)


def _fingerprint(
    vector: bytes | None, peak_kn: float | None, rise_s: float | None
) -> curves.Fingerprint | None:
    if vector is None or peak_kn is None or rise_s is None:
        return None
    return curves.Fingerprint(np.frombuffer(vector, dtype=np.float32), peak_kn, rise_s)


# what ranking a candidate curve needs: its fingerprint's columns, not the whole row (the
# rows of the few compared are read afterwards)
_PRINT_COLUMNS = (Curve.id, Curve.fp_vector, Curve.fp_peak_kn, Curve.fp_rise_s)


def _key_among(dialect: str) -> ColumnElement[bool]:
    """``CurveKey.key`` is one of the keys bound as ``curve_keys`` (a curve asks with
    hundreds): on PostgreSQL one array parameter (``= ANY``), so that the statement is the same
    whatever their number and is neither rendered nor parsed again a parameter at a time, as
    ``IN`` is; on SQLite one JSON text read by ``json_each`` (the same statement too)."""
    if dialect == "postgresql":
        return CurveKey.key == any_(bindparam("curve_keys", type_=postgresql.ARRAY(BigInteger)))
    listed = func.json_each(bindparam("curve_keys", type_=String)).table_valued("value")
    return CurveKey.key.in_(select(listed.c.value))


def _bound_keys(dialect: str, keys: list[int]) -> list[int] | str:
    return keys if dialect == "postgresql" else json.dumps(keys)


class _Reads(NamedTuple):
    candidates: Select[int, bytes | None, float | None, float | None]
    twins: Select[int, bytes | None, float | None, float | None]
    rows: Select[Curve]


@functools.cache
def _statements(dialect: str) -> _Reads:
    """The re-use rule's three reads, built once a process for ``dialect`` with every value
    bound: a curve's turn then builds no expression and computes no cache key (the rule's CPU
    per record of three curves 14-15 -> 10-11 ms, bench._curve_stages): the candidates'
    fingerprints by band key, the twins' near a peak and rise time, and whole rows by id."""
    before = Curve.id < bindparam("row_id")
    # the earlier curves sharing the most band keys (the likeliest alike), the latest first
    # among equals, at most CANDIDATES_READ: curves of one kind share bands widely (a lab's
    # 300th cube curve had up to 48 candidates), so a province's history would be read whole
    keyed = (
        select(CurveKey.curve_id)
        .where(_key_among(dialect), CurveKey.curve_id < bindparam("row_id"))
        .group_by(CurveKey.curve_id)
        .order_by(func.count().desc(), CurveKey.curve_id.desc())
        .limit(bindparam("most"))
    )
    candidates = select(*_PRINT_COLUMNS).where(Curve.id.in_(keyed)).order_by(Curve.id)
    twins = (
        select(*_PRINT_COLUMNS)
        .where(
            before,
            Curve.fp_peak_kn.between(bindparam("peak_low"), bindparam("peak_high")),
            Curve.fp_rise_s.between(bindparam("rise_low"), bindparam("rise_high")),
        )
        .order_by(func.abs(Curve.fp_peak_kn - bindparam("peak")), Curve.id)
        .limit(200)
    )
    rows = select(Curve).where(Curve.id.in_(bindparam("ids", expanding=True)))
    return _Reads(candidates, twins, rows)


def _curves_by_id(db: Session, ids: list[int]) -> list[Curve]:
    """The rows of ``ids``, in that order."""
    if not ids:
        return []
    rows = _statements(db.get_bind().dialect.name).rows
    found = {c.id: c for c in db.scalars(rows, {"ids": ids})}
    return [found[i] for i in ids if i in found]


log = logging.getLogger(__name__)

MAX_COMPARED = 3  # candidates compared sample by sample for one curve, most similar first
CANDIDATES_READ = 1000  # candidates' fingerprints read and ranked for one curve (see _statements)
# curves kept prepared in this process (reuse.prepare: decoded, branch found, whitened grids and
# their transforms): the curves a new one is compared with are mostly the same few similar
# earlier ones, again and again (a lab's day of one machine and grade)
PREPARED_KEPT = 128
_prepared: OrderedDict[tuple[str, float], reuse.Prepared] = OrderedDict()
_prepared_lock = threading.Lock()


def prepared_curve(settings: Settings, row: Curve, top: float) -> reuse.Prepared:
    """``row``'s curve read and prepared for comparison (:func:`jcjg.testing.reuse.prepare`),
    from the process's last :data:`PREPARED_KEPT` when there (a stored curve never changes: its
    blob is named by its digest; the key names the store too)."""
    key = (
        f"{settings.blob_backend}:{settings.s3_bucket}:{settings.blob_dir}:{row.blob_digest}",
        top,
    )
    with _prepared_lock:
        found = _prepared.get(key)
        if found is not None:
            _prepared.move_to_end(key)
            return found
    made = reuse.prepare(load_curve(settings, row), top)
    with _prepared_lock:
        _prepared[key] = made
        while len(_prepared) > PREPARED_KEPT:
            _prepared.popitem(last=False)
    return made


def forget_prepared() -> None:
    """Drop the curves kept prepared (:func:`prepared_curve`): a store whose blobs were taken
    away under the process (tests)."""
    with _prepared_lock:
        _prepared.clear()


def similar_curves(
    db: Session,
    row: Curve,
    *,
    top: float,
    min_similarity: float,
    tolerance: float,
    min_correlation: float = reuse.MIN_CORRELATION,
    min_points: int = reuse.MIN_POINTS,
) -> list[tuple[Curve, reuse.Evidence]]:
    """Earlier curves (any institution) that are the same test as ``row``: the candidates
    sharing a band key in its rise bucket or a neighbour (:mod:`jcjg.testing.fpindex`) worth
    comparing, the most similar :data:`MAX_COMPARED`, and the twins, each compared sample by
    sample (:mod:`jcjg.testing.reuse`); it asks with the other fingerprints of
    :func:`jcjg.testing.curves.query_prints` as well (a record ending at its peak, its branch
    read against a few peaks; any other, its alternate readings), as ``FingerprintIndex.ask``."""
    mine = fingerprint_of(row)
    if mine is None:
        return []
    settings = get_settings()
    try:
        new = prepared_curve(settings, row, top)  # once for all its candidates
    except (BlobNotFound, BlobCorrupted, curves.CurveError):
        log.warning("curve %s: its stored points cannot be read; not compared", row.id)
        return []
    curve = new.curve
    # a record ending at its peak asks with its branch read against a few peaks around its own
    # too, any other with its alternate readings (curves.query_prints)
    prints = [mine, *curves.query_prints(curve, top)[1:]]
    chosen = _candidates(db, row, prints, min_similarity=min_similarity, tolerance=tolerance)
    twins: list[Curve] = []
    for fp in prints:
        if fp.alternate:
            continue  # an alternate reading asks for candidates only (as FingerprintIndex.ask)
        twins += [other for other in _twins(db, row, fp) if other not in chosen + twins]
    if not chosen and not twins:
        return []
    read: list[tuple[Curve, reuse.Prepared, bool]] = []
    for other, twin in [(c, False) for c in chosen] + [(c, True) for c in twins]:
        try:
            read.append((other, prepared_curve(settings, other, top), twin))
        except (BlobNotFound, BlobCorrupted, curves.CurveError):
            log.warning("curve %s: its stored points cannot be read; not compared", other.id)
    # aligned with all its candidates at once (the same evidence as one by one); the twins at
    # time scale 1 alone (see reuse.compare_many)
    found = reuse.compare_many(
        new, [earlier for _, earlier, _ in read], top, unscaled=[twin for _, _, twin in read]
    )
    return [
        (other, evidence)
        for (other, _, _), evidence in zip(read, found, strict=True)
        if evidence.is_copy(min_correlation, min_points)
    ]


def _candidates(
    db: Session,
    row: Curve,
    prints: list[curves.Fingerprint],
    *,
    min_similarity: float,
    tolerance: float,
) -> list[Curve]:
    """The earlier curves sharing a band key with any of ``prints`` in its rise bucket or a
    neighbour that match one of them, the :data:`MAX_COMPARED` most similar first (ranked from
    their fingerprint columns; only these rows are read whole)."""
    reach = fpindex.spread(tolerance)
    wanted: set[int] = set()
    for fp in prints:
        buckets = curves.bucket(fp.rise_s) + np.arange(-reach, reach + 1)
        wanted.update(fpindex.keys(buckets, fpindex.band_values(fp.vector)).ravel().tolist())
    dialect = db.get_bind().dialect.name
    read = db.execute(
        _statements(dialect).candidates,
        {
            "curve_keys": _bound_keys(dialect, sorted(wanted)),
            "row_id": row.id,
            "most": CANDIDATES_READ,
        },
    ).all()
    # a row without its fingerprint's columns is not ranked (as _fingerprint)
    whole = [
        (other_id, vector, rise)
        for other_id, vector, peak, rise in read
        if vector is not None and peak is not None and rise is not None
    ]
    if not whole:
        return []
    ids = [other_id for other_id, _, _ in whole]
    vectors = np.frombuffer(b"".join(v for _, v, _ in whole), dtype=np.float32)
    rises = np.array([rise for _, _, rise in whole], dtype=np.float64)
    best = ranked(
        vectors.reshape(len(ids), -1), rises, prints,
        min_similarity=min_similarity, tolerance=tolerance,
    )  # fmt: skip
    order = np.argsort(-best, kind="stable")  # the most similar first; among equals, by id
    chosen = [ids[i] for i in order[:MAX_COMPARED] if best[i] > -np.inf]
    return _curves_by_id(db, chosen)


def ranked(
    vectors: npt.NDArray[np.float32],
    rises: npt.NDArray[np.float64],
    prints: list[curves.Fingerprint],
    *,
    min_similarity: float,
    tolerance: float,
) -> npt.NDArray[np.float64]:
    """For each candidate (its fingerprint's vector and rise time), the best similarity among
    ``prints`` it :func:`curves.matches` (-inf where none): all candidates at once."""
    best = np.full(len(rises), -np.inf)
    for fp in prints:
        found = curves.similarities(
            fp, vectors, rises, min_similarity=min_similarity, tolerance=tolerance
        )
        best = np.maximum(best, found)
    return best


def _twins(db: Session, row: Curve, mine: curves.Fingerprint) -> list[Curve]:
    """The earlier curves nearest ``mine`` in peak and rise time (within
    :data:`curves.TWIN_PEAK` and :data:`curves.TWIN_RISE`) whose shape is at least
    :data:`curves.TWIN_SIMILARITY` like it, at most :data:`curves.MAX_TWINS`, the nearest and
    most alike first (:func:`curves.twin_rank`, as ``fpindex.twins``): a noise-added copy of a
    curve with little of its own but noise keeps those two."""
    near_mine = {
        "row_id": row.id,
        "peak_low": mine.peak_kn * (1 - curves.TWIN_PEAK),
        "peak_high": mine.peak_kn * (1 + curves.TWIN_PEAK),
        "rise_low": mine.rise_s * (1 - curves.TWIN_RISE),
        "rise_high": mine.rise_s * (1 + curves.TWIN_RISE),
        "peak": mine.peak_kn,
    }
    near = [
        (float(curves.twin_rank(curves.twin_distance(mine, peak_kn, rise_s), cos)), other_id)
        for other_id, vector, peak_kn, rise_s in db.execute(
            _statements(db.get_bind().dialect.name).twins, near_mine
        )
        if (fp := _fingerprint(vector, peak_kn, rise_s)) is not None
        and (cos := float(fp.vector @ mine.vector)) >= curves.TWIN_SIMILARITY  # as fpindex.twins
    ]
    near.sort(key=lambda pair: pair[0])
    return _curves_by_id(db, [other_id for _, other_id in near[: curves.MAX_TWINS]])


def store_revision(
    *,
    db: Session,
    institution: Institution,
    data: RevisionIn,
    received_at: dt.datetime,
    message_id: str | None = None,
) -> Revision:
    """A correction of a record's value: the record keeps its original; the revision says
    what changed, when, by whom and why. ``before`` must be the value the platform holds
    (after earlier revisions)."""
    record = db.scalars(
        select(TestRecord).where(
            TestRecord.institution_id == institution.id, TestRecord.number == data.record_number
        )
    ).first()
    if record is None:
        raise _fail("record_number", "本机构没有这个原始记录编号")
    specimens = {
        s.position: s
        for s in db.scalars(select(Specimen).where(Specimen.test_record_id == record.id))
    }
    current, auto = _current_value(db, record, specimens, data.field)
    if current != data.before:
        raise _fail("before", f"修改前的值应为平台保存的当前值 {current!r}")
    if data.after == data.before:
        raise _fail("after", "修改后的值与修改前相同")
    person = None
    if data.revised_by_id_number:
        person = db.scalars(
            select(Person).where(
                Person.institution_id == institution.id,
                Person.id_number == data.revised_by_id_number,
            )
        ).first()
    revision = Revision(
        test_record_id=record.id,
        institution_id=institution.id,
        region_code=institution.region_code,
        project_id=record.project_id,
        field=data.field,
        before=data.before,
        after=data.after,
        reason=data.reason,
        revised_by=data.revised_by,
        revised_by_person_id=person.id if person else None,
        revised_at=data.revised_at,
        received_at=received_at,
        auto_acquired=auto,
        message_id=message_id,
    )
    db.add(revision)
    db.flush()
    return revision


def _current_value(
    db: Session, record: TestRecord, specimens: dict[int, Specimen], field: str
) -> tuple[Any, bool]:
    """The field's value now (the last revision's ``after``, else the original) and whether
    the original was acquired automatically."""
    original, auto = _original(record, specimens, field)
    last = db.scalars(
        select(Revision)
        .where(Revision.test_record_id == record.id, Revision.field == field)
        .order_by(Revision.id.desc())
    ).first()
    return (last.after if last else original), auto


def _original(record: TestRecord, specimens: dict[int, Specimen], field: str) -> tuple[Any, bool]:
    auto = record.acquisition == Acquisition.AUTO.value
    if field.startswith("specimens["):
        try:
            position = int(field[len("specimens[") : field.index("]")])
            name = field[field.index("].") + 2 :]
        except ValueError as exc:
            raise _fail("field", "字段应写作 specimens[序号].名称 或 results.名称") from exc
        specimen = specimens.get(position)
        if specimen is None or name not in specimen.values:
            raise _fail("field", f"记录中没有字段 {field}")
        return specimen.values[name], auto
    if field.startswith("results."):
        name = field[len("results.") :]
        if name not in record.results:
            raise _fail("field", f"记录中没有字段 {field}")
        return record.results[name], False  # the lab's computed results are not acquired
    raise _fail("field", "字段应写作 specimens[序号].名称 或 results.名称")


def current_values(db: Session, record: TestRecord) -> dict[str, Any]:
    """Each revised field's value now, by field."""
    out: dict[str, Any] = {}
    for revision in db.scalars(
        select(Revision).where(Revision.test_record_id == record.id).order_by(Revision.id)
    ):
        out[revision.field] = revision.after
    return out


# --- on-site tests -----------------------------------------------------------------------------


def _onsite_project(db: Session, code: str) -> Project:
    project = projects.project_by_code(db, code)
    assert project is not None  # the code is required
    return project


def store_plan(
    *,
    db: Session,
    institution: Institution,
    data: OnSitePlanIn,
    received_at: dt.datetime,
    message_id: str | None = None,
) -> OnSitePlan:
    """An on-site test plan; a plan is written once (a changed plan is a new number)."""
    if data.planned_end < data.planned_start:
        raise _fail("planned_end", "计划结束时间不能早于计划开始时间")
    if not data.method_statement and not data.method_sha256:
        raise _fail("method_statement", "请给出检测方案（文字或文件）", "missing")
    if _number_taken(db, OnSitePlan, institution, data.number):
        raise _fail("number", "该检测方案编号已上传；变更方案请用新编号", "unique")
    project = _onsite_project(db, data.project_code)
    plan = OnSitePlan(
        institution_id=institution.id,
        region_code=institution.region_code,
        project_id=project.id,
        number=data.number,
        item_code=data.item_code,
        method_statement=data.method_statement,
        method_sha256=data.method_sha256,
        planned_start=data.planned_start,
        planned_end=data.planned_end,
        quantity=data.quantity,
        location=data.location,
        received_at=received_at,
        message_id=message_id,
    )
    db.add(plan)
    db.flush()
    return plan


def store_onsite_record(
    *,
    db: Session,
    institution: Institution,
    data: OnSiteRecordIn,
    received_at: dt.datetime,
    message_id: str | None = None,
) -> OnSiteRecord:
    """What was done on site, with its position's distance outside the project's geofence."""
    if data.ended_at < data.started_at:
        raise _fail("ended_at", "结束时间不能早于开始时间")
    if data.ended_at > received_at + CLOCK_SLACK:
        raise _fail("ended_at", "结束时间晚于平台收到数据的时间")
    if (data.latitude is None) != (data.longitude is None):
        raise _fail("latitude", "经度和纬度须同时给出", "missing")
    if _number_taken(db, OnSiteRecord, institution, data.number):
        raise _fail("number", "该现场检测记录编号已上传", "unique")
    project = _onsite_project(db, data.project_code)
    plan = None
    if data.plan_number:
        plan = db.scalars(
            select(OnSitePlan).where(
                OnSitePlan.institution_id == institution.id, OnSitePlan.number == data.plan_number
            )
        ).first()
        if plan is None:
            raise _fail("plan_number", "本机构没有这个检测方案编号")
        if plan.project_id != project.id:
            raise _fail("project_code", "检测方案所属的工程项目与 project_code 不一致")
    record = OnSiteRecord(
        institution_id=institution.id,
        region_code=institution.region_code,
        project_id=project.id,
        plan_id=plan.id if plan else None,
        plan_number=data.plan_number or "",
        number=data.number,
        item_code=data.item_code,
        started_at=data.started_at,
        ended_at=data.ended_at,
        latitude=data.latitude,
        longitude=data.longitude,
        distance_m=projects.site_distance(project, data.latitude, data.longitude),
        photos=list(data.photos),
        clips=list(data.clips),
        inspectors=[i.name for i in data.inspectors],
        data=dict(data.data),
        received_at=received_at,
        message_id=message_id,
    )
    db.add(record)
    db.flush()
    add_prints(
        db, subject_type="onsite_record", subject_id=record.id, label=record.number,
        region_code=record.region_code, project_id=record.project_id,
        institution_id=record.institution_id, taken_at=record.started_at,
        photos=[("onsite", sha, None) for sha in dict.fromkeys(record.photos)],
    )  # fmt: skip
    return record
