"""Bad input to the `datalab` commands of the one-machine datalab (issue 15): user names too long for their
system account, a damaged or empty users.yaml, a stale stack.json. Each gets a message naming what is
wrong, never a Python error."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hub.stack.layout import Layout
from hub.stack.users import UserError, add_user, max_name_length, read_users
from tests.support.procs import VENV_BIN


def datalab(state: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "DATALAB_ACCOUNT_TEMPLATE"}
    environ.update({"DATALAB_STATE_DIR": str(state), **env})
    return subprocess.run(
        [VENV_BIN / "datalab", *args], env=environ, capture_output=True, text=True, timeout=60
    )


def test_user_names_too_long_for_their_account_are_refused_with_the_limit(tmp_path):
    assert max_name_length("dl-{username}") == 29
    r = datalab(tmp_path, "users", "add", "a" * 30)
    assert r.returncode == 1
    assert "at most 29" in r.stdout and "dl-" + "a" * 30 in r.stdout and "32" in r.stdout, r.stdout
    assert datalab(tmp_path, "users", "add", "a" * 29).returncode == 0
    # the limit follows the account names this datalab uses
    r = datalab(tmp_path, "users", "add", "b" * 25, DATALAB_ACCOUNT_TEMPLATE="datalab-session-{username}")
    assert r.returncode == 1 and "at most 16" in r.stdout, r.stdout


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("users:\n  alice: {groups: [x]\n", 3, "expected ','"),
        ("- alice\n- bob\n", 1, "`users:` at the top"),
        ("users: [alice, bob]\n", 1, "must map each login name"),
        ("users:\n  alice:\n    password: x\n  bob: 3\n", 4, "'bob' must be a mapping"),
        ("users:\n  alice:\n    password: x\n    groups: datalab-users\n", 4, "groups of 'alice'"),
    ],
)
def test_a_damaged_users_file_names_the_file_and_line(tmp_path, text, line, what):
    layout = Layout(tmp_path)
    layout.idp.mkdir()
    layout.users_file.write_text(text)
    with pytest.raises(UserError, match=rf"users\.yaml, line {line}: .*{what}"):
        read_users(layout)
    for args in (("users", "list"), ("users", "add", "carol")):
        r = datalab(tmp_path, *args)
        assert r.returncode == 1, r.stdout
        assert f"{layout.users_file}, line {line}" in r.stdout, r.stdout
        assert "<unicode string>" not in r.stdout + r.stderr and "object has no attribute" not in r.stdout


def test_an_empty_users_file_is_said(tmp_path):
    layout = Layout(tmp_path)
    layout.idp.mkdir()
    layout.users_file.write_text("\n")
    r = datalab(tmp_path, "users", "list")
    assert "users.yaml is empty: nobody can sign in" in r.stdout, r.stdout
    add_user(layout, "carol", ["datalab-users"])  # an empty file takes its first account
    assert list(read_users(layout)) == ["carol"]


def test_a_stale_stack_file_is_not_a_running_datalab(tmp_path):
    for stale in ({"pid": 1}, {"pid": os.getpid(), "pid_start": 1, "stack_id": "x"}, [1, 2]):
        (tmp_path / "stack.json").write_text(json.dumps(stale))
        r = datalab(tmp_path, "status")
        assert r.returncode == 3, r.stdout
        assert r.stdout.startswith("datalab: not running"), r.stdout
        assert "None" not in r.stdout and "running (pid" not in r.stdout, r.stdout


@pytest.mark.parametrize("value, said", [("many", "a whole number, not 'many'"), ("-1", "1 or more")])
def test_a_bad_number_of_start_slots_is_said_before_anything_starts(tmp_path, value, said):
    out = datalab(tmp_path / "state", "up", DATALAB_START_SLOTS=value)
    assert out.returncode == 1 and f"datalab up: DATALAB_START_SLOTS must be {said}" in out.stdout, out
    assert not (tmp_path / "state").exists(), "nothing was made"
