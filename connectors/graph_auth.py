"""App-only tokens for Microsoft Graph: one long-lived msal app whose token cache is reused.

msal talks to Entra ID through the connector's own httpx client (msal's documented
``http_client`` hook), so the token endpoint and Graph share one TLS configuration and one
connection pool; msal's default requests session would let ``REQUESTS_CA_BUNDLE`` override the
configured CA bundle. Tokens never reach a log line or an exception message.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import httpx
import msal

from connectors.base import ConnectorError

# Entra ID hosts msal knows; any other authority host (a sovereign cloud proxy, the test
# simulator) is used as given, without msal's instance discovery at login.microsoftonline.com.
_KNOWN_HOSTS = ("login.microsoftonline.com", "login.microsoft.com", "login.windows.net")


class _MsalHttp:
    """The ``get``/``post`` surface msal expects, on top of an httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> httpx.Response:
        return self._client.get(url, params=params, headers=headers)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any
    ) -> httpx.Response:
        if isinstance(data, Mapping):  # msal hands the client assertion over as bytes
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self._client.post(url, params=params, data=data, headers=headers)

    def close(self) -> None:  # msal may call it; the connector owns the client
        pass


class TokenSource:
    """Thread-safe access tokens for ``scope``; ``invalidate`` drops a token Graph refused."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        credential: str | Mapping[str, str],
        authority_host: str,
        scope: str,
        http: httpx.Client,
    ) -> None:
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._credential = credential
        self._authority_host = authority_host.rstrip("/")
        self._scopes = [scope]
        self._http = http
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _application(self) -> msal.ConfidentialClientApplication:
        # Built on first use: msal fetches the tenant's OpenID configuration in its constructor.
        if self._app is None:
            known = any(self._authority_host.endswith(h) for h in _KNOWN_HOSTS)
            try:
                self._app = msal.ConfidentialClientApplication(
                    self._client_id,
                    client_credential=dict(self._credential)
                    if isinstance(self._credential, Mapping)
                    else self._credential,
                    authority=f"{self._authority_host}/{self._tenant_id}",
                    instance_discovery=None if known else False,
                    http_client=_MsalHttp(self._http),
                )
            except (ValueError, httpx.HTTPError) as exc:
                raise ConnectorError(f"Entra ID authority unusable: {exc}") from None
        return self._app

    def token(self) -> str:
        with self._lock:
            app = self._application()
            try:
                result = app.acquire_token_for_client(scopes=self._scopes)
            except httpx.HTTPError as exc:
                raise ConnectorError(f"token endpoint unreachable: {exc}") from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            error = result.get("error", "unknown") if isinstance(result, dict) else "unknown"
            description = (
                (result.get("error_description") or "") if isinstance(result, dict) else ""
            )
            raise ConnectorError(f"token request refused: {error}: {description}".strip())
        return token

    def invalidate(self, token: str) -> None:
        """Forget a cached token Graph rejected (expired or revoked early), so the next
        ``token()`` asks Entra ID again. msal has no force_refresh for client credentials."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                if entry.get("secret") == token:
                    cache.remove_at(entry)
