"""Small catalogs written into tmp_path, so each test states exactly the catalog it is about."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from spawner.catalog import CatalogError, load_catalog

SERVICE = """\
display_name: Python
description: A test service.
kind: jupyter
options:
  image:
    choices:
      - image: reg.example/py:1
        display_name: Python one
      - reg.example/py:2
    allow_custom: true
    custom_regex: 'reg\\.example/py:[0-9]+'
  cpu: {default: 1, min: 0.5, max: 4}
  memory: {default: 2, min: 1, max: 8}
  storage: {default: 5, min: 1, max: 20}
  gpu: {default: 0, min: 0, max: 2}
  postgres: {allowed: true, image: "reg.example/postgres:16"}
"""

RSTUDIO = """\
display_name: RStudio
kind: rstudio
options:
  image: {choices: ["reg.example/r:1"]}
  cpu: {default: 1, min: 1, max: 2}
  memory: {default: 2, min: 1, max: 4}
  storage: {default: 5, min: 1, max: 10}
"""

MAIN_LIST = """\
display_name: Main
groups: [users]
services:
  py: {}
  rs:
"""


def write_catalog(
    root: Path,
    services: dict[str, str] | None = None,
    lists: dict[str, str] | None = None,
    settings: str | None = None,
) -> Path:
    """A catalog directory: `services`/`lists` map a file name (without .yaml) to its YAML text."""
    services = {"py": SERVICE, "rs": RSTUDIO} if services is None else services
    lists = {"main": MAIN_LIST} if lists is None else lists
    for sub, files in (("services", services), ("lists", lists)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / sub / f"{name}.yaml").write_text(textwrap.dedent(text))
    if settings is not None:
        (root / "catalog.yaml").write_text(textwrap.dedent(settings))
    return root


def problems_of(root: Path, **kwargs) -> list[str]:
    """The problems of an invalid catalog as 'FILE:LINE: message' with FILE relative to `root`."""
    with pytest.raises(CatalogError) as info:
        load_catalog(root, **kwargs)
    return [f"{Path(p.file).relative_to(root)}:{p.line}: {p.message}" for p in info.value.problems]


def assert_reported(root: Path, relpath: str, text: str, line: int, message: str) -> None:
    """Writing `text` to `relpath` of the catalog at `root` makes it invalid, with `message` at that line."""
    (root / relpath).write_text(text)
    found = problems_of(root)
    assert any(p.startswith(f"{relpath}:{line}: ") and message in p for p in found), found
