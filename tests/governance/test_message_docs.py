"""The field tables of docs/exchange-api/messages.md against the published data standard (the
shipped baseline, as docs/exchange-api/data-standard.md is generated from it): every field of
a message type's model is in its section's table, every row is a field of the model (or the
list or object holding some), a leaf field is required there as the standard says, and its
value domain is the one the table states (each code of an enumeration, each bound of a
length or a number). The tables stay written by hand (their notes, defaults and matching keys
are not in the standard; docs/governance.md says why); this keeps them from drifting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from jcjg.governance import standard

DOC = Path(__file__).parents[2] / "docs" / "exchange-api" / "messages.md"
ROW = re.compile(r"^\| `([a-z0-9_\[\].]+)` \| ([^|]+) \| ((?:yes|no)[^|]*) \| (.+) \|$", re.M)
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
BOUNDS = ("min_length", "max_length", "minimum", "maximum")


def _sections() -> dict[str, str]:
    parts = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {p.split("`")[1]: p for p in parts if p.startswith("`")}


def _rows(section: str) -> dict[str, tuple[str, bool]]:
    """A section's table: field -> (its type and meaning cells, required)."""
    return {f: (f"{t} {m}", r.startswith("yes")) for f, t, r, m in ROW.findall(section)}


def _shown(value: float) -> set[str]:
    """The ways a table writes a bound: ``32``, ``100,000``, ``−90``, ``10¹²``."""
    number = int(value) if float(value).is_integer() else value
    ways = {str(number), f"{number:,}"}
    ways |= {w.replace("-", "−") for w in ways}
    if isinstance(number, int) and abs(number) >= 10**6 and str(abs(number)).strip("0") == "1":
        ways.add("10" + str(len(str(abs(number))) - 1).translate(SUPERSCRIPT))
    return ways


def _holder(path: str) -> str:
    """The table's row for a model path: a list of values is its list
    (``items[]`` -> ``items``); deeper than a list's record, the record's field
    (``specimens[].curve.points[]`` -> ``specimens[].curve``); inside an object, the
    object (``environment.temperature_c`` -> ``environment``)."""
    found = re.match(r"^[a-z0-9_]+(\[\]\.[a-z0-9_]+)?", path)
    assert found is not None, path
    return found.group(0)


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return standard.shipped()


def _problems(model: dict[str, Any], rows: dict[str, tuple[str, bool]], elements: dict) -> list:
    problems = []
    paths = [f["path"] for f in model["fields"]]
    for field in model["fields"]:
        path = field["path"].removesuffix("[]")
        if path not in rows:
            if _holder(path) not in rows:
                problems.append(("not in the table", field["path"]))
            continue
        cells, required = rows[path]
        if required != field["required"]:
            problems.append(("required", path, field["required"]))
        domain = elements[field["element"]]["domain"]
        for code in domain.get("enum", []):
            if f"`{code}`" not in cells:
                problems.append(("code", path, code))
        for bound in BOUNDS:
            if bound in domain and not any(w in cells for w in _shown(domain[bound])):
                problems.append((bound, path, domain[bound]))
    for row in rows:
        if not any(p == row or p.startswith((f"{row}.", f"{row}[]")) for p in paths):
            problems.append(("not in the standard", row))
    return problems


def test_every_table_agrees_with_the_published_standard(shipped):
    sections = _sections()
    elements = {e["id"]: e for e in shipped["elements"]}
    assert {m["id"] for m in shipped["models"]} == set(sections)
    problems = {}
    for model in shipped["models"]:
        found = _problems(model, _rows(sections[model["id"]]), elements)
        if found:
            problems[model["id"]] = found
    assert problems == {}


def test_the_check_notices_a_drifted_table(shipped):
    """A bound, a code and a required mark changed in the standard, or a row left out: each
    is noticed."""
    elements = {e["id"]: e for e in shipped["elements"]}
    model = next(m for m in shipped["models"] if m["id"] == "registry.staff")
    rows = _rows(_sections()["registry.staff"])
    assert _problems(model, rows, elements) == []
    by_path = {f["path"]: f for f in model["fields"]}
    narrowed = {**elements}
    name = by_path["people[].name"]["element"]
    narrowed[name] = {**elements[name], "domain": {"min_length": 1, "max_length": 40}}
    gender = by_path["people[].gender"]["element"]
    narrowed[gender] = {**elements[gender], "domain": {"enum": ["male", "female", "other"]}}
    assert ("max_length", "people[].name", 40) in _problems(model, rows, narrowed)
    assert ("code", "people[].gender", "other") in _problems(model, rows, narrowed)
    optional = {
        **model,
        "fields": [
            {**f, "required": False} if f["path"] == "people[].name" else f for f in model["fields"]
        ],
    }
    assert ("required", "people[].name", False) in _problems(optional, rows, elements)
    shorter = {k: v for k, v in rows.items() if k != "people[].mobile"}
    assert ("not in the table", "people[].mobile") in _problems(model, shorter, elements)
    longer = {**rows, "people[].nickname": ("string", False)}
    assert ("not in the standard", "people[].nickname") in _problems(model, longer, elements)
