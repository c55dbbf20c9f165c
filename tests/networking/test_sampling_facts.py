# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""A city's witnessed-sampling chain rebuilt on its province (docs/networking.md, "A child's
facts"): the city's registration, seal and witness record go up with what their entries hold
only as digests (the particulars, the signed statement and key, the record, and the photos and
PDF as files); the province keeps them as the city's, so its report chain and ``/v/<code>`` show
the seal the city holds, and refuses what it cannot take, leaving nothing."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.errors import PermissionDenied
from jcjg.exchange.models import ExchangeFile
from jcjg.ledger import service as ledger_service
from jcjg.ledger.canonical import canonical_json
from jcjg.networking import jobs
from jcjg.networking.models import Forwarded
from jcjg.projects.models import Project
from jcjg.sampling import codes, service
from jcjg.sampling import facts as sampling_facts
from jcjg.sampling.models import (
    Commission,
    CommissionSample,
    IdentityCheck,
    PhotoPrint,
    Sample,
    SampleReceipt,
    SampleSeal,
    WitnessKey,
    WitnessRecord,
)
from tests.factories import login, photo
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base  # the cursor's start
from tests.networking.test_forwards import Setup
from tests.reports.conftest import lab as lab  # the lab whose report names the sample
from tests.reports.test_reports import report_message
from tests.sampling.conftest import Chain, principal_of
from tests.sampling.conftest import chain as chain  # the city's project, sampler, witness
from tests.sampling.test_api import _auth, _photos, _sample_fields
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}
CITY = "九江市检测监管平台"
TYPES = ("sample:register", "sample:seal", "witness_record:create")
FILLER = "video_clip:export"  # a fact no domain rebuilds: recorded


def _envelope(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(item["entry"]))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sent(upstream: Upstream) -> list[dict[str, Any]]:
    """The chain's leaves the city's forwarder sent, in order."""
    items = [i for f in upstream.forwards for i in f["items"]]
    return [i for i in items if _envelope(i)["entry_type"] in TYPES]


def _seal_by_api(client, db, chain: Chain) -> str:
    """The city's site app registers a sample with the sampler's token; the witness app enrols
    its key and seals it with the witness's."""
    db.commit()
    sampler, witness = _auth(chain.factory, chain.sampler), _auth(chain.factory, chain.witness)
    code = chain.next_code()
    made = client.post(
        f"/api/v1/projects/{chain.project.id}/samples",
        data=_sample_fields(code, structure_part="3 层梁板", batch_number="P-7"),
        files=_photos(),
        headers=sampler,
    )
    assert made.status_code == 201, made.text
    key = Ed25519PrivateKey.generate()
    enrolled = client.post(
        "/api/v1/witness-keys",
        json={"public_key": _b64(key.public_key().public_bytes_raw()), "device": "见证 App"},
        headers=witness,
    )
    assert enrolled.status_code == 201, enrolled.text
    prepared = client.post(
        f"/api/v1/samples/{code}/seal/statement",
        data={"key_id": enrolled.json()["key_id"], "latitude": "29.7112",
              "longitude": "116.0021"},
        files={"photo_seal": ("seal.jpg", photo(99, 1), "image/jpeg"),
               "photo_witness": ("me.jpg", photo(1002), "image/jpeg")},
        headers=witness,
    )  # fmt: skip
    assert prepared.status_code == 200, prepared.text
    statement = base64.b64decode(prepared.json()["statement"])
    sealed = client.post(
        f"/api/v1/samples/{code}/seal",
        json={"statement": prepared.json()["statement"], "signature": _b64(key.sign(statement))},
        headers=witness,
    )
    assert sealed.status_code == 200, sealed.text
    return code


