"""hub.configure(c): everything a datalab hub needs from one call, and a wrong setting refused at start."""

from __future__ import annotations

import pytest
from traitlets import TraitError
from traitlets.config import Config

import hub
from hub.credentials.spawn import session_credentials


def test_configure_wires_the_endpoint_the_provider_and_the_pages():
    c = Config()
    hub.configure(c)
    paths = [h[0] for h in c.JupyterHub.extra_handlers]
    assert "/api/datalab/credentials" in paths and any(p.startswith("/datalab/launch") for p in paths)
    assert c.CredentialsMixin.credentials_provider is session_credentials
    user_role = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert "custom:datalab-credentials:read!user" in user_role["scopes"]


def test_an_operators_own_provider_is_kept():
    c = Config()
    c.CredentialsMixin.credentials_provider = mine = object()
    hub.configure(c)
    assert c.CredentialsMixin.credentials_provider is mine


def test_a_wrong_broker_mode_stops_the_hub_at_start():
    c = Config()
    c.CredentialBroker.s3_mode = "sometimes"
    with pytest.raises(TraitError, match="s3_mode"):
        hub.configure(c)
