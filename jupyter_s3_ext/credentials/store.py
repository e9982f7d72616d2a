"""Files that hold credentials: the private cache, the Vault token file, the AWS config file.

Every write is atomic (a temporary file in the same directory, then rename) and private (0600 in a
0700 directory), so a reader (a kernel's credential_process, the `bao` CLI) never sees half a file
and no other account on the machine reads a secret.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path

from ..session_env import per_server
from .document import CacheDocument, CredentialsError
from .model import newer

CACHE_ENV = "DATALAB_CREDENTIALS_CACHE"
INITIAL_ENV = "DATALAB_CREDENTIALS_FILE"
CACHE_NAME = "credentials.json"


def default_runtime_dir() -> Path:
    """A private directory for this server's credential files ($XDG_RUNTIME_DIR or Jupyter's runtime dir).

    Named servers of one user may share a home: each gets its own directory.
    """
    name = per_server("datalab-credentials")
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.access(base, os.W_OK):
        return Path(base) / name
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / name


def private_dir(path: Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write `text` to `path` atomically with `mode`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(cache_path: Path):
    """Hold the cache's lock (a sibling .lock file) for a read-modify-write."""
    lock_path = Path(cache_path).with_suffix(".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_document(path: Path) -> CacheDocument | None:
    """The credentials in a JSON file (the spawn file or the cache); None when the file does not exist."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise CredentialsError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return CacheDocument.parse(data, source=str(path))


def write_document(path: Path, doc: CacheDocument) -> None:
    write_private(path, json.dumps(doc.to_json(), indent=1))


def merge_into_cache(path: Path, doc: CacheDocument, *, replace_vault: bool = True) -> CacheDocument:
    """Write `doc` to the cache, keeping whichever S3 credentials live longer; return what was written.

    The session server and kernels' credential_process may both write: the longer-lived S3 key wins, so
    neither undoes the other's fresher result. `replace_vault=False` keeps the cached Vault token (a
    credential_process call must not swap the token that the server keeps renewed).
    """
    with locked(path):
        try:
            current = read_document(path)
        except CredentialsError:
            current = None
        if current is not None:
            s3 = newer(current.s3, doc.s3)
            vault = doc.vault if (replace_vault or current.vault is None) else current.vault
            doc = doc.model_copy(update={"s3": s3, "vault": vault})
        write_document(path, doc)
    return doc