def _city_rows_go(db, code: str) -> dict[str, Any]:
    """The same database plays the province now: the city's rows of the sample go (its
    project and its people stay, as the province's copy of the project and accounts the
    province's rows do not name). Returns what the city held."""
    sample = db.scalar(select(Sample).where(Sample.sample_code == code))
    row = db.scalar(select(SampleSeal).where(SampleSeal.sample_id == sample.id))
    record = db.scalar(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id))
    held = {"token": record.token, "pdf": record.pdf_sha256, "statement": row.statement,
            "witness_photo": row.photo_person_sha256,
            "sampler_photo": sample.photo_person_sha256}  # fmt: skip
    db.execute(delete(WitnessRecord).where(WitnessRecord.id == record.id))
    db.execute(delete(IdentityCheck).where(IdentityCheck.sample_id == sample.id))
    db.execute(delete(PhotoPrint).where(PhotoPrint.subject_type == "sample",
                                        PhotoPrint.subject_id == sample.id))  # fmt: skip
    db.execute(delete(SampleSeal).where(SampleSeal.id == row.id))
    db.execute(delete(WitnessKey).where(WitnessKey.id == row.witness_key_id))
    db.execute(delete(Sample).where(Sample.id == sample.id))
    db.commit()
    return held


def _uploaded(db, city: Setup, items: list[dict[str, Any]]) -> None:
    """The files the items' contents name, as the child uploaded them to the province."""
    for item in items:
        for f in (item.get("content") or {}).get("evidence", []):
            if db.scalar(select(ExchangeFile.id).where(
                    ExchangeFile.sha256 == f["sha256"],
                    ExchangeFile.client_id == city.child.client_id)) is None:  # fmt: skip
                db.add(ExchangeFile(sha256=f["sha256"], size=10, client_id=city.child.client_id,
                                    region_code=city.child.region_code))  # fmt: skip
    db.commit()


def _again(city: Setup, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items as leaves of the hand-made child's log, with their contents."""
    return [
        city.log.append(_envelope(i)["entry_type"], _envelope(i)["data"])
        | {"content": i.get("content")}
        for i in items
    ]


def _origin_rows(db) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        db.scalar(select(func.count()).select_from(model).where(model.origin.is_not(None)))
        for model in (Sample, SampleSeal, WitnessRecord)
    )


@pytest.mark.sqlite
def test_the_citys_seal_and_witness_record_show_in_the_provinces_report_chain(
    client, db, settings, factory, chain, lab
):
    code = _seal_by_api(client, db, chain)
    upstream = Upstream()
    _pass(client, upstream)
    items = _sent(upstream)
    assert [_envelope(i)["entry_type"] for i in items] == list(TYPES)
    registered, sealed, recorded = (i["content"] for i in items)
    assert (registered["material"], registered["structure_part"], registered["sampler"]) == (
        "混凝土试块", "3 层梁板", chain.sampler.display_name,
    )  # fmt: skip
    assert [f["role"] for f in registered["evidence"]] == ["sample", "tag"]
    assert sealed["evidence"][0]["role"] == "seal"
    assert recorded["record"]["sample"]["sample_code"] == code
    held = _city_rows_go(db, code)
    # the files went up before the forward; the portraits of people did not
    assert {held["pdf"], *(f["sha256"] for i in items for f in i["content"]["evidence"])} <= (
        upstream.blobs
    )
    assert held["sampler_photo"] not in upstream.blobs
    assert held["witness_photo"] not in upstream.blobs

    # the lab's commission of the sample reaches the province first (its own message)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    commissioned = lab.post(client, "commission", lab.message(
        number="WT-2026-000041", sequence=41, commissioned_on=today,
        project_code=chain.project.code, samples=[code]))  # fmt: skip
    assert commissioned.status_code == 200, commissioned.text
    assert commissioned.json()["results"]["unknown_samples"] == [code]
    city = Setup(db, settings, factory)
    _uploaded(db, city, items)
    answer = city.post(client, _again(city, items))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 3}, answer.text
    db.expire_all()
    sample = db.scalar(select(Sample).where(Sample.sample_code == code))
    assert (sample.origin, sample.sampler_user_id, sample.sampler_name, sample.status) == (
        CITY, None, chain.sampler.display_name, "sealed",
    )  # fmt: skip
    assert (sample.project_id, sample.material, sample.batch_number) == (
        chain.project.id, "混凝土试块", "P-7",
    )  # fmt: skip
    commission = db.scalar(select(Commission).where(Commission.number == "WT-2026-000041"))
    assert (sample.commission_id, sample.institution_id) == (commission.id, lab.institution.id)
    assert db.scalar(select(CommissionSample.sample_id).where(
        CommissionSample.commission_id == commission.id)) == sample.id  # fmt: skip
    row = db.scalar(select(SampleSeal).where(SampleSeal.sample_id == sample.id))
    assert (row.origin, row.witness_user_id, row.witness_name, row.statement) == (
        CITY, None, chain.witness.display_name, held["statement"],
    )  # fmt: skip
    assert row.distance_m == 0  # on the site, by the province's own geofence
    key = db.get(WitnessKey, row.witness_key_id)
    assert (key.user_id, key.origin) == (None, CITY)  # a key of no account here
    record = db.scalar(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id))
    assert (record.origin, record.token, record.pdf_sha256) == (CITY, held["token"], held["pdf"])
    # the rules that judge the people on site leave the city's seal to the city
    assert db.scalar(select(func.count()).select_from(Alert).where(
        Alert.rule_id.in_(("witness_not_assigned", "seal_invalid")),
        Alert.subject_id == code)) == 0  # fmt: skip
    # sent again (at-least-once): nothing doubles
    assert city.post(client, _again(city, items)).json()["outcomes"]["rebuilt"] == 3
    assert _origin_rows(db) == (1, 1, 1)

    _the_provinces_report_shows_it(client, lab, code, held, chain)
    _the_provinces_desk_reads_it_as_the_citys(client, db, factory, code, chain)


