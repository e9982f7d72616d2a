"""A private certificate authority and one certificate for the datalab's internal gRPC (SeaweedFS's mTLS).

Made once per state directory, kept in a 0700 directory (keys 0600), reused on every start. Only the
stack's own processes (running as the account that started the datalab) can read them, so no other local
account, session or not, can open a gRPC connection to SeaweedFS's master, volume, filer, S3 or admin.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from .layout import write_private

VALID_DAYS = 3650


@dataclass(frozen=True)
class Material:
    """Where the CA certificate, the certificate and its key are."""

    ca: Path
    cert: Path
    key: Path


def make_pems(
    common_name: str = "datalab-internal", names: tuple[str, ...] = ()
) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, certificate, private key) in PEM: the certificate serves and authenticates clients,
    for localhost, 127.0.0.1 and `names`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=VALID_DAYS)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name(common_name + "-ca"))
        .issuer_name(name(common_name + "-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    *map(x509.DNSName, names),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


def ensure(directory: Path) -> Material:
    """The material in `directory` (0700), made when any file is missing."""
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    m = Material(directory / "ca.crt", directory / "internal.crt", directory / "internal.key")
    if not all(p.exists() for p in (m.ca, m.cert, m.key)):
        ca, cert, key = make_pems()
        write_private(m.key, key.decode())
        write_private(m.cert, cert.decode())
        write_private(m.ca, ca.decode())
    return m
