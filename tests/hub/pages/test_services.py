"""My services without a hub: a server's card from its spawner (running, starting, failed, stopped, after a
hub restart), in words."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hub.pages.services import ago, server_view, status_of
from spawner.errors import SpawnException
from spawner.plan import LaunchPlan, PostgresSidecar

PLAN = LaunchPlan(
    username="ann", server_name="", service="jupyter-python", service_display_name="JupyterLab · Python",
    profile_list="default", kind="jupyter", image="reg/py:1", default_url="/lab", cpu=1.5, memory_gib=4,
    storage_gib=10, git_repository="https://git.example.org/x.git", postgres=PostgresSidecar(image="pg"),
)  # fmt: skip
OFFERS = {"jupyter-python": SimpleNamespace(display_name="JupyterLab · Python", icon="data:image/svg+xml;x")}


def spawner(**kw):
    orm = SimpleNamespace(name=kw.pop("name", ""), started=kw.pop("started", None), last_activity=None)
    base = dict(pending=None, ready=False, _spawn_future=None, plan=None, last_plan=None, user_options={},
                orm_spawner=orm, progress_log=[])  # fmt: skip
    return SimpleNamespace(**{**base, **kw})


def failed_future(exc):
    loop = asyncio.new_event_loop()
    try:
        f = loop.create_future()
        f.set_exception(exc)
        return f
    finally:
        loop.close()


def test_a_running_server_says_what_it_runs():
    view = server_view("ann", spawner(ready=True, plan=PLAN), OFFERS, "14:05 UTC")
    assert view.status == "running" and view.label == "Default server"
    assert view.service_name == "JupyterLab · Python" and view.icon.startswith("data:image/")
    assert view.resources == "1.5 CPU · 4 GiB memory · 10 GiB home"
    assert view.postgres and view.git_repository == "https://git.example.org/x.git"
    assert view.credentials_until == "14:05 UTC" and view.steps == ()


def test_a_failed_start_says_why_in_words_with_its_steps_and_log():
    exc = SpawnException("PostgreSQL could not start: initdb failed", reason="postgres")
    failed = spawner(name="lab", last_plan=PLAN, _spawn_future=failed_future(exc),
                     progress_log=["Options accepted", "PostgreSQL: could not start: initdb failed"],
                     session_log_tail=lambda: ["initdb: error"])  # fmt: skip
    view = server_view("ann", failed, OFFERS, "14:05 UTC")
    assert status_of(failed) == "failed" and view.label == "lab"
    assert view.failure == "PostgreSQL could not start: initdb failed"  # no class name
    assert view.steps[-1].startswith("PostgreSQL: could not start") and view.log_lines == ("initdb: error",)
    assert view.credentials_until == ""  # no session, no credentials to speak of
    assert view.image == "reg/py:1"  # the last spawn's plan, kept after it ended


def test_after_a_hub_restart_the_options_are_validated_again_for_the_card():
    stopped = spawner(user_options={"service": "jupyter-python", "cpu": 2})
    seen = []

    def validate(options):
        seen.append(options)
        return PLAN

    view = server_view("ann", stopped, OFFERS, validate=validate)
    assert seen == [{"service": "jupyter-python", "cpu": 2}] and view.image == "reg/py:1"
    refused = server_view("ann", stopped, OFFERS, validate=lambda o: (_ for _ in ()).throw(ValueError()))
    assert refused.cpu == 2 and refused.service_name == "JupyterLab · Python"  # the options as they were


def test_statuses_and_times_in_words():
    assert status_of(spawner(pending="spawn")) == "starting"
    assert status_of(spawner(pending="stop")) == "stopping"
    assert status_of(spawner()) == "stopped"
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert ago(None) == "never"
    assert ago((now - timedelta(seconds=20)).replace(tzinfo=None), now) == "just now"
    assert ago(now - timedelta(minutes=5), now) == "5 minutes ago"
    assert ago(now - timedelta(hours=1, minutes=2), now) == "1 hour ago"
