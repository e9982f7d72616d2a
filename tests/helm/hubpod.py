"""The chart's hub pod on this machine: its files where the chart mounts them, its environment, its config.

`HubPod.lay_out(values, secrets, configmaps, root)` writes, under `root`, what the hub container sees:
- /usr/local/etc/jupyterhub/: the chart's own jupyterhub_config.py and z2jh.py (symlinks to
  ../shared/z2jh-4.4.0/files/hub, never copies), `secret/` (the chart's Secret: values.yaml with
  Chart and Release, the generated tokens and keys), `config/` (the ConfigMap's name templates);
- hub.extraFiles at their mountPath, hub.extraVolumeMounts' ConfigMap volumes at theirs;
- the Deployment's environment (HELM_RELEASE_NAME, POD_NAMESPACE, CONFIGPROXY_AUTH_TOKEN, hub.extraEnv
  with Secrets resolved as the kubelet does, the Services' *_SERVICE_HOST/PORT).

`run(argv)` runs a command in a private mount namespace where those paths are bind-mounted (root only:
`unshare -m`), since z2jh.py reads fixed paths. `load_config()` loads the chart's jupyterhub_config.py
there into a JupyterHub and returns the resulting traitlets Config.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets as secrets_
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from traitlets.config import Config

from tests.helm.values import CHART_DIR, NAMESPACE, RELEASE, REPO

ETC = "/usr/local/etc/jupyterhub"
CHART = {"Name": "jupyterhub", "Version": "4.4.0", "AppVersion": "5.5.0"}
NAMES = (
    "hub hub-serviceaccount hub-pvc proxy proxy-api proxy-http proxy-public proxy-public-tls "
    "proxy-public-manual-tls autohttps autohttps-serviceaccount user-scheduler-deploy "
    "user-scheduler-serviceaccount user-scheduler-lock user-placeholder image-puller-priority "
    "hook-image-awaiter hook-image-awaiter-serviceaccount hook-image-puller hook-image-puller-serviceaccount "
    "continuous-image-puller continuous-image-puller-serviceaccount singleuser image-pull-secret ingress "
    "priority user-placeholder-priority user-scheduler"
).split()


def can_run() -> str | None:
    """Why the hub pod cannot be laid out here (None when it can)."""
    if os.geteuid() != 0:
        return "z2jh.py reads /usr/local/etc/jupyterhub: its files are bind-mounted in a mount namespace (root only)"
    if shutil.which("unshare") is None:
        return "util-linux unshare is not installed"
    return None


def name_templates(values: dict, release: str) -> dict[str, str]:
    """The ConfigMap's resource names (jupyterhub.name-templates): bare with fullnameOverride ''."""
    override = values.get("fullnameOverride")
    if override is None:
        full = release if "jupyterhub" in release else f"{release}-jupyterhub"
    else:
        full = override
    prefix = f"{full}-" if full else ""
    names = {"fullname": full, "fullname-dash": prefix}
    names.update({n: prefix + n for n in NAMES})
    names["hub-existing-secret"] = ""
    names["hub-existing-secret-or-default"] = prefix + "hub"
    return names


def _extra_file(spec: dict) -> str:
    """An extraFiles entry's content as the chart renders it (data: by the file's extension)."""
    if "stringData" in spec:
        return spec["stringData"]
    data = spec["data"]
    if spec["mountPath"].endswith(".json"):
        return json.dumps(data)
    return yaml.safe_dump(data, sort_keys=False)


def _encode(value):
    """JSON for a config value; classes and functions by their import path, other objects by repr."""
    qualname = getattr(value, "__qualname__", "")
    if callable(value) and qualname and "<" not in qualname:
        return {"__import__": f"{value.__module__}:{qualname}"}
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return {"__repr__": repr(value)[:200]}


