"""SeaweedFS's own authentication, as `datalab up` configures it (hub/stack/seaweed.py, tls.py): JWT keys and
the gRPC certificates in security.toml, never on its command line; its HTTP APIs off."""

from __future__ import annotations

from hub.stack import seaweed, tls
from hub.stack.layout import DEFAULT_PORTS, Layout, browser_origins


def test_seaweedfs_gets_its_secrets_in_a_file_never_on_its_command_line(tmp_path):
    layout = Layout(tmp_path)
    material = tls.ensure(tmp_path / "tls")
    keys = {k: f"key-{k}" for k in ("volume_write", "volume_read", "filer_write", "filer_read")}
    toml = seaweed.security_toml(keys, material)
    for section in ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read"):
        assert f"[{section}]\nkey = " in toml
    assert toml.count(f'cert = "{material.cert}"') == len(seaweed.GRPC_SECTIONS)
    argv = seaweed.argv(
        "weed", layout, {name: 1000 + i for i, name in enumerate(DEFAULT_PORTS)}, ["http://127.0.0.1:8000"]
    )
    assert "-disableHttp=true" in argv and "-master.telemetry=false" in argv
    assert "-s3.allowedOrigins=http://127.0.0.1:8000" in argv  # not SeaweedFS's default, any origin
    assert not [a for a in argv if any(v in a for v in keys.values())]
    assert oct(material.key.stat().st_mode & 0o777) == "0o600"
    assert tls.ensure(tmp_path / "tls").key.read_text() == material.key.read_text()  # made once, then kept


def test_only_a_loopback_datalab_has_its_pages_reach_s3():
    assert browser_origins("127.0.0.1", 8000) == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert browser_origins("localhost", 9000) == ["http://127.0.0.1:9000", "http://localhost:9000"]
    for host in ("0.0.0.0", "192.0.2.7", "datalab.example.org", "::"):
        assert browser_origins(host, 8000) == []
