"""What the Zero to JupyterHub chart 4.4.0 does with our values, emulated for tests (no cluster, no helm).

- `merged_values(*files)`: the values as Helm sees them: the user's files deep-merged over the chart's
  defaults (maps merge recursively, lists and scalars replace, null deletes a key).
- `schema_errors(values)`: what the chart's values.schema (JSON Schema Draft 7) says about them.
- `hub_config(values, secrets)`: the traitlets Config the chart's jupyterhub_config.py would build in the
  hub pod, following its documented order: spawner_class = KubeSpawner, the settings the chart derives
  from its values (singleuser.*, cull.*, hub.services, hub.loadRoles, its generated secrets), then
  hub.config applied as traitlets config, then hub.extraConfig snippets in sorted key order, run with the
  pod's environment (hub.extraEnv, Secrets resolved like the kubelet does).
- `hub_files(values, configmaps, secrets, root)`: the files the hub container sees at the mount paths of
  hub.extraVolumeMounts (ConfigMap volumes) and hub.extraFiles, written under `root`.

Only the parts of the chart that touch what our values set are emulated. The chart's own files are
read from ../shared/z2jh-4.4.0 (never copied into this repository).
"""

from __future__ import annotations

import copy
import os
import re
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO.parent / "shared" / "z2jh-4.4.0"
VALUES_DIR = REPO / "helm-values"
VALUES = VALUES_DIR / "values.yaml"
HACKATHON = VALUES_DIR / "values-hackathon.yaml"
RELEASE = "datalab"
NAMESPACE = "datalab"

# The commands docs/deploy.md gives for the catalog ConfigMaps (tests run the part before the pipe).
CONFIGMAP_COMMANDS = {
    "datalab-catalog-services": "kubectl create configmap datalab-catalog-services --namespace datalab "
    "--from-file=profiles/services/ --dry-run=client -o yaml",
    "datalab-catalog-icons": "kubectl create configmap datalab-catalog-icons --namespace datalab "
    "--from-file=profiles/icons/ --dry-run=client -o yaml",
}


def chart_available() -> bool:
    return (CHART_DIR / "values.yaml").is_file() and (CHART_DIR / "values.schema.yaml").is_file()


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---- Helm's merge -----------------------------------------------------------------------------------
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


def merged_values(*files: Path) -> dict:
    values = read_yaml(CHART_DIR / "values.yaml")
    for f in files:
        values = helm_merge(values, read_yaml(f) or {})
    return values


def schema_errors(values: dict) -> list[str]:
    import jsonschema

    schema = read_yaml(CHART_DIR / "values.schema.yaml")
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(values)
    )


# ---- the hub pod's environment -------------------------------------------------------------------------
def chart_secret(values: dict) -> dict[str, str]:
    """The values the chart generates once and keeps in its Secret `hub` (random here)."""
    generated = {
        "hub.config.JupyterHub.cookie_secret": secrets.token_hex(32),
        "hub.config.CryptKeeper.keys": secrets.token_hex(32),
        "hub.config.ConfigurableHTTPProxy.auth_token": secrets.token_hex(32),
    }
    for name in values["hub"].get("services") or {}:
        generated[f"hub.services.{name}.apiToken"] = secrets.token_hex(32)
    return generated


