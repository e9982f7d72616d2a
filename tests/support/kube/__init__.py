"""A Kubernetes API emulator for tests: what KubeSpawner needs, over real HTTP, with a kubelet that runs
single-user servers as local processes. See server.KubeEmulator; `python -m tests.support.kube --help`."""

from tests.support.kube.errors import ApiError
from tests.support.kube.server import KubeEmulator

__all__ = ["ApiError", "KubeEmulator"]
