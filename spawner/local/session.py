"""What the local backend does around a session process: run commands as the user, the session's
private directory with its secret files (0600), the git clone, what a stopped server leaves in the home
(the Jupyter server's own files, the shared Vault token file), and which services this machine can run.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from ..catalog.refs import GIT_PINS_FROM, UNRESOLVED, git_config_env, git_version_pins
from .accounts import Account


class CommandFailed(RuntimeError):
    def __init__(self, argv: list[str], code: int | None, output: str):
        self.output = output
        super().__init__(f"{Path(argv[0]).name} failed ({code}): {output.strip()[-800:]}")


async def run_as(
    account: Account,
    argv: list[str],
    *,
    env: Mapping[str, str],
    limit: float = 60.0,
    cwd=None,
    stdin: str | None = None,
) -> str:
    """Run a command as `account` (when we are root), off the event loop; its output, or CommandFailed.
    `stdin` is written to its standard input: the way to hand it a secret (never in `argv`, which every
    local account can read in /proc)."""
    kwargs = {}
    if os.geteuid() == 0 and account.uid != 0:
        kwargs = {"user": account.uid, "group": account.gid, "extra_groups": []}
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        env=dict(env),
        cwd=str(cwd or account.home),
        start_new_session=True,
        **kwargs,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(None if stdin is None else stdin.encode()), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CommandFailed(argv, None, f"timed out after {limit:.0f}s") from None
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise CommandFailed(argv, proc.returncode, text)
    return text


# -- the session's private directory ------------------------------------------------------------------


def make_session_dir(path: Path, account: Account) -> Path:
    """A fresh directory owned by root, group = the user's, 0750: the user reads its files, cannot swap them."""
    if path.exists() or path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o750, parents=False)
    os.chown(path, 0 if os.geteuid() == 0 else account.uid, account.gid)
    os.chmod(path, 0o750)
    return path


def write_user_file(directory: Path, name: str, content: str, account: Account) -> Path:
    """A file only the user can read (0600, owned by them), created fresh in a directory we own."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"bad secret file name {name!r}")
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if os.geteuid() == 0:
            os.fchown(fd, account.uid, account.gid)
        os.write(fd, content.encode())
    finally:
        os.close(fd)
    return path


def make_tmp_dir(account: Account) -> Path:
    """The session's own TMPDIR: a fresh 0700 directory of the user's in /tmp, short enough for the unix
    sockets tools make there (jupyter-server-proxy's for code-server), removed when the session stops."""
    path = Path(tempfile.mkdtemp(prefix=f"datalab-{account.name}-"))
    if os.geteuid() == 0:
        os.chown(path, account.uid, account.gid)
    os.chmod(path, 0o700)
    return path


def make_user_dir(directory: Path, name: str, account: Account) -> Path:
    path = directory / name
    path.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(path, account.uid, account.gid)
    return path


# -- what a stopped server leaves in the home ------------------------------------------------------------

# Where a session's Jupyter server writes jpserver-<pid>.json (sessions keep Jupyter's default runtime dir),
# and where the session extension keeps the Vault token that hvac.Client() and the vault CLI read.
JUPYTER_RUNTIME = Path(".local", "share", "jupyter", "runtime")
VAULT_TOKEN_FILE = ".vault-token"


def server_files(home: Path, pid: int) -> list[Path]:
    """The files a Jupyter server writes about itself; one that did not exit cleanly leaves them behind."""
    runtime = home / JUPYTER_RUNTIME
    return [runtime / f"jpserver-{pid}.json", runtime / f"jpserver-{pid}-open.html"]


async def remove_server_files(account: Account, pid: int, env: Mapping[str, str]) -> None:
    """Remove a stopped server's jpserver files, as the user (the path is theirs to point anywhere)."""
    files = [str(p) for p in server_files(account.home, pid)]
    await run_as(account, ["rm", "-f", "--", *files], env=env, limit=15)


def vault_token_in(session_dir: Path, credentials_file: str) -> str | None:
    """The Vault token of a running session's credentials file (None without one)."""
    try:
        doc = json.loads((session_dir / credentials_file).read_text())
    except (OSError, ValueError):
        return None
    vault = doc.get("vault") if isinstance(doc, dict) else None
    token = vault.get("token") if isinstance(vault, dict) else None
    return token if isinstance(token, str) and token else None


def restore_vault_token(account: Account, token: str) -> bool:
    """Put `token` back in ~/.vault-token when it is missing (a stopped server of the user removed the one
    its running servers share); an existing file is left alone. True when written."""
    path = account.home / VAULT_TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:  # it exists (or the home is gone): nothing to restore
        return False
    try:
        if os.geteuid() == 0:
            os.fchown(fd, account.uid, account.gid)
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode())
    finally:
        os.close(fd)
    return True


