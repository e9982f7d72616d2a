"""The environment definitions the images and one-machine sessions share: what each service's card
promises is in its definition, every package is pinned, and every pin exists in the registries here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from spawner.local import environments as envs
from tests.images.test_images import pip_pins, stage

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


def compile_pins(uv: str, pins: list[str], tmp: Path, *deps: str) -> subprocess.CompletedProcess:
    path = tmp / f"pins-{len(pins)}.txt"
    path.write_text("\n".join(pins) + "\n")
    return subprocess.run(
        [uv, "pip", "compile", "--quiet", *deps, "--python-version", "3.11", "--python-platform",
         "x86_64-manylinux_2_28", "--only-binary", ":all:", "--no-header", "--no-annotate", str(path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_every_pin_exists_and_the_images_set_resolves_to_itself(tmp_path):
    """Metadata only, against the package index: the definition with the chart's JupyterHub (what the
    image installs) resolves to exactly its own pins, and what the images add exists at its pin."""
    uv = envs._uv()
    if uv is None:
        pytest.skip("uv is not installed (make test installs it)")
    d = envs.definition("python", IMAGES)
    assert all(
        re.fullmatch(r"[A-Za-z0-9._-]+(\[[a-z,]+\])?==[0-9][A-Za-z0-9.+!-]*", line) for line in d.lines
    )
    image_set = [*d.lines, "jupyterhub==5.5.0"]
    out = compile_pins(uv, image_set, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    resolved = {line.strip().lower() for line in out.stdout.splitlines() if "==" in line}
    wanted = {re.sub(r"\[.*\]", "", line).lower() for line in image_set}
    assert resolved == wanted, f"missing from the definition: {sorted(resolved - wanted)}"
    added = [
        f"{k}=={v}"
        for name in ("python-gpu", "r")
        for run in stage(name).runs
        for k, v in pip_pins(run).items()
    ]
    assert added, "the GPU and R images add pinned packages"
    out = compile_pins(uv, added, tmp_path, "--no-deps")
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
