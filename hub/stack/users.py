"""Accounts of the development IdP: users.yaml (scrypt hashes) and the 0600 file of generated passwords.

The IdP re-reads users.yaml when it changes, so `datalab users add` works while the datalab runs.
Names are restricted so that the same name is safe as a system account suffix and in a bucket name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from pathlib import Path

import yaml

from .layout import Layout, write_private

NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
ACCOUNT_ENV = "DATALAB_ACCOUNT_TEMPLATE"
DEFAULT_ACCOUNT_TEMPLATE = "dl-{username}"
ACCOUNT_MAX = 32  # useradd's limit on a system account name
GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
USERS_GROUP = "datalab-users"
ADMINS_GROUP = "datalab-admins"
DEMO_PROJECT_GROUP = "project-demo"  # a project (hub.projects): its members share a bucket and a Vault folder
DEMO_USERS = {
    "alice": [USERS_GROUP, ADMINS_GROUP, DEMO_PROJECT_GROUP],
    "bob": [USERS_GROUP, DEMO_PROJECT_GROUP],
}


class UserError(ValueError):
    """A user name or group that cannot be used, a user that already exists, or a damaged users.yaml."""


class NoUsers(UserError):
    """users.yaml exists and is empty: nobody can sign in."""


def max_name_length(template: str = DEFAULT_ACCOUNT_TEMPLATE) -> int:
    """The longest user name whose system account (`template` with the name in it) useradd accepts."""
    return min(32, ACCOUNT_MAX - len(template.replace("{username}", "")))


def check_name(name: str, template: str = DEFAULT_ACCOUNT_TEMPLATE) -> None:
    limit = max_name_length(template)
    if not NAME.match(name or ""):
        raise UserError(
            f"invalid user name {str(name)[:40]!r}: use 3-{limit} lowercase letters, digits or '-', "
            "starting with a letter"
        )
    if len(name) > limit:
        account = template.replace("{username}", name)
        raise UserError(
            f"user name {name!r} is {len(name)} characters, at most {limit} here: sessions run as the system "
            f"account {account!r}, and system account names have at most {ACCOUNT_MAX} characters "
            f"(template {template!r}, {ACCOUNT_ENV})"
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


def _at(path: Path, node: yaml.Node) -> str:
    return f"{path}, line {node.start_mark.line + 1}"


def parse_users(text: str, path: Path) -> dict:
    """users.yaml's accounts; a UserError naming the file and line of what is wrong (never Python's)."""
    try:
        root = yaml.compose(text)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise UserError(f"{where}: {problem}") from None
    if root is None:
        raise NoUsers(f"{path} is empty: nobody can sign in (add an account with `datalab users add`)")
    if not isinstance(root, yaml.MappingNode) or not isinstance(doc, dict):
        raise UserError(f"{_at(path, root)}: expected a mapping with `users:` at the top")
    nodes = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    if "users" not in nodes:
        raise UserError(f"{_at(path, root)}: no `users:` mapping")
    users = doc["users"] or {}
    if not isinstance(users, dict):
        raise UserError(f"{_at(path, nodes['users'])}: `users` must map each login name to its account")
    entries = nodes["users"].value if isinstance(nodes["users"], yaml.MappingNode) else []
    for key, value in entries:
        account = users.get(key.value)
        if not isinstance(account, dict):
            raise UserError(
                f"{_at(path, value)}: the account {key.value!r} must be a mapping (password, groups)"
            )
        fields = {k.value: v for k, v in value.value}
        if not isinstance(account.get("password"), str):
            raise UserError(f"{_at(path, value)}: the account {key.value!r} has no password")
        groups = account.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            node = fields.get("groups", value)
            raise UserError(f"{_at(path, node)}: the groups of {key.value!r} must be a list of names")
    return {str(k): v for k, v in users.items()}


def read_users(layout: Layout) -> dict:
    """The accounts in users.yaml ({} when it does not exist yet); a UserError when it is damaged."""
    try:
        text = layout.users_file.read_text()
    except FileNotFoundError:
        return {}
    return parse_users(text, layout.users_file)


def users_at_start(layout: Layout, say) -> dict:
    """The accounts `datalab up` starts with: an empty users.yaml is said, a damaged one refused."""
    try:
        return read_users(layout)
    except NoUsers as e:
        say(f"datalab: warning: {e}")
        return {}


def account_template(layout: Layout, env: dict[str, str]) -> str:
    """The system account template sessions use: DATALAB_ACCOUNT_TEMPLATE, else the last start's."""
    if env.get(ACCOUNT_ENV):
        return env[ACCOUNT_ENV]
    try:
        saved = json.loads((layout.hub / "settings.json").read_text()).get("account_template")
    except (OSError, ValueError, AttributeError):
        saved = None
    return saved or DEFAULT_ACCOUNT_TEMPLATE


def _write_users(layout: Layout, users: dict) -> None:
    write_private(layout.users_file, yaml.safe_dump({"users": users}, sort_keys=True))


def _remember_password(path: Path, name: str, password: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(f"{name} {password}\n")
    os.chmod(path, 0o600)


def add_user(
    layout: Layout,
    name: str,
    groups: list[str],
    email: str | None = None,
    template: str = DEFAULT_ACCOUNT_TEMPLATE,
) -> str:
    """Create an IdP account with a generated password (returned, and kept in passwords.txt)."""
    check_name(name, template)
    check_groups(groups)
    try:
        users = read_users(layout)
    except NoUsers:
        users = {}  # an empty file: this is its first account
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
