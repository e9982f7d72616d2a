"""The wheel both Dockerfiles install, built by images/wheel.py from exactly the build context .dockerignore
keeps: it carries the catalog, the session environments' definitions and the JupyterLab extension, and a
context without one of them fails the build, saying which.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def docker_context(dest: Path) -> Path:
    """The repository as `docker build .` sees it through .dockerignore (`**`, `!path` and `**/name` lines)."""
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "**", "the context starts empty and names what it keeps"
    dropped = [line.removeprefix("**/") for line in lines[1:] if not line.startswith("!")]

    def ignore(_dir, names):
        return [n for n in names if any(fnmatch.fnmatch(n, d) for d in dropped)]

    for kept in (line[1:].rstrip("/") for line in lines if line.startswith("!")):
        src = REPO / kept
        (dest / kept).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest / kept, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / kept)
    return dest


def build(context: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(context / "images" / "wheel.py"), str(out), VERSION, "--quiet"],
        cwd=context, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    if not (REPO / "jupyter_s3_ext" / "labextension" / "package.json").exists():
        pytest.fail("the JupyterLab extension is not built: run scripts/bootstrap.sh labextension")
    return docker_context(tmp_path_factory.mktemp("context"))


def test_the_wheel_carries_the_catalog_the_environment_definitions_and_the_extension(context, tmp_path):
    done = build(context, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    names = zipfile.ZipFile(tmp_path / f"jupyterhub_datalab-{VERSION}-py3-none-any.whl").namelist()
    data = f"jupyterhub_datalab-{VERSION}.data/data/share/"
    profiles = REPO / "profiles"
    for f in [*profiles.glob("*/*.yaml"), *profiles.glob("icons/*.svg"), profiles / "catalog.yaml"]:
        assert f"{data}datalab/profiles/{f.relative_to(profiles)}" in names, f
    for f in (
        "python/requirements.txt",
        "r/requirements.txt",
        "r/debian-packages.txt",
        "vscode/requirements.txt",
    ):
        assert f"{data}datalab/images/{f}" in names, f
    assert f"{data}jupyter/labextensions/jupyterlab-datalab/package.json" in names
    assert "hub/pages/templates/home.html" in names and "spawner/catalog/model.py" in names


def test_a_context_without_a_data_file_fails_the_build_and_says_which(context, tmp_path):
    broken = shutil.copytree(context, tmp_path / "context")
    shutil.rmtree(broken / "jupyter_s3_ext" / "labextension")
    done = build(broken, tmp_path / "out")
    assert done.returncode != 0
    assert "jupyter_s3_ext/labextension/*.json" in done.stderr and "bootstrap.sh labextension" in done.stderr
