"""The CalDAV connector's transport: python-caldav ``DAVClient``s, request counting, error mapping.

A ``DAVClient`` holds one HTTP session and is not documented as thread-safe, so each request
borrows a client from a small pool (one per concurrent caller, reused across cycles, so pooled
keep-alive connections survive from one cycle to the next). Every HTTP status the connector does
not handle itself becomes one of the ``connectors.base`` exceptions, carrying the calendar id and
the server's own text, and never a password (URLs are stripped of userinfo).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit, urlunsplit

from caldav import DAVClient, Principal
from caldav.lib import error as dav_error
from caldav.lib.http_sync import requests as http_lib  # niquests, or requests without it

from connectors.base import ConnectorError, NotFound, PermissionDenied, Throttled
from mappings.privacy import redact_cpr

# The library logs every request and answer body at DEBUG: calendar data, i.e. personal data,
# which must never reach a log line, whatever level the daemon runs at. caldav.response decides
# by its own level whether to log a non-XML body (an item we GET) on the root logger.
for _name in ("caldav", "caldav.response"):
    logging.getLogger(_name).setLevel(logging.INFO)

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


@dataclass
class Reply:
    """One answer, whatever its status: the library's parsed XML tree when the body is XML."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    reason: str = ""
    tree: Any = None  # lxml element of a multistatus/error body, else None
    dav: Any = None  # the library's DAVResponse (its parsers), None for a refused request

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass
class _PrincipalAnswer:
    """What ``principal_url`` learned, dressed as an answer for ``DavHttp.call``."""

    url: str


def _no_principal(where: str) -> str:
    raise ConnectorError(
        f"{where}: the server names no current-user-principal; configure calendar_homes"
    )


def _reply(response: Any) -> Reply:
    """A library ``DAVResponse`` as a ``Reply`` (the body as received, CRLFs kept)."""
    if isinstance(response, _PrincipalAnswer):
        return Reply(200, {}, response.url.encode())
    raw = response._raw_body or response.raw  # _raw_body: the unaltered non-XML body
    content = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
    return Reply(
        status_code=response.status,
        headers=dict(response.headers or {}),
        content=content,
        reason=response.reason or "",
        tree=response.tree,
        dav=response,
    )


def _server_text(reply: Reply) -> str:
    """The server's own words, short, without markup, and never a CPR-shaped number."""
    text = re.sub(r"<[^>]+>", " ", reply.text)
    text = " ".join(text.split())[:300]
    return redact_cpr(text) if text else reply.reason


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


def error_for(reply: Reply, method: str, url: str, calendar_id: str | None) -> ConnectorError:
    """Map an HTTP failure to the connector's exceptions."""
    code = reply.status_code
    msg = f"{method} {strip_userinfo(url)} -> {code}: {_server_text(reply)}"
    if code in (401, 403):
        return PermissionDenied(msg, calendar_id=calendar_id)
    if code in (404, 410):
        return NotFound(msg, calendar_id=calendar_id)
    retry_header = {k.lower(): v for k, v in reply.headers.items()}.get("retry-after")
    if code == 429 or (code == 503 and retry_header):
        after = retry_after_seconds(retry_header, DEFAULT_RETRY_AFTER)
        return Throttled(msg, retry_after=after or 0.0, calendar_id=calendar_id)
    return ConnectorError(msg, calendar_id=calendar_id)


