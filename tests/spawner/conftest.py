"""A small catalog in tmp_path for each test that asks for `catalog_dir` (tests/support/catalog.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.catalog import write_catalog


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return write_catalog(tmp_path / "catalog")
