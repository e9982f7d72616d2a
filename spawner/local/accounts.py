"""System accounts for the local backend: one per hub user, created on first spawn, home 0700.

Run as root, each user's session runs as their own account (`dl-<name>` by default), so one user's
kernel cannot read another's files. Only accounts Datalab created (marked in their GECOS field) are
ever used: a hub user called `root` or `daemon` never maps onto an existing system account.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = "Datalab session account"
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_useradd_lock = asyncio.Lock()


class AccountError(RuntimeError):
    """The account for a hub user cannot be made or used; the message says why."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: Path

    @classmethod
    def current(cls, home: Path) -> Account:
        return cls(pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getgid(), home)


def account_name(template: str, username: str) -> str:
    """The system account name for a hub user; an error when it is not a valid Unix name."""
    name = template.format(username=username)
    if not _NAME.match(name):
        raise AccountError(
            f"the hub user {username!r} maps to {name!r}, which is not a valid system account name "
            "(lowercase letters, digits, '_' or '-', at most 32)"
        )
    return name


def _own_tree(path: Path, uid: int, gid: int) -> None:
    """Give a home (restored from a backup or another machine) to its account, never following links."""
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)
    os.lchown(path, uid, gid)


def ensure_home(home: Path, uid: int, gid: int) -> None:
    if not home.exists():
        home.mkdir(mode=0o700)
    if home.is_symlink() or not home.is_dir():
        raise AccountError(f"{home} must be a directory")
    st = home.stat()
    if (st.st_uid, st.st_gid) != (uid, gid):
        _own_tree(home, uid, gid)
    os.chmod(home, 0o700)


async def _run(argv: list[str], what: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise AccountError(f"{what}: {out.decode().strip()}")


async def ensure_account(
    name: str, home: Path, on_created: Callable[[int], Awaitable[None]] | None = None
) -> Account:
    """The account `name` with its home `home` (0700), created with useradd when missing; `on_created`
    gets a new account's uid (the account is deleted again when it fails: never half made)."""
    async with _useradd_lock:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            entry = None
        if entry is None:
            home.parent.mkdir(parents=True, exist_ok=True)
            argv = ["useradd", "--home-dir", str(home), "--no-create-home", "--shell", "/bin/bash"]
            argv += ["--comment", MARKER, "--user-group", name]
            await _run(argv, f"could not create the system account {name}")
            entry = pwd.getpwnam(name)
            if on_created is not None:
                try:
                    await on_created(entry.pw_uid)
                except BaseException:
                    await _run(["userdel", name], f"could not delete the half-made account {name}")
                    raise
        elif entry.pw_gecos.split(",")[0] != MARKER:
            raise AccountError(
                f"the system account {name!r} already exists and was not created by Datalab; "
                "it is never used for a session"
            )
        elif Path(entry.pw_dir) != home:  # the state directory moved: follow it
            await _run(
                ["usermod", "--home", str(home), name],
                f"the account {name} has its home in {entry.pw_dir} (another datalab on this machine?) and "
                f"could not be moved to {home}; give this datalab other account names "
                "(LocalCatalogSpawner.account_template, DATALAB_ACCOUNT_TEMPLATE for `datalab up`)",
            )
            entry = pwd.getpwnam(name)
        ensure_home(home, entry.pw_uid, entry.pw_gid)
        return Account(name, entry.pw_uid, entry.pw_gid, home)