def hub_env(values: dict, secrets_: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """hub.extraEnv as the kubelet resolves it: literal values, and secretKeyRef from `secrets_`."""
    env: dict[str, str] = {}
    extra = values["hub"].get("extraEnv") or {}
    items = extra.items() if isinstance(extra, dict) else ((e["name"], e) for e in extra)
    for name, spec in items:
        if not isinstance(spec, dict):
            env[name] = str(spec)
            continue
        name = spec.get("name", name)
        if "value" in spec:
            env[name] = str(spec["value"])
            continue
        ref = spec["valueFrom"]["secretKeyRef"]
        secret = secrets_.get(ref["name"])
        if secret is None or ref["key"] not in secret:
            raise LookupError(f"hub pod cannot start: Secret {ref['name']} has no key {ref['key']!r}")
        env[name] = secret[ref["key"]]
    return env


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---- jupyterhub_config.py ------------------------------------------------------------------------------
def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


class _Getter:
    """z2jh's get_config("a.b.c", default) over the merged values."""

    def __init__(self, values: dict):
        self.values = values

    def __call__(self, key: str, default: Any = None) -> Any:
        node: Any = self.values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return copy.deepcopy(node) if node is not None else default


def hub_config(
    values: dict, secrets_: Mapping[str, Mapping[str, str]], root: Path | None = None
) -> tuple[Config, dict[str, str]]:
    """(the Config the hub would load, the hub container's environment) for the merged `values`.

    `secrets_` holds the Secrets in the namespace by name (the chart's own `hub` Secret is added).
    `root`: where `hub_files` laid out the container's files; the extraConfig snippets then see the
    catalog directory there (its path in the returned config stays the container's).
    """
    get = _Getter(values)
    chart = chart_secret(values)
    secrets_ = {**secrets_, "hub": chart}
    env = hub_env(values, secrets_)
    c = Config()

    def set_if(section: Config, trait: str, key: str) -> None:
        value = get(key)
        if value is not None:
            section[trait] = value

    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.ConfigurableHTTPProxy.should_start = False
    c.JupyterHub.cleanup_servers = False
    c.JupyterHub.last_activity_interval = 60
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
    c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
    for trait in (
        "concurrent_spawn_limit",
        "active_server_limit",
        "base_url",
        "allow_named_servers",
        "named_server_limit_per_user",
        "authenticate_prometheus",
        "redirect_to_server",
        "shutdown_on_logout",
        "template_paths",
        "template_vars",
    ):
        set_if(c.JupyterHub, trait, "hub." + _camel(trait))
    c.KubeSpawner.namespace = NAMESPACE
    set_if(c.Spawner, "consecutive_failure_limit", "hub.consecutiveFailureLimit")
    for trait, key in (
        ("pod_name_template", None),
        ("start_timeout", None),
        ("image_pull_policy", "image.pullPolicy"),
        ("events_enabled", "events"),
        ("extra_labels", None),
        ("extra_annotations", None),
        ("uid", None),
        ("fs_gid", None),
        ("service_account", "serviceAccountName"),
        ("storage_extra_labels", "storage.extraLabels"),
        ("node_selector", None),
        ("node_affinity_required", "extraNodeAffinity.required"),
        ("node_affinity_preferred", "extraNodeAffinity.preferred"),
        ("pod_affinity_required", "extraPodAffinity.required"),
        ("pod_affinity_preferred", "extraPodAffinity.preferred"),
        ("pod_anti_affinity_required", "extraPodAntiAffinity.required"),
        ("pod_anti_affinity_preferred", "extraPodAntiAffinity.preferred"),
        ("lifecycle_hooks", None),
        ("init_containers", None),
        ("extra_containers", None),
        ("mem_limit", "memory.limit"),
        ("mem_guarantee", "memory.guarantee"),
        ("cpu_limit", "cpu.limit"),
        ("cpu_guarantee", "cpu.guarantee"),
        ("extra_resource_limits", "extraResource.limits"),
        ("extra_resource_guarantees", "extraResource.guarantees"),
        ("environment", "extraEnv"),
        ("profile_list", None),
        ("extra_pod_config", None),
    ):
        set_if(c.KubeSpawner, trait, "singleuser." + (key or _camel(trait)))
    c.KubeSpawner.allow_privilege_escalation = get("singleuser.allowPrivilegeEscalation")
    if image := get("singleuser.image.name"):
        tag = get("singleuser.image.tag")
        c.KubeSpawner.image = f"{image}:{tag}" if tag else image
    if get("scheduling.userScheduler.enabled"):
        c.KubeSpawner.scheduler_name = f"{RELEASE}-user-scheduler"
    tolerations = list(get("singleuser.extraTolerations", []))
    tolerations += get("scheduling.userPods.tolerations", [])
    c.KubeSpawner.tolerations = tolerations
    if get("scheduling.userPods.nodeAffinity.matchNodePurpose") == "prefer":
        c.KubeSpawner.node_affinity_preferred = [
            *c.KubeSpawner.get("node_affinity_preferred", []),
            {
                "weight": 100,
                "preference": {
                    "matchExpressions": [
                        {"key": "hub.jupyter.org/node-purpose", "operator": "In", "values": ["user"]}
                    ]
                },
            },
        ]
    storage = get("singleuser.storage.type")
    volumes: list = []
    mounts: list = []
    if storage == "dynamic":
        if template := get("singleuser.storage.dynamic.pvcNameTemplate"):
            c.KubeSpawner.pvc_name_template = template
        volume = get("singleuser.storage.dynamic.volumeNameTemplate")
        c.KubeSpawner.storage_pvc_ensure = True
        set_if(c.KubeSpawner, "storage_class", "singleuser.storage.dynamic.storageClass")
        set_if(c.KubeSpawner, "storage_access_modes", "singleuser.storage.dynamic.storageAccessModes")
        set_if(c.KubeSpawner, "storage_capacity", "singleuser.storage.capacity")
        volumes = [{"name": volume, "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
        mounts = [{"mountPath": get("singleuser.storage.homeMountPath"), "name": volume}]
    elif storage == "static":
        volumes = [
            {"name": "home", "persistentVolumeClaim": {"claimName": get("singleuser.storage.static.pvcName")}}
        ]
        mounts = [
            {
                "mountPath": get("singleuser.storage.homeMountPath"),
                "name": "home",
                "subPath": get("singleuser.storage.static.subPath"),
            }
        ]
    if volumes or storage in ("dynamic", "static"):
        c.KubeSpawner.volumes = volumes + list(get("singleuser.storage.extraVolumes") or [])
        c.KubeSpawner.volume_mounts = mounts + list(get("singleuser.storage.extraVolumeMounts") or [])
    if get("singleuser.cloudMetadata.blockWithIptables"):
        c.KubeSpawner.init_containers = [
            *c.KubeSpawner.get("init_containers", []),
            {
                "name": "block-cloud-metadata",
                "image": "{}:{}".format(
                    get("singleuser.networkTools.image.name"), get("singleuser.networkTools.image.tag")
                ),
                "command": [
                    "iptables",
                    "--append",
                    "OUTPUT",
                    "--protocol",
                    "tcp",
                    "--destination",
                    get("singleuser.cloudMetadata.ip"),
                    "--destination-port",
                    "80",
                    "--jump",
                    "DROP",
                ],
                "securityContext": {
                    "runAsUser": 0,
                    "privileged": True,
                    "capabilities": {"add": ["NET_ADMIN"]},
                },
            },
        ]
    set_if(c.Spawner, "cmd", "singleuser.cmd")
    set_if(c.Spawner, "default_url", "singleuser.defaultUrl")

    services: list[dict] = []
    for name, service in (get("hub.services") or {}).items():
        service = dict(service or {})
        service.setdefault("name", name)
        service.pop("apiToken", None)
        service["api_token"] = chart[f"hub.services.{name}.apiToken"]
        services.append(service)
    roles: list[dict] = []
    for name, role in (get("hub.loadRoles") or {}).items():
        role = dict(role or {})
        role.setdefault("name", name)
        roles.append(role)
    if get("cull.enabled"):
        role = {
            "name": "jupyterhub-idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["jupyterhub-idle-culler"],
        }
        cmd = ["python3", "-m", "jupyterhub_idle_culler", "--url=http://localhost:8081/hub/api"]
        for flag, key in (("timeout", "timeout"), ("cull-every", "every"), ("concurrency", "concurrency")):
            if value := get(f"cull.{key}"):
                cmd.append(f"--{flag}={value}")
        if get("cull.users"):
            cmd.append("--cull-users")
            role["scopes"].append("admin:users")
        if not get("cull.adminUsers"):
            cmd.append("--cull-admin-users=false")
        if get("cull.removeNamedServers"):
            cmd.append("--remove-named-servers")
        if max_age := get("cull.maxAge"):
            cmd.append(f"--max-age={max_age}")
        services.append({"name": "jupyterhub-idle-culler", "command": cmd})
        roles.append(role)
    c.JupyterHub.services = services
    c.JupyterHub.load_roles = roles

    # the generated secrets, then hub.config (except what the chart manages), then extraConfig
    c.JupyterHub.cookie_secret = chart["hub.config.JupyterHub.cookie_secret"]
    c.CryptKeeper.keys = chart["hub.config.CryptKeeper.keys"].split(";")
    for app, cfg in (get("hub.config") or {}).items():
        cfg = dict(cfg or {})
        if app == "JupyterHub":
            for managed in ("proxy_auth_token", "cookie_secret", "services"):
                cfg.pop(managed, None)
        elif app == "ConfigurableHTTPProxy":
            cfg.pop("auth_token", None)
        elif app == "CryptKeeper":
            cfg.pop("keys", None)
        c[app].update(cfg)
    with environment(env), _files_under(c, env, root):
        for _key, snippet in sorted((get("hub.extraConfig") or {}).items()):
            exec(compile(snippet, f"hub.extraConfig.{_key}", "exec"), {"c": c, "get_config": get})
    return c, env


CATALOG_SECTIONS = ("CatalogSpawner", "LocalCatalogSpawner", "CatalogOptionsMixin", "CatalogRuntimeMixin")


def host_path(root: Path, container_path: str) -> Path:
    return root / container_path.lstrip("/")


@contextmanager
def _files_under(c: Config, env: dict[str, str], root: Path | None) -> Iterator[None]:
    """While the snippets run, the catalog directory (config and $DATALAB_CATALOG_DIR) is under `root`."""
    if root is None:
        yield
        return
    saved = {s: c[s]["catalog_dir"] for s in CATALOG_SECTIONS if s in c and "catalog_dir" in c[s]}
    saved_env = os.environ.get("DATALAB_CATALOG_DIR")
    for section, path in saved.items():
        c[section]["catalog_dir"] = str(host_path(root, path))
    if saved_env:
        os.environ["DATALAB_CATALOG_DIR"] = str(host_path(root, saved_env))
    try:
        yield
    finally:
        for section, path in saved.items():
            c[section]["catalog_dir"] = path
        if saved_env:
            os.environ["DATALAB_CATALOG_DIR"] = saved_env


# ---- the hub container's files ---------------------------------------------------------------------------
def configmap(name: str) -> dict:
    """The ConfigMap docs/deploy.md creates, from the documented command (run from the repository)."""
    out = subprocess.run(
        CONFIGMAP_COMMANDS[name].split(), cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return yaml.safe_load(out)


def hub_files(values: dict, configmaps: Mapping[str, dict], root: Path) -> dict[str, Path]:
    """Lay out hub.extraVolumeMounts (ConfigMap volumes) and hub.extraFiles under `root`.

    Returns {container path: host path} of every mount. A missing ConfigMap that is not optional
    raises, as the pod would not start.
    """
    volumes = {v["name"]: v for v in values["hub"].get("extraVolumes") or []}
    mounts: dict[str, Path] = {}

    def host(path: str) -> Path:
        assert path.startswith("/"), path
        return root / path.lstrip("/")

    for mount in values["hub"].get("extraVolumeMounts") or []:
        volume = volumes[mount["name"]]
        target = host(mount["mountPath"])
        target.mkdir(parents=True, exist_ok=True)
        mounts[mount["mountPath"]] = target
        if "configMap" not in volume:
            continue
        ref = volume["configMap"]
        cm = configmaps.get(ref["name"])
        if cm is None:
            if ref.get("optional"):
                continue
            raise LookupError(f"hub pod cannot start: ConfigMap {ref['name']} does not exist")
        for key, text in (cm.get("data") or {}).items():
            (target / key).write_text(text, encoding="utf-8")
    for name, spec in (values["hub"].get("extraFiles") or {}).items():
        target = host(spec["mountPath"])
        target.parent.mkdir(parents=True, exist_ok=True)
        if "data" in spec:
            target.write_text(yaml.safe_dump(spec["data"], sort_keys=False), encoding="utf-8")
        elif "stringData" in spec:
            target.write_text(spec["stringData"], encoding="utf-8")
        else:
            raise AssertionError(f"hub.extraFiles.{name}: no data or stringData")
        mounts[spec["mountPath"]] = target
    return mounts
