"""Catalogue editions: a later edition beside the 2023 one. The later edition is synthetic: the
shipped 2023 edition with 钢筋焊接接头 (0104) dropped, 预制混凝土构件 (0116) added and the
minimum inspectors of 建筑材料及构配件 (01) raised, so 01 and everything below it get new rows
while the other eight specialties keep theirs."""

from __future__ import annotations

import copy
import datetime as dt
import json
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.catalogue import editions, service
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core.editions import EditionError, ReferenceEdition
from jcjg.core.errors import ValidationFailed
from jcjg.registry.models import Capability, Lab, QualificationCertificate
from tests.exchange.conftest import make_lims
from tests.factories import Factory, login, page_csrf

HTML = {"accept": "text/html"}
ONE_ITEM = {"code": "0116", "name": "预制混凝土构件", "standards": ["GB/T 50204-2015"],
            "parameters": [{"code": "011601", "name": "结构性能", "required": True,
                            "unit": None}]}  # fmt: skip


def shipped() -> dict[str, Any]:
    text = resources.files("jcjg.catalogue").joinpath("data/qualification_2023.json")
    data: dict[str, Any] = json.loads(text.read_text("utf-8"))
    return data


def later(edition: str = "2099", published: str = "2099-06-30") -> dict[str, Any]:
    data = copy.deepcopy(shipped())
    data.update(edition=edition, title=f"测试用资质标准（{edition}）", published=published)
    materials = data["specialties"][0]
    materials["requirements"]["min_inspectors"] = 22
    materials["items"] = [i for i in materials["items"] if i["code"] != "0104"] + [ONE_ITEM]
    return data


def load(db: Session, data: dict[str, Any]) -> str:
    return editions.load(db, editions.parse(json.dumps(data, ensure_ascii=False))).text


def rows(db: Session) -> tuple[object, ...]:
    """Every row of the catalogue and edition tables, to see that nothing changed."""
    db.expire_all()
    out = []
    for model in (Specialty, TestItem, Parameter, ReferenceEdition):
        out.append(tuple(db.execute(select(model.__table__).order_by(model.id)).all()))
    return tuple(out)


def _code(db: Session, model: Any, code: str, current: bool = True) -> Any:
    stmt = select(model).where(model.code == code)
    stmt = stmt.where(model.valid_to_id.is_(None) if current else model.valid_to_id.is_not(None))
    return db.scalars(stmt).one()


@pytest.fixture
def recorded(db: Session, factory: Factory) -> dict[str, Any]:
    """Records made under the 2023 edition: a lab's capabilities on a parameter of the item the
    later edition drops and on one it keeps, and a certificate for specialty 01."""
    lab_owner = factory.institution()
    lab = Lab(name="力学室", address="九江市濂溪区测试路 1 号", area_m2=300,
              institution_id=lab_owner.id, region_code=lab_owner.region_code)  # fmt: skip
    db.add(lab)
    db.flush()
    welded, cement = _code(db, Parameter, "010401"), _code(db, Parameter, "010101")
    for p in (welded, cement):
        db.add(Capability(lab_id=lab.id, parameter_id=p.id, institution_id=lab_owner.id,
                          region_code=lab_owner.region_code))  # fmt: skip
    cert = QualificationCertificate(
        number="CERT-2023-1", issued_by="江西省住房和城乡建设厅", issue_date=dt.date(2024, 1, 1),
        valid_until=dt.date(2099, 1, 1), institution_id=lab_owner.id,
        region_code=lab_owner.region_code, specialties=[_code(db, Specialty, "01")],
    )  # fmt: skip
    db.add(cert)
    db.commit()
    return {"institution": lab_owner, "lab": lab, "welded": welded, "cement": cement,
            "certificate": cert, "materials": cert.specialties[0]}  # fmt: skip


