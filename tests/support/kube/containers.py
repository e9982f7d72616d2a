"""What the kubelet needs to run a container here: referenced Secrets, env resolution, volumes, the process.

Containers that run here as local processes (others are only pretended):
- `jupyterhub-singleuser` (by command, or one of our single-user images without one), bound to the pod's address;
- a postgres image: its entrypoint as tests/support/kube/pg_entrypoint.py does it, with Debian's binaries;
- a `sh`/`bash` command (the git clone init container), with the machine's tools.
Mount paths (the Secret volume at /var/run/datalab, the home, subPaths) are remapped to directories of the pod,
in env values and arguments alike. The emulator has one network namespace, so a pod's loopback is its own
address: 127.0.0.1 in the arguments and env of the pod's other containers, and in libpq's variables (PG*) of
every container, becomes the pod's address (the session still reaches the hub at the host's).
A container with `runAsUser` (or a postgres image, which drops to its own account) runs, when the tests run
as root, in a user namespace under that uid (or Debian's `postgres` account) mapped to root: it owns what it
creates as the pod sees it, and PostgreSQL, which refuses root, runs.
"""

from __future__ import annotations

import base64
import os
import pwd
import re
import shutil
import sys
import urllib.parse
from pathlib import Path

from tests.support.kube.store import Store
from tests.support.procs import NODE_BIN, VENV_BIN, ManagedProcess

EXECUTABLES = {"jupyterhub-singleuser": VENV_BIN / "jupyterhub-singleuser"}
SINGLEUSER_IMAGES = re.compile(r"(^|/)datalab-(?!postgres)[a-z0-9-]+(:|@|$)")
POSTGRES_IMAGES = re.compile(r"(^|/)(datalab-)?postgres(ql)?(:|@|$)")
SHELLS = {"sh", "bash"}
PG_TOOLS = {"pg_isready", "psql"}
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
    """The local argv of a single-user server container, or None."""
    full = list(container.get("command") or []) + list(container.get("args") or [])
    for i, arg in enumerate(full):
        if (exe := EXECUTABLES.get(os.path.basename(arg))) is not None:
            return [str(exe), *full[i + 1 :]]
    if not container.get("command") and SINGLEUSER_IMAGES.search(container.get("image", "")):
        return [str(EXECUTABLES["jupyterhub-singleuser"]), *(container.get("args") or [])]
    return None


def local_command(container: dict) -> tuple[str, list[str]] | None:
    """(kind, argv) of a container we actually run: singleuser, postgres or shell; None: only pretended."""
    if (argv := singleuser_argv(container)) is not None:
        return "singleuser", argv
    command = list(container.get("command") or [])
    if not command and POSTGRES_IMAGES.search(container.get("image", "")):
        entrypoint = [sys.executable, "-m", "tests.support.kube.pg_entrypoint"]
        return "postgres", entrypoint + list(container.get("args") or [])
    if command and os.path.basename(command[0]) in SHELLS:
        return "shell", [shutil.which(os.path.basename(command[0])) or "/bin/sh", *command[1:]]
    return None


def probe_argv(command: list[str], pod_ip: str) -> list[str] | None:
    """A readiness probe's exec command run here (PostgreSQL's client tools), None: assumed to pass."""
    if not command or os.path.basename(command[0]) not in PG_TOOLS:
        return None
    from tests.support.kube.pg_entrypoint import bin_dir

    tools = bin_dir()
    if tools is None:
        return None
    return [str(tools / os.path.basename(command[0])), *(loopback(a, pod_ip) for a in command[1:])]


def loopback(value: str, pod_ip: str) -> str:
    """The pod's own loopback address is its address here (one network namespace for every pod)."""
    return value.replace("127.0.0.1", pod_ip)


def run_as(container: dict, kind: str) -> int | None:
    """The uid a container runs under here (a user namespace, as root), None: as the tests' user."""
    if os.geteuid() != 0:
        return None
    uid = (container.get("securityContext") or {}).get("runAsUser")
    if kind == "postgres":
        try:
            pwd.getpwuid(uid) if uid is not None else None
        except KeyError:
            uid = None  # initdb needs an account for its uid: the image's own one then
        return uid if uid is not None else pwd.getpwnam("postgres").pw_uid
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


def termination_log(root: Path, container: dict) -> Path:
    """Where a container's termination message is written here (its terminationMessagePath in a pod)."""
    return root / f"{container['name']}.termination-log"


def termination_message(root: Path, container: dict) -> str:
    """The message a terminated container left, as the kubelet reads it (at most 4096 bytes)."""
    try:
        return termination_log(root, container).read_bytes()[:4096].decode("utf-8", "replace")
    except OSError:
        return ""


def launch(
    store: Store,
    pod: dict,
    container: dict,
    command: tuple[str, list[str]],
    pod_ip: str,
    root: Path,
    pvc_root: Path,
    node_env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start the container's process (bound to the pod's address), in its own process group."""
    kind, argv = command
    volumes = materialize_volumes(store, pod, root, pvc_root)
    remap = Remap(
        [
            (m["mountPath"], volumes[m["name"]] / m.get("subPath", ""))
            for m in container.get("volumeMounts") or []
            if m["name"] in volumes
        ]
    )
    for mount in remap.mounts:
        mount[1].mkdir(parents=True, exist_ok=True)  # a subPath is created by the kubelet
    env = {
        "PATH": os.pathsep.join([str(VENV_BIN), str(NODE_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        **(node_env or {}),
    }
    for name, value in resolve_env(store, pod, container, pod_ip).items():
        value = remap.path(value)
        env[name] = loopback(value, pod_ip) if kind != "singleuser" or name.startswith("PG") else value
    home = remap.path(env.get("HOME", "/home/jovyan"))
    if not os.path.isabs(home) or not home.startswith(str(root.parent.parent)):
        home = str(root / "home")
    env["HOME"] = home
    Path(home).mkdir(parents=True, exist_ok=True)
    args = [remap.arg(a) for a in argv[1:]]
    if kind == "singleuser":
        port = 8888
        if url := env.get("JUPYTERHUB_SERVICE_URL"):
            parsed = urllib.parse.urlsplit(url)
            port = parsed.port or port
            env["JUPYTERHUB_SERVICE_URL"] = parsed._replace(netloc=f"{pod_ip}:{port}").geturl()
        args = [
            a for a in args if not a.startswith(("--ip=", "--ServerApp.ip=", "--port=", "--ServerApp.port="))
        ]
        args += [f"--ServerApp.ip={pod_ip}", f"--ServerApp.port={port}"]
        if os.geteuid() == 0 and "--allow-root" not in args:
            args.append("--allow-root")
    else:
        args = [loopback(a, pod_ip) for a in args]
    # the kubelet's per-container file at terminationMessagePath; our clone script names it $TERMINATION_LOG
    env["TERMINATION_LOG"] = str(termination_log(root, container))
    working_dir = remap.path(container.get("workingDir") or home)
    cwd = working_dir if os.path.isdir(working_dir) else home
    full = [argv[0], *args]
    if (uid := run_as(container, kind)) is not None:
        full = ["unshare", "-U", f"--map-user={uid}", f"--map-group={pwd.getpwuid(uid).pw_gid}", "--", *full]
    if kind == "postgres":
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    return ManagedProcess(
        full, log_path=root / f"{container['name']}.log", env=env, cwd=cwd, name=container["name"]
    )
