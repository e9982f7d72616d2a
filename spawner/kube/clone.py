"""The git init container of a session pod: clones the plan's repository into the home before the session
starts, reports how it went in a small status volume the session reads (DATALAB_STATUS_DIR) and in its
termination message, which the pod's status carries to the hub. It connects to the addresses the hub checked
at spawn (refs.git_clone_pin: git's http.curloptResolve, no redirects), so a name answering another address
by the time the pod runs (DNS rebinding) reaches nothing new.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..catalog.refs import GIT_PINS_FROM, UNRESOLVED, git_config_env
from ..plan import LaunchPlan, repository_folder

STATUS_VOLUME = "datalab-status"
STATUS_MOUNT_PATH = "/var/run/datalab-status"

# The init container's script. Values come from env, never interpolated into the script. A failed clone is
# recorded in the status volume (jupyter_s3_ext/notices/clone.py reads that format) for the session to show.
# Its outcome, one line, is also the container's termination message, which the pod's status carries to the
# hub (the chart's hub Role reads pods, not their logs): `clone_outcome` reads it for the spawn progress.
GIT_CLONE_SCRIPT = """\
set -u
outcome="${TERMINATION_LOG:-/dev/termination-log}"
if [ -e "$CLONE_DIR" ] && [ -n "$(ls -A "$CLONE_DIR" 2>/dev/null)" ]; then
  echo "datalab: $CLONE_DIR already exists, not cloning"
  printf '%s is already in your home: not cloned again' "$CLONE_FOLDER" 2>/dev/null >"$outcome"
  exit 0
fi
mkdir -p "$CLONE_DIR"
status="${STATUS_DIR:-/tmp}"
log="$status/git-clone.log"
pins() {
  set -- $(git version 2>/dev/null | sed -n 's/^git version \\([0-9]*\\)\\.\\([0-9]*\\).*/\\1 \\2/p')
  [ "${1:-0}" -gt "$PINS_MAJOR" ] || { [ "${1:-0}" -eq "$PINS_MAJOR" ] && [ "${2:-0}" -ge "$PINS_MINOR" ]; }
}
if [ -n "${CLONE_REFUSED:-}" ]; then
  printf '%s\\n' "$CLONE_REFUSED" >"$log"
elif [ -n "${GIT_CONFIG_COUNT:-}" ] && ! pins; then
  printf '%s cannot pin the address checked at start: not cloned\\n' "$(git version)" >"$log"
elif git clone --quiet -- "$GIT_REPOSITORY" "$CLONE_DIR" 2>"$log"; then
  echo "datalab: cloned $GIT_REPOSITORY into $CLONE_DIR"
  printf 'cloned %s into ~/%s' "$GIT_REPOSITORY" "$CLONE_FOLDER" 2>/dev/null >"$outcome"
  rm -f "$log"
  exit 0
fi
cat "$log" >&2
echo "datalab: could not clone $GIT_REPOSITORY (the session starts without it)" >&2
{ printf 'repository: %s\\nfolder: %s\\ntime: %s\\n\\n' "$GIT_REPOSITORY" "$CLONE_FOLDER" \\
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)"; tail -n 20 "$log"; } >"$status/git-clone-failed.txt"
{ printf 'could not clone %s: ' "$GIT_REPOSITORY"; tail -n 2 "$log" | tr '\\n' ' ' | cut -c1-600; \\
  printf '. The session starts without it.'; } 2>/dev/null >"$outcome"
rm -f "$log"
exit 0
"""
GIT_CLONE_CONTAINER = "git-clone"


def clone_outcome(pod: dict | None) -> str | None:
    """The git clone's outcome from the pod's status (its init container's termination message), or None
    when the pod has no clone or it did not say (an older image, a runtime without termination messages)."""
    statuses = ((pod or {}).get("status") or {}).get("initContainerStatuses") or []
    for status in statuses:
        if status.get("name") != GIT_CLONE_CONTAINER:
            continue
        message = (((status.get("state") or {}).get("terminated") or {}).get("message") or "").strip()
        return " ".join(message.split())[:800] or None
    return None


def git_init_container(
    plan: LaunchPlan,
    clone_dir: str,
    volume_name: str,
    mount_path: str,
    image: str | None,
    pin: dict[str, str] | None,
) -> dict[str, Any]:
    """Clones `plan.git_repository` into `clone_dir` unless it is already there; a failure goes to the
    status volume. `pin`: the git configuration from the spawn's check (refs.git_clone_pin), so the clone
    connects to the addresses the hub checked; None (not resolved): the container says so, clones nothing."""
    assert plan.git_repository is not None
    env = {
        "GIT_REPOSITORY": plan.git_repository,
        "CLONE_DIR": clone_dir,
        "CLONE_FOLDER": repository_folder(plan.git_repository),
        "STATUS_DIR": STATUS_MOUNT_PATH,
        "GIT_TERMINAL_PROMPT": "0",
        "HOME": "/tmp",
        "PINS_MAJOR": str(GIT_PINS_FROM[0]),
        "PINS_MINOR": str(GIT_PINS_FROM[1]),
        **git_config_env(pin or {}),
    }
    if pin is None:
        env["CLONE_REFUSED"] = UNRESOLVED.format(host=urlsplit(plan.git_repository).hostname)
    return {
        "name": GIT_CLONE_CONTAINER,
        "image": image or plan.image,
        "command": ["sh", "-c", GIT_CLONE_SCRIPT],
        "env": [{"name": name, "value": value} for name, value in env.items()],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [
            {"name": volume_name, "mountPath": mount_path},
            {"name": STATUS_VOLUME, "mountPath": STATUS_MOUNT_PATH},
        ],
        "securityContext": {"allowPrivilegeEscalation": False},
    }
