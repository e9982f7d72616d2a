"""Build the jupyterhub-datalab wheel and check that it carries every data file pyproject.toml lists.

The one wheel build of both Dockerfiles (their `wheel` stage runs it on the build context .dockerignore
keeps, copied to /src) and of tests/images/test_wheel.py. setuptools fails on a listed file that is
missing, but a pattern that matches nothing (the JupyterLab extension before `scripts/bootstrap.sh
labextension`) is silently left out: here every pattern must have brought at least one file.

Usage: python images/wheel.py OUT_DIR VERSION [PIP_OPTION ...]   (stdlib only: it runs before any install)
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1]  # the repository, or the build context in an image
HINTS = {
    "jupyter_s3_ext/labextension/": " (the JupyterLab extension: run scripts/bootstrap.sh labextension first)"
}


def missing_data_files(wheel: Path, project: dict) -> list[str]:
    """The data-files entries of `project` (pyproject.toml, parsed) that brought nothing into `wheel`."""
    name, version = project["project"]["name"].replace("-", "_"), project["project"]["version"]
    prefix = f"{name}-{version}.data/data/"
    members = zipfile.ZipFile(wheel).namelist()
    missing = []
    for dest, patterns in project["tool"]["setuptools"]["data-files"].items():
        inside = [m[len(prefix + dest) + 1 :] for m in members if m.startswith(f"{prefix}{dest}/")]
        for pattern in patterns:
            if not fnmatch.filter(inside, pattern.rsplit("/", 1)[-1]):
                hint = next((h for start, h in HINTS.items() if pattern.startswith(start)), "")
                missing.append(f"{pattern} -> {dest}{hint}")
    return missing


def build(out: Path, version: str, source: Path = SOURCE, pip_options: tuple[str, ...] = ()) -> Path:
    """The wheel built from `source` into `out`; SystemExit with the reason when it is not the one expected."""
    project = tomllib.loads((source / "pyproject.toml").read_text())
    if project["project"]["version"] != version:
        raise SystemExit(
            f"DATALAB_VERSION {version} is not pyproject.toml's version {project['project']['version']}"
        )
    pip = [sys.executable, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--wheel-dir", str(out)]
    subprocess.run([*pip, *pip_options, "."], cwd=source, check=True)
    wheel = out / f"{project['project']['name'].replace('-', '_')}-{version}-py3-none-any.whl"
    if not wheel.is_file():
        raise SystemExit(f"no {wheel.name} in {out}")
    missing = missing_data_files(wheel, project)
    if missing:
        raise SystemExit("the wheel lacks data files pyproject.toml lists:\n  " + "\n  ".join(missing))
    return wheel


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__.rsplit("Usage: ", 1)[1])
    build(Path(sys.argv[1]).resolve(), sys.argv[2], pip_options=tuple(sys.argv[3:]))
