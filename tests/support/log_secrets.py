"""No secret value in any log the suite's real services wrote (issue 18, "Done when").

Every ManagedProcess registers its log file (hub, proxy, IdP, SeaweedFS, OpenBao, the emulator's kubelet;
sessions of the local backend write into the hub's log); fixtures and helpers register the secret values
they make or are handed (API tokens, S3 secret keys and session tokens, Vault tokens, client secrets,
PostgreSQL passwords). At the end of the run tests/conftest.py scans every registered log that still
exists, once, for every registered value: one pass per file with one pattern, so it costs little.
"""

from __future__ import annotations

import re
from pathlib import Path

MIN_LENGTH = 12  # shorter values (test passwords such as "bob-pw") also appear as ordinary words

LOGS: set[Path] = set()  # log files, or directories whose *.log files are logs
SECRETS: set[str] = set()


def register_log(path) -> None:
    """A log file, or a directory of them (every *.log in it when the scan runs)."""
    LOGS.add(Path(path))


def register_secret(*values) -> None:
    """Values that must never appear in a log (None and short values are ignored)."""
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            SECRETS.add(value)


def register_credentials(doc: dict | None) -> None:
    """The secret parts of a credentials document (the renewal endpoint's answer, credentials.json)."""
    doc = doc or {}
    register_secret(
        *((doc.get("s3") or {}).get(k) for k in ("secret_access_key", "session_token")),
        (doc.get("vault") or {}).get("token"),
    )


def leaks(logs, secrets) -> list[tuple[Path, str]]:
    """(log, the secret's first characters) for every secret found in a log."""
    if not secrets:
        return []
    pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
    files = set()
    for path in logs:
        path = Path(path)
        files.update(path.rglob("*.log") if path.is_dir() else [path])
    found = []
    for path in sorted(files):
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:  # removed with its fixture's directory
            continue
        for value in sorted(set(pattern.findall(text))):
            found.append((Path(path), value[:6] + "..."))
    return found
