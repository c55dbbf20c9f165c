"""Reference data: the GB/T 2260 regions and the qualification catalogue, edition by edition.

They come with the schema, not with the demo: :func:`upgrade` (``jcjg db upgrade``) migrates
the database, then loads the editions shipped with the package that it does not hold yet
(``jcjg/regions/data/gb2260*.tsv``, ``jcjg/catalogue/data/*.json``); an operator loads a newer
edition from a file with ``jcjg db load-regions`` / ``jcjg db load-catalogue``
(docs/operations/reference-data.md). The data standard's baseline
(``jcjg/governance/data/baseline.json``) loads with them: version 1 of a new database, a draft
for review when a release changes it (docs/governance.md). Reference data is not a platform
fact: none of it is notarised in the ledger, and loading writes no audit rows (each edition is
one recorded row).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from sqlalchemy.orm import Session

from jcjg.catalogue import editions as catalogue_editions
from jcjg.core import editions
from jcjg.core.db import make_engine
from jcjg.core.migrate import upgrade as migrate
from jcjg.governance import rulebook as quality_rules
from jcjg.governance import service as data_standard
from jcjg.regions import boundaries as boundary_editions
from jcjg.regions import editions as region_editions

# the kinds of reference data, in the order they load (regions know nothing of the catalogue)
KINDS: dict[str, ModuleType] = {
    region_editions.KIND: region_editions,
    catalogue_editions.KIND: catalogue_editions,
    boundary_editions.KIND: boundary_editions,  # none shipped: the deployment's approved ones
}
LABELS = {
    region_editions.KIND: "行政区划",
    catalogue_editions.KIND: "资质目录",
    boundary_editions.KIND: "行政区划边界",
}


def load_shipped(db: Session) -> list[str]:
    """Load the shipped editions the database does not hold (flushed, not committed); one line
    per edition saying what was done. A shipped edition older than one an operator has loaded
    since is passed over."""
    lines = []
    for kind, module in KINDS.items():
        for file in module.shipped():
            last, header = editions.latest(db, kind), file.header
            if (
                last is not None
                and last.published_date is not None
                and header.published_date is not None
                and header.published_date < last.published_date
                and editions.find(db, kind, header.code) is None
            ):
                lines.append(
                    f"{LABELS[kind]}：已有更新的 {last.code} 版，不再加载随附的 {header.code} 版"
                )
                continue
            lines.append(module.load(db, file).text)
    lines.append(data_standard.load_shipped(db))
    lines.append(quality_rules.load_defaults(db))
    return lines


def load_file(db: Session, kind: str, path: Path) -> str:
    """Load the edition in ``path`` (flushed, not committed); raises
    :class:`jcjg.core.editions.EditionError` before writing anything when it cannot."""
    module = KINDS[kind]
    loaded: editions.Loaded = module.load(db, module.read(path))
    return loaded.text


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Migrate the database at ``url`` to ``revision``; at the head, load the shipped
    reference data it lacks. Returns what was loaded, one line per edition."""
    migrate(url, revision)
    if revision != "head":
        return []
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            lines = load_shipped(db)
            db.commit()
    finally:
        engine.dispose()
    return lines
