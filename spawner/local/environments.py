"""Session environments on one machine, from the same definitions the single-user images install.

`images/<name>/requirements.txt` (pinned; `-r` includes allowed) is built into one shared virtual
environment per content: its directory is named by a hash of the expanded file, the interpreter and the
pins this backend adds (the hub's own JupyterHub), so an unchanged definition costs nothing and a changed
one builds a new environment beside the old. Two images with the same content share one environment.
Catalog images map to definitions by name: `<registry>/datalab-python:<tag>` -> `images/python`.

The environment has the system site-packages visible (so `pip install --user` works and lands in the
home, ahead of the shared packages) but installs every pinned package itself (`--ignore-installed`
semantics of uv), so Debian's Python packages never stand in for a pinned one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = ".datalab-environment"  # written last: an environment without it is unfinished
DEFAULT_PYTHON = (
    "/usr/bin/python3"  # Debian's: every session account can run it (a venv under /root could not)
)


class EnvironmentError_(RuntimeError):
    """A definition that cannot be read or an environment that could not be built, said plainly."""


def images_dir() -> Path:
    """The repository's images/ (editable install), else the installed copy in <prefix>/share/datalab."""
    source = Path(__file__).resolve().parents[2] / "images"
    return source if source.is_dir() else Path(sys.prefix, "share", "datalab", "images")


def default_cache_dir(env: dict[str, str] | None = None) -> Path:
    """$DATALAB_ENV_CACHE; as root /var/cache/datalab/environments (other accounts must reach it);
    else ~/.cache/datalab/environments. Outside any work tree, so clones and test runs share it."""
    env = os.environ if env is None else env
    if env.get("DATALAB_ENV_CACHE"):
        return Path(env["DATALAB_ENV_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/cache/datalab/environments")
    return Path.home() / ".cache" / "datalab" / "environments"


# -- definitions (pure) ---------------------------------------------------------------------------------


def image_environment(image: str) -> str | None:
    """The definition a catalog image maps to: `reg.example.org/datalab/datalab-r:2026.11` -> `r`."""
    last = image.rsplit("/", 1)[-1]
    repo = re.split(r"[:@]", last, maxsplit=1)[0]
    if not repo.startswith("datalab-") or repo == "datalab-hub":
        return None
    return repo[len("datalab-") :] or None


def expand(path: Path, _seen: tuple[Path, ...] = ()) -> list[str]:
    """The requirement lines of a file, `-r other.txt` included in place, comments and blanks dropped."""
    path = path.resolve()
    if path in _seen:
        raise EnvironmentError_(f"{path}: includes itself (through -r)")
    try:
        text = path.read_text()
    except OSError as e:
        raise EnvironmentError_(f"cannot read the environment definition {path}: {e.strerror}") from None
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            lines += expand(path.parent / line.split(None, 1)[1], (*_seen, path))
        elif line.startswith("-"):
            raise EnvironmentError_(f"{path}: option {line[:60]!r} is not allowed (only -r)")
        else:
            lines.append(line)
    return lines


def debian_packages(images: Path, name: str) -> list[str]:
    """The Debian packages a definition needs on the machine (images/<name>/debian-packages.txt)."""
    path = images / name / "debian-packages.txt"
    if not path.exists():
        return []
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]


# How an environment is built, part of its key: a change here rebuilds every cached environment.
# 2: byte-compiled at build (sessions run as accounts that cannot write __pycache__ in the cache, so
# without it every session start compiled each module it imported, seconds of CPU under a 1-CPU limit).
# 3: without LEFT_OUT.
RECIPE = "3"

# In the definitions (jsonschema[format-nongpl], through jupyter-events) but removed after the install:
# importing rfc3987-syntax compiles 38 lark grammars, about 1 CPU-second of each Jupyter server's start
# (a third of it; benchmarks/session_start_cpu.py). Without it jsonschema leaves the "iri" and
# "iri-reference" formats unchecked, which no Jupyter schema uses.
LEFT_OUT = ("rfc3987-syntax", "lark")


