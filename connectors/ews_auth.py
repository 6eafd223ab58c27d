"""Credentials for exchangelib: NTLM/Basic, or OAuth 2 access tokens obtained with msal.

On-premises Exchange authenticates EWS with NTLM (Windows authentication on the EWS virtual
directory; Negotiate/Kerberos where configured); OAuth is Exchange Online's (and hybrid modern
auth's). exchangelib speaks NTLM through requests_ntlm/pyspnego, including channel binding over
HTTPS, which Extended Protection for Authentication (on by default since Exchange 2019 CU14)
checks against the certificate the client saw: a TLS-offloading proxy in between breaks it.

exchangelib has no certificate flow, so msal (ConfidentialClientApplication with a certificate or
a secret) gets the token, and a small OAuth2 credentials subclass hands it to exchangelib. The
token's expiry is moved ``margin`` seconds forward, so oauthlib refuses to send it shortly before
it really expires; exchangelib then calls ``refresh()`` and retries with a fresh token, so no
request ever goes out with an expired one. Tokens and secrets are never logged or repr'd.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import msal
import requests
from exchangelib import Credentials, OAuth2AuthorizationCodeCredentials
from exchangelib.account import Identity

from connectors.base import ConnectorError
from connectors.ews_config import EWSConfig

# msal treats cached tokens with less than five minutes left as expired; our margin stays below
# that, so msal never hands back a token we would already consider expired.
_MSAL_EXPIRY_BUFFER = 300.0
_MS_AUTHORITY_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
)


class MsalTokenCredentials(OAuth2AuthorizationCodeCredentials):
    """exchangelib OAuth credentials whose access token comes from msal (client credentials)."""

    def __init__(self, config: EWSConfig, identity: Identity | None = None) -> None:
        # No client_secret here: exchangelib would then try to refresh through requests-oauthlib.
        super().__init__(client_id=config.client_id, identity=identity)
        # Only immutable or identity-hashed attributes: exchangelib hashes credentials to key its
        # protocol cache, so a counter or dict here would split or break that cache.
        self._settings = _MsalSettings(config)

    # exchangelib calls this when oauthlib says the token expired (our margin makes that early).
    def refresh(self, session: Any) -> None:
        self.access_token = self._fetch()

    def session_params(self) -> dict:
        with self.lock:
            if self.access_token is None or self._expired():
                self.access_token = self._fetch()
        return super().session_params()

    def _expired(self) -> bool:
        return float(self.access_token.get("expires_at", 0)) <= time.time()

    def _fetch(self) -> dict:
        result = self._app().acquire_token_for_client(scopes=[self._settings.scope])
        if "access_token" not in result:
            # error/error_description come from the identity provider and hold no secret.
            raise ConnectorError(
                f"OAuth token request failed: {result.get('error')}: "
                f"{result.get('error_description', '').splitlines()[0] if result.get('error_description') else ''}"
            )
        self._settings.fetches += 1
        lifetime = float(result.get("expires_in", 3600))
        margin = min(self._settings.margin, lifetime / 2)
        return {
            "access_token": result["access_token"],
            "token_type": result.get("token_type", "Bearer"),
            "expires_at": time.time() + lifetime - margin,
        }

    @property
    def token_fetches(self) -> int:
        return self._settings.fetches

    def _app(self) -> msal.ConfidentialClientApplication:
        # Built lazily: msal contacts the authority (tenant discovery) when constructed.
        with self._settings.lock:
            if self._settings.app is None:
                self._settings.app = self._settings.build()
            return self._settings.app

    def __repr__(self) -> str:
        return f"MsalTokenCredentials(client_id={self.client_id!r})"

    __str__ = __repr__


class _MsalSettings:
    """The msal half of the config, without exposing secrets through attributes exchangelib hashes."""

    def __init__(self, config: EWSConfig) -> None:
        self._config = config
        self.scope = config.oauth_scope
        self.margin = min(config.token_refresh_margin, _MSAL_EXPIRY_BUFFER - 1)
        self.lock = threading.Lock()
        self.app: msal.ConfidentialClientApplication | None = None
        self.fetches = 0

    def build(self) -> msal.ConfidentialClientApplication:
        cfg = self._config
        authority = cfg.authority or f"https://login.microsoftonline.com/{cfg.tenant_id}"
        credential: Any
        if cfg.certificate_key_pem and cfg.certificate_pem:
            # msal >= 1.35 computes the SHA-256 thumbprint and signs with PS256.
            credential = {
                "private_key": cfg.certificate_key_pem,
                "public_certificate": cfg.certificate_pem,
            }
        elif cfg.certificate_key_pem and cfg.certificate_thumbprint:
            credential = {
                "private_key": cfg.certificate_key_pem,
                "thumbprint": cfg.certificate_thumbprint.replace(":", ""),
            }
        else:
            credential = cfg.client_secret
        known_host = any(h in authority for h in _MS_AUTHORITY_HOSTS)
        return msal.ConfidentialClientApplication(
            cfg.client_id,
            authority=authority,
            client_credential=credential,
            http_client=_TokenSession(cfg.oauth_verify, cfg.timeout),
            instance_discovery=known_host,
        )

    def __repr__(self) -> str:
        return "_MsalSettings(...)"


class _TokenSession(requests.Session):
    """msal's HTTP client. requests lets REQUESTS_CA_BUNDLE silently override ``Session.verify``;
    a CA bundle configured for the token endpoint must win, so it is passed per request."""

    def __init__(self, verify: bool | str, timeout: float) -> None:
        super().__init__()
        self.verify = verify
        self._timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


def build_credentials(config: EWSConfig, anchor_mailbox: str | None) -> Any:
    """The exchangelib credentials object for ``config`` (None for the simulator's NOAUTH)."""
    if config.auth in ("ntlm", "basic"):
        return Credentials(username=config.username, password=config.password)
    if config.auth == "oauth":
        identity = Identity(primary_smtp_address=anchor_mailbox) if anchor_mailbox else None
        return MsalTokenCredentials(config, identity=identity)
    return None


def login_refused(config: EWSConfig) -> str:
    """What to tell the administrator when Exchange answers 401 to our login (no secret in it)."""
    if config.auth == "ntlm":
        return (
            f"Exchange refused the NTLM login of {config.username!r} at {config.endpoint}: wrong "
            "user name or password, a locked or expired account, or Extended Protection for "
            "Authentication behind a TLS-offloading proxy (NTLM then fails even with the right "
            "password; see 'Extended Protection and TLS offload' in the admin guide)"
        )
    if config.auth == "basic":
        return (
            f"Exchange refused the Basic login of {config.username!r} at {config.endpoint}: wrong "
            "user name or password, or Basic authentication is off on the EWS virtual directory"
        )
    if config.auth == "oauth":
        return (
            f"Exchange refused our OAuth token at {config.endpoint}: the app lacks "
            "full_access_as_app (or the ApplicationImpersonation role), or consent is missing"
        )
    return f"Exchange at {config.endpoint} asks for a login; set auth in [backend]"
