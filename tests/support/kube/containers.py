"""What the kubelet needs to run a container here: referenced Secrets, env resolution, volumes, the process.

A container whose command is `jupyterhub-singleuser` (or whose image is one of our single-user images and
sets no command) runs as a local process bound to the pod's address; mount paths (the Secret volume at
/var/run/datalab, the home) are remapped to directories of the pod, in env values and arguments alike.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.parse
from pathlib import Path

from tests.support.kube.store import Store
from tests.support.procs import NODE_BIN, VENV_BIN, ManagedProcess

EXECUTABLES = {"jupyterhub-singleuser": VENV_BIN / "jupyterhub-singleuser"}
SINGLEUSER_IMAGES = re.compile(r"(^|/)datalab-(?!postgres)[a-z0-9-]+(:|@|$)")
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class MissingReference(Exception):
    """A Secret/ConfigMap (or key) the pod needs is absent: the kubelet reports `reason` and waits."""

    def __init__(self, reason: str, message: str, ref: tuple[str, str]):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.ref = ref  # (plural, name) whose appearance or change may unblock the pod


def _data(store: Store, kind: str, namespace: str, name: str) -> dict[str, str] | None:
    """Decoded data of a Secret or ConfigMap, None when it does not exist."""
    obj = store.find("secrets" if kind == "Secret" else "configmaps", namespace, name)
    if obj is None:
        return None
    if kind == "Secret":
        return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def _env_refs(container: dict):
    """(kind, name, key or None, optional) of every Secret/ConfigMap the container's env uses."""
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if ref := source.get(field):
                yield kind, ref.get("name", ""), ref.get("key"), bool(ref.get("optional"))
    for env_from in container.get("envFrom") or []:
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if ref := env_from.get(field):
                yield kind, ref.get("name", ""), None, bool(ref.get("optional"))


def check_references(store: Store, pod: dict) -> MissingReference | None:
    """The first missing reference that keeps the pod's containers from starting, as a kubelet reports it."""
    namespace, spec = pod["metadata"]["namespace"], pod.get("spec", {})
    for volume in spec.get("volumes") or []:
        if (source := volume.get("secret")) is not None and not source.get("optional"):
            data = _data(store, "Secret", namespace, source.get("secretName", ""))
            if data is None:
                return MissingReference(
                    "FailedMount",
                    f'MountVolume.SetUp failed for volume "{volume["name"]}" : secret "{source.get("secretName")}" not found',
                    ("secrets", source.get("secretName", "")),
                )
            for item in source.get("items") or []:
                if item["key"] not in data:
                    return MissingReference(
                        "FailedMount",
                        f'MountVolume.SetUp failed for volume "{volume["name"]}" : references non-existent secret key: {item["key"]}',
                        ("secrets", source.get("secretName", "")),
                    )
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for kind, name, key, optional in _env_refs(container):
            if optional:
                continue
            data = _data(store, kind, namespace, name)
            ref = ("secrets" if kind == "Secret" else "configmaps", name)
            if data is None:
                return MissingReference(
                    "CreateContainerConfigError", f'Error: {kind.lower()} "{name}" not found', ref
                )
            if key is not None and key not in data:
                message = f"Error: couldn't find key {key} in {kind} {namespace}/{name}"
                return MissingReference("CreateContainerConfigError", message, ref)
    return None


def singleuser_argv(container: dict) -> list[str] | None:
    """The local argv for a container we actually run, or None (the container is only pretended)."""
    full = list(container.get("command") or []) + list(container.get("args") or [])
    for i, arg in enumerate(full):
        if (exe := EXECUTABLES.get(os.path.basename(arg))) is not None:
            return [str(exe), *full[i + 1 :]]
    if not container.get("command") and SINGLEUSER_IMAGES.search(container.get("image", "")):
        return [str(EXECUTABLES["jupyterhub-singleuser"]), *(container.get("args") or [])]
    return None


