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

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class Refused(Exception):
    """The library gave up on the server's answer; ``reply`` is that answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.status_code} {reply.reason}")
        self.reply = reply


def _reply(response: Any) -> Reply:
    """A library ``DAVResponse`` as a ``Reply`` (the body as received, CRLFs kept)."""
    # ``raw`` has CRLF folded to LF; the library keeps a non-XML body as received beside it.
    raw = getattr(response, "_raw_body", b"") or response.raw
    content = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
    return Reply(
        status_code=response.status,
        headers=dict(response.headers or {}),
        content=content,
        reason=response.reason or "",
        tree=response.tree,
    )


def _server_text(reply: Reply) -> str:
    """The server's own words, short, without markup, and never a CPR-shaped number."""
    text = re.sub(r"<[^>]+>", " ", reply.text)
    text = " ".join(text.split())[:300]
    return redact_cpr(text) if text else reply.reason


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
        after = dav_error.parse_retry_after(retry_header) if retry_header else None
        after = DEFAULT_RETRY_AFTER if after is None else after
        return Throttled(msg, retry_after=after, calendar_id=calendar_id)
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
        try:
            found = self.run(
                "PROPFIND", url, lambda c: str(Principal(client=c).url), calendar_id=None
            )
        except Refused as exc:
            raise error_for(exc.reply, "PROPFIND", url, None) from None
        if not found:
            raise ConnectorError(
                f"PROPFIND {strip_userinfo(url)}: the server names no current-user-principal; "
                "configure calendar_homes"
            )
        return collection_url(url, found)

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
        try:
            reply = _reply(self.run(method, url, send, calendar_id=calendar_id))
        except Refused as exc:
            reply = exc.reply
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

    def run(
        self,
        method: str,
        url: str,
        work: Callable[[DAVClient], Any],
        *,
        calendar_id: str | None,
    ) -> Any:
        """``work(client)`` with a borrowed client: its result, or ``Refused`` with the server's
        answer when the library raised on a status (401/403, 429, a failed REPORT, a body it
        could not read). Time-outs and lost connections become ``ConnectorError``."""
        where = f"{method} {strip_userinfo(url)}"
        client = self._borrow()
        client.last_response = None
        try:
            return work(client)
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
        except Exception as exc:  # the library refused an answer (status, unreadable body)
            raw = client.last_response
            if raw is not None and raw.status_code >= 300:
                raise Refused(
                    Reply(raw.status_code, dict(raw.headers), raw.content or b"", raw.reason or "")
                ) from None
            if isinstance(exc, dav_error.AuthorizationError):  # no answer kept: use its own
                body = exc.body if isinstance(exc.body, bytes) else (exc.body or "").encode()
                raise Refused(Reply(exc.status or 403, {}, body, str(exc.reason or ""))) from None
            raise ConnectorError(
                f"{where}: unreadable answer: {type(exc).__name__}: {exc}",
                calendar_id=calendar_id,
            ) from None
        finally:
            self._give_back(client)

    def close(self) -> None:
        with self._lock:
            clients, self._all, self._idle = self._all, [], []
        for client in clients:
            client.close()
