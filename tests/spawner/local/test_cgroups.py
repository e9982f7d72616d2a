"""A cgroup per local session: the files and values decided for each version, and (as root, where the
machine has cgroups) a real process over its memory limit killed by the kernel and counted."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from spawner.local import cgroups
from spawner.local.limits import LimitsMixin

SUPPORT = cgroups.detect()


def test_limits_for_each_version():
    assert cgroups.settings(2, 1.5, 2 * 1024**3) == {
        "": {"memory.max": str(2 * 1024**3), "memory.swap.max": "0", "cpu.max": "150000 100000"}
    }
    assert cgroups.settings(1, 0.5, 1024**3) == {
        "memory": {"memory.limit_in_bytes": str(1024**3)},
        "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"},
    }
    assert cgroups.oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3
    assert cgroups.oom_kills("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n") == 1


def test_without_root_nothing_is_enforced_and_the_form_says_so():
    assert cgroups.detect(euid=1000) == cgroups.Support(None, "the datalab does not run as root")
    off = LimitsMixin(enforce_limits=False)
    assert "CPU and memory limits are not enforced on this machine (the operator turned enforcement off)" in (
        off.limits_notice()
    )
    with pytest.raises(cgroups.CgroupError, match="bad cgroup name"):
        cgroups.SessionCgroup.create(1, "../escape", 1, 1024**3, root=cgroups.ROOT / "nonexistent")


@pytest.mark.skipif(SUPPORT.version is None, reason=f"no cgroups to use here: {SUPPORT.why_not}")
def test_a_process_over_its_memory_limit_is_killed_and_counted():
    group = cgroups.SessionCgroup.create(SUPPORT.version, f"test-{uuid.uuid4().hex[:8]}", 0.5, 256 * 1024**2)
    try:
        code = "x = b'x' * (600 * 1024**2); print('survived')"
        out = subprocess.run(
            [sys.executable, "-c", code], preexec_fn=group.join, capture_output=True, timeout=60
        )
        assert out.returncode == -9 and b"survived" not in out.stdout
        assert group.oom_kills() == 1
        sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=group.join)
        assert sleeper.pid in group.pids()
    finally:
        group.remove()
    assert sleeper.wait(timeout=10) == -9, "removing the cgroup kills what is left in it"
    assert not any(os.path.exists(d) for d in group.dirs)
