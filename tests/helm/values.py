"""The chart's files and our values as Helm sees them: the merge, the schema check, the ConfigMaps docs/deploy.md
makes, and the hub's Role. The chart is read from ../shared/z2jh-4.4.0 (never copied into this repository)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.kube.rbac import role_from_template

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO.parent / "shared" / "z2jh-4.4.0"
VALUES_DIR = REPO / "helm-values"
VALUES = VALUES_DIR / "values.yaml"
HACKATHON = VALUES_DIR / "values-hackathon.yaml"
RELEASE = "datalab"
NAMESPACE = "datalab"

# The hub Secret's values as the tests give them, and the combinations of values files a deployment uses.
SECRETS = {
    "datalab-hub": {
        "oidc-client-secret": "oidc-client-secret-for-tests",
        "crypt-key": "a" * 64 + ";" + "b" * 64,
    }
}
COMBINATIONS = {
    "values": [VALUES],
    "values+hackathon": [VALUES, HACKATHON],
    "hackathon-alone": [HACKATHON],
}
CONFIGMAP_NAMES = ("datalab-catalog-services", "datalab-catalog-icons")


# The commands docs/deploy.md gives for the catalog ConfigMaps (tests run the part before the pipe).
CONFIGMAP_COMMANDS = {
    "datalab-catalog-services": "kubectl create configmap datalab-catalog-services --namespace datalab "
    "--from-file=profiles/services/ --dry-run=client -o yaml",
    "datalab-catalog-icons": "kubectl create configmap datalab-catalog-icons --namespace datalab "
    "--from-file=profiles/icons/ --dry-run=client -o yaml",
}


def chart_available() -> bool:
    return (CHART_DIR / "values.yaml").is_file() and (CHART_DIR / "files" / "hub" / "z2jh.py").is_file()


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def helm_merge(base: Any, overlay: Any) -> Any:
    """`overlay` over `base` as Helm coalesces values: maps merge, anything else replaces, null deletes."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return copy.deepcopy(overlay)
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged_values(*files: Path, overlay: dict | None = None) -> dict:
    """The chart's defaults with `files` (then `overlay`) merged over them, as `helm install -f ...` does."""
    values = read_yaml(CHART_DIR / "values.yaml")
    for f in files:
        values = helm_merge(values, read_yaml(f) or {})
    return helm_merge(values, overlay or {})


def schema_errors(values: dict) -> list[str]:
    import jsonschema

    schema = read_yaml(CHART_DIR / "values.schema.yaml")
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(values)
    )


def configmap(name: str) -> dict:
    """The ConfigMap docs/deploy.md creates, from the documented command (run from the repository)."""
    out = subprocess.run(
        CONFIGMAP_COMMANDS[name].split(), cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return yaml.safe_load(out)


def hub_role() -> dict:
    """The Role the chart gives the hub's service account (templates/hub/rbac.yaml)."""
    return role_from_template(CHART_DIR / "templates" / "hub" / "rbac.yaml")