class Remap:
    """Container paths -> local paths, for the container's volume mounts (longest mount path first)."""

    def __init__(self, mounts: list[tuple[str, Path]]):
        self.mounts = sorted(((m.rstrip("/") or "/", p) for m, p in mounts), key=lambda m: -len(m[0]))

    def path(self, value: str) -> str:
        for mount, local in self.mounts:
            if value == mount or value.startswith(mount + "/"):
                return str(local) + value[len(mount) :]
        return value

    def arg(self, value: str) -> str:
        if value.startswith("--") and "=" in value:
            flag, _, rest = value.partition("=")
            return f"{flag}={self.path(rest)}"
        return self.path(value)


def materialize_volumes(store: Store, pod: dict, root: Path, pvc_root: Path) -> dict[str, Path]:
    """A local directory per pod volume; Secret volumes get their files (mode as asked), PVCs persist."""
    namespace = pod["metadata"]["namespace"]
    dirs: dict[str, Path] = {}
    for volume in pod.get("spec", {}).get("volumes") or []:
        if claim := volume.get("persistentVolumeClaim"):
            path = pvc_root / namespace / claim["claimName"]
        else:
            path = root / "volumes" / volume["name"]
        path.mkdir(parents=True, exist_ok=True)
        dirs[volume["name"]] = path
        if (source := volume.get("secret")) is not None:
            data = _data(store, "Secret", namespace, source.get("secretName", "")) or {}
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    continue
                target = path / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                mode = item.get("mode", source.get("defaultMode", 0o644))
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(data[item["key"]])
                os.chmod(target, mode)
    return dirs


def resolve_env(store: Store, pod: dict, container: dict, pod_ip: str) -> dict[str, str]:
    """The container's environment as the kubelet computes it (envFrom, then env with $(VAR) expansion)."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for env_from in container.get("envFrom") or []:
        for field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if ref := env_from.get(field):
                for key, value in (_data(store, kind, namespace, ref.get("name", "")) or {}).items():
                    env[env_from.get("prefix", "") + key] = value
    fields = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": namespace,
        "metadata.uid": pod["metadata"]["uid"],
        "status.podIP": pod_ip,
        "status.hostIP": "127.0.0.1",
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
    }
    for item in container.get("env") or []:
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), item.get("value") or "")
        elif ref := source.get("secretKeyRef") or source.get("configMapKeyRef"):
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            value = (_data(store, kind, namespace, ref.get("name", "")) or {}).get(ref["key"])
            if value is not None:
                env[item["name"]] = value
        elif ref := source.get("fieldRef"):
            env[item["name"]] = fields.get(ref.get("fieldPath", ""), "")
    return env


def launch(
    store: Store, pod: dict, container: dict, argv: list[str], pod_ip: str, root: Path, pvc_root: Path
) -> ManagedProcess:
    """Start the container's process bound to the pod's address, in its own process group."""
    volumes = materialize_volumes(store, pod, root, pvc_root)
    remap = Remap(
        [
            (m["mountPath"], volumes[m["name"]] / m.get("subPath", ""))
            for m in container.get("volumeMounts") or []
            if m["name"] in volumes
        ]
    )
    env = {
        "PATH": os.pathsep.join([str(VENV_BIN), str(NODE_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
    }
    env.update({k: remap.path(v) for k, v in resolve_env(store, pod, container, pod_ip).items()})
    home = remap.path(env.get("HOME", "/home/jovyan"))
    if not os.path.isabs(home) or not home.startswith(str(root.parent.parent)):
        home = str(root / "home")
    env["HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    port = 8888
    if url := env.get("JUPYTERHUB_SERVICE_URL"):
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port or port
        env["JUPYTERHUB_SERVICE_URL"] = parsed._replace(netloc=f"{pod_ip}:{port}").geturl()
    args = [
        remap.arg(a)
        for a in argv[1:]
        if not a.startswith(("--ip=", "--ServerApp.ip=", "--port=", "--ServerApp.port="))
    ]
    args += [f"--ServerApp.ip={pod_ip}", f"--ServerApp.port={port}"]
    if os.geteuid() == 0 and "--allow-root" not in args:
        args.append("--allow-root")
    working_dir = remap.path(container.get("workingDir") or home)
    cwd = working_dir if os.path.isdir(working_dir) else home
    return ManagedProcess(
        [argv[0], *args], log_path=root / f"{container['name']}.log", env=env, cwd=cwd, name=container["name"]
    )
