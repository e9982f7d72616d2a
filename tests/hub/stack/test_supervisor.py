"""The supervisor's start-up errors: a part that never answers, or exits, is named with its log."""

from __future__ import annotations

import sys

import pytest

from hub.stack.supervisor import Part, stop_parts
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
