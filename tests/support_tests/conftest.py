"""Fixtures of the emulator's tests: one fast-mode emulator per module and a kubernetes_asyncio client of it."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from tests.support.kube import KubeEmulator


@pytest.fixture(scope="module")
def emu():
    with KubeEmulator(fast=True) as emulator:
        yield emulator


@pytest.fixture
async def core(emu):
    api_client = client.ApiClient(client.Configuration(host=emu.url))
    yield client.CoreV1Api(api_client)
    await api_client.close()
