"""A tiny real HTTP proxy in front of Radicale, to play a different or misbehaving server.

Tests use it to simulate what Radicale itself never does: no sync-collection (RFC 6578), no
free-busy-query, throttling (429/503 with Retry-After), an item changed underneath a write, a
corrupt item. It is plain HTTP on a loopback port; no library is patched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "content-encoding",
}
_METHODS = (
    "GET HEAD PUT DELETE POST OPTIONS PROPFIND PROPPATCH REPORT MKCOL MKCALENDAR MOVE COPY"
).split()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is part of some tests


@dataclass
class Seen:
    """One request as the proxy received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def report_kind(self) -> str | None:
        """``sync-collection``, ``calendar-multiget``, ... for a REPORT."""
        if self.method != "REPORT":
            return None
        for kind in ("sync-collection", "calendar-multiget", "calendar-query", "free-busy-query"):
            if kind.encode() in self.body:
                return kind
        return "other"


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Intercept = Callable[[Seen], Reply | None]
Rewrite = Callable[[Seen, Reply], Reply]


class CalDAVProxy:
    """Forwards to ``upstream``; ``intercept`` may answer instead, ``rewrite`` may alter."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: list[Seen] = []
        self.intercept: Intercept | None = None
        self.rewrite: Rewrite | None = None
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=30.0)
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def count(self, method: str, report_kind: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for s in self.seen
                if s.method == method and (report_kind is None or s.report_kind == report_kind)
            )

    def _handle(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
        if self.intercept is not None:
            reply = self.intercept(seen)
            if reply is not None:
                return reply
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = self._client.request(
            seen.method, self.upstream + seen.path, headers=headers, content=seen.body
        )
        reply = Reply(
            upstream.status_code,
            {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            upstream.content,
        )
        return self.rewrite(seen, reply) if self.rewrite is not None else reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                reply = proxy._handle(seen)
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        for method in _METHODS:
            setattr(Handler, f"do_{method}", Handler._any)
        return Handler

    def start(self) -> CalDAVProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()


@contextmanager
def caldav_proxy(upstream: str) -> Iterator[CalDAVProxy]:
    proxy = CalDAVProxy(upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()
