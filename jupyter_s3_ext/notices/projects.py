"""Projects the session goes without, as the hub reported them at spawn, and as the user is told (pure).

The hub leaves out of the session a project whose bucket could not be made or reached (hub/projects/
access.py) and writes $DATALAB_PROJECTS_UNAVAILABLE: JSON `[{"name": ..., "reason": ...}]`, no secret in
it. The session shows each one as a notice and in the connection details. A broken value shows nothing
of it and never stops the session.
"""

from __future__ import annotations

import json
import re

UNAVAILABLE_ENV = "DATALAB_PROJECTS_UNAVAILABLE"
MAX_NAME = 64
MAX_REASON = 300
MAX_PROJECTS = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(value, limit: int) -> str:
    text = _CONTROL.sub(" ", str(value or "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unavailable_projects(text: str | None) -> list[dict]:
    """[{name, reason}] from the variable's value, bounded and stripped of control characters."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    found = []
    for item in value[:MAX_PROJECTS] if isinstance(value, list) else []:
        if isinstance(item, dict) and item.get("name"):
            found.append(
                {"name": _clean(item["name"], MAX_NAME), "reason": _clean(item.get("reason"), MAX_REASON)}
            )
    return found


def as_notice(project: dict) -> dict:
    """The notice the front end shows for one project the session goes without."""
    name = project["name"]
    return {
        "id": f"project-unavailable:{name}:{project['reason']}",
        "kind": "project-unavailable",
        "level": "warning",
        "title": f"Project {name}: storage unavailable",
        "message": f"The storage of project {name} is unavailable in this session: {project['reason']}. "
        "Ask the datalab's administrators; the rest of the session works.",
        "detail": project["reason"],
        "project": name,
        "path": None,
    }
