"""Where the stack's programs are, and which versions they are (for `datalab status`)."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hub

REPO = Path(hub.__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
NODE_BIN = REPO / "node_modules" / ".bin"
TOOLS_BIN = REPO / ".datalab-tools" / "node_modules" / ".bin"
IDP_JS = Path(hub.__file__).resolve().parent / "idp" / "idp.js"


def tool(name: str) -> str:
    """A program from the venv (weed, bao, jupyterhub...), else from PATH; a clear error when missing."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (run `make up`, which installs it)")
    return found


def chp() -> str:
    candidate = NODE_BIN / "configurable-http-proxy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("configurable-http-proxy")
    if not found:
        raise FileNotFoundError("configurable-http-proxy is not installed (run `make up` or `npm install`)")
    return found


def _package_version(path: Path) -> str:
    try:
        return json.loads(path.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "unknown"


def _command_version(argv: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    m = re.search(pattern, out)
    return m.group(1) if m else "unknown"


@functools.cache
def version_of(part: str) -> str:
    if part == "jupyterhub":
        import jupyterhub

        return jupyterhub.__version__
    if part == "proxy":
        return "configurable-http-proxy " + _package_version(
            REPO / "node_modules" / "configurable-http-proxy" / "package.json"
        )
    if part == "idp":
        oidc = _package_version(IDP_JS.parent / "node_modules" / "oidc-provider" / "package.json")
        node = _command_version(["node", "--version"], r"v(\S+)")
        return f"oidc-provider {oidc} on Node {node}"
    if part == "seaweedfs":
        return "SeaweedFS " + _command_version([tool("weed"), "version"], r"version \S+ (\S+)")
    if part == "openbao":
        return "OpenBao " + _command_version([tool("bao"), "version"], r"OpenBao v(\S+)")
    if part == "code-server":
        return _package_version(REPO / ".datalab-tools" / "node_modules" / "code-server" / "package.json")
    return "unknown"


def session_tools() -> dict[str, str]:
    """What sessions can use on this machine (the local backend's optional programs), with versions."""
    from spawner.local.session import postgres_bin_dir, program_found

    tools = {}
    cs = REPO / ".datalab-tools" / "node_modules" / "code-server" / "package.json"
    tools["code-server"] = _package_version(cs) if cs.exists() else "not installed (make up installs it)"
    pg = postgres_bin_dir()
    tools["postgresql"] = (
        _command_version([str(Path(pg) / "postgres"), "--version"], r"\) (\S+)") if pg else "not installed"
    )
    tools["rstudio-server"] = (
        "installed" if program_found("rserver", "") else "not installed (RStudio unavailable)"
    )
    return tools
