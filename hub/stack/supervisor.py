"""Start the datalab's processes, restart one that dies, and stop them all for sure.

Every process the stack starts (and every process those start: single-user servers, PostgreSQL,
code-server, kernels) carries `DATALAB_STACK=<id>` in its environment, so that stopping ends with a
sweep that kills whatever is left with that mark: nothing stays behind, even after a crash.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STACK_ENV = "DATALAB_STACK"


def stack_id(root: Path) -> str:
    return hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]


@dataclass
class Part:
    """One supervised process: how to start it and how to know it is ready."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    address: str
    health_url: str | None = None
    ready_codes: tuple[int, ...] = (200,)
    cwd: Path | None = None
    stop_timeout: float = 3.0
    umask: int = -1  # inherited; 0o077 for a part whose sockets and files only its own account may use
    after_start: Callable[[], None] | None = None  # e.g. unseal OpenBao after a restart
    proc: subprocess.Popen | None = field(default=None, repr=False)
    restarts: list[float] = field(default_factory=list, repr=False)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stopped as a whole
                umask=self.umask,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.proc.returncode if self.proc else None
                raise RuntimeError(f"{self.name} exited ({code}) while starting; its log:\n{self.tail()}")
            if self.health_url is None:
                return
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as r:  # ours
                    last = r.status
            except urllib.error.HTTPError as e:
                last = e.code
            except OSError as e:
                last = e
            if last in self.ready_codes:
                return
            time.sleep(0.1)
        raise TimeoutError(
            f"{self.name} not ready at {self.health_url} after {timeout:.0f}s ({last}); its log:\n{self.tail()}"
        )

    def signal(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_parts(parts: list[Part], timeout: float) -> None:
    """SIGTERM the parts' process groups together, wait up to `timeout`, then SIGKILL them."""
    for p in parts:
        p.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in parts:
        if p.proc is None:
            continue
        try:
            p.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in parts:
        p.signal(signal.SIGKILL)  # the group too: children the leader left behind
        if p.proc is not None:
            try:
                p.proc.wait(2)
            except subprocess.TimeoutExpired:
                pass


def start_ticks(pid: int, proc_root: Path = Path("/proc")) -> int | None:
    """When process `pid` started (clock ticks after boot), or None when there is no such process: with
    its pid, it names one process for good (pids are reused, start times are not)."""
    try:
        fields = (proc_root / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])  # field 22 of proc(5); the command name before ")" may hold spaces
    except (OSError, IndexError, ValueError):
        return None


def marked_pids(mark: str, uids: frozenset[int] = frozenset(), proc_root: Path = Path("/proc")) -> list[int]:
    """Processes whose environment holds DATALAB_STACK=<mark> (ours, or our children's), and every
    process of the session accounts `uids` (a user may start one without the mark)."""
    needle = f"{STACK_ENV}={mark}".encode()
    me = os.getpid()
    found = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if uids and entry.stat().st_uid in uids:
                found.append(int(entry.name))
                continue
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def sweep(mark: str, grace: float = 1.0, uids: frozenset[int] = frozenset()) -> list[int]:
    """Terminate, then kill, every process still carrying the mark, and wait until they are gone (so
    their ports are free); returns the pids found."""
    found = {pid: start_ticks(pid) for pid in marked_pids(mark, uids)}
    for pid in found:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass

    def left() -> set[int]:
        # A process whose main thread has exited no longer shows its environment, but its other threads
        # still hold its ports: the pids found stay watched until every thread of theirs is gone.
        now = {p for p in found if start_ticks(p) == found[p] and _running(p)}
        return now | set(marked_pids(mark, uids))

    deadline = time.monotonic() + grace
    while found and time.monotonic() < deadline and left():
        time.sleep(0.1)
    for pid in left():
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + 10
    while found and time.monotonic() < deadline and left():
        time.sleep(0.05)
    return list(found)


def _running(pid: int) -> bool:
    """Some thread of `pid` is neither gone nor a zombie. A killed process waiting for its parent holds
    no port, but a main thread can be a zombie while the others still run and hold the process's files."""
    try:
        tasks = list((Path("/proc") / str(pid) / "task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if (task / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                return True
        except (OSError, IndexError):
            continue
    return False


class Supervisor:
    """Runs parts in order (one that hangs at start gets one fresh start); restarts one that dies (at most
    3 times a minute); stops all on request."""

    def __init__(self, mark: str, say: Callable[[str], None] = print, session_uids=frozenset):
        self.mark = mark
        self.session_uids = session_uids  # called at the end: the uids whose processes all go
        self.say = say
        self.parts: list[Part] = []
        self.stopping = False
        self.on_restart: Callable[[Part], None] | None = None  # e.g. rewrite the status file

    def launch(self, part: Part, timeout: float = 60.0) -> Part:
        part.start()
        self.parts.append(part)
        try:
            part.wait_ready(timeout)
        except TimeoutError:
            # alive but not answering: it may have hung, so it gets one fresh start, as a part that dies does
            self.say(
                f"datalab: {part.name} did not answer in {timeout:.0f}s; restarting it once (log: {part.log})"
            )
            stop_parts([part], part.stop_timeout)
            part.start()
            part.wait_ready(timeout)
        if part.after_start:
            part.after_start()
        return part

    def request_stop(self, *_args) -> None:
        self.stopping = True

    def check(self) -> None:
        """Restart parts that died; give up (raise) when one keeps dying."""
        for part in self.parts:
            if self.stopping or part.alive():
                continue
            now = time.monotonic()
            part.restarts = [t for t in part.restarts if now - t < 60] + [now]
            code = part.proc.returncode if part.proc else None
            if len(part.restarts) > 3:
                raise RuntimeError(f"{part.name} keeps exiting ({code}); its log:\n{part.tail()}")
            self.say(f"datalab: {part.name} exited ({code}); restarting it (log: {part.log})")
            part.start()
            part.wait_ready(60)
            if part.after_start:
                part.after_start()
            if self.on_restart:
                self.on_restart(part)

    def run_until_stopped(self, interval: float = 0.5) -> None:
        while not self.stopping:
            self.check()
            time.sleep(interval)

    def stop_all(self, first: tuple[str, ...] = ("jupyterhub",), first_timeout: float = 7.0) -> None:
        """The hub first (it stops the sessions), then the rest together, then the sweep."""
        self.stopping = True
        leading = [p for p in self.parts if p.name in first]
        rest = [p for p in self.parts if p.name not in first]
        stop_parts(leading, first_timeout)
        stop_parts(rest, max((p.stop_timeout for p in rest), default=3.0))
        left = sweep(self.mark, uids=frozenset(self.session_uids()))
        if left:
            self.say(f"datalab: killed {len(left)} leftover process(es) of this datalab")
