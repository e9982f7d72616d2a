"""A Kubernetes API emulator for tests: what KubeSpawner needs, over real HTTP, with a kubelet that runs
single-user servers as local processes.

    with KubeEmulator() as emu:                      # or KubeEmulator(fast=True): no processes
        kubeconfig = emu.write_kubeconfig(tmp / "kubeconfig")   # KUBECONFIG for a hub, kubectl
        emu.fail("POST", r"/pods$")                   # the next pod creation answers 500
        emu.hang("POST", r"/pods$", count=-1)         # ... or gets no answer (rule.count = 0 to end)
        emu.drop_connections(down_seconds=1)          # an API server restart that keeps its objects
        emu.objects("pods", label_selector="a=b")     # what is stored (emu.store for more)
        emu.grant("hub-token", role)                  # that token's client gets only the Role's verbs
        emu.write_kubeconfig(path, token="hub-token")

Command line: `python -m tests.support.kube --port N [--fast] [--kubeconfig PATH] [--namespace NS ...] [--max-pods N]`.
Modules: store (objects, resourceVersion, history), selectors (per-kind field labels), patch, objects
(field validation as the server does it, schema checks, defaults), rbac (a Role per token), api (HTTP), watch, tables (kubectl), faults, scheduler (node capacity, pod addresses), kubelet (+ containers, stub), gc, server (KubeEmulator).
"""

from tests.support.kube.errors import ApiError
from tests.support.kube.server import KubeEmulator

__all__ = ["ApiError", "KubeEmulator"]