def _the_provinces_report_shows_it(client, lab, code: str, held: dict, chain: Chain) -> None:
    """The lab's report over a test of the sample, on the province: its chain shows the seal
    verified and the witness record, whose public page answers here too, names masked."""
    test, _ = concrete_record(lab, number="JL-CITY")
    for specimen in test["specimens"]:
        specimen["sample_code"] = code
    assert lab.post(client, "test_record", test).status_code == 200
    message = report_message(lab, "BG-2026-0041", test_record_numbers=["JL-CITY"])
    issued = lab.post(client, "report", message)
    assert issued.status_code == 200, issued.text
    found = issued.json()["results"]
    page = client.get(f"/v/{found['supervision_code']}?t={found['token']}", headers=HTML).text
    section = page.split(f'data-testid="sample-{code}"', 1)[1].split("</section>")[0]
    assert "电子封志验证通过" in section and "无见证封样" not in section
    assert f"/w/{held['token']}" in section
    shown = client.get(f"/v/{found['supervision_code']}/samples/{code}/sample",
                       params={"t": found["token"]})  # fmt: skip
    assert shown.status_code == 200 and shown.content == photo(1)
    public = client.get(f"/w/{held['token']}", headers=HTML).text
    assert "电子封志验证通过" in public and f"下级平台“{CITY}”日志第" in public
    assert chain.witness.display_name not in public
    assert chain.witness.display_name[0] + "*" in public


def _the_provinces_desk_reads_it_as_the_citys(client, db, factory, code: str, chain: Chain) -> None:
    """A provincial authority reads the sample as the city's, with the witness's name as the
    statement names them, and nobody here seals it."""
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    client.cookies.clear()
    login(client, province.username)
    desk = client.get(f"/samples/{code}", headers=HTML).text
    assert f"由下级平台“{CITY}”报送" in desk and chain.witness.display_name in desk
    assert client.get(f"/samples/{code}/witness-record.pdf").status_code == 200
    api = client.get(f"/api/v1/samples/{code}", headers={
        "Authorization": f"Bearer {factory.token(province)}"})  # fmt: skip
    assert api.json()["origin"] == CITY
    sample = db.scalar(select(Sample).where(Sample.sample_code == code))
    with pytest.raises(PermissionDenied, match="只能在该平台办理"):
        chain.statement(sample, at=sample.sampled_at + dt.timedelta(minutes=5))


