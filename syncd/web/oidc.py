"""Sign-in with OpenID Connect (e.g. Microsoft Entra ID): the authorization code flow with PKCE.

The protocol is Authlib's (its OAuth 2 client builds the authorization URL with the S256 code
challenge and exchanges the code with the verifier) and the ID token is checked with joserfc
(Authlib's JOSE library): signature against the issuer's published keys, issuer, audience,
expiry, nonce. The state, nonce and PKCE verifier travel in a short-lived signed cookie, so no
server-side store is needed, any replica can finish a sign-in another one started, and only
the browser's newest flow counts. The dashboard role is read from a configured claim (Entra
app roles arrive in ``roles``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidClaimError, JoseError
from joserfc.jwk import KeySet

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

    def _key_set(self, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys if self._keys and self._keys[0] > time.monotonic() else None
        if cached is None or refresh:  # refresh: an unknown key, the issuer may have rotated
            jwks = self._get_json(self.discovery()["jwks_uri"])
            with self._lock:
                self._keys = (time.monotonic() + CACHE_SECONDS, jwks)
            cached = self._keys
        try:
            return KeySet.import_key_set(cached[1])  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise OIDCError("Identitetsudbyderens nøgler kan ikke læses") from None

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.config.client_id,
            client_secret=self.secret,
            token_endpoint_auth_method="client_secret_post" if self.secret else "none",
            scope=" ".join(self.config.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    # -- the flow ----------------------------------------------------------------------------

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """The authorization URL to send the browser to, and the flow cookie to set."""
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        cookie = self.signer.sign(
            "oidc", {"st": state, "n": nonce, "v": verifier, "r": redirect_uri}, FLOW_SECONDS
        )
        endpoint = self.discovery()["authorization_endpoint"]
        with self._session(redirect_uri) as session:
            url, _ = session.create_authorization_url(
                endpoint, state=state, code_verifier=verifier, nonce=nonce, response_mode="query"
            )
        return url, cookie

    def finish(self, cookie: str | None, state: str | None, code: str | None) -> Identity:
        flow = self.signer.unsign("oidc", cookie)
        if flow is None or not same_token(state, flow["st"]):
            raise OIDCError("Log-ind-forløbet er udløbet eller ugyldigt. Prøv igen.")
        if not code:
            raise OIDCError("Identitetsudbyderen sendte ingen kode")
        token_endpoint = self.discovery()["token_endpoint"]
        with self._session(flow["r"]) as session:
            try:
                token = session.fetch_token(
                    token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=flow["v"],
                    timeout=self.config.timeout_seconds,
                )
            except requests.RequestException as exc:
                raise OIDCError("Identitetsudbyderen kan ikke nås lige nu") from exc
            except (OAuthError, ValueError) as exc:
                raise OIDCError("Identitetsudbyderen afviste log-ind") from exc
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str):
            raise OIDCError("Identitetsudbyderen sendte intet ID-token")
        claims = self.verify(id_token, flow["n"])
        role = self.role_for(claims)
        name = str(claims.get(self.config.username_claim) or claims.get("email") or claims["sub"])
        return Identity(name, str(claims.get(self.config.name_claim) or name), role)

    def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        supported = self.discovery().get("id_token_signing_alg_values_supported", ["RS256"])
        algorithms = [a for a in ALLOWED_ALGORITHMS if a in supported]
        token = None
        for refresh in (False, True):
            try:
                token = jwt.decode(id_token, self._key_set(refresh), algorithms=algorithms)
                break
            except (JoseError, ValueError) as exc:
                if refresh or "key" not in str(exc).lower():
                    raise OIDCError("ID-tokenet er ugyldigt") from None
        assert token is not None
        registry = jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": self.config.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(token.claims)
        except InvalidClaimError as exc:
            if "nonce" in str(exc):
                raise OIDCError("ID-tokenet hører ikke til dette log-ind") from None
            raise OIDCError("ID-tokenet er ugyldigt") from None
        except JoseError:
            raise OIDCError("ID-tokenet er ugyldigt") from None
        claims = dict(token.claims)
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
