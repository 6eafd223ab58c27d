"""The EWS simulator's HTTP side: one loopback server speaking SOAP at /EWS/Exchange.asmx.

Started by tests (``with EwsSimulator() as sim``). It authenticates (none, Basic, NTLM with
pyspnego as the acceptor (see ``ntlm``), or bearer tokens from its own token endpoint), refuses denied impersonation with SOAP faults, injects faults on
demand (ErrorServerBusy with BackOffMilliseconds, HTTP 503/429 with Retry-After), and logs every
request with a monotonic timestamp so tests can measure back-off without sleeping.
"""

from __future__ import annotations

import base64
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.sims.ews import ops_items, ops_misc, streaming
from tests.sims.ews.access import Fault, Request, check_impersonation, parse_request
from tests.sims.ews.ntlm import CHALLENGE_HEADERS, NtlmConnection, NtlmUsers
from tests.sims.ews.store import Store
from tests.sims.ews.xmlio import envelope, fault

Handler = Callable[[Store, Request], ET.Element]

OPERATIONS: dict[str, Handler] = {
    "ConvertId": ops_misc.convert_id,
    "GetFolder": ops_misc.get_folder,
    "GetUserAvailabilityRequest": ops_misc.get_user_availability,
    "GetRoomLists": ops_misc.get_room_lists,
    "GetRooms": ops_misc.get_rooms,
    "ExpandDL": ops_misc.expand_dl,
    "FindItem": ops_items.find_item,
    "GetItem": ops_items.get_item,
    "CreateItem": ops_items.create_item,
    "UpdateItem": ops_items.update_item,
    "DeleteItem": ops_items.delete_item,
    "SyncFolderItems": ops_items.sync_folder_items,
}


@dataclass
class InjectedFault:
    kind: str  # busy | http503 | http429
    remaining: int
    back_off_ms: int | None = None
    retry_after: int | None = None
    op: str | None = None
    mailbox: str | None = None

    def applies(self, op: str, mailbox: str | None) -> bool:
        return (self.op in (None, op)) and (self.mailbox in (None, mailbox))


@dataclass
class LogEntry:
    at: float  # time.monotonic()
    op: str
    mailbox: str | None
    status: int
    code: str | None = None  # fault code, when the request was refused


@dataclass
class Auth:
    mode: str = "none"  # none | basic | ntlm (NTLM and Basic, as IIS may offer) | bearer
    users: dict[str, str] = field(default_factory=dict)  # "DOMAIN\\user" for NTLM
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.time())
    rejected: int = 0
    logins: list[str] = field(default_factory=list)  # who authenticated, by which scheme
    ntlm: NtlmUsers | None = None


