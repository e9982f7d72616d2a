"""Pruning the shared environment cache: old environments go, what a running datalab holds or a build is
making stays. Other datalabs are other processes here (locks are per process, as between two `datalab up`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spawner.local import environment_cache as cache_
from spawner.local import environments as envs

DAY = 86400
REPO = Path(__file__).resolve().parents[3]


def environment(cache: Path, name: str, age_days: float) -> Path:
    """An environment as build() leaves it (its marker written last), last used `age_days` ago."""
    d = envs.Definition(name, (f"{name}==1.0",))
    directory = d.directory(cache)
    (directory / "bin").mkdir(parents=True)
    (directory / envs.MARKER).write_text(f"{name} {d.key}\n")
    age(directory, age_days)
    return directory


def age(directory: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(directory / envs.MARKER, (then, then))


@pytest.fixture
def other_process():
    """Runs Python code in another process that keeps running (another datalab); killed with -9 after."""
    started: list[subprocess.Popen] = []

    def run(code: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", code + "\nprint('ready', flush=True)\nimport time; time.sleep(600)"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield run
    for proc in started:
        proc.kill()
        proc.wait()


def test_environments_unused_for_two_weeks_go_and_recent_or_kept_ones_stay(tmp_path):
    old = environment(tmp_path, "old", 15)
    recent = environment(tmp_path, "recent", 3)
    kept = environment(tmp_path, "kept", 30)
    said: list[str] = []
    assert cache_.prune(tmp_path, [kept], say=said.append) == [old]
    assert not old.exists() and recent.exists() and kept.exists()
    assert said == [f"datalab: removed {old.name}, a session environment unused for 14 days"]


def test_an_unfinished_build_left_behind_is_removed_once_old(tmp_path):
    crashed = tmp_path / "env-0123456789abcdef"
    (crashed / "lib").mkdir(parents=True)  # no marker: an interrupted build
    then = time.time() - 20 * DAY
    os.utime(crashed, (then, then))
    assert cache_.prune(tmp_path, say=lambda line: None) == [crashed]


def test_what_another_running_datalab_holds_stays_until_it_ends(tmp_path, other_process):
    held = environment(tmp_path, "held", 0)
    holder = other_process(
        "from pathlib import Path; from spawner.local.environment_cache import Held\n"
        f"h = Held(Path({str(tmp_path)!r}), [Path({str(held)!r})])"
    )
    age(held, 40)  # that datalab has run for weeks
    assert cache_.prune(tmp_path, say=lambda line: None) == []
    assert held.exists()
    holder.send_signal(signal.SIGKILL)  # even a killed datalab lets go
    holder.wait()
    assert cache_.prune(tmp_path, say=lambda line: None) == [held]


def test_an_environment_being_built_is_left_alone(tmp_path, other_process):
    building = environment(tmp_path, "building", 30)
    key = building.name.removeprefix("env-")
    other_process(  # the lock build() holds while it installs
        f"import fcntl\nf = open({str(tmp_path / f'.lock-{key}')!r}, 'a'); fcntl.flock(f, fcntl.LOCK_EX)"
    )
    assert cache_.prune(tmp_path, say=lambda line: None) == []
    assert (building / envs.MARKER).exists()


def test_a_build_that_finds_the_environment_ready_counts_as_a_use(tmp_path):
    d = envs.Definition("ready", ("ready==1.0",))
    directory = environment(tmp_path, "ready", 30)
    assert envs.build(d, tmp_path, say=lambda line: None)[0] == directory
    assert cache_.prune(tmp_path, say=lambda line: None) == []
    assert time.time() - cache_.last_used(directory) < 60