# --- what the province refuses --------------------------------------------------------------


@pytest.fixture
def sent(client, db, chain: Chain) -> tuple[Chain, list[dict[str, Any]], str]:
    """The city's chain of one sample (registered, sealed, its record) as its forwarder sent
    it; the city's rows gone, so that the same database plays the province."""
    sample = chain.register()
    chain.seal(sample)
    db.commit()
    upstream = Upstream()
    _pass(client, upstream)
    items = _sent(upstream)
    code = sample.sample_code
    _city_rows_go(db, code)
    return chain, items, code


def _changed(item: dict[str, Any], data: Any = None, content: Any = ...) -> dict[str, Any]:
    envelope = _envelope(item)
    return {"type": envelope["entry_type"],
            "data": envelope["data"] if data is None else data,
            "content": item.get("content") if content is ... else content}  # fmt: skip


def _refused(client, db, city: Setup, case: dict[str, Any], name: str) -> dict[str, Any]:
    before = _origin_rows(db)
    item = city.log.append(case["type"], case["data"])
    if case["content"] is not None:
        item["content"] = case["content"]
    after = city.log.append(FILLER, {"n": 1})
    answer = city.post(client, [item, after])
    assert answer.status_code == 200, (name, answer.text)
    body = answer.json()
    assert body["outcomes"] == {"duplicate": 0, "recorded": 1, "refused": 1}, (name, body)
    assert _origin_rows(db) == before, name  # nothing half-written
    assert db.scalar(select(Forwarded.outcome).where(
        Forwarded.origin_index == item["index"])) == "refused", name  # fmt: skip
    return body["refused"][0]


def _check(client, db, city: Setup, cases: list[tuple[str, dict[str, Any], str, int]]) -> None:
    for name, case, says, status in cases:
        refused = _refused(client, db, city, case, name)
        assert says in json.dumps(refused, ensure_ascii=False), (name, refused)
        assert refused["status"] == status, (name, refused)


def _registrations(db, factory, item: dict[str, Any], code: str) -> list:
    data, content = _envelope(item)["data"], item["content"]
    elsewhere = factory.project(region_code="360102")
    db.commit()
    outside = codes.make_code("360102", 2026, 9)
    other = "f" * 64
    return [
        ("no content", _changed(item, content=None), "缺少取样登记的内容", 422),
        ("code of a region outside the child", _changed(item, data | {"sample_code": outside}),
         "不在该下级平台辖区内", 422),
        ("code malformed", _changed(item, data | {"sample_code": "ABC"}), "sample_code", 422),
        ("project outside the child", _changed(item, data | {"project_code": elsewhere.code}),
         "不存在或不在该下级平台辖区内", 404),
        ("a pour the child did not send", _changed(item, data | {"pour_id": 4321}),
         "浇筑（下级平台编号 4321）未由该下级平台", 404),
        ("pour id of the wrong type", _changed(item, data | {"pour_id": "7"}), "pour_id", 422),
        ("photo not the entry's", _changed(item, content=content | {"evidence": [
            content["evidence"][0], {"role": "tag", "sha256": other}]}),
         "与存证的文件摘要不符", 422),
        ("NUL in a text", _changed(item, content=content | {"material": "混凝\x00土"}),
         "content.material", 422),
        ("control character", _changed(item, content=content | {"sampler": "张\x1b三"}),
         "content.sampler", 422),
        ("huge text", _changed(item, content=content | {"structure_part": "梁" * 201}),
         "content.structure_part", 422),
        ("huge number", _changed(item, content=content | {"specimen_count": 10**12}),
         "content.specimen_count", 422),
        ("huge position", _changed(item, content=content | {"latitude": 1e308}),
         "content.latitude", 422),
        ("wrong type", _changed(item, content=content | {"specimen_count": "3"}),
         "content.specimen_count", 422),
        ("unknown field", _changed(item, content=content | {"phone": "13907981234"}),
         "content.phone", 422),
        ("time without zone", _changed(item, data | {"sampled_at": "2026-11-18T02:00:00"}),
         "时区", 422),
        ("not an object", _changed(item, [code]), "JSON 对象", 422),
    ]  # fmt: skip


