"""SeaweedFS's own authentication, as `datalab up` configures it (hub/stack/seaweed.py, tls.py): JWT keys and
the gRPC certificates in security.toml, never on its command line; its HTTP APIs off."""

from __future__ import annotations

from hub.stack import seaweed, tls
from hub.stack.layout import DEFAULT_PORTS, Layout


def test_seaweedfs_gets_its_secrets_in_a_file_never_on_its_command_line(tmp_path):
    layout = Layout(tmp_path)
    material = tls.ensure(tmp_path / "tls")
    keys = {k: f"key-{k}" for k in ("volume_write", "volume_read", "filer_write", "filer_read")}
    toml = seaweed.security_toml(keys, material)
    for section in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"):
        assert f"[{section}]\nkey = " in toml
    assert toml.count(f'cert = "{material.cert}"') == len(seaweed.GRPC_SECTIONS)
    argv = seaweed.argv("weed", layout, {name: 1000 + i for i, name in enumerate(DEFAULT_PORTS)})
    assert "-disableHttp=true" in argv and "-master.telemetry=false" in argv
    assert not [a for a in argv if any(v in a for v in keys.values())]
    assert oct(material.key.stat().st_mode & 0o777) == "0o600"
    assert tls.ensure(tmp_path / "tls").key.read_text() == material.key.read_text()  # made once, then kept
