"""Where the one-machine datalab keeps everything, which ports it uses, and its generated secrets.

All state lives in one directory (default `.datalab/`, `DATALAB_STATE_DIR` overrides): hub database,
IdP users and keys, S3 data, Vault storage, homes. Ports are pinned in `ports.json` (written on first
start from the defaults below, editable), so issuer URLs and addresses stay the same across restarts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

# Internal ports, pinned so that nothing listens on a random port; the public one is DATALAB_PORT.
DEFAULT_PORTS = {
    "hub": 8081,
    "proxy_api": 8001,
    "idp": 5556,
    "vault": 8200,
    "vault_cluster": 8201,
    "s3": 8333,
    "s3_grpc": 18333,
    "master": 9333,
    "master_grpc": 19333,
    "volume": 8080,
    "volume_grpc": 18080,
    "filer": 8888,
    "filer_grpc": 18888,
    "admin": 23646,
    "admin_grpc": 33646,  # SeaweedFS' worker dials admin + 10000 whatever the flag says: keep it so
}


@dataclass(frozen=True)
class Layout:
    """The paths inside one state directory."""

    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def idp(self) -> Path:
        return self.root / "idp"

    @property
    def s3(self) -> Path:
        return self.root / "s3"

    @property
    def vault(self) -> Path:
        return self.root / "vault"

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def homes(self) -> Path:
        return self.root / "homes"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def users_file(self) -> Path:
        return self.idp / "users.yaml"

    @property
    def passwords_file(self) -> Path:
        return self.root / "passwords.txt"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    @property
    def status_file(self) -> Path:
        return self.root / "stack.json"

    def create(self) -> None:
        """Make the directories: private ones 0700; the root, homes and run only traversable (0711),
        so that each user's own account reaches its home and session files, and lists nothing."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)
        for d in (self.secrets, self.idp, self.s3, self.vault, self.hub, self.logs):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o700)
        for d in (self.homes, self.run):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o711)


def state_dir(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("DATALAB_STATE_DIR") or ".datalab").resolve()


def start_slots(env: dict[str, str]) -> int:
    """DATALAB_START_SLOTS: how many sessions may be starting at once; 0 (unset): the spawner's default."""
    raw = env.get("DATALAB_START_SLOTS") or "0"
    try:
        slots = int(raw)
    except ValueError:
        raise ValueError(f"DATALAB_START_SLOTS must be a whole number, not {raw[:20]!r}") from None
    if slots < 0:
        raise ValueError(f"DATALAB_START_SLOTS must be 1 or more (or unset), not {slots}")
    return slots


def public_address(env: dict[str, str] | None = None) -> tuple[str, int]:
    """(host, port) the proxy listens on: DATALAB_HOST / DATALAB_PORT, default 127.0.0.1:8000."""
    env = os.environ if env is None else env
    host = env.get("DATALAB_HOST") or "127.0.0.1"
    raw = env.get("DATALAB_PORT") or "8000"
    try:
        port = int(raw)
    except ValueError:
        raise ValueError(f"DATALAB_PORT must be a port number, not {raw!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"DATALAB_PORT must be between 1 and 65535, not {port}")
    return host, port


def browser_origins(host: str, port: int) -> list[str]:
    """The origins of the datalab's pages when only this machine's browsers can open it (a loopback
    bind address), else none: only those browsers reach SeaweedFS, which listens on the loopback too."""
    if host != "localhost":
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return []
        except ValueError:
            return []
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


def public_url(host: str, port: int) -> str:
    """The URL people open: a wildcard bind address is shown as the loopback address."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{shown}:{port}"


def merge_ports(saved: dict, defaults: dict[str, int] = DEFAULT_PORTS) -> dict[str, int]:
    """The saved ports completed with the defaults; a bad value is an error naming it."""
    ports = dict(defaults)
    for name, value in saved.items():
        if name not in defaults:
            raise ValueError(f"ports.json: unknown port name {name!r} (known: {', '.join(defaults)})")
        if not isinstance(value, int) or not 0 < value < 65536:
            raise ValueError(f"ports.json: {name} must be a port number, not {value!r}")
        ports[name] = value
    return ports


def load_ports(layout: Layout) -> dict[str, int]:
    """Ports from ports.json (written with the defaults when missing)."""
    saved = {}
    if layout.ports_file.exists():
        try:
            saved = json.loads(layout.ports_file.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{layout.ports_file}: not valid JSON ({e})") from None
    ports = merge_ports(saved)
    if saved != ports:
        layout.ports_file.write_text(json.dumps(ports, indent=2) + "\n")
    return ports


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (created 0600, never briefly wider), atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def secret(layout: Layout, name: str, nbytes: int = 32) -> str:
    """A generated secret kept in secrets/NAME (0600): the same value on every start."""
    path = layout.secrets / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(nbytes)
    write_private(path, value + "\n")
    return value


def blocking_ancestor(path: Path) -> Path | None:
    """The first directory above `path` that other accounts cannot traverse (no o+x), if any."""
    for parent in reversed(Path(path).resolve().parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None
