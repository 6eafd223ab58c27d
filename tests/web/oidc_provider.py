"""A tiny OpenID Connect provider for tests: discovery, an authorize endpoint that signs in
whoever the test says, a token endpoint that checks the client secret and the PKCE verifier,
and a JWKS. Served over real HTTP like any other provider."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

CLIENT_ID = "syncd-dashboard"
CLIENT_SECRET = "oidc-client-secret-for-tests"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Provider:
    issuer: str = ""
    user: dict[str, Any] = field(default_factory=dict)  # claims of whoever signs in next
    key: rsa.RSAPrivateKey = field(default_factory=_key)
    kid: str = "test-key-1"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    # Ways to misbehave, for the tests that check syncd notices.
    wrong_nonce: bool = False
    wrong_audience: bool = False
    foreign_key: rsa.RSAPrivateKey | None = None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["public"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return {"keys": [jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}]}

        @app.get("/authorize")
        def authorize(request: Request) -> Any:
            q = dict(request.query_params)
            self.authorize_requests.append(q)
            if (
                q.get("client_id") != CLIENT_ID
                or q.get("response_type") != "code"
                or q.get("code_challenge_method") != "S256"
                or not q.get("code_challenge")
                or "openid" not in q.get("scope", "").split()
            ):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "challenge": q["code_challenge"],
                "nonce": q.get("nonce"),
                "redirect_uri": q["redirect_uri"],
                "claims": dict(self.user),
            }
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}",
                status_code=302,
            )

        @app.post("/token")
        def token(
            grant_type: str = Form(""),
            code: str = Form(""),
            redirect_uri: str = Form(""),
            client_id: str = Form(""),
            client_secret: str = Form(""),
            code_verifier: str = Form(""),
        ) -> Any:
            self.token_requests.append({"code": code, "code_verifier": code_verifier})
            grant = self.codes.pop(code, None)  # a code works once
            digest = hashlib.sha256(code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if (
                grant is None
                or grant_type != "authorization_code"
                or client_id != CLIENT_ID
                or client_secret != CLIENT_SECRET
                or redirect_uri != grant["redirect_uri"]
                or challenge != grant["challenge"]
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": "someone-else" if self.wrong_audience else CLIENT_ID,
                "sub": grant["claims"].get("sub", "subject-1"),
                "iat": now,
                "exp": now + 300,
                "nonce": "not-the-nonce" if self.wrong_nonce else grant["nonce"],
            } | grant["claims"]
            id_token = jwt.encode(
                claims, self.foreign_key or self.key, algorithm="RS256", headers={"kid": self.kid}
            )
            return {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }

        return app
