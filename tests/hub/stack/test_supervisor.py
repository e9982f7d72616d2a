"""The supervisor's start-up errors (a part that never answers, or exits, is named with its log), and the
sweep of what an earlier run left."""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys

import pytest

from hub.stack.supervisor import STACK_ENV, Part, Supervisor, marked_pids, stop_parts, sweep
from tests.support.procs import free_port


def part(tmp_path, code: str) -> Part:
    port = free_port()
    return Part(
        "idp",
        [sys.executable, "-c", code],
        tmp_path / "idp.log",
        {},
        f"http://127.0.0.1:{port}",
        health_url=f"http://127.0.0.1:{port}/.well-known/openid-configuration",
    )


def test_a_part_alive_but_never_listening_is_named_with_its_log(tmp_path):
    p = part(tmp_path, "import time; print('loading keys', flush=True); time.sleep(30)")
    p.start()
    try:
        with pytest.raises(TimeoutError) as info:
            p.wait_ready(1.5)
    finally:
        stop_parts([p], 2)
    message = str(info.value)
    assert message.startswith("idp not ready at http://127.0.0.1:")
    assert "loading keys" in message  # what it printed says how far it got


def test_a_part_that_exits_while_starting_is_named_with_its_code_and_log(tmp_path):
    p = part(tmp_path, "import sys; print('bad users file', flush=True); sys.exit(3)")
    p.start()
    with pytest.raises(RuntimeError, match=r"idp exited \(3\) while starting; its log:\nbad users file"):
        p.wait_ready(10)


# First start: prints and hangs; the next one answers HTTP on the part's port.
HANGS_ONCE = """
import http.server, pathlib, sys, time
marker = pathlib.Path(sys.argv[1])
if not marker.exists():
    marker.touch()
    print('stuck', flush=True)
    time.sleep(60)
port = int(sys.argv[2])
http.server.HTTPServer(('127.0.0.1', port), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_a_part_that_hangs_at_start_gets_one_fresh_start(tmp_path):
    port = free_port()
    said = []
    sup = Supervisor("test", say=said.append)
    p = Part(
        "idp",
        [sys.executable, "-c", HANGS_ONCE, str(tmp_path / "started"), str(port)],
        tmp_path / "idp.log",
        {},
        f"http://127.0.0.1:{port}",
        health_url=f"http://127.0.0.1:{port}/",
        cwd=tmp_path,
    )
    try:
        sup.launch(p, timeout=2)
        assert p.alive()
    finally:
        stop_parts(sup.parts, 2)
    assert said == [f"datalab: idp did not answer in 2s; restarting it once (log: {tmp_path / 'idp.log'})"]


def test_a_part_that_never_answers_fails_after_its_second_start(tmp_path):
    said = []
    sup = Supervisor("test", say=said.append)
    p = part(tmp_path, "import time; print('loading keys', flush=True); time.sleep(30)")
    try:
        with pytest.raises(TimeoutError, match="loading keys"):
            sup.launch(p, timeout=1)
    finally:
        stop_parts(sup.parts, 2)
    assert len(said) == 1 and not p.alive()


# Holds a port from a second thread; on SIGTERM only its main thread exits (the raw exit system call), so
# the process shows no environment any more while it still listens, as a many-threaded server can while
# it is being killed.
MAIN_THREAD_EXITS_FIRST = """
import ctypes, signal, socket, sys, threading, time
s = socket.socket()
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen()
threading.Thread(target=lambda: time.sleep(600)).start()
signal.signal(signal.SIGTERM, lambda *_: ctypes.CDLL(None).syscall(int(sys.argv[2]), 0))
print('ready', flush=True)
time.sleep(600)
"""
SYS_EXIT = {"x86_64": 60, "aarch64": 93}


@pytest.mark.skipif(
    platform.machine() not in SYS_EXIT,
    reason="the exit system call's number is known for x86_64 and aarch64 only",
)
def test_the_sweep_waits_until_a_leftover_has_let_go_of_its_port():
    port, mark = free_port(), "sweep-test"
    proc = subprocess.Popen(
        [sys.executable, "-c", MAIN_THREAD_EXITS_FIRST, str(port), str(SYS_EXIT[platform.machine()])],
        env={**os.environ, STACK_ENV: mark},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        assert marked_pids(mark) == [proc.pid]
        assert sweep(mark, grace=1.0) == [proc.pid]
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # what `datalab up` checks next: the leftover's port is free
        assert proc.wait(5) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait(10)