def _decode(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__import__"}:
            module, _, name = obj["__import__"].partition(":")
            target = importlib.import_module(module)
            for part in name.split("."):
                target = getattr(target, part)
            return target
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


@dataclass
class HubPod:
    root: Path
    values: dict
    env: dict[str, str]
    secret: dict[str, str]  # the chart's Secret `hub`, by key
    binds: dict[str, Path] = field(default_factory=dict)  # container path -> host path
    mounts: dict[str, Path] = field(default_factory=dict)  # hub.extraFiles/extraVolumeMounts -> host path

    @classmethod
    def lay_out(
        cls,
        values: dict,
        secrets: Mapping[str, Mapping[str, str]],
        configmaps: Mapping[str, dict],
        root: Path,
        *,
        services: Mapping[str, int] | None = None,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
    ) -> HubPod:
        """Write the hub pod's files under `root`. `services`: port of the hub/proxy-api/proxy-public Services.

        A Secret or ConfigMap the pod needs that is missing raises LookupError (the pod would not start)."""
        root = Path(root)
        etc = root / "usr-local-etc-jupyterhub"
        (etc / "secret").mkdir(parents=True, exist_ok=True)
        (etc / "config").mkdir(exist_ok=True)
        for name in ("jupyterhub_config.py", "z2jh.py"):
            link = etc / name
            if not link.exists():
                link.symlink_to(CHART_DIR / "files" / "hub" / name)
        secret = {
            "hub.config.ConfigurableHTTPProxy.auth_token": secrets_.token_hex(32),
            "hub.config.JupyterHub.cookie_secret": secrets_.token_hex(32),
            "hub.config.CryptKeeper.keys": secrets_.token_hex(32),
        }
        for key, service in (values["hub"].get("services") or {}).items():
            secret[f"hub.services.{key}.apiToken"] = (service or {}).get("apiToken") or secrets_.token_hex(32)
        chart_values = {
            **values,
            "Chart": CHART,
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        }
        secret["values.yaml"] = yaml.safe_dump(chart_values)
        for key, text in secret.items():
            (etc / "secret" / key).write_text(text, encoding="utf-8")
        names = name_templates(values, release)
        for key, text in names.items():
            (etc / "config" / key).write_text(text, encoding="utf-8")
        pod = cls(root, values, {}, secret, {ETC: etc})
        pod._files(configmaps)
        pod.env = pod._environment(secrets, names, services or {}, namespace, release)
        return pod

    def host(self, container_path: str) -> Path:
        return self.root / "fs" / container_path.lstrip("/")

    def _files(self, configmaps: Mapping[str, dict]) -> None:
        hub = self.values["hub"]
        volumes = {v["name"]: v for v in hub.get("extraVolumes") or []}
        for mount in hub.get("extraVolumeMounts") or []:
            target = self.host(mount["mountPath"])
            target.mkdir(parents=True, exist_ok=True)
            self.mounts[mount["mountPath"]] = target
            ref = volumes[mount["name"]].get("configMap")
            if ref is None:
                continue
            cm = configmaps.get(ref["name"])
            if cm is None:
                if ref.get("optional"):
                    continue
                raise LookupError(f"hub pod cannot start: ConfigMap {ref['name']} does not exist")
            for key, text in (cm.get("data") or {}).items():
                (target / key).write_text(text, encoding="utf-8")
        for spec in (hub.get("extraFiles") or {}).values():
            target = self.host(spec["mountPath"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_extra_file(spec), encoding="utf-8")
            self.mounts[spec["mountPath"]] = target
        for path in self.mounts:  # bind the mount's folder; what the host has there stays outside the pod
            anchor = Path(path) if self.mounts[path].is_dir() else Path(path).parent
            if any(anchor.is_relative_to(b) for b in self.binds if b != ETC):
                continue
            self.binds[str(anchor)] = self.host(str(anchor))

    def _environment(self, secrets, names, services, namespace, release) -> dict[str, str]:
        env = {
            "PYTHONUNBUFFERED": "1",
            "HELM_RELEASE_NAME": release,
            "POD_NAMESPACE": namespace,
            "CONFIGPROXY_AUTH_TOKEN": self.secret["hub.config.ConfigurableHTTPProxy.auth_token"],
        }
        for short in ("hub", "proxy-api", "proxy-public"):
            var = names[short].upper().replace("-", "_")
            env[f"{var}_SERVICE_HOST"] = "127.0.0.1"
            env[f"{var}_SERVICE_PORT"] = str(services.get(short, 0))
        extra = self.values["hub"].get("extraEnv") or {}
        items = extra.items() if isinstance(extra, dict) else ((e["name"], e) for e in extra)
        for name, spec in items:
            if not isinstance(spec, dict):
                env[name] = str(spec)
            elif "value" in spec:
                env[spec.get("name", name)] = str(spec["value"])
            else:
                ref = spec["valueFrom"]["secretKeyRef"]
                secret = {**secrets, names["hub"]: self.secret}.get(ref["name"])
                if secret is None or ref["key"] not in secret:
                    raise LookupError(f"hub pod cannot start: Secret {ref['name']} has no key {ref['key']!r}")
                env[spec.get("name", name)] = secret[ref["key"]]
        return env

    # -- running in the pod's view of the filesystem -----------------------------------------------

    def command(self, argv: list[str]) -> list[str]:
        """`argv` wrapped to run where the pod's paths are bind-mounted (a private mount namespace).

        A mount point the host lacks is made inside an overlay of its nearest existing folder (upper layer
        under `root`), never on the host: two pods side by side, or a pod and the host, never see each
        other's mount points, and nothing is left to clean up."""
        lines = ["set -e"]
        for n, base in enumerate(self._overlay_bases()):
            layer = self.root / "overlay" / str(n)
            (layer / "upper").mkdir(parents=True, exist_ok=True)
            (layer / "work").mkdir(exist_ok=True)
            options = f"lowerdir={base},upperdir={layer / 'upper'},workdir={layer / 'work'}"
            lines.append(f"mount -t overlay overlay -o {shlex.quote(options)} {shlex.quote(str(base))}")
        for target, source in self.binds.items():
            lines.append(f"[ -d {shlex.quote(target)} ] || mkdir -p {shlex.quote(target)}")
            lines.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
        lines.append('exec "$@"')
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", "\n".join(lines), "hubpod", *argv]

    def _overlay_bases(self) -> list[Path]:
        """The nearest existing folder of each mount point the host lacks, outermost ones only."""
        bases = set()
        for target in map(Path, self.binds):
            if not target.exists():
                while not target.exists():
                    target = target.parent
                bases.add(target)
        return sorted(b for b in bases if not any(b != o and b.is_relative_to(o) for o in bases))

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "KUBERNETES_"))}
        env.update(self.env)
        env["PATH"] = os.pathsep.join([bin_dir, str(REPO / "node_modules" / ".bin"), env.get("PATH", "")])
        env.update(extra or {})
        return env

    def load_config(self) -> Config:
        """The Config a JupyterHub loads from the chart's jupyterhub_config.py in this pod.

        Raises SystemExit with the hub's output when the configuration stops the hub."""
        proc = subprocess.run(
            self.command([sys.executable, "-m", "tests.helm.hubpod", f"{ETC}/jupyterhub_config.py"]),
            env=self.process_env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise SystemExit(
                f"the chart's jupyterhub_config.py stopped the hub:\n{proc.stdout}\n{proc.stderr}"
            )
        dumped = proc.stdout.rsplit("\n@@config@@\n", 1)[1]
        return Config(_decode(json.loads(dumped)))


def _dump(config_file: str) -> None:
    from jupyterhub.app import JupyterHub

    app = JupyterHub()
    app.load_config_file(config_file)
    print("\n@@config@@\n" + json.dumps(app.config, default=_encode))


if __name__ == "__main__":
    _dump(sys.argv[1])
