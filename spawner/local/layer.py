"""The session layer: what a shared environment gets from this Datalab's own code, per session.

Environments are shared and keyed by their definition only, so the project's session side is not
installed into them: the layer puts it beside them (a directory named by the code's location):
- `python/jupyter_s3_ext`, a link to the session extension's package (on PYTHONPATH);
- `bin/datalab-credentials`, the command the AWS config's `credential_process` runs, and `bin/vault`
  (OpenBao's `bao` under the name the Vault docs use);
- `etc/jupyter`, which enables the extension and opens terminals as interactive, non-login shells (a
  login shell's /etc/profile would put the system PATH back ahead of the session's environment);
- `share/jupyter/labextensions/jupyterlab-datalab`, a link to the built JupyterLab extension (on JUPYTER_PATH).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

CREDENTIALS_SCRIPT = """#!/usr/bin/env python3
# The session's credential helper (AWS credential_process, shell exports): jupyter_s3_ext's CLI.
import sys

from jupyter_s3_ext.credentials.cli import main

sys.exit(main())
"""

VAULT_SCRIPT = """#!/bin/sh
# `vault` is OpenBao's `bao` in Datalab sessions (the same API and commands).
exec bao "$@"
"""

EXTENSIONS = {"ServerApp": {"jpserver_extensions": {"jupyter_s3_ext": True}}}
# A plain config file: Jupyter Server reads extension switches from the `.d` folder, other settings not.
SERVER_CONFIG = {"ServerApp": {"terminado_settings": {"shell_command": ["/bin/bash", "-i"]}}}


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Write only when different, atomically, readable by every session account."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


LABEXTENSION = "jupyterlab-datalab"


def built_labextension(package: Path) -> Path | None:
    """The JupyterLab extension's build: beside the package (a source checkout, scripts/bootstrap.sh builds it
    there) or where the wheel installed it; None when neither has it."""
    for place in (
        package / "labextension",
        Path(sys.prefix, "share", "jupyter", "labextensions", LABEXTENSION),
    ):
        if (place / "package.json").is_file():
            return place
    return None


def _link(link: Path, target: Path) -> None:
    if not link.is_symlink() or os.readlink(link) != str(target):
        tmp = link.with_name(f".link.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(link)


def ensure_layer(cache: Path) -> Path:
    """The layer for this code (made or refreshed; cheap when already there)."""
    spec = importlib.util.find_spec("jupyter_s3_ext")  # located, not imported: the spawner never runs it
    if spec is None or not spec.origin:
        raise RuntimeError("the session extension jupyter_s3_ext is not installed beside the hub")
    package = Path(spec.origin).resolve().parent
    root = cache / "layers" / hashlib.sha256(str(package).encode()).hexdigest()[:12]
    old = os.umask(0o022)
    try:
        for sub in ("python", "bin", "etc/jupyter/jupyter_server_config.d"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        _link(root / "python" / "jupyter_s3_ext", package)
        labextension = built_labextension(package)
        if labextension is not None:
            (root / "share" / "jupyter" / "labextensions").mkdir(parents=True, exist_ok=True)
            _link(root / "share" / "jupyter" / "labextensions" / LABEXTENSION, labextension)
        _write(root / "bin" / "datalab-credentials", CREDENTIALS_SCRIPT, 0o755)
        _write(root / "bin" / "vault", VAULT_SCRIPT, 0o755)
        etc = root / "etc" / "jupyter"
        _write(
            etc / "jupyter_server_config.d" / "jupyter_s3_ext.json", json.dumps(EXTENSIONS, indent=2) + "\n"
        )
        _write(etc / "jupyter_server_config.json", json.dumps(SERVER_CONFIG, indent=2) + "\n")
        (etc / "jupyter_server_config.d" / "datalab_session.json").unlink(missing_ok=True)
    finally:
        os.umask(old)
    return root


def session_env(layer: Path, environment: Path) -> dict[str, str]:
    """What a session's processes need to find the layer and the environment."""
    return {
        "PYTHONPATH": str(layer / "python"),
        "JUPYTER_CONFIG_PATH": str(layer / "etc" / "jupyter"),
        "JUPYTER_PATH": str(layer / "share" / "jupyter"),
        "VIRTUAL_ENV": str(environment),
        "RETICULATE_PYTHON": str(environment / "bin" / "python"),
    }
