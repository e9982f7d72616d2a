"""Accounts of the development IdP: users.yaml (scrypt hashes) and the 0600 file of generated passwords.

The IdP re-reads users.yaml when it changes, so `datalab users add` works while the datalab runs.
Names are restricted so that the same name is safe as a system account suffix and in a bucket name.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from pathlib import Path

import yaml

from .layout import Layout, write_private

NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USERS_GROUP = "datalab-users"
ADMINS_GROUP = "datalab-admins"
DEMO_PROJECT_GROUP = "project-demo"  # a project (hub.projects): its members share a bucket and a Vault folder
DEMO_USERS = {
    "alice": [USERS_GROUP, ADMINS_GROUP, DEMO_PROJECT_GROUP],
    "bob": [USERS_GROUP, DEMO_PROJECT_GROUP],
}


class UserError(ValueError):
    """A user name or group that cannot be used, or a user that already exists."""


def check_name(name: str) -> None:
    if not NAME.match(name or ""):
        raise UserError(
            f"invalid user name {name!r}: use 3-32 lowercase letters, digits or '-', starting with a letter"
        )


def check_groups(groups: list[str]) -> None:
    for g in groups:
        if not GROUP.match(g):
            raise UserError(f"invalid group name {g!r}: letters, digits, '.', '_' or '-' (at most 64)")


def hash_password(password: str) -> str:
    """The IdP's `scrypt$salt$key` format (Node's scryptSync defaults: N=16384, r=8, p=1, 64 bytes)."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=16384, r=8, p=1, dklen=64)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def read_users(layout: Layout) -> dict:
    if not layout.users_file.exists():
        return {}
    doc = yaml.safe_load(layout.users_file.read_text()) or {}
    return dict(doc.get("users") or {})


def _write_users(layout: Layout, users: dict) -> None:
    write_private(layout.users_file, yaml.safe_dump({"users": users}, sort_keys=True))


def _remember_password(path: Path, name: str, password: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(f"{name} {password}\n")
    os.chmod(path, 0o600)


def add_user(layout: Layout, name: str, groups: list[str], email: str | None = None) -> str:
    """Create an IdP account with a generated password (returned, and kept in passwords.txt)."""
    check_name(name)
    check_groups(groups)
    users = read_users(layout)
    if name in users:
        raise UserError(f"user {name!r} already exists")
    password = generate_password()
    users[name] = {
        "password": hash_password(password),
        "groups": list(dict.fromkeys(groups)),
        "email": email or f"{name}@datalab.localhost",
        "name": name.capitalize(),
    }
    layout.idp.mkdir(parents=True, exist_ok=True)
    _write_users(layout, users)
    _remember_password(layout.passwords_file, name, password)
    return password


def ensure_first_users(layout: Layout, demo: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """On first start (no users.yaml yet), create the demo accounts; returns (name, password, groups)."""
    if layout.users_file.exists():
        return []
    created = [(name, add_user(layout, name, groups), groups) for name, groups in demo.items()]
    if not created:
        _write_users(layout, {})
    return created


def all_groups(users: dict) -> set[str]:
    """Every group some account of the IdP is in."""
    return {g for u in users.values() for g in (u or {}).get("groups") or []}
