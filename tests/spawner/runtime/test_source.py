"""CatalogSource: changed files are used, invalid changes refused (problems kept, logged once), and a
ConfigMap's atomic `..data` symlink swap is seen."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from spawner.catalog import CatalogError
from spawner.runtime.source import CatalogSource, fingerprint
from tests.support.catalog import MAIN_LIST, RSTUDIO, SERVICE, write_catalog


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock():
    return Clock()


def test_a_valid_change_is_used_after_the_check_interval(catalog_dir, clock):
    source = CatalogSource(catalog_dir, check_interval=5, clock=clock)
    assert set(source.get().lists["main"].services) == {"py", "rs"}
    (catalog_dir / "lists" / "main.yaml").write_text(MAIN_LIST.replace("  rs:\n", ""))
    clock.t = 4.9
    assert set(source.get().lists["main"].services) == {"py", "rs"}  # not checked yet
    clock.t = 5.0
    assert set(source.get().lists["main"].services) == {"py"}
    assert source.problems == ()


def test_an_invalid_change_is_refused_logged_once_and_kept_as_problems(catalog_dir, clock, caplog):
    source = CatalogSource(catalog_dir, check_interval=0, clock=clock)
    good = source.get()
    broken = catalog_dir / "lists" / "main.yaml"
    broken.write_text(MAIN_LIST + "  ghost: {}\n")
    with caplog.at_level(logging.INFO, logger="datalab.catalog"):
        for _ in range(3):
            assert source.get() is good  # the last valid catalog stays in force
    assert [str(p) for p in source.problems] == [f"{broken}:6: unknown service 'ghost' (known: py, rs)"]
    refused = [r for r in caplog.records if "changed but is invalid" in r.getMessage()]
    assert len(refused) == 1 and f"{broken}:6: unknown service 'ghost'" in refused[0].getMessage()
    assert source.refused_at is not None

    broken.write_text(MAIN_LIST)  # fixed
    assert source.get() is not good and source.problems == () and source.refused_at is None


def test_a_catalog_never_valid_raises_with_every_problem(tmp_path, clock):
    root = write_catalog(tmp_path, services={"py": SERVICE.replace("max: 4", "max: 0.1")})
    source = CatalogSource(root, clock=clock)
    with pytest.raises(CatalogError) as info:
        source.get()
    assert source.catalog is None
    assert any("py.yaml" in p.file for p in info.value.problems)


def _configmap_revision(root: Path, name: str, list_text: str) -> Path:
    rev = root / name
    for sub, files in (("services", {"py": SERVICE, "rs": RSTUDIO}), ("lists", {"main": list_text})):
        (rev / sub).mkdir(parents=True)
        for stem, text in files.items():
            (rev / sub / f"{stem}.yaml").write_text(text)
            os.utime(rev / sub / f"{stem}.yaml", ns=(10**18, 10**18))  # same times in every revision
    return rev


def test_a_configmap_symlink_swap_is_seen_even_with_equal_sizes_and_times(tmp_path, clock):
    """The kubelet's layout: DIR/..<timestamp>/ holds the files, DIR/..data links to it and
    DIR/services, DIR/lists link into ..data; an update swaps ..data atomically (rename)."""
    root = tmp_path / "mount"
    root.mkdir()
    _configmap_revision(root, "..2026_12_01_a", MAIN_LIST)
    os.symlink("..2026_12_01_a", root / "..data")
    for sub in ("services", "lists"):
        os.symlink(f"..data/{sub}", root / sub)
    source = CatalogSource(root, check_interval=0, clock=clock)
    assert set(source.get().lists["main"].groups) == {"users"}
    before = fingerprint(root)

    # Same length, same mtime: only the content differs.
    _configmap_revision(root, "..2026_12_01_b", MAIN_LIST.replace("[users]", "[guest]"))
    os.symlink("..2026_12_01_b", root / "..data_tmp")
    os.rename(root / "..data_tmp", root / "..data")
    assert fingerprint(root) != before
    assert set(source.get().lists["main"].groups) == {"guest"}