class EwsSimulator:
    """A small stateful Exchange (2019) speaking EWS over HTTP on 127.0.0.1."""

    def __init__(self, auth: str = "none", users: dict[str, str] | None = None) -> None:
        self.store = Store()
        self.auth = Auth(mode=auth, users=dict(users or {}))
        if auth == "ntlm":
            self.auth.ntlm = NtlmUsers(self.auth.users)
        self.log: list[LogEntry] = []
        self.faults: list[InjectedFault] = []
        self._lock = threading.Lock()
        self.streams = streaming.Streams(self.store)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.token_server = None  # set by enable_token_endpoint()
        self.latency = 0.0  # simulated server work per request, seconds
        self.in_flight: dict[str, int] = {}
        self.peak_in_flight: dict[str, int] = {}

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/EWS/Exchange.asmx"

    def start(self) -> EwsSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.streams.close()
        self._server.shutdown()
        self._server.server_close()
        if self.token_server is not None:
            self.token_server.stop()

    def __enter__(self) -> EwsSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        back_off_ms: int | None = None,
        retry_after: int | None = None,
        op: str | None = None,
        mailbox: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with a fault instead of serving them."""
        with self._lock:
            self.faults.append(
                InjectedFault(
                    kind, count, back_off_ms, retry_after, op, mailbox and mailbox.lower()
                )
            )

    def requests(self, op: str | None = None, mailbox: str | None = None) -> list[LogEntry]:
        with self._lock:
            return [
                e
                for e in self.log
                if (op is None or e.op == op) and (mailbox is None or e.mailbox == mailbox.lower())
            ]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def enable_token_endpoint(self, **kwargs):
        """Start the HTTPS token endpoint (msal's client-credentials flow) and require bearer tokens."""
        from tests.sims.ews.tokens import TokenServer

        self.token_server = TokenServer(self.auth, **kwargs).start()
        self.auth.mode = "bearer"
        return self.token_server

    # -- request handling ----------------------------------------------------------------------
    def _take_fault(self, op: str, mailbox: str | None) -> InjectedFault | None:
        with self._lock:
            for f in self.faults:
                if f.remaining > 0 and f.applies(op, mailbox):
                    f.remaining -= 1
                    return f
        return None

    def _record(self, op: str, mailbox: str | None, status: int, code: str | None) -> None:
        with self._lock:
            self.log.append(LogEntry(time.monotonic(), op, mailbox, status, code))

    def check_auth(self, header: str | None) -> bool:
        a = self.auth
        if a.mode == "none":
            return True
        if a.mode in ("basic", "ntlm") and header and header.startswith("Basic "):
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
            if a.users.get(user) == pw:
                a.logins.append(f"basic:{user}")
                return True
            return False
        if a.mode == "bearer" and header and header.startswith("Bearer "):
            expiry = a.tokens.get(header[7:])
            return expiry is not None and expiry > time.time()
        return False

    def handle(self, raw: bytes, anchor: str | None) -> tuple[int, dict[str, str], bytes]:
        req = parse_request(raw, anchor)
        mailbox = req.impersonated or (anchor.lower() if anchor else None)
        keys = ["*", mailbox] if mailbox else ["*"]
        self._enter(keys, +1)
        try:
            if self.latency:
                time.sleep(self.latency)  # the simulated server is busy working
            return self._serve(req, mailbox)
        finally:
            self._enter(keys, -1)

    def _enter(self, keys: list[str], delta: int) -> None:
        with self._lock:
            for k in keys:
                self.in_flight[k] = self.in_flight.get(k, 0) + delta
                self.peak_in_flight[k] = max(self.peak_in_flight.get(k, 0), self.in_flight[k])

    def _serve(self, req: Request, mailbox: str | None) -> tuple[int, dict[str, str], bytes]:
        injected = self._take_fault(req.op, mailbox)
        if injected is not None:
            return self._injected(req, mailbox, injected)
        try:
            check_impersonation(self.store, req)
            if req.op in streaming.OPERATIONS:
                # Streaming answers are written by the handler itself (chunked, long-lived).
                self._record(req.op, mailbox, 200, None)
                return 200, {"X-Streaming": "1"}, b""
            handler = OPERATIONS.get(req.op)
            if handler is None:
                raise Fault(
                    "ErrorInvalidRequest", f"The request is invalid: {req.op} not simulated."
                )
            body = envelope(handler(self.store, req))
        except Fault as exc:
            self._record(req.op, mailbox, 500, exc.code)
            return 500, {}, fault(exc.code, exc.text, exc.back_off_ms)
        self._record(req.op, mailbox, 200, None)
        return 200, {}, body

    def _injected(
        self, req: Request, mailbox: str | None, f: InjectedFault
    ) -> tuple[int, dict[str, str], bytes]:
        if f.kind == "busy":
            self._record(req.op, mailbox, 500, "ErrorServerBusy")
            text = "The server cannot service this request right now. Try again later."
            return 500, {}, fault("ErrorServerBusy", text, f.back_off_ms)
        status = 503 if f.kind == "http503" else 429
        self._record(req.op, mailbox, status, f"HTTP{status}")
        headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}
        return status, headers, b"Service Unavailable" if status == 503 else b"Too Many Requests"


def _make_handler(sim: EwsSimulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response and no Nagle: otherwise delayed ACKs cost ~40 ms a request.
        disable_nagle_algorithm = True
        wbufsize = 64 * 1024

        def log_message(self, format: str, *args: object) -> None:  # silence stderr
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if sim.auth.mode == "ntlm" and not self._basic():
                if not hasattr(self, "ntlm"):
                    self.ntlm = NtlmConnection(sim.auth.ntlm)  # type: ignore[arg-type]
                fresh, failed = self.ntlm.user is None, self.ntlm.failed
                ok, offer = self.ntlm.answer(self.headers.get("Authorization"))
                if not ok:
                    sim.auth.rejected += self.ntlm.failed - failed
                    self._send(401, {"WWW-Authenticate": _with_basic(offer)}, b"")
                    return
                if fresh:
                    sim.auth.logins.append(f"ntlm:{self.ntlm.user}")
            elif not sim.check_auth(self.headers.get("Authorization")):
                sim.auth.rejected += 1
                headers = {"WWW-Authenticate": 'Basic realm="ews-sim"'}
                if sim.auth.mode == "bearer":
                    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                self._send(401, headers, b"")
                return
            status, headers, body = sim.handle(raw, self.headers.get("X-AnchorMailbox"))
            if headers.pop("X-Streaming", None):
                sim.streams.serve(self, parse_request(raw, None))
                return
            self._send(status, headers, body)

        def _basic(self) -> bool:
            """Basic alongside NTLM (when the virtual directory allows both)."""
            header = self.headers.get("Authorization") or ""
            return header.startswith("Basic ") and sim.check_auth(header)

        def _send(self, status: int, headers: dict, body: bytes) -> None:
            self.send_response(status)
            content_type = "text/xml; charset=utf-8" if body.startswith(b"<?xml") else "text/plain"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                for value in v if isinstance(v, list) else [v]:
                    self.send_header(k, value)
            self.end_headers()
            self.wfile.write(body)

    return _Handler


def _with_basic(offer: str | list[str]) -> str | list[str]:
    """The first 401 offers Negotiate, NTLM and Basic; a handshake step answers alone."""
    return [*CHALLENGE_HEADERS, 'Basic realm="ews-sim"'] if isinstance(offer, list) else offer
