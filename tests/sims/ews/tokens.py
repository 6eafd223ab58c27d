"""A tiny Entra ID look-alike for msal's client-credentials flow, over HTTPS on loopback.

msal insists on https authorities, so this server has its own throwaway TLS certificate (made
with ``cryptography``). It serves the tenant's OpenID configuration and a token endpoint that
verifies the client assertion (a JWT signed with the app's certificate, with its SHA-1
thumbprint in ``x5t``) or a client secret, then issues bearer tokens the EWS simulator accepts
until they expire.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass
class Certificate:
    cert_pem: str
    key_pem: str
    thumbprint: str  # SHA-1 hex, as Entra ID shows it

    @property
    def public_key(self):
        return x509.load_pem_x509_certificate(self.cert_pem.encode()).public_key()


def make_certificate(common_name: str, *, ip: str | None = None) -> Certificate:
    """A self-signed RSA certificate (throwaway, for tests)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    der = cert.public_bytes(serialization.Encoding.DER)
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        thumbprint=hashlib.sha1(der).hexdigest().upper(),
    )


@dataclass
class App:
    client_id: str
    certificate: Certificate | None = None
    secret: str | None = None


@dataclass
class TokenLog:
    issued: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), token)
    assertion_headers: list[dict] = field(default_factory=list)  # JWT headers of assertions
    refused: list[str] = field(default_factory=list)


class TokenServer:
    def __init__(self, auth, *, tenant: str = "lilleby-tenant", lifetime: int = 3600) -> None:
        self.auth = auth  # the EWS simulator's Auth: tokens we issue are registered there
        self.tenant = tenant
        self.lifetime = lifetime
        self.apps: dict[str, App] = {}
        self.log = TokenLog()
        self.tls = make_certificate("127.0.0.1", ip="127.0.0.1")
        self._dir = tempfile.TemporaryDirectory()
        self.ca_file = str(Path(self._dir.name) / "ca.pem")
        Path(self.ca_file).write_text(self.tls.cert_pem)
        cert_file = Path(self._dir.name) / "server.pem"
        cert_file.write_text(self.tls.cert_pem + self.tls.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def authority(self) -> str:
        return f"{self.base}/{self.tenant}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    def register(self, app: App) -> App:
        self.apps[app.client_id] = app
        return app

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    def openid_configuration(self) -> dict:
        return {
            "issuer": f"{self.authority}/v2.0",
            "authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
            "token_endpoint": self.token_url,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        }

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        app = self.apps.get(form.get("client_id", ""))
        if form.get("grant_type") != "client_credentials" or app is None:
            return self._refuse("unauthorized_client", "AADSTS700016: Application not found.")
        if app.secret is not None and form.get("client_secret") == app.secret:
            return self._issue()
        assertion = form.get("client_assertion")
        if app.certificate is None or not assertion:
            return self._refuse("invalid_client", "AADSTS7000215: Invalid client secret provided.")
        header = jwt.get_unverified_header(assertion)
        # Entra ID names the certificate by x5t (SHA-1, deprecated) or x5t#S256 (SHA-256, what
        # msal >= 1.35 sends when given the certificate instead of a thumbprint).
        want = base64.urlsafe_b64encode(bytes.fromhex(app.certificate.thumbprint)).rstrip(b"=")
        der = x509.load_pem_x509_certificate(app.certificate.cert_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
        want256 = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=")
        self.log.assertion_headers.append(dict(header))
        sent = str(header.get("x5t", "")).rstrip("=").encode()
        sent256 = str(header.get("x5t#S256", "")).rstrip("=").encode()
        if sent != want and sent256 != want256:
            return self._refuse("invalid_client", "AADSTS700027: certificate thumbprint unknown.")
        try:
            claims = jwt.decode(
                assertion,
                app.certificate.public_key,
                algorithms=["RS256", "PS256"],
                audience=self.token_url,
            )
        except jwt.PyJWTError as exc:
            return self._refuse("invalid_client", f"AADSTS700027: assertion invalid: {exc}")
        if claims.get("sub") != app.client_id or claims.get("iss") != app.client_id:
            return self._refuse("invalid_client", "AADSTS700023: assertion subject mismatch.")
        return self._issue()

    def _issue(self) -> tuple[int, dict]:
        token = secrets.token_urlsafe(32)
        self.auth.tokens[token] = time.time() + self.lifetime
        self.log.issued.append((time.time(), token))
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": token,
        }

    def _refuse(self, error: str, description: str) -> tuple[int, dict]:
        self.log.refused.append(description)
        return 401, {"error": error, "error_description": description}


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0].endswith("/.well-known/openid-configuration"):
                self._json(200, server.openid_configuration())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {k: v[0] for k, v in parse_qs(raw).items()}
            if self.path.split("?")[0] != f"/{server.tenant}/oauth2/v2.0/token":
                self._json(404, {"error": "not_found"})
                return
            self._json(*server.token(form))

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return _Handler
