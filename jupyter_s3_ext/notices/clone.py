"""A failed git clone, as the backend records it for the session, and as the user is told of it (pure).

Both backends write `<DATALAB_STATUS_DIR>/git-clone-failed.txt` when the clone of the session's repository
fails (spawner/local/session.py in Python, the Kubernetes init container in sh), in this format:

    repository: https://example.org/team/analysis.git
    folder: analysis
    time: 2026-12-02T01:50:00Z

    <git's last lines>

The session turns it into a JupyterLab notification and a file at the top of the home.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATUS_DIR_ENV = "DATALAB_STATUS_DIR"
FAILED_FILE = "git-clone-failed.txt"
HOME_NOTICE = "GIT-CLONE-FAILED.txt"
NOTICE_MARK = "# Datalab: the git clone of this session failed"
MAX_VALUE = 300
MAX_OUTPUT = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class CloneFailure:
    repository: str
    folder: str
    time: str
    output: str

    def as_notice(self, path: str | None) -> dict:
        """The notice the front end shows; `path` is the home notice relative to the server's root."""
        return {
            "id": f"git-clone-failed:{self.time}:{self.repository}",
            "kind": "git-clone-failed",
            "level": "warning",
            "title": "The git clone failed",
            "message": f"Datalab could not clone {self.repository} into ~/{self.folder} when this "
            "session started. The session works without it.",
            "detail": self.output,
            "repository": self.repository,
            "folder": self.folder,
            "path": path,
        }


def _clean(text: str, limit: int) -> str:
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\t", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_failure(text: str) -> CloneFailure:
    """The failure a backend recorded; ValueError naming what is missing when it is not one."""
    head, _, output = text.partition("\n\n")
    fields = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    if not fields.get("repository"):
        raise ValueError(f"{FAILED_FILE} names no repository")
    output = output.strip("\n")
    if len(output) > MAX_OUTPUT:  # the end of git's output says why
        output = "…" + output[-(MAX_OUTPUT - 1) :]
    return CloneFailure(
        repository=_clean(fields["repository"], MAX_VALUE).replace("\n", " "),
        folder=_clean(fields.get("folder") or "repository", MAX_VALUE).replace("\n", " "),
        time=_clean(fields.get("time") or "", 40).replace("\n", " "),
        output=_clean(output, MAX_OUTPUT),
    )


def home_notice_text(failure: CloneFailure) -> str:
    """The file at the top of the home, for whoever opens the session without the JupyterLab front end."""
    when = f" ({failure.time})" if failure.time else ""
    lines = [
        NOTICE_MARK,
        "",
        f"When this session started{when}, Datalab could not clone",
        f"    {failure.repository}",
        f"into ~/{failure.folder}. The session works without it.",
        "",
        "To try again, from a terminal:",
        f"    git clone {failure.repository} ~/{failure.folder}",
        "",
        "This file is removed at the next start whose clone works (or delete it yourself).",
    ]
    if failure.output:
        lines += ["", "What git said:", *("    " + line for line in failure.output.splitlines())]
    return "\n".join(lines) + "\n"


def is_home_notice(text: str) -> bool:
    """A file we wrote (and may therefore replace or remove), not one of the user's."""
    return text.startswith(NOTICE_MARK)
