"""The JupyterLab extension ships inside the Python package: `scripts/bootstrap.sh` builds it from
labextension/ (with the JupyterLab builder from the npm registry), and the wheel that images install carries it
in share/jupyter/labextensions, where JupyterLab finds it; the session's JupyterLab here finds the same build."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support.procs import REPO, VENV_BIN

BUILT = REPO / "jupyter_s3_ext" / "labextension"
NAME = "jupyterlab-datalab"

pytestmark = pytest.mark.skipif(
    not (BUILT / "package.json").exists(),
    reason="the extension is not built (scripts/bootstrap.sh builds it)",
)


def test_the_build_is_a_jupyterlab_4_federated_extension():
    meta = json.loads((BUILT / "package.json").read_text())
    assert meta["name"] == NAME and meta["jupyterlab"]["extension"] is True
    entry = meta["jupyterlab"]["_build"]["load"]
    assert (BUILT / entry).is_file() and entry.startswith("static/remoteEntry.")
    assert json.loads((BUILT / "install.json").read_text())["packageName"] == "jupyterhub-datalab"


def test_the_wheel_carries_the_built_extension_once(tmp_path: Path):
    # Built from a copy of the packaged sources (setuptools leaves a build/ folder behind where it builds).
    src = tmp_path / "src"
    skip = (
        ".git",
        ".venv*",
        "node_modules",
        ".datalab*",
        "build",
        "dist",
        "*.egg-info",
        "__pycache__",
        ".*_cache",
    )
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*skip, "test-artifacts"))
    subprocess.run(
        [VENV_BIN / "pip", "wheel", "-q", "--no-deps", "--wheel-dir", tmp_path, src],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("jupyterhub_datalab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = f"jupyterhub_datalab-{wheel.name.split('-')[1]}.data/data/share/jupyter/labextensions/{NAME}/"
    shipped = sorted(n[len(data) :] for n in names if n.startswith(data))
    built = sorted(
        p.relative_to(BUILT).as_posix() for p in BUILT.rglob("*") if p.is_file() and p.name != ".source-hash"
    )
    assert shipped == built and "package.json" in shipped
    assert not [n for n in names if n.startswith("jupyter_s3_ext/labextension")]  # not twice


def test_jupyterlab_in_this_environment_finds_it():
    out = subprocess.run(
        [VENV_BIN / "jupyter", "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    assert f"{NAME} v0.1.0" in out.stdout + out.stderr and "enabled" in out.stdout + out.stderr
