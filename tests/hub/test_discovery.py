"""OIDC discovery in DatalabOAuthenticator: inside the running loop through Tornado's client (simple and curl),
honouring http_request_kwargs and the request timeout; explicit URLs win; a provider that starts a little after
the hub; a clear error naming the issuer and URL after the timeout."""

import asyncio
import datetime
import ipaddress
import ssl
import threading
import time

import pytest
from tornado.httpclient import AsyncHTTPClient

from hub.auth import (
    DISCOVERED,
    DatalabOAuthenticator,
)
from tests.support.oidc_provider import Provider, provider
from tests.support.procs import free_port


def self_signed(tmp_path) -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 with a self-signed certificate, and the certificate's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "datalab test provider")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "provider.crt", tmp_path / "provider.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)


def endpoints(auth) -> dict:
    return {trait: getattr(auth, trait) for trait in DISCOVERED}


def expected(p: Provider) -> dict:
    doc = p.document()
    return {trait: doc[key] for trait, (key, _) in DISCOVERED.items()}


@pytest.fixture(params=["simple", "curl"])
def http_client_class(request):
    """Tornado's default client, and the curl client the chart's hub configuration selects."""
    if request.param == "curl":
        pytest.importorskip("pycurl")
        AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient")
    try:
        yield request.param
    finally:
        AsyncHTTPClient.configure(None)


async def test_discovery_inside_the_running_loop_fills_every_endpoint_with_one_request():
    """JupyterHub makes its authenticator inside its event loop: discovery must work there, once."""
    with provider() as p:
        auth = DatalabOAuthenticator(oidc_issuer=p.issuer, client_id="c", client_secret="s")
        assert endpoints(auth) == expected(p)
        assert p.requests == 1
        assert auth.scope == ["openid", "profile", "email", "groups", "offline_access"]
        await asyncio.sleep(0)  # the loop still runs


async def test_discovery_honours_http_request_kwargs_and_validate_server_cert(tmp_path, http_client_class):
    context, ca_path = self_signed(tmp_path)
    with provider(tls=context) as p:
        with pytest.raises(RuntimeError, match=f"OIDC discovery failed for issuer '{p.issuer}'") as refused:
            DatalabOAuthenticator(oidc_issuer=p.issuer, oidc_discovery_timeout=0.5)
        assert "certificate" in str(refused.value).lower()  # unknown CA: refused

        trusted = DatalabOAuthenticator(
            oidc_issuer=p.issuer, oidc_discovery_timeout=5, http_request_kwargs={"ca_certs": ca_path}
        )
        assert endpoints(trusted) == expected(p)

        unchecked = DatalabOAuthenticator(
            oidc_issuer=p.issuer, oidc_discovery_timeout=5, validate_server_cert=False
        )
        assert unchecked.token_url == f"{p.issuer}/token"


def test_discovery_honours_the_request_timeout_of_http_request_kwargs():
    with provider(delay=3.0) as p:  # answers after 3 s
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="(?i)timeout"):
            DatalabOAuthenticator(
                oidc_issuer=p.issuer, oidc_discovery_timeout=1.2, http_request_kwargs={"request_timeout": 0.2}
            )
        assert time.monotonic() - started < 2.5
        assert p.requests >= 2  # 0.2 s attempts, retried; the default 1.2 s attempt would be tried once


def test_explicit_urls_win_over_discovery(monkeypatch):
    with provider() as p:
        auth = DatalabOAuthenticator(oidc_issuer=p.issuer, token_url="https://sso.example.org/token")
        assert auth.token_url == "https://sso.example.org/token"
        assert auth.authorize_url == f"{p.issuer}/auth" and auth.jwks_uri == f"{p.issuer}/jwks"

        monkeypatch.setenv(
            "OAUTH2_AUTHORIZE_URL", "https://sso.example.org/auth"
        )  # OAuthenticator's variable
        assert DatalabOAuthenticator(oidc_issuer=p.issuer).authorize_url == "https://sso.example.org/auth"

        from_token = DatalabOAuthenticator(oidc_issuer=p.issuer, userdata_from_id_token=True)
        assert from_token.userdata_url == "" and from_token.token_url == f"{p.issuer}/token"
        assert p.requests == 3

    explicit = {trait: f"https://sso.example.org/{trait}" for trait in DISCOVERED}
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: it must not be asked
    auth = DatalabOAuthenticator(oidc_issuer=closed, oidc_discovery_timeout=30, **explicit)
    assert endpoints(auth) == explicit


def test_the_provider_may_start_a_little_after_the_hub():
    p = Provider()
    timer = threading.Timer(1.0, p.start)
    timer.start()
    try:
        started = time.monotonic()
        auth = DatalabOAuthenticator(oidc_issuer=p.issuer, oidc_discovery_timeout=10)
        assert time.monotonic() - started >= 1.0
        assert auth.userdata_url == f"{p.issuer}/me"
    finally:
        timer.join()
        p.stop()


def test_discovery_failure_names_the_issuer_and_url_after_the_timeout():
    issuer = f"http://127.0.0.1:{free_port()}"
    url = f"{issuer}/.well-known/openid-configuration"
    started = time.monotonic()
    with pytest.raises(RuntimeError) as failed:
        DatalabOAuthenticator(oidc_issuer=issuer, oidc_discovery_timeout=1.0)
    elapsed = time.monotonic() - started
    assert str(failed.value).startswith(f"OIDC discovery failed for issuer '{issuer}' ({url}) after 1 s: ")
    assert "refused" in str(failed.value).lower()
    assert 1.0 <= elapsed < 3.0