class _CountingClient(DAVClient):
    """``DAVClient`` that counts every request it sends (for benchmarks and tests)."""

    def __init__(self, counted: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._counted = counted
        self.last_response: Any = None  # the HTTP answer behind an exception the library raised
        self.session.hooks["response"].append(self._remember)

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.last_response = response
        return response

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._counted()
        return super().request(*args, **kwargs)


class DavHttp:
    """Thread-safe WebDAV over python-caldav: a pool of ``DAVClient``s, one per caller."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None,
        password: str | None,
        max_connections: int,
        timeout: float,
        verify: bool | str = True,
        user_agent: str = "selvbook-syncd",
    ) -> None:
        self._url = url
        self._username = username
        self._password = password
        self._timeout = timeout
        self._verify = verify
        self._user_agent = user_agent
        self._max = max(1, max_connections)
        self._count = 0
        self._lock = threading.Lock()
        self._idle: list[_CountingClient] = []
        self._all: list[_CountingClient] = []

    def _counted(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def requests_made(self) -> int:
        with self._lock:
            return self._count

    def _new_client(self) -> _CountingClient:
        client = _CountingClient(
            self._counted,
            url=self._url,
            username=self._username,
            password=self._password if self._username else None,
            # Named, so no request costs an extra 401 round trip to learn the scheme.
            auth_type="basic" if self._username else None,
            timeout=self._timeout,  # type: ignore[arg-type]
            ssl_verify_cert=self._verify,
            headers={"User-Agent": self._user_agent},
            enable_rfc6764=False,  # the URL is configured: no DNS guessing
            rate_limit_handle=False,  # 429/503 go to the engine's back-off
        )
        return client

    def _borrow(self) -> _CountingClient:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            client = self._new_client()
            self._all.append(client)
            return client

    def _give_back(self, client: _CountingClient) -> None:
        with self._lock:
            if len(self._idle) < self._max:
                self._idle.append(client)
                return
            self._all.remove(client)
        client.close()

    def principal_url(self, url: str) -> str:
        """The current user's principal, found by the library (current-user-principal on the
        server root or its /.well-known/caldav, following redirects)."""
        where = f"PROPFIND {strip_userinfo(url)}"
        reply = self.call(
            "PROPFIND",
            url,
            lambda client: _PrincipalAnswer(str(Principal(client=client).url)),
            calendar_id=None,
        )
        return collection_url(url, reply.text) if reply.text else _no_principal(where)

    def call(
        self,
        method: str,
        url: str,
        send: Callable[[DAVClient], Any],
        *,
        calendar_id: str | None,
        ok: Collection[int] = (200, 207),
    ) -> Reply:
        """Run ``send(client)`` (one library request); statuses in ``ok`` are returned, every
        other one raised as a connector exception."""
        client = self._borrow()
        try:
            reply = self._send(method, url, send, client, calendar_id)
        finally:
            self._give_back(client)
        if reply.status_code in ok:
            return reply
        raise error_for(reply, method, url, calendar_id)

    def request(
        self,
        method: str,
        url: str,
        *,
        calendar_id: str | None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        ok: Collection[int] = (200, 207),
    ) -> Reply:
        """Any verb through ``DAVClient.request`` (what the library has no helper for)."""
        return self.call(
            method,
            url,
            lambda c: c.request(url, method, body or "", dict(headers or {})),
            calendar_id=calendar_id,
            ok=ok,
        )

    def _send(
        self,
        method: str,
        url: str,
        send: Callable[[DAVClient], Any],
        client: DAVClient,
        calendar_id: str | None,
    ) -> Reply:
        where = f"{method} {strip_userinfo(url)}"
        client.last_response = None  # type: ignore[attr-defined]
        try:
            return _reply(send(client))
        except dav_error.AuthorizationError as exc:  # 401/403, body kept by the library
            body = exc.body if isinstance(exc.body, bytes) else (exc.body or "").encode()
            status = getattr(exc, "status", None) or 403
            return Reply(status, {}, body, reason=str(exc.reason or ""))
        except dav_error.RateLimitError as exc:  # 429, or 503 with Retry-After
            raw = getattr(client, "last_response", None)
            if raw is not None:  # the server's own words and Retry-After, as it sent them
                return Reply(raw.status_code, dict(raw.headers), raw.content or b"", raw.reason)
            after = retry_after_seconds(exc.retry_after, DEFAULT_RETRY_AFTER)
            raise Throttled(
                f"{where}: throttled: {_error_text(exc)}",
                retry_after=float(after or 0.0),
                calendar_id=calendar_id,
            ) from None
        except http_lib.exceptions.Timeout as exc:
            raise ConnectorError(
                f"{where}: no answer within {self._timeout:g} s ({type(exc).__name__})",
                calendar_id=calendar_id,
            ) from None
        except http_lib.exceptions.RequestException as exc:
            raise ConnectorError(
                f"{where}: {type(exc).__name__}: {redact_cpr(strip_userinfo(str(exc)))}",
                calendar_id=calendar_id,
            ) from None
        except dav_error.DAVError as exc:
            raise ConnectorError(f"{where}: {exc}", calendar_id=calendar_id) from None
        except Exception as exc:  # e.g. a body labelled XML that is not: the library refuses it
            raw = getattr(client, "last_response", None)
            if raw is not None and raw.status_code >= 300:  # an error's text is still useful
                return Reply(raw.status_code, dict(raw.headers), raw.content or b"", raw.reason)
            raise ConnectorError(
                f"{where}: unreadable answer: {type(exc).__name__}: {exc}",
                calendar_id=calendar_id,
            ) from None

    def close(self) -> None:
        with self._lock:
            clients, self._all, self._idle = self._all, [], []
        for client in clients:
            client.close()


def _error_text(exc: dav_error.DAVError) -> str:
    body = getattr(exc, "body", None)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())[:300]
    return redact_cpr(text or str(getattr(exc, "reason", "") or ""))