@dataclass(frozen=True)
class Definition:
    """One environment as this backend builds it: the pinned lines plus the pins it adds."""

    name: str
    lines: tuple[str, ...]
    extra: tuple[str, ...] = ()
    python: str = DEFAULT_PYTHON

    @property
    def key(self) -> str:
        text = "\n".join([RECIPE, os.path.realpath(self.python), *self.lines, "--", *self.extra])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def directory(self, cache: Path) -> Path:
        return cache / f"env-{self.key}"


def hub_pins() -> tuple[str, ...]:
    """The session's jupyterhub-singleuser must match the hub it talks to: the hub's own version."""
    from importlib.metadata import version

    return (f"jupyterhub=={version('jupyterhub')}",)


def definition(name: str, images: Path | None = None, *, python: str = DEFAULT_PYTHON) -> Definition:
    images = images_dir() if images is None else images
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise EnvironmentError_(f"bad environment name {name[:40]!r}")
    path = images / name / "requirements.txt"
    if not path.exists():
        raise EnvironmentError_(f"no environment definition {name!r} ({path} does not exist)")
    return Definition(name, tuple(expand(path)), hub_pins(), python)


def definition_names(images: Path | None = None) -> list[str]:
    images = images_dir() if images is None else images
    return sorted(p.parent.name for p in images.glob("*/requirements.txt"))


def built(directory: Path) -> bool:
    return (directory / MARKER).exists()


def mark_used(directory: Path) -> None:
    """The marker's time is when a datalab last built, found or held the environment (see environment_cache)."""
    try:
        os.utime(directory / MARKER)
    except OSError:
        pass  # a cache this account cannot write: it cannot prune it either


# -- building (I/O, synchronous: `datalab up` and the test fixtures run it before the hub) ---------------


def _uv() -> str | None:
    return shutil.which(
        "uv", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )


def _run(argv: list[str], say: Callable[[str], None], env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, umask=0o022
    )
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            tail = (tail + [line])[-20:]
            say(f"  {line[:200]}")
    if proc.wait() != 0:
        raise EnvironmentError_(f"{Path(argv[0]).name} failed ({proc.returncode}): " + " | ".join(tail[-5:]))


def build(d: Definition, cache: Path, say: Callable[[str], None] = print) -> tuple[Path, float]:
    """The environment's directory (built now unless it already is) and the seconds spent. Built in
    place under a lock; the marker is written last, so an interrupted build is redone, never used."""
    t0 = time.monotonic()
    target = d.directory(cache)
    if built(target):
        mark_used(target)
        return target, time.monotonic() - t0
    old = os.umask(0o022)  # as root, every session account reads the environment
    try:
        cache.mkdir(parents=True, exist_ok=True)
    finally:
        os.umask(old)
    with open(cache / f".lock-{d.key}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another build of the same content: wait for it, then use it
        if built(target):
            return target, time.monotonic() - t0
        shutil.rmtree(target, ignore_errors=True)
        say(f"datalab: building the {d.name} environment ({len(d.lines)} pinned packages) in {target}")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        python = str(target / "bin" / "python")
        try:
            uv = _uv()
            if uv:
                _run(
                    [uv, "venv", "--quiet", "--system-site-packages", "--python", d.python, str(target)],
                    say,
                    env,
                )
                install = [
                    uv,
                    "pip",
                    "install",
                    "--python",
                    python,
                    "--only-binary",
                    ":all:",
                    "--compile-bytecode",
                ]
            else:
                _run([d.python, "-m", "venv", "--system-site-packages", str(target)], say, env)
                install = [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "--ignore-installed",
                    "--only-binary",
                    ":all:",
                    "-q",
                ]
            requirements = target / "requirements.txt"
            requirements.write_text("\n".join([*d.lines, *d.extra]) + "\n")
            _run([*install, "-r", str(requirements)], say, env)
            uninstall = (
                [uv, "pip", "uninstall", "--python", python]
                if uv
                else [python, "-m", "pip", "uninstall", "-y", "-q"]
            )
            _run([*uninstall, *LEFT_OUT], say, env)
            (target / MARKER).write_text(f"{d.name} {d.key}\n")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    say(f"datalab: the {d.name} environment is built ({time.monotonic() - t0:.0f} s)")
    return target, time.monotonic() - t0
