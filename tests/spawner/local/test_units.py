"""The local backend's decisions, without a hub: who may start a server without root, account names,
what this machine can run."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
from types import SimpleNamespace
from unittest import mock

import pytest

from spawner.errors import SpawnException
from spawner.local.accounts import AccountError, account_name, ensure_account
from spawner.local.session import missing_requirement
from spawner.local.spawner import LocalCatalogSpawner
from tests.support.environments import ensure_session_environments


def spawner(tmp_path, name: str, **config) -> LocalCatalogSpawner:
    user = SimpleNamespace(name=name, groups=[], url=f"/user/{name}/", escaped_name=name)
    return LocalCatalogSpawner(user=user, state_dir=str(tmp_path), **config)


def test_without_root_only_the_configured_user_is_served(tmp_path):
    with mock.patch("spawner.local.spawner.os.geteuid", return_value=1000):
        with pytest.raises(SpawnException) as info:
            asyncio.run(spawner(tmp_path, "bob", single_user="kim").get_account())
        assert info.value.status_code == 403
        assert "serves the user kim only; bob cannot start a server here" in info.value.message

        account = asyncio.run(spawner(tmp_path, "kim", single_user="kim").get_account())
    assert account.uid == os.getuid() and account.home == tmp_path / "homes" / "kim"
    assert stat.S_IMODE(account.home.stat().st_mode) == 0o700


def test_account_names_must_be_valid_unix_names():
    assert account_name("dl-{username}", "alice") == "dl-alice"
    with pytest.raises(AccountError, match="not a valid system account name"):
        account_name("dl-{username}", "Robert'); DROP")
    with pytest.raises(AccountError, match="at most 32"):
        account_name("dl-{username}", "a" * 40)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating system accounts needs root")
def test_an_account_whose_set_up_fails_is_not_left_half_made(tmp_path):
    name = "dlt" + os.urandom(3).hex() + "-half"

    async def refuse(uid):
        raise AccountError(f"could not check the packet filters for the new uid {uid}")

    with pytest.raises(AccountError, match="could not check the packet filters"):
        asyncio.run(ensure_account(name, tmp_path / name, on_created=refuse))
    with pytest.raises(KeyError):
        pwd.getpwnam(name)  # the next spawn creates it again, and checks again


def test_requirements_programs_and_kernels(tmp_path):
    assert missing_requirement(["sh"], "/usr/bin:/bin", []) is None
    assert (
        missing_requirement(["no-such-program-here"], "/usr/bin", [])
        == "no-such-program-here is not installed"
    )
    assert (
        missing_requirement(["kernel:ir"], "/usr/bin", [str(tmp_path)])
        == "the Jupyter kernel 'ir' is not installed"
    )
    (tmp_path / "kernels" / "ir").mkdir(parents=True)
    (tmp_path / "kernels" / "ir" / "kernel.json").write_text("{}")
    assert missing_requirement(["kernel:ir"], "/usr/bin", [str(tmp_path)]) is None


def test_unavailable_services_get_a_reason_naming_what_is_missing(tmp_path):
    sp = spawner(tmp_path, "alice", requirements={"rstudio": ["no-rserver-anywhere"]})
    ensure_session_environments()

    def offer_of(service, kind, name, image="reg.example.org/datalab/datalab-python:2026.11"):
        return SimpleNamespace(
            service=service, kind=kind, display_name=name, options={"image": SimpleNamespace(default=image)}
        )

    offer = offer_of("rstudio", "rstudio", "RStudio", "reg.example.org/datalab/datalab-r:2026.11")
    assert (
        sp.unavailable_reason(offer)
        == "RStudio is not available on this machine: no-rserver-anywhere is not installed"
    )
    jupyter = offer_of("jupyter-python", "jupyter", "JupyterLab · Python")
    assert sp.unavailable_reason(jupyter) is None
    assert sp.form_unavailable([offer, jupyter]) == {
        "rstudio": "RStudio is not available on this machine: no-rserver-anywhere is not installed"
    }  # a greyed card with that reason (spawner.runtime.form)
    assert "RStudio" not in sp.form_notice([offer, jupyter])
    other = offer_of("jupyter-python", "jupyter", "Other", "quay.io/jupyter/scipy-notebook:2025")
    assert sp.unavailable_reason(other) == (
        "Other is not available on this machine: the image quay.io/jupyter/scipy-notebook:2025 has no "
        "environment definition on this machine"
    )
    built, sp.environment_cache = sp.environment_cache, str(tmp_path / "empty-cache")
    assert sp.unavailable_reason(jupyter).endswith(
        "its python environment is not built yet (`datalab up` builds it)"
    )
    sp.environment_cache = built
