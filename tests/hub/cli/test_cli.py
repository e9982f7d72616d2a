"""The `datalab` command: dispatch, and `datalab profiles lint` on valid and broken catalogs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub import cli
from tests.support.catalog import MAIN_LIST, SERVICE, write_catalog

REPO = Path(__file__).resolve().parents[3]


def test_lint_builtin_catalog_ok(capsys):
    assert cli.main(["profiles", "lint", str(REPO / "profiles")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK ") and "services" in out and "default (4)" in out


def test_lint_default_dir_is_the_hubs(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DATALAB_CATALOG_DIR", str(write_catalog(tmp_path)))
    assert cli.main(["profiles", "lint"]) == 0
    assert str(tmp_path) in capsys.readouterr().out


def test_lint_reports_every_problem_as_file_line_message(capsys, tmp_path):
    root = write_catalog(
        tmp_path,
        services={"py": SERVICE.replace("cpu: {default: 1,", "cpu: {default: 9,"), "rs": "kind: [\n"},
        lists={"main": MAIN_LIST + "  ghost: {}\n"},
    )
    assert cli.main(["profiles", "lint", str(root)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert f"{root}/lists/main.yaml:6: unknown service 'ghost' (known: py, rs)" in lines
    assert f"{root}/services/py.yaml:12: cpu: default 9 is outside [0.5, 4]" in lines
    assert any(line.startswith(f"{root}/services/rs.yaml:2: YAML syntax error") for line in lines)
    assert len(lines) == 3 and "3 problems" in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_lint_missing_directory(capsys, tmp_path):
    assert cli.main(["profiles", "lint", str(tmp_path / "nope")]) == 1
    assert f"{tmp_path}/nope:0: the catalog directory does not exist" in capsys.readouterr().out


def test_lint_registry_option(capsys, tmp_path):
    root = write_catalog(
        tmp_path, services={"py": SERVICE.replace("- reg.example/py:2", "- '{registry}/py:2'"), "rs": SERVICE}
    )
    assert cli.main(["profiles", "lint", str(root)]) == 1
    assert "{registry} needs `registry:` in catalog.yaml" in capsys.readouterr().out
    assert cli.main(["profiles", "lint", "--registry", "reg.example", str(root)]) == 0


def test_usage_without_a_command(capsys):
    assert cli.main([]) == 2
    assert cli.main(["profiles"]) == 2
    assert "lint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])


def test_help_lists_every_command_of_the_explicit_list(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    for command in ("up", "status", "users", "profiles"):
        assert f"    {command}" in listed


def test_console_script_runs_without_traceback(tmp_path):
    """The installed `datalab` entry point, as an operator runs it."""
    exe = Path(sys.executable).with_name("datalab")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hub.cli"]
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "x.yaml").write_bytes(b"\xff\xfe bad bytes")
    result = subprocess.run(
        [*cmd, "profiles", "lint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"DATALAB_DEBUG": ""},
    )
    assert result.returncode == 1, result.stderr
    assert f"{tmp_path}/services/x.yaml:0: cannot read the file" in result.stdout
    assert "Traceback" not in result.stderr
