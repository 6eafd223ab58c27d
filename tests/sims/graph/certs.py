"""Throwaway certificates for the Graph simulator, made once per test process.

msal accepts only https authorities, so the simulator speaks TLS with a self-signed certificate
for 127.0.0.1 that the tests hand to the connector as its CA bundle. The app registration's
certificate (private key + SHA-1 thumbprint) is what msal signs its client assertion with; the
simulator checks the signature with the public half, as Entra ID does.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    cert_path: str  # also the CA bundle clients must trust
    key_path: str


@dataclass(frozen=True)
class AppCertificate:
    private_key_pem: str
    certificate_pem: str
    thumbprint: str  # SHA-1 hex, as the Entra portal shows it
    public_key: rsa.RSAPublicKey


def _certificate(key: rsa.RSAPrivateKey, common_name: str, *, ip: str | None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256())


@functools.lru_cache(maxsize=1)
def tls_files() -> TlsFiles:
    """Server certificate and key for https://127.0.0.1, written to a private temp folder."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(key, "graph-simulator", ip="127.0.0.1")
    folder = tempfile.mkdtemp(prefix="graph-sim-tls-")
    cert_path = os.path.join(folder, "cert.pem")
    key_path = os.path.join(folder, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return TlsFiles(cert_path=cert_path, key_path=key_path)


@functools.lru_cache(maxsize=4)
def app_certificate(name: str = "selvbook-syncd") -> AppCertificate:
    """A certificate as registered on the app in Entra ID (``name`` picks distinct ones)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(key, name, ip=None)
    return AppCertificate(
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),
        public_key=key.public_key(),
    )