# -- git ------------------------------------------------------------------------------------------------


class CloneRefused(CommandFailed):
    """The clone was not run: running it could reach an address nobody checked."""

    def __init__(self, why: str):
        self.output = why
        RuntimeError.__init__(self, why)


async def clone(
    account: Account, url: str, folder: str, env: Mapping[str, str], limit: float, pin: dict[str, str] | None
) -> str:
    """Clone `url` into ~/folder as the user unless that folder already has content; a line for progress.
    `pin`: the git configuration from the spawn's check (refs.git_clone_pin; None: not resolved, not run)."""
    target = account.home / folder
    try:
        if target.exists() and any(target.iterdir()):
            return f"{folder} is already in your home: not cloned again"
    except PermissionError:
        return f"{folder} in your home cannot be read: not cloned"
    if pin is None:
        raise CloneRefused(UNRESOLVED.format(host=urlsplit(url).hostname))
    if pin and not git_version_pins(await run_as(account, ["git", "version"], env=env, limit=limit)):
        raise CloneRefused(
            f"git older than {'.'.join(map(str, GIT_PINS_FROM))} cannot pin the address checked at start: not cloned"
        )
    git_env = {**env, **git_config_env(pin), "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
    await run_as(account, ["git", "clone", "--quiet", "--", url, str(target)], env=git_env, limit=limit)
    return f"Cloned {url} into ~/{folder}"


# The session's record of a failed clone, in its status directory (DATALAB_STATUS_DIR), which the session
# extension shows the user (jupyter_s3_ext/notices/clone.py reads this format; the Kubernetes init
# container writes the same).
CLONE_FAILED_FILE = "git-clone-failed.txt"
STATUS_DIR_ENV = "DATALAB_STATUS_DIR"


def clone_failure_record(url: str, folder: str, output: str, when: datetime) -> str:
    """`key: value` lines, a blank line, then git's last lines."""
    tail = "\n".join(output.strip().splitlines()[-20:])
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"repository: {url}\nfolder: {folder}\ntime: {stamp}\n\n{tail}\n"


# -- what this machine can run ---------------------------------------------------------------------------


def kernel_installed(name: str, search: list[str]) -> bool:
    return any(Path(d, "kernels", name, "kernel.json").exists() for d in search)


def program_found(name: str, path: str) -> bool:
    if shutil.which(name, path=path):
        return True
    if name == "rserver":  # RStudio Server's usual place, as jupyter-rsession-proxy looks for it
        return Path("/usr/lib/rstudio-server/bin/rserver").exists()
    return False


def missing_requirement(needs: list[str], path: str, kernel_dirs: list[str]) -> str | None:
    """The first requirement that is missing ('program X' / 'Jupyter kernel Y'), or None."""
    for need in needs:
        if need.startswith("kernel:"):
            if not kernel_installed(need[7:], kernel_dirs):
                return f"the Jupyter kernel {need[7:]!r} is not installed"
        elif not program_found(need, path):
            return f"{need} is not installed"
    return None


def jupyter_data_dirs(prefix: str) -> list[str]:
    return [os.path.join(prefix, "share", "jupyter"), "/usr/local/share/jupyter", "/usr/share/jupyter"]


def postgres_bin_dir() -> str | None:
    """Debian's PostgreSQL programs (initdb is not on PATH there): the newest version installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return str(Path(found[-1]).parent)
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb else None