def _seals(item: dict[str, Any]) -> list:
    data, content = _envelope(item)["data"], item["content"]
    statement = base64.b64decode(content["statement"])
    stranger = Ed25519PrivateKey.generate()
    strangers_key = _b64(stranger.public_key().public_bytes_raw())
    forged = _b64(stranger.sign(statement))
    return [
        ("no content", _changed(item, content=None), "缺少封志的内容", 422),
        ("statement not the entry's", _changed(item, content=content | {
            "statement": _b64(statement.replace(b"C30", b"C35"))}),
         "与存证的封志声明摘要不符", 422),
        ("key not the entry's", _changed(item, content=content | {"public_key": strangers_key}),
         "与存证的封志公钥不符", 422),
        ("signature by another key", _changed(item, data | {"signature": forged}),
         "电子封志签名验证失败", 422),
        ("seal photo not the entry's", _changed(item, content=content | {
            "evidence": [{"role": "seal", "sha256": "f" * 64}]}), "与存证的文件摘要不符", 422),
        ("statement not base64", _changed(item, content=content | {"statement": "封志!"}),
         "base64", 422),
        ("huge statement", _changed(item, content=content | {"statement": "QUFB" * 5000}),
         "content.statement", 422),
        ("control character", _changed(item, content=content | {"public_key": "A\x00"}),
         "content.public_key", 422),
    ]  # fmt: skip


def _records(item: dict[str, Any]) -> list:
    data, content = _envelope(item)["data"], item["content"]
    record = content["record"]
    altered = copy.deepcopy(record)
    altered["witness"]["name"] = "王五"
    another = copy.deepcopy(record)
    another["seal"]["statement"] = _b64(b'{"type":"jcjg.sample-seal/v1"}')
    controlled = copy.deepcopy(record)
    controlled["sample"]["material"] = "混凝\x07土"

    def digest(value: dict[str, Any]) -> str:
        return hashlib.sha256(canonical_json(value)).hexdigest()

    return [
        ("no content", _changed(item, content=None), "缺少见证记录的内容", 422),
        ("record not the entry's", _changed(item, content=content | {"record": altered}),
         "与存证的见证记录摘要不符", 422),
        ("PDF not the entry's", _changed(item, content=content | {
            "evidence": [{"role": "pdf", "sha256": "f" * 64}]}), "与存证的文件摘要不符", 422),
        ("control character in a record its entry notarised",
         _changed(item, data | {"record_sha256": digest(controlled)},
                  content | {"record": controlled}), "content.record", 422),
        ("a record of another seal", _changed(item, data | {"record_sha256": digest(another)},
                                              content | {"record": another}),
         "见证记录的封志与该下级平台报送的封志不一致", 422),
    ]  # fmt: skip


@pytest.mark.sqlite
def test_what_the_province_cannot_take_is_refused_and_leaves_nothing(
    client, db, settings, factory, sent
):
    _chain, (registered, sealed, recorded), code = sent
    city = Setup(db, settings, factory)
    _uploaded(db, city, [registered, sealed, recorded])
    db.add(ExchangeFile(sha256="f" * 64, size=10, client_id=city.child.client_id,
                        region_code=city.child.region_code))  # fmt: skip
    db.commit()
    # a seal or a record of a sample the child never sent
    _check(client, db, city, [
        ("seal of a sample not sent", _changed(sealed), "未由该下级平台报送", 404),
        ("record of a sample not sent", _changed(recorded), "未由该下级平台报送", 404),
    ])  # fmt: skip
    _check(client, db, city, _registrations(db, factory, registered, code))
    assert city.post(client, _again(city, [registered])).json()["outcomes"]["rebuilt"] == 1
    _check(client, db, city, [
        ("record of a seal not sent", _changed(recorded), "封志未由该下级平台报送", 404),
    ])  # fmt: skip
    _check(client, db, city, _seals(sealed))
    assert city.post(client, _again(city, [sealed])).json()["outcomes"]["rebuilt"] == 1
    _check(client, db, city, _records(recorded))
    assert city.post(client, _again(city, [recorded])).json()["outcomes"]["rebuilt"] == 1
    assert _origin_rows(db) == (1, 1, 1)


