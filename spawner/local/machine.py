"""What this machine can run a session with: its environments, its tools, its cores and memory.

A mixin of LocalCatalogSpawner: the environment a catalog image maps to (spawner.local.environments),
the session's PATH, which services cannot run here and why, and the offers capped to the machine
(spawner.local.offers).
"""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Dict, Float, List, Unicode, default
from traitlets.config import Configurable

from ..catalog import Offer
from . import environments
from .layer import ensure_layer
from .offers import Machine, local_offer
from .session import jupyter_data_dirs, missing_requirement

HINTS = {
    "kernel:ir": " (as root, `make up` installs Debian's R and IRkernel, images/r/debian-packages.txt)",
    "rserver": " (no registry reachable here has RStudio Server)",
}


SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class MachineMixin(Configurable):
    """Environments, tools and resources of this machine, for the catalog's offers and plans."""

    tools_path = List(
        Unicode(),
        help="""Directories put first on the session's PATH (after the venv's bin). Default: where
        `make up` installs code-server (.datalab-tools/node_modules/.bin), when it exists.""",
    ).tag(config=True)

    @default("tools_path")
    def _tools_path_default(self):
        tools = Path(__file__).resolve().parents[2] / ".datalab-tools" / "node_modules" / ".bin"
        return [str(tools)] if tools.is_dir() else []

    requirements = Dict(
        {
            "rstudio": ["rserver"],
            "vscode": ["code-server"],
            "jupyter-r": ["kernel:ir"],
            "jupyter-python-gpu": ["nvidia-smi"],
        },
        help="""What a service (by slug) or a kind of service needs on this machine: program names, or
        `kernel:NAME` for a Jupyter kernel. Offers whose needs are missing are shown unavailable with the
        reason and cannot be started.""",
    ).tag(config=True)
    environment_cache = Unicode(
        help="""Where the shared session environments are built (spawner.local.environments), one per
        definition's content. Default: $DATALAB_ENV_CACHE, else /var/cache/datalab/environments as root,
        else ~/.cache/datalab/environments. `datalab up` builds the ones the catalog uses.""",
    ).tag(config=True)

    @default("environment_cache")
    def _environment_cache_default(self):
        return str(environments.default_cache_dir())

    images_dir = Unicode(
        help="""The environment definitions (`<name>/requirements.txt`), the same the single-user images
        install. Default: the repository's images/, else the installed copy.""",
    ).tag(config=True)

    @default("images_dir")
    def _images_dir_default(self):
        return str(environments.images_dir())

    machine_cpus = Float(
        help="""Cores the form offers at most on this machine. Default: the cores this hub may use.""",
    ).tag(config=True)

    @default("machine_cpus")
    def _machine_cpus_default(self):
        return float(len(os.sched_getaffinity(0)))

    machine_memory_gib = Float(
        help="""Memory (GiB) the form offers at most on this machine. Default: the machine's memory.""",
    ).tag(config=True)

    @default("machine_memory_gib")
    def _machine_memory_default(self):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3

    _layer: Path | None = None

    def session_path(self, environment: Path | None = None, home: Path | None = None) -> str:
        """The session's PATH: its environment, the user's own `pip install --user` scripts, the layer's
        credential helper, the tools, the system's."""
        first = [str(environment / "bin")] if environment else []
        if home:
            first.append(str(home / ".local" / "bin"))
        layer = [str(self.layer() / "bin")] if environment else []
        # With an environment, the system's folders as in an image, not the hub's own PATH (its venv,
        # root's tools); without one, the hub's, where jupyterhub-singleuser is found.
        system = SYSTEM_PATH if environment else os.environ.get("PATH", SYSTEM_PATH)
        return os.pathsep.join([*first, *layer, *self.tools_path, system])

    def layer(self) -> Path:
        if self._layer is None:
            self._layer = ensure_layer(Path(self.environment_cache))
        return self._layer

    def environment_of(self, image: str) -> tuple[Path | None, str | None]:
        """The built environment a catalog image maps to on this machine, else why there is none."""
        name = environments.image_environment(image)
        if name is None:
            return None, f"the image {image[:120]} has no environment definition on this machine"
        try:
            d = environments.definition(name, Path(self.images_dir))
        except environments.EnvironmentError_ as e:
            return None, str(e)
        path = d.directory(Path(self.environment_cache))
        if not environments.built(path):
            return None, f"its {name} environment is not built yet (`datalab up` builds it)"
        return path, None

    def unavailable_reason(self, what) -> str | None:
        """Why this machine cannot run the service of an Offer or a LaunchPlan (None when it can)."""
        name = getattr(what, "display_name", None) or what.service_display_name
        image = what.options["image"].default if hasattr(what, "options") else what.image
        environment, missing = self.environment_of(image)
        if environment is not None:
            needs = self.requirements.get(what.service, self.requirements.get(what.kind, []))
            path, kernels = self.session_path(environment), jupyter_data_dirs(str(environment))
            for need in needs:
                missing = missing_requirement([need], path, kernels)
                if missing:
                    missing += HINTS.get(need, "")
                    break
        if missing is None:
            return None
        return f"{name} is not available on this machine: {missing}"

    # -- offers as this machine honours them; unavailable services are listed with the reason -------

    def environment_label(self, image: str) -> str | None:
        """How the form names the local environment an image maps to (None: it maps to none)."""
        name = environments.image_environment(image)
        if name is None or not (Path(self.images_dir) / name / "requirements.txt").exists():
            return None
        return f"Local environment {name} (images/{name}/requirements.txt)"

    def offers(self) -> list[Offer]:
        machine = Machine(self.machine_cpus, self.machine_memory_gib)
        return [local_offer(o, machine, self.environment_label) for o in super().offers()]
