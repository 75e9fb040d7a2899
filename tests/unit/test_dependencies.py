"""What the code imports is what pyproject.toml declares (and constraints.txt pins).

A module imported by the product (domain, storage, actors, media, serve_apps, cluster,
simulations) must come from a declared dependency; one imported only by tests from a
declared dev dependency. An import that works only because something else pulled it in
breaks on the next upgrade of that something.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("domain", "storage", "actors", "media", "serve_apps", "cluster", "simulations")
OURS = {*PRODUCT, "tests"}
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(folders: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return found - OURS - set(sys.stdlib_module_names) - {"__future__"}


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    owners = packages_distributions()
    return {m: {d.lower().replace("_", "-") for d in owners.get(m, [m])} for m in modules}


def test_every_module_the_product_imports_is_a_declared_dependency() -> None:
    declared = {_name(r) for r in PROJECT["dependencies"]}
    missing = {m: d for m, d in _distributions(_imports(PRODUCT)).items() if not d & declared}
    assert not missing, f"imported but not declared in [project.dependencies]: {missing}"


def test_every_module_the_tests_import_is_declared() -> None:
    declared = {_name(r) for r in PROJECT["dependencies"]}
    declared |= {_name(r) for r in PROJECT["optional-dependencies"]["dev"]}
    tests_only = _imports(("tests",))
    missing = {m: d for m, d in _distributions(tests_only).items() if not d & declared}
    assert not missing, f"imported by tests but not declared: {missing}"


def test_every_declared_dependency_is_pinned_in_the_constraints() -> None:
    pinned = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    declared = {_name(r) for r in PROJECT["dependencies"]}
    declared |= {_name(r) for r in PROJECT["optional-dependencies"]["dev"]}
    assert declared <= pinned, f"declared but not in constraints.txt: {declared - pinned}"
