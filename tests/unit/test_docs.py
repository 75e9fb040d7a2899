"""The repository explains itself: README and docs/ point only at files the clone has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a path in backticks: folders and a file name with an extension we keep in the repo
PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:md|py|json|yaml|toml|lua|js|txt))`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_never_point_outside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    assert "../shared" not in text and "shared/" not in text.replace("simulations/", "")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_a_doc_names_exists(doc: Path) -> None:
    named = set(PATH.findall(doc.read_text()))
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"{doc.name} names files the repository does not have: {missing}"
