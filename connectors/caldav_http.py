"""The one HTTP client of the CalDAV connector: pooling, request counting, error mapping.

One ``httpx.Client`` is shared by every thread (httpx clients are thread-safe) so connections
are pooled. Every HTTP status the connector does not handle itself becomes one of the
``connectors.base`` exceptions, carrying the calendar id and the server's own text, and never a
password (credentials travel only in the Authorization header; URLs are stripped of userinfo).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

import httpx

from connectors.base import ConnectorError, NotFound, PermissionDenied, Throttled
from mappings.privacy import redact_cpr

DEFAULT_RETRY_AFTER = 30.0  # seconds, when a 429 names no Retry-After
_SAFE_PATH = "/@:+!$&'()*,;=-._~"


def strip_userinfo(url: str) -> str:
    """``http://u:p@host/x`` -> ``http://host/x``: passwords never reach messages or ids."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def canonical_path(url_or_path: str) -> str:
    """One spelling per resource path, whichever percent-encoding the server chose."""
    return quote(unquote(urlsplit(url_or_path).path), safe=_SAFE_PATH)


def collection_url(base: str, href: str) -> str:
    """Absolute, canonical URL of a collection, always with a trailing slash."""
    absolute = urlsplit(urljoin(base, href))
    path = canonical_path(absolute.path)
    if not path.endswith("/"):
        path += "/"
    return urlunsplit((absolute.scheme, absolute.netloc.rsplit("@", 1)[-1], path, "", ""))


def parent_url(url: str) -> str:
    """The collection holding ``url`` (a calendar's home)."""
    return collection_url(url, "..")


def _server_text(response: httpx.Response) -> str:
    """The server's own words, short, without markup, and never a CPR-shaped number."""
    try:
        text = response.text
    except Exception:  # undecodable body: the status line must do
        text = ""
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())[:300]
    return redact_cpr(text) if text else response.reason_phrase


def retry_after_seconds(value: str | None, default: float | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for(
    response: httpx.Response, method: str, url: str, calendar_id: str | None
) -> ConnectorError:
    """Map an HTTP failure to the connector's exceptions."""
    code = response.status_code
    msg = f"{method} {strip_userinfo(url)} -> {code}: {_server_text(response)}"
    if code in (401, 403):
        return PermissionDenied(msg, calendar_id=calendar_id)
    if code in (404, 410):
        return NotFound(msg, calendar_id=calendar_id)
    retry_header = response.headers.get("Retry-After")
    if code == 429 or (code == 503 and retry_header):
        after = retry_after_seconds(retry_header, DEFAULT_RETRY_AFTER)
        return Throttled(msg, retry_after=after or 0.0, calendar_id=calendar_id)
    return ConnectorError(msg, calendar_id=calendar_id)


class DavHttp:
    """Thread-safe HTTP for WebDAV verbs, counting every request sent (redirects included)."""

    def __init__(
        self,
        *,
        username: str | None,
        password: str | None,
        max_connections: int,
        timeout: float,
        verify: bool | str = True,
        user_agent: str = "selvbook-syncd",
    ) -> None:
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._count = 0
        self._count_lock = threading.Lock()
        self._timeout = timeout
        self._client = httpx.Client(
            auth=(username, password or "") if username else None,
            timeout=timeout,
            # retries=1 re-sends only when a connection could not be made (nothing was sent),
            # which covers a pooled keep-alive connection the server had closed.
            transport=httpx.HTTPTransport(retries=1, limits=limits, verify=verify),
            headers={"User-Agent": user_agent},
            follow_redirects=True,
            event_hooks={"request": [self._counted]},
        )

    def _counted(self, _request: httpx.Request) -> None:
        with self._count_lock:
            self._count += 1

    @property
    def requests_made(self) -> int:
        with self._count_lock:
            return self._count

    def request(
        self,
        method: str,
        url: str,
        *,
        calendar_id: str | None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Collection[int] = (200, 207),
    ) -> httpx.Response:
        """Send one request; statuses in ``ok`` are returned, every other one raised."""
        all_headers = dict(headers or {})
        if body is not None and "Content-Type" not in all_headers:
            all_headers["Content-Type"] = 'application/xml; charset="utf-8"'
        try:
            response = self._client.request(method, url, content=body, headers=all_headers)
        except httpx.TimeoutException as exc:
            raise ConnectorError(
                f"{method} {strip_userinfo(url)}: no answer within {self._timeout:g} s "
                f"({type(exc).__name__})",
                calendar_id=calendar_id,
            ) from None
        except httpx.HTTPError as exc:
            raise ConnectorError(
                f"{method} {strip_userinfo(url)}: {type(exc).__name__}: {exc}",
                calendar_id=calendar_id,
            ) from None
        if response.status_code in ok:
            return response
        raise error_for(response, method, url, calendar_id)

    def close(self) -> None:
        self._client.close()
