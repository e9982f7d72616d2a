"""The supervisor's start-up errors: a part that never answers, or exits, is named with its log."""

from __future__ import annotations

import sys

import pytest

from hub.stack.supervisor import Part, Supervisor, stop_parts
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