@pytest.mark.sqlite
def test_a_sample_of_a_project_still_to_come_is_held_and_its_seal_and_record_behind_it(
    client, db, settings, factory, sent
):
    chain, (registered, sealed, recorded), _code = sent
    city = Setup(db, settings, factory)
    _uploaded(db, city, [registered, sealed, recorded])
    project = db.get(Project, chain.project.id)
    code, project.code = project.code, "XM-LATER"  # the province does not hold it yet
    db.commit()
    answer = city.post(client, _again(city, [registered, sealed, recorded])).json()
    assert answer["outcomes"] == {"duplicate": 0, "held": 3}, answer
    problems = db.scalars(select(Forwarded.problem).order_by(Forwarded.origin_index)).all()
    assert "在本平台尚不存在" in problems[0]["detail"]
    assert "未由该下级平台报送" in problems[1]["detail"]  # held behind the registration
    assert _origin_rows(db) == (0, 0, 0)
    # the city's project message is applied here: the three are taken, in order
    project.code = code
    db.commit()
    jobs.held(db, logging.getLogger("test"))
    assert _origin_rows(db) == (1, 1, 1)
    outcomes = db.scalars(select(Forwarded.outcome).order_by(Forwarded.origin_index)).all()
    assert outcomes == ["rebuilt", "rebuilt", "rebuilt"]


@pytest.mark.sqlite
def test_a_code_the_province_holds_for_its_own_sample_is_refused(
    client, db, settings, factory, sent
):
    chain, (registered, _sealed, _recorded), _code = sent
    own = chain.register(seed=3)  # the province's own sample, by its own sampler
    db.commit()
    city = Setup(db, settings, factory)
    data = sampling_facts.Registered.model_validate(_envelope(registered)["data"]).model_dump(
        mode="json"
    ) | {"sample_code": own.sample_code, "sample_phash": own.sample_phash, "photos": {
        "sample": own.photo_sample_sha256, "tag": own.photo_tag_sha256,
        "sampler": own.photo_person_sha256}}  # fmt: skip
    content = registered["content"] | {"evidence": [
        {"role": "sample", "sha256": own.photo_sample_sha256},
        {"role": "tag", "sha256": own.photo_tag_sha256}]}  # fmt: skip
    case = {"type": "sample:register", "data": data, "content": content}
    _uploaded(db, city, [case])
    refused = _refused(client, db, city, case, "own code")
    assert refused["status"] == 409
    db.expire_all()
    assert db.get(Sample, own.id).origin is None


# --- the lab's receipt check ---------------------------------------------------------------


