"""Sign-in with OpenID Connect (e.g. Microsoft Entra ID): the authorization code flow with PKCE.

The state, nonce and PKCE verifier travel in a short-lived signed cookie, so no server-side
store is needed and any replica can finish a sign-in another one started. The ID token is
checked against the issuer's published keys (signature, issuer, audience, expiry, nonce), and
the dashboard role is read from a configured claim (Entra app roles arrive in ``roles``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from syncd.config import OIDCConfig
from syncd.web.auth import COORDINATOR, VIEWER, Signer, same_token

FLOW_SECONDS = 600
CACHE_SECONDS = 3600
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


class OIDCError(Exception):
    """Sign-in failed; the message is for the person signing in (Danish)."""


@dataclass(frozen=True)
class Identity:
    name: str
    display_name: str
    role: str


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OIDCClient:
    COOKIE = "syncd_oidc"

    def __init__(self, config: OIDCConfig, signer: Signer) -> None:
        self.config = config
        self.signer = signer
        self.secret = config.resolved_secret()
        self._lock = threading.Lock()
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, dict[str, Any]] | None = None

    # -- the issuer's documents --------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            r = httpx.get(url, timeout=self.config.timeout_seconds)
            r.raise_for_status()
            data = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OIDCError("Identitetsudbyderen kan ikke nås lige nu") from exc
        if not isinstance(data, dict):
            raise OIDCError("Identitetsudbyderen svarede uforståeligt")
        return data

    def discovery(self) -> dict[str, Any]:
        with self._lock:
            if self._discovery and self._discovery[0] > time.monotonic():
                return self._discovery[1]
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = self._get_json(url)
        if doc.get("issuer") != self.config.issuer:
            raise OIDCError("Identitetsudbyderens issuer passer ikke med konfigurationen")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(key), str):
                raise OIDCError("Identitetsudbyderens konfiguration er ufuldstændig")
        with self._lock:
            self._discovery = (time.monotonic() + CACHE_SECONDS, doc)
        return doc

    def _signing_key(self, kid: str | None) -> Any:
        for attempt in range(2):
            with self._lock:
                cached = self._keys if self._keys and self._keys[0] > time.monotonic() else None
            if cached is None or attempt == 1:  # unknown key: the issuer may have rotated
                jwks = self._get_json(self.discovery()["jwks_uri"])
                with self._lock:
                    self._keys = (time.monotonic() + CACHE_SECONDS, jwks)
                cached = self._keys
            for jwk in cached[1].get("keys", []):
                if kid is None or jwk.get("kid") == kid:
                    return jwt.PyJWK(jwk).key
        raise OIDCError("ID-tokenet er signeret med en ukendt nøgle")

    # -- the flow ----------------------------------------------------------------------------

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """The authorization URL to send the browser to, and the flow cookie to set."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)
        cookie = self.signer.sign(
            "oidc", {"st": state, "n": nonce, "v": verifier, "r": redirect_uri}, FLOW_SECONDS
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.config.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
                "response_mode": "query",
            }
        )
        endpoint = self.discovery()["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", cookie

    def finish(self, cookie: str | None, state: str | None, code: str | None) -> Identity:
        flow = self.signer.unsign("oidc", cookie)
        if flow is None or not same_token(state, flow["st"]):
            raise OIDCError("Log-ind-forløbet er udløbet eller ugyldigt. Prøv igen.")
        if not code:
            raise OIDCError("Identitetsudbyderen sendte ingen kode")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow["r"],
            "client_id": self.config.client_id,
            "code_verifier": flow["v"],
        }
        if self.secret:
            form["client_secret"] = self.secret
        try:
            r = httpx.post(
                self.discovery()["token_endpoint"],
                data=form,
                headers={"Accept": "application/json"},
                timeout=self.config.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise OIDCError("Identitetsudbyderen kan ikke nås lige nu") from exc
        if r.status_code != 200:
            raise OIDCError("Identitetsudbyderen afviste log-ind")
        try:
            id_token = r.json()["id_token"]
        except (ValueError, KeyError, TypeError):
            raise OIDCError("Identitetsudbyderen sendte intet ID-token") from None
        claims = self.verify(id_token, flow["n"])
        role = self.role_for(claims)
        name = str(claims.get(self.config.username_claim) or claims.get("email") or claims["sub"])
        return Identity(name, str(claims.get(self.config.name_claim) or name), role)

    def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OIDCError("ID-tokenet kan ikke læses") from None
        algorithm = header.get("alg")
        supported = self.discovery().get("id_token_signing_alg_values_supported", ["RS256"])
        if algorithm not in ALLOWED_ALGORITHMS or algorithm not in supported:
            raise OIDCError("ID-tokenet bruger en algoritme, der ikke accepteres")
        try:
            claims = jwt.decode(
                id_token,
                self._signing_key(header.get("kid")),
                algorithms=[algorithm],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                leeway=60,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError:
            raise OIDCError("ID-tokenet er ugyldigt") from None
        if not same_token(claims.get("nonce"), nonce):
            raise OIDCError("ID-tokenet hører ikke til dette log-ind")
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.config.client_id:
            raise OIDCError("ID-tokenet er udstedt til en anden klient")
        return claims

    def role_for(self, claims: dict[str, Any]) -> str:
        value = claims.get(self.config.role_claim)
        if value is None:
            values: set[str] = set()
        else:
            values = {str(v) for v in value} if isinstance(value, list) else {str(value)}
        if values & set(self.config.coordinator_values):
            return COORDINATOR
        if values & set(self.config.viewer_values):
            return VIEWER
        if self.config.default_role:
            return self.config.default_role
        raise OIDCError("Din bruger har ingen rolle i lokaledashboardet. Kontakt IT.")
