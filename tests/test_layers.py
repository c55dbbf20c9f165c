"""The import contracts (`lint-imports`, run by `make lint`) cover every domain, and the app
factory finds its domains through jcjg.domains only: no import, no importlib string."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

import jcjg
from jcjg.domains import DOMAINS

pytestmark = pytest.mark.once  # no database: the same on both databases

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"][
    "contracts"
]


def _contract(kind: str, starts: str) -> dict:
    [found] = [c for c in CONTRACTS if c["type"] == kind and c["name"].startswith(starts)]
    return found


def _layered() -> set[str]:
    names: set[str] = set()
    for layer in _contract("layers", "Layers")["layers"]:
        for part in layer.replace("|", ":").split(":"):
            names.add(part.strip().strip("()"))
    return names


def test_every_domain_package_has_its_place_in_the_layers() -> None:
    missing = {f"jcjg.{d.name}" for d in DOMAINS} - _layered()
    assert not missing, f"add these packages to a layer in pyproject.toml: {sorted(missing)}"


def test_the_app_factory_is_forbidden_every_domain_package() -> None:
    forbidden = set(_contract("forbidden", "The app factory")["forbidden_modules"])
    missing = {f"jcjg.{d.name}" for d in DOMAINS} - forbidden
    assert not missing, f"forbid jcjg.main these packages in pyproject.toml: {sorted(missing)}"


def test_production_code_may_not_import_the_demo() -> None:
    sources = set(_contract("forbidden", "Production code")["source_modules"])
    packages = {
        p.name for p in Path(jcjg.__file__).parent.iterdir() if (p / "__init__.py").exists()
    }
    production = {f"jcjg.{name}" for name in packages - {"demo"}} | {"jcjg.main", "jcjg.config"}
    missing = production - sources
    assert not missing, f"keep these packages from the demo in pyproject.toml: {sorted(missing)}"


def test_the_app_factory_names_no_domain_in_a_string() -> None:
    tree = ast.parse((ROOT / "src/jcjg/main.py").read_text("utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not names & {"import_module", "__import__", "find_spec"}  # no module by its name
    domains = {d.name for d in DOMAINS}
    strings = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    named = [s for s in strings if s.startswith("jcjg.") and s.split(".")[1] in domains]
    assert not named, f"jcjg.main names domain modules: {named}"