@pytest.mark.sqlite
def test_the_labs_receipt_check_on_the_citys_page_is_the_provinces_too(
    client, db, settings, factory, chain
):
    """A receipt check made on the lab's page at the city goes up with its photo and what its
    entry does not hold, and is kept on the city's sample here as the city's; one made from
    the lab's message (the province checks that message itself) is only recorded."""
    sample = chain.register()
    chain.seal(sample)
    lab = factory.institution(region_code="360403")
    db.commit()
    checked = service.check_receipt(db=db, settings=settings, now=sample.sampled_at + dt.timedelta(
        hours=2), data=service.ReceiptInput(sample.sample_code, lab, photo=photo(1, 1),
                                            notes="封志完好"))  # fmt: skip
    assert checked.accepted, checked.reasons
    db.commit()
    upstream = Upstream()
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"]
             if _envelope(i)["entry_type"] in (*TYPES, sampling_facts.RECEIPT)]  # fmt: skip
    receipt = items[-1]
    assert _envelope(receipt)["entry_type"] == sampling_facts.RECEIPT
    assert receipt["content"] == {
        "via": "page", "commission_number": None, "tag_intact": True,
        "phash_distance": checked.phash_distance, "notes": "封志完好",
        "evidence": [{"role": "receipt", "sha256": checked.photo_sha256}],
    }  # fmt: skip
    assert checked.photo_sha256 in upstream.blobs
    code = sample.sample_code
    db.execute(delete(SampleReceipt).where(SampleReceipt.id == checked.id))
    db.commit()
    _city_rows_go(db, code)
    city = Setup(db, settings, factory)
    _uploaded(db, city, items)
    # what the province refuses of it, leaving nothing
    envelope = _envelope(receipt)
    cases = [
        ("no content", envelope["data"], None, "缺少收样的内容", 422),
        ("photo not the entry's", envelope["data"], receipt["content"] | {"evidence": []},
         "与存证的文件摘要不符", 422),
        ("accepted with reasons", envelope["data"] | {"reasons": ["tag_damaged"]},
         receipt["content"], "不符", 422),
        ("sample not sent", envelope["data"], receipt["content"], "未由该下级平台报送", 404),
    ]  # fmt: skip
    for name, data, content, says, status in cases:
        case = {"type": sampling_facts.RECEIPT, "data": data, "content": content}
        refused = _refused(client, db, city, case, name)
        assert says in json.dumps(refused, ensure_ascii=False), (name, refused)
        assert refused["status"] == status, (name, refused)
        assert db.scalar(select(func.count()).select_from(SampleReceipt)) == 0, name
    answer = city.post(client, _again(city, items))
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 4}, answer.text
    db.expire_all()
    got = db.scalar(select(SampleReceipt).where(SampleReceipt.sample_code == code))
    assert (got.origin, got.institution_id, got.accepted, got.via, got.notes) == (
        CITY, lab.id, True, "page", "封志完好",
    )  # fmt: skip
    assert db.scalar(select(Sample.status).where(Sample.sample_code == code)) == "received"
    # sent again: nothing doubles; a check made from the lab's message: only recorded
    resent = _again(city, [receipt])
    by_message = city.log.append(sampling_facts.RECEIPT, envelope["data"])
    by_message["content"] = {"via": "exchange"}
    again = city.post(client, [*resent, by_message]).json()
    assert again["outcomes"] == {"duplicate": 0, "rebuilt": 1, "recorded": 1}, again
    assert db.scalar(select(func.count()).select_from(SampleReceipt)) == 1
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(client, province.username)
    desk = client.get(f"/samples/{code}", headers=HTML).text
    assert f"由下级平台“{CITY}”报送" in desk.split('data-testid="receipts-table"')[1]


# --- the city's side ------------------------------------------------------------------------


@pytest.mark.sqlite
def test_the_city_sends_content_only_while_its_rows_match_the_entries(db, chain):
    sample = chain.register()
    row = chain.seal(sample)
    db.flush()
    pour, checked = sampling_facts.POUR, sampling_facts.IDENTITY  # test_pour/identity_facts
    assert set(sampling_facts.contents()) == {*TYPES, sampling_facts.RECEIPT, pour, checked}
    # a revocation's entry holds all the parent needs (the key is public): no content
    assert set(sampling_facts.appliers()) == {
        *TYPES, sampling_facts.RECEIPT, sampling_facts.REVOKE, pour, checked,
    }  # fmt: skip
    photos = {"sample": sample.photo_sample_sha256, "tag": sample.photo_tag_sha256}
    entry = {"sample_code": sample.sample_code, "photos": photos,
             "sample_phash": sample.sample_phash}  # fmt: skip
    given = sampling_facts.register_content(db, 0, entry)
    assert given is not None
    assert given.files == (sample.photo_sample_sha256, sample.photo_tag_sha256)
    assert sampling_facts.register_content(db, 0, entry | {"sample_phash": "0" * 16}) is None
    assert sampling_facts.register_content(db, 0, entry | {"sample_code": "无此样品"}) is None
    sealed = {"sample_code": sample.sample_code,
              "statement_sha256": hashlib.sha256(row.statement).hexdigest()}  # fmt: skip
    assert sampling_facts.seal_content(db, 0, sealed) is not None
    assert sampling_facts.seal_content(db, 0, sealed | {"statement_sha256": "0" * 64}) is None
    record = db.scalar(select(WitnessRecord).where(WitnessRecord.sample_id == sample.id))
    digest = hashlib.sha256(canonical_json(record.record)).hexdigest()
    noted = {"sample_code": sample.sample_code, "pdf_sha256": record.pdf_sha256,
             "record_sha256": digest}  # fmt: skip
    assert sampling_facts.record_content(db, 0, noted).files == (record.pdf_sha256,)
    assert sampling_facts.record_content(db, 0, noted | {"pdf_sha256": "0" * 64}) is None