def test_a_later_edition_is_kept_beside_the_first(db: Session, recorded: dict[str, Any]) -> None:
    before_2023 = {s.code: (s.id, s.name, s.min_inspectors) for s in service.specialties(db=db)}
    text = load(db, later())
    db.commit()
    assert text == (
        "资质目录 2099 版：9 个专项、68 个检测项目、541 个参数"
        "（专项修订 1；检测项目新增 1、修订 14、取消 1；参数新增 1、修订 143、取消 2）"
    )
    first, second = service.editions(db=db)
    assert (first.code, second.code) == ("2023", "2099")
    assert second.summary["specialties"] == {"added": 0, "replaced": 1, "withdrawn": 0, "kept": 8}

    # the records made under 2023 point at the rows they were made with, now closed
    db.expire_all()
    capabilities = {c.parameter_id for c in db.scalars(select(Capability))}
    assert capabilities == {recorded["welded"].id, recorded["cement"].id}
    for p in (recorded["welded"], recorded["cement"]):
        row = db.get_one(Parameter, p.id)
        assert (row.valid_from_id, row.valid_to_id) == (first.id, second.id)
    cert = db.get_one(QualificationCertificate, recorded["certificate"].id)
    assert [s.id for s in cert.specialties] == [recorded["materials"].id]
    old = db.get_one(Specialty, recorded["materials"].id)
    assert (old.min_inspectors, old.valid_to_id) == (20, second.id)  # 2023's figure kept

    # the current catalogue is 2099's; 2023's can still be read
    now = {s.code: s for s in service.specialties(db=db)}
    assert now["01"].min_inspectors == 22
    assert now["01"].id != recorded["materials"].id
    assert {s.code: s.id for s in now.values() if s.code != "01"} == {
        c: v[0] for c, v in before_2023.items() if c != "01"
    }  # the unchanged specialties kept their rows
    items_now = [i.code for i in now["01"].items]
    assert "0116" in items_now
    assert "0104" not in items_now
    back = service.specialties(db=db, edition=first)
    assert {s.code: (s.id, s.name, s.min_inspectors) for s in back} == before_2023
    items_then = [i.code for i in back[0].items]
    assert "0104" in items_then
    assert "0116" not in items_then


def test_loading_an_edition_again_writes_nothing(db: Session) -> None:
    load(db, later())
    db.commit()
    before = rows(db)
    assert load(db, later()) == "资质目录 2099 版此前已加载，内容相同，未作改动"
    assert editions.load(db, editions.shipped()[0]).already  # and the shipped 2023 one
    db.commit()
    assert rows(db) == before


def test_rules_compare_specialties_across_editions(
    db: Session, recorded: dict[str, Any], factory: Factory
) -> None:
    load(db, later())
    # a capability recorded under 2099, of the same specialty as the 2023 certificate
    new_param = _code(db, Parameter, "011601")
    inst, lab = recorded["institution"], recorded["lab"]
    db.add(Capability(lab_id=lab.id, parameter_id=new_param.id, institution_id=inst.id,
                      region_code=inst.region_code))  # fmt: skip
    db.commit()
    assert _open(db, inst.id) == []  # 01 is held: whichever edition the rows come from
    # a parameter of a specialty the certificate does not cover is still found
    steel = _code(db, Parameter, "030101")
    db.add(Capability(lab_id=lab.id, parameter_id=steel.id, institution_id=inst.id,
                      region_code=inst.region_code))  # fmt: skip
    db.flush()
    assert [a.facts["专项"] for a in _open(db, inst.id)] == ["钢结构"]


def _open(db: Session, institution_id: int) -> list[Alert]:
    run_rule(db, "out_of_scope", institution_ids=[institution_id])
    stmt = select(Alert).where(
        Alert.rule_id == "out_of_scope",
        Alert.institution_id == institution_id,
        Alert.status == "open",
    )
    return list(db.scalars(stmt))


def test_a_lims_keeps_its_withdrawn_parameters_but_cannot_add_them(
    db: Session, client, settings, factory: Factory, recorded: dict[str, Any]
) -> None:
    load(db, later())
    db.commit()
    lims = make_lims(db, settings, factory, institution=recorded["institution"])
    kept = lims.message(lab_name="力学室", parameters=["010101", "010401"])
    answer = lims.post(client, "registry.capabilities", kept)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == {"created": 0, "deleted": 0, "unchanged": 2}

    other = make_lims(db, settings, factory)
    lab = {"name": "力学室", "address": "九江市浔阳区测试路 2 号", "area_m2": "200"}
    assert other.post(client, "registry.labs", other.message(labs=[lab])).status_code == 200
    refused = other.post(
        client, "registry.capabilities", other.message(lab_name="力学室", parameters=["010401"])
    )
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "parameters"
    assert "现行资质目录已取消这些代码，不能新增：010401" in error["message"]
    fresh = other.post(
        client, "registry.capabilities", other.message(lab_name="力学室", parameters=["010101"])
    )
    assert fresh.json()["results"]["created"] == 1
    db.expire_all()
    [row] = db.scalars(select(Capability).where(Capability.institution_id == other.institution.id))
    assert row.parameter_id == _code(db, Parameter, "010101").id  # the current row


