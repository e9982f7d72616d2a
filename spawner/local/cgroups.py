"""A cgroup per session on one machine: the memory and CPU the user chose, enforced by the kernel.

Works with cgroup v2 (one tree, `memory.max`, `cpu.max`, OOM kills counted in `memory.events`) and v1
(a `memory` and a `cpu` hierarchy, `memory.limit_in_bytes`, `cpu.cfs_quota_us`, OOM kills in
`memory.oom_control`). Needs root and writable controllers; `detect()` says why not otherwise, and the
form tells users the limits are not enforced. The decisions (which files get which values) are plain
functions; the writes are small and synchronous (sysfs).
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
PARENT = "datalab"  # every session's cgroup is below <controller>/datalab/


class CgroupError(RuntimeError):
    """The session's cgroup could not be made or set (the session does not start unconfined)."""


@dataclass(frozen=True)
class Support:
    version: int | None  # 2, 1, or None: not available
    why_not: str = ""


def detect(root: Path = ROOT, euid: int | None = None) -> Support:
    """Which cgroup version this machine lets us use for sessions, or why none."""
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return Support(None, "the datalab does not run as root")
    controllers = root / "cgroup.controllers"
    if controllers.exists():
        have = set(controllers.read_text().split())
        if {"memory", "cpu"} <= have and os.access(root, os.W_OK):
            return Support(2)
        return Support(None, "cgroup v2 without a writable memory and cpu controller")
    if all((root / c).is_dir() and os.access(root / c, os.W_OK) for c in ("memory", "cpu")):
        return Support(1)
    return Support(None, "no writable cgroup memory and cpu controllers")


def settings(version: int, cpu: float, memory_bytes: int) -> dict[str, dict[str, str]]:
    """{controller directory ('' for v2's single tree): {file: value}} for the chosen limits."""
    quota = max(1000, int(cpu * PERIOD_US))
    if version == 2:
        return {
            "": {"memory.max": str(memory_bytes), "memory.swap.max": "0", "cpu.max": f"{quota} {PERIOD_US}"}
        }
    return {
        "memory": {"memory.limit_in_bytes": str(memory_bytes)},
        "cpu": {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": str(quota)},
    }


def oom_kills(text: str) -> int:
    """The OOM-kill count in v2's memory.events or v1's memory.oom_control."""
    m = re.search(r"^oom_kill (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def _safe(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", name) or name in (".", ".."):
        raise CgroupError(f"bad cgroup name {name[:60]!r}")
    return name


@dataclass(frozen=True)
class SessionCgroup:
    """The directories of one session's cgroup (one for v2, one per controller for v1)."""

    version: int
    dirs: tuple[str, ...]

    @classmethod
    def create(
        cls, version: int, name: str, cpu: float, memory_bytes: int, root: Path = ROOT
    ) -> SessionCgroup:
        name = _safe(name)
        dirs: list[str] = []
        try:
            for controller, files in settings(version, cpu, memory_bytes).items():
                parent = root / controller / PARENT if controller else root / PARENT
                parent.mkdir(exist_ok=True)
                if version == 2:
                    _enable_controllers(root, parent)
                path = parent / name
                path.mkdir(exist_ok=True)
                dirs.append(str(path))
                for file, value in files.items():
                    if (path / file).exists():
                        (path / file).write_text(value)
        except OSError as e:
            SessionCgroup(version, tuple(dirs)).remove()
            raise CgroupError(f"could not set up the session's cgroup: {e.strerror or e}") from None
        return cls(version, tuple(dirs))

    def join(self) -> None:
        """Move the calling process into the cgroup (run in the child, before it becomes the user)."""
        for d in self.dirs:
            Path(d, "cgroup.procs").write_text("0")

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for d in self.dirs:
            try:
                return oom_kills(Path(d, name).read_text())
            except FileNotFoundError:
                continue
        return 0

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs:
            try:
                found.update(int(p) for p in Path(d, "cgroup.procs").read_text().split())
            except FileNotFoundError:
                pass
        return sorted(found)

    def remove(self) -> None:
        """Kill what is left in it (a session leaves nothing running), then remove it."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for d in self.dirs:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # busy until the killed processes are reaped
                    time.sleep(0.02)


def _enable_controllers(root: Path, parent: Path) -> None:
    for d in (root, parent):
        control = d / "cgroup.subtree_control"
        enabled = set(control.read_text().split())
        missing = [c for c in ("memory", "cpu") if c not in enabled]
        if missing:
            control.write_text(" ".join(f"+{c}" for c in missing))