# --- a witness key the city revokes ---------------------------------------------------------


@pytest.mark.sqlite
def test_a_key_the_city_revokes_is_revoked_on_the_province(client, db, settings, factory, sent):
    """The revocation goes up with the key (public) and its time: the province's copy is
    revoked as of then, so the city's seal by it made after that, arriving later, is judged
    invalid here; a back-dated revocation, another key or another platform's key is refused,
    leaving nothing; sent again: nothing changes."""
    chain, (registered, sealed, _recorded), _code = sent
    city = Setup(db, settings, factory)
    _uploaded(db, city, [registered, sealed])
    key_id, public_key = _envelope(sealed)["data"]["key_id"], sealed["content"]["public_key"]
    said = json.loads(base64.b64decode(sealed["content"]["statement"]))
    before = dt.datetime.fromisoformat(said["sealed_at"]) - dt.timedelta(minutes=1)
    revoke = {"key_id": key_id, "public_key": public_key}
    now = {"revoked_at": ledger_service.timestamp(dt.datetime.now(dt.UTC))}
    own = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    held = service.register_key(db=db, principal=principal_of(chain.witness),
                                public_key_b64=_b64(own), device="本平台")  # fmt: skip
    db.commit()
    keys = db.scalar(select(func.count()).select_from(WitnessKey))
    for name, data, says, status in [
        ("key not the entry's", revoke | now | {"key_id": "0" * 64}, "封志密钥编号不符", 422),
        ("time without zone", revoke | {"revoked_at": "2026-11-18T02:00:00"}, "时区", 422),
        ("back-dated", revoke | {"revoked_at": ledger_service.timestamp(before)}, "吊销时间", 422),
        ("the province's own key", {"key_id": held.key_id, "public_key": _b64(own)} | now,
         "不是该下级平台的", 404),
    ]:  # fmt: skip
        case = {"type": sampling_facts.REVOKE, "data": data, "content": None}
        refused = _refused(client, db, city, case, name)
        assert says in json.dumps(refused, ensure_ascii=False), (name, refused)
        assert refused["status"] == status, (name, refused)
        assert db.scalar(select(func.count()).select_from(WitnessKey)) == keys, name
    assert db.get(WitnessKey, held.id).revoked_at is None

    # revoked at the city before the seal it sent later: a key of no account, revoked
    items = _again(city, [registered])
    items.append(city.log.append(sampling_facts.REVOKE, revoke | {
        "revoked_at": ledger_service.timestamp(before)}, before))  # fmt: skip
    answer = city.post(client, items)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 2}, answer.text
    assert city.post(client, _again(city, [sealed])).json()["outcomes"]["rebuilt"] == 1
    db.expire_all()
    key = db.scalar(select(WitnessKey).where(WitnessKey.key_id == key_id))
    assert (key.user_id, key.origin, key.revoked_at) == (None, CITY, before)
    row = db.scalar(select(SampleSeal).where(SampleSeal.witness_key_id == key.id))
    assert service.verify_seal(db, row) == ["封样时密钥已吊销"]
    # sent again: nothing changes
    again = city.log.append(sampling_facts.REVOKE, revoke | now)
    assert city.post(client, [again]).json()["outcomes"]["rebuilt"] == 1
    db.expire_all()
    assert db.get(WitnessKey, key.id).revoked_at == before
