"""The environment definitions the images and one-machine sessions share: what each service's card
promises is in its definition, every package is pinned, and every pin exists in the registries here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from spawner.local import environments as envs

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"


def services() -> dict[str, dict]:
    return {
        p.stem: yaml.safe_load(p.read_text()) for p in sorted((REPO / "profiles" / "services").glob("*.yaml"))
    }


def promised(description: str) -> list[str]:
    """The libraries a card names in parentheses."""
    names: list[str] = []
    for group in re.findall(r"\(([^)]*)\)", description):
        names += [n.strip() for n in group.split(",") if n.strip()]
    return names


@pytest.mark.parametrize("slug", sorted(services()))
def test_every_library_a_card_names_is_in_its_environment(slug):
    svc = services()[slug]
    image = svc["options"]["image"]["choices"][0]["image"]
    name = envs.image_environment(image)
    assert name and (IMAGES / name / "requirements.txt").exists(), f"{slug}: {image} has no definition"
    python = {line.split("==")[0].split("[")[0].lower() for line in envs.definition(name, IMAGES).lines}
    debian = set(envs.debian_packages(IMAGES, name))
    for lib in promised(svc["description"]):
        key = lib.lower().replace(" ", "-")
        if key in ("code-server", "python-3", "cuda", "pytorch"):  # programs, and the GPU base image's own
            continue
        assert key in python or f"r-cran-{key}" in debian, f"{slug}'s card names {lib}, not in images/{name}"


def test_every_python_package_is_pinned_and_exists_in_the_registry(tmp_path):
    """A dry-run resolution against the package index (metadata only) of the exact pins, for Python 3.11."""
    uv = envs._uv()
    if uv is None:
        pytest.skip("uv is not installed (make test installs it)")
    d = envs.definition("python", IMAGES)
    assert all(
        re.fullmatch(r"[A-Za-z0-9._-]+(\[[a-z,]+\])?==[0-9][A-Za-z0-9.+!-]*", line) for line in d.lines
    )
    pins = tmp_path / "pins.txt"
    pins.write_text("\n".join([*d.lines, "jupyterhub==5.5.0"]) + "\n")
    out = subprocess.run(
        [uv, "pip", "compile", "--quiet", "--no-deps", "--python-version", "3.11", "--python-platform",
         "x86_64-manylinux_2_28", "--only-binary", ":all:", str(pins)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


def test_every_debian_package_exists():
    packages = envs.debian_packages(IMAGES, "r")
    assert "r-base-core" in packages and "r-cran-irkernel" in packages
    out = subprocess.run(["apt-cache", "policy", *packages], capture_output=True, text=True, timeout=60)
    missing = [
        p
        for p in packages
        if not re.search(rf"^{re.escape(p)}:\n\s+Installed: .*\n\s+Candidate: (?!\(none\))", out.stdout, re.M)
    ]
    assert not missing, f"not in the Debian archive here: {missing} (apt-get update first)"
