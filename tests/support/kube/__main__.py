"""Command line: `python -m tests.support.kube --port 8001 [--fast] [--kubeconfig PATH]`, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from tests.support.kube.scheduler import MAX_PODS
from tests.support.kube.server import KubeEmulator


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.kube", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--fast", action="store_true", help="no processes: pods just become Running")
    parser.add_argument("--namespace", action="append", help="namespaces that exist (default: default)")
    parser.add_argument("--workdir", help="where pod files and PVC contents live (default: a temp dir)")
    parser.add_argument(
        "--start-delay", type=float, default=0.1, help="seconds from binding to container start"
    )
    parser.add_argument(
        "--max-pods", type=int, default=MAX_PODS, help="pods the node holds at once (more stay Pending)"
    )
    parser.add_argument("--kubeconfig", help="write a kubeconfig for this emulator to this path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    emulator = KubeEmulator(
        host=args.host,
        port=args.port,
        fast=args.fast,
        start_delay=args.start_delay,
        max_pods=args.max_pods,
        namespaces=args.namespace or ["default"],
        workdir=args.workdir,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with emulator:
        if args.kubeconfig:
            emulator.write_kubeconfig(args.kubeconfig)
        print(f"Kubernetes API emulator listening on {emulator.url}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
