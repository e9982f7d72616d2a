"""Spawn progress: one bar that never goes backwards, whatever the backend reports, and each Datalab step
(credentials, PostgreSQL, git) with its outcome."""

from __future__ import annotations

import asyncio
import logging

from spawner import CatalogSpawner, LocalCatalogSpawner
from spawner.plan import SessionCredentials
from spawner.runtime.credentials import CredentialsMixin
from spawner.runtime.progress import ProgressBar, ProgressMixin, _backend_progress_is_placeholder


def test_the_bar_only_grows_and_stays_below_its_ceiling():
    bar = ProgressBar()
    values = [bar.advance() for _ in range(40)]
    assert values == sorted(values) and values[0] > 0 and values[-1] <= 95
    assert bar.advance(at_least=80) >= 80  # a backend's percentage is a floor
    assert bar.advance(at_least=10) >= 80  # never a way back
    assert bar.advance(at_least=500) <= 95  # 100 is JupyterHub's ready (or failed) event


def test_the_base_spawners_placeholder_is_not_relayed_but_kubespawners_events_are():
    assert _backend_progress_is_placeholder(
        LocalCatalogSpawner
    )  # LocalProcessSpawner: "Spawning server..." 50%
    assert not _backend_progress_is_placeholder(CatalogSpawner)  # KubeSpawner: the pod's events


class _Backend:
    """A backend whose own progress goes 30, 50, 63% as KubeSpawner's does, while our steps happen."""

    log = logging.getLogger("test")
    _log_name = "ada"

    def __init__(self):
        self._start_future = None

    def start(self):
        async def run():
            self.report_progress("Options accepted: JupyterLab from Datalab")
            self.report_progress("Credentials: S3 (user-ada) and Vault ready")
            await asyncio.sleep(0.3)
            self.report_progress("Git: could not clone https://example.org/x.git: not found")
            await asyncio.sleep(0.5)
            self.report_progress("Starting JupyterLab")

        self._start_future = asyncio.ensure_future(run())
        return self._start_future

    async def progress(self):
        for value in (30, 50, 63):
            await asyncio.sleep(0.15)
            yield {"progress": value, "message": f"pod event at {value}%"}


class _Spawner(ProgressMixin, _Backend):
    pass


async def test_our_steps_and_the_backends_events_share_one_bar_that_never_goes_back():
    spawner = _Spawner()
    spawner._progress_messages = []
    start = spawner.start()
    events = [e async for e in spawner.progress()]
    await start
    messages = [e["message"] for e in events]
    assert messages[0] == "Options accepted: JupyterLab from Datalab"
    assert {"pod event at 30%", "pod event at 63%"} <= set(messages)
    assert "Git: could not clone https://example.org/x.git: not found" in messages
    assert messages[-1] == "Starting JupyterLab"
    values = [e["progress"] for e in events]
    assert values == sorted(values), values  # it was 5, 10, then 30, then our 15
    assert len(set(values)) == len(values)  # every event moves the bar
    assert spawner.progress_log[-1] == "Starting JupyterLab"


class _WithCredentials(CredentialsMixin):
    log = logging.getLogger("test")
    _log_name = "ada"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = []

    def report_progress(self, message):
        self.steps.append(message)


async def test_credentials_are_a_step_with_their_outcome():
    async def provider(spawner):
        return SessionCredentials(
            summary="S3 (user-ada) and Vault (secret/ada)",
            expiration="2026-12-02T14:05:00+00:00",
            warnings=("Projects: the project bucket is not reachable",),
        )

    spawner = _WithCredentials(credentials_provider=provider)
    await spawner.session_credentials()
    assert spawner.steps[1] == "Warning: Projects: the project bucket is not reachable"
    assert spawner.steps[2].startswith(
        "Credentials: S3 (user-ada) and Vault (secret/ada) ready, valid until "
    )
    assert "14:05 UTC" in spawner.steps[2]
    assert spawner.credentials_expiration == "2026-12-02T14:05:00+00:00"

    none = _WithCredentials()
    await none.session_credentials()
    assert none.steps == ["Credentials: none configured (this session has no S3 or Vault access)"]


class _Waiting(_Backend):
    def start(self):
        async def run():
            self.report_progress("Options accepted: JupyterLab from Datalab")
            for ahead in (2, 1, 0):
                self.report_progress(f"Waiting for a free start slot: {ahead} ahead of you", advance=False)
                await asyncio.sleep(0.05)
            self.report_progress("Starting JupyterLab")

        self._start_future = asyncio.ensure_future(run())
        return self._start_future

    async def progress(self):
        return
        yield


class _WaitingSpawner(ProgressMixin, _Waiting):
    pass


async def test_a_place_in_line_is_shown_without_moving_the_bar():
    spawner = _WaitingSpawner()
    start = spawner.start()
    events = [e async for e in spawner.progress()]
    await start
    assert [e["message"] for e in events][1:4] == [
        f"Waiting for a free start slot: {ahead} ahead of you" for ahead in (2, 1, 0)
    ]
    values = [e["progress"] for e in events]
    assert values[1] == values[2] == values[3] == values[0] > 0  # the line moves, the bar waits
    assert values[4] > values[3]