def test_forms_offer_current_entries_and_keep_a_record_s_own(
    db: Session, factory: Factory, recorded: dict[str, Any]
) -> None:
    from jcjg.auth.sessions import principal_for
    from jcjg.generic import service as generic
    from jcjg.generic.spec import specs

    load(db, later())
    db.commit()
    spec = specs()["capabilities"]
    admin = principal_for(db=db, user=factory.user(Role.PLATFORM_ADMIN), settings=factory.settings)
    welded = recorded["welded"]
    offered = dict(generic.ref_options(db=db, ref="parameter", institution_id=None))
    assert welded.id not in offered
    assert _code(db, Parameter, "011601").id in offered
    capability = db.scalars(select(Capability).where(Capability.parameter_id == welded.id)).one()
    held = generic.ref_options(db=db, ref="parameter", institution_id=None, held={welded.id})
    assert dict(held)[welded.id] == "010401 抗拉强度（旧版目录）"
    # an edit keeps the record's own withdrawn parameter ...
    same = generic.update_row(db=db, principal=admin, spec=spec, row_id=capability.id,
                              raw={"parameter_id": str(welded.id)})  # fmt: skip
    assert same.parameter_id == welded.id
    # ... a new record cannot choose it
    raw = {"institution_id": recorded["institution"].id, "lab_id": recorded["lab"].id,
           "parameter_id": str(welded.id)}  # fmt: skip
    with pytest.raises(ValidationFailed) as refused:
        generic.create_row(db=db, principal=admin, spec=spec, raw=raw)
    assert "已被现行资质目录取代，不能新选" in refused.value.errors[0].message


def test_the_page_shows_the_current_edition_and_the_earlier_one_read_only(
    db: Session, browser_client, factory: Factory, recorded: dict[str, Any]
) -> None:
    load(db, later())
    db.commit()
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get("/catalogue", headers=HTML).text
    assert "0116 预制混凝土构件" in page
    assert "0104 钢筋焊接接头" not in page
    assert 'data-testid="catalogue-editions"' in page
    assert "保存最低要求" in page
    earlier = browser_client.get("/catalogue?edition=2023", headers=HTML).text
    assert "0104 钢筋焊接接头" in earlier
    assert "0116 预制混凝土构件" not in earlier
    assert "已被取代的 2023 版" in earlier
    assert "保存最低要求" not in earlier  # read only
    assert browser_client.get("/catalogue?edition=1999", headers=HTML).status_code == 404

    # the rows of an earlier edition cannot be edited
    token = page_csrf(browser_client, "/catalogue")
    refused = browser_client.post(
        f"/catalogue/parameters/{recorded['welded'].id}/required",
        data={"csrf_token": token, "required": "0"},
        headers={"accept": "application/json"},
    )
    assert refused.status_code == 422
    assert "已被取代的目录版本" in refused.json()["detail"]
    api = browser_client.get(
        "/api/v1/catalogue/specialties?edition=2023", headers={"accept": "application/json"}
    ).json()
    assert "0104" in [i["code"] for i in api[0]["items"]]
    listed = browser_client.get(
        "/api/v1/catalogue/editions", headers={"accept": "application/json"}
    ).json()
    assert [e["code"] for e in listed] == ["2023", "2099"]


def _bad(**changes: Any) -> str:
    data = later()
    for path, value in changes.items():
        target: Any = data
        *head, last = path.split("__")
        for key in head:
            target = target[int(key)] if key.isdigit() else target[key]
        if value is None:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return json.dumps(data, ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "不是有效的 JSON"),
        (_bad(edition=None), "edition"),
        (_bad(specialties=[]), "specialties"),
        (_bad(specialties__0__items__0__code="0201"), "应以上级代码 01 开头"),
        (_bad(specialties__0__items__1__code="0101"), "检测项目代码 0101 重复"),
        (_bad(specialties__0__items__0__parameters=[]), "parameters"),
        (_bad(specialties__0__requirements__min_inspectors=-1), "min_inspectors"),
        (_bad(specialties__0__colour="red"), "colour"),
        (_bad(edition="版本 一"), "版本代码"),
    ],
)
def test_a_bad_file_is_refused_with_its_reasons(text: str, reason: str) -> None:
    with pytest.raises(EditionError, match=reason):
        editions.parse(text)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (later(edition="2001", published="2001-01-01"), "早于已加载的 2099 版"),
        ({**later(), "specialties": later()["specialties"][:3]}, "内容与之不同"),
    ],
)
def test_an_edition_that_cannot_be_loaded_writes_nothing(
    db: Session, data: dict[str, Any], reason: str
) -> None:
    load(db, later())
    db.commit()
    before = rows(db)
    with pytest.raises(EditionError, match=reason):
        load(db, data)
    db.rollback()
    assert rows(db) == before
