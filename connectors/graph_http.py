"""Graph HTTP with Graph's own rules: bearer tokens, $batch, throttling and mailbox limits.

Exchange Online allows an app 4 concurrent requests and 10,000 requests per 10 minutes per
mailbox, and answers 429 with Retry-After beyond that. ``$batch`` sub-requests count one by one
against those limits and may fail one by one. So:

- every request and every sub-request holds a permit of its mailbox's gate (4) while in flight,
  and a batch never carries more sub-requests for one mailbox than the gate allows;
- a 429/503 with Retry-After is retried for that (sub-)request only, never sooner than told, as
  long as the total wait stays within ``max_wait``; beyond that the 429 is handed back and the
  connector raises ``Throttled(retry_after)`` for that calendar, so the engine backs off that
  calendar alone while the others go on;
- the Retry-After of a mailbox is remembered (``ThrottleMemory``): until it has passed, no other
  request for that mailbox goes out either (a cycle asks a calendar twice: markers, then
  changes); one that cannot wait gets the server's 429 back at once, with the time left;
- a 429 without Retry-After gets an exponential back-off (1, 2, 4 ... s, at most 60) as if the
  server had said so ("Microsoft Graph throttling guidance": "If no Retry-After header is
  provided by the response, we recommend implementing an exponential backoff retry policy");
- a 401 InvalidAuthenticationToken drops the cached token and retries once with a fresh one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.base import (
    ConnectorError,
    NotFound,
    PermissionDenied,
    SyncTokenInvalid,
    Throttled,
    WriteConflict,
)
from connectors.graph_auth import TokenSource

log = logging.getLogger("connectors.graph")

BATCH_LIMIT = 20  # Graph's maximum number of requests in one $batch
MAILBOX_CONCURRENCY = 4  # Exchange Online: concurrent requests per app per mailbox
RATE_LIMIT = (10_000, 600.0)  # Exchange Online: requests per app per mailbox per 10 minutes
TRANSIENT = (500, 502, 503, 504)
# Codes Graph uses when a delta/sync state can no longer be used.
SYNC_STATE_CODES = {
    "syncstatenotfound",
    "syncstateinvalid",
    "resyncrequired",
    "errorinvalidsyncstatedata",
    "invaliddeltatoken",
}


@dataclass(frozen=True)
class GraphRequest:
    method: str
    url: str  # relative to the Graph root ("/users/..."), or a link Graph handed out
    mailbox: str | None  # whose limits it counts against; None for tenant-wide resources
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_safe: bool = True  # may be sent again after a lost response


@dataclass(frozen=True)
class GraphResponse:
    status: int  # 0: no HTTP answer at all (connection lost)
    body: Any
    headers: Mapping[str, str]  # lower-case names

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_code(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code") or "") if isinstance(error, dict) else ""

    @property
    def error_message(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(error, dict):
            return str(error.get("message") or "")
        return "" if self.body is None else str(self.body)[:300]

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        if self.status not in (429, 503) or value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return None

    def describe(self) -> str:
        code = self.error_code
        return (
            f"{code}: {self.error_message}" if code else f"HTTP {self.status}: {self.error_message}"
        )


BARE_BACKOFF = (1.0, 60.0)  # first and longest back-off for a 429 without Retry-After


def with_backoff(response: GraphResponse, attempt: int) -> GraphResponse:
    """A 429 without Retry-After, given the exponential back-off of its ``attempt`` (0-based)."""
    if response.status != 429 or "retry-after" in response.headers:
        return response
    delay = min(BARE_BACKOFF[0] * 2**attempt, BARE_BACKOFF[1])
    return GraphResponse(429, response.body, {**response.headers, "retry-after": f"{delay:g}"})


IMMUTABLE_IDS = 'IdType="ImmutableId"'


def preferring_immutable_ids(headers: Mapping[str, str]) -> dict[str, str]:
    """The request's headers with ``Prefer: IdType="ImmutableId"`` added to its Prefer: event
    ids then survive moves between folders ("Obtain immutable identifiers for Outlook
    resources"), so the ids syncd stores stay valid."""
    out = {k: v for k, v in headers.items() if k.lower() != "prefer"}
    prefer = [v for k, v in headers.items() if k.lower() == "prefer"]
    out["Prefer"] = ", ".join([*prefer, IMMUTABLE_IDS])
    return out


def raise_for(response: GraphResponse, calendar_id: str | None) -> None:
    """Turn a failed response into the connector error the engine understands."""
    if response.ok:
        return
    text = response.describe()
    status, code = response.status, response.error_code.lower()
    if response.retry_after is not None:
        raise Throttled(text, retry_after=response.retry_after, calendar_id=calendar_id)
    if status == 410 or code in SYNC_STATE_CODES:
        raise SyncTokenInvalid(text, calendar_id=calendar_id)
    if status == 403:
        raise PermissionDenied(text, calendar_id=calendar_id)
    if status == 404:
        raise NotFound(text, calendar_id=calendar_id)
    if status == 412:
        raise WriteConflict(text, calendar_id=calendar_id)
    raise ConnectorError(text, calendar_id=calendar_id)


class MailboxGate:
    """At most ``limit`` requests in flight per mailbox, across threads and batches."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._inflight: dict[str, int] = {}
        self._cond = threading.Condition()

    def acquire(self, counts: Mapping[str, int], stop: threading.Event) -> None:
        with self._cond:
            while not all(self._inflight.get(m, 0) + n <= self.limit for m, n in counts.items()):
                if stop.is_set():
                    raise ConnectorError("connector closed")
                self._cond.wait(timeout=0.5)
            for mailbox, n in counts.items():
                self._inflight[mailbox] = self._inflight.get(mailbox, 0) + n

    def release(self, counts: Mapping[str, int]) -> None:
        with self._cond:
            for mailbox, n in counts.items():
                self._inflight[mailbox] -= n
            self._cond.notify_all()


class RateWindow:
    """Our own count of requests per mailbox in the last 10 minutes, so we slow down before
    Exchange Online starts answering 429."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def reserve(self, mailbox: str, now: float) -> float:
        """Seconds to wait before a request to ``mailbox`` may go; 0 records it as sent."""
        with self._lock:
            sent = self._sent.setdefault(mailbox, deque())
            while sent and sent[0] <= now - self.seconds:
                sent.popleft()
            if len(sent) >= self.limit:
                return sent[0] + self.seconds - now
            sent.append(now)
            return 0.0


class ThrottleMemory:
    """When each mailbox may be asked again, and what the server said when it refused."""

    def __init__(self) -> None:
        self._until: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def block(self, mailbox: str | None, seconds: float, body: Any, now: float) -> None:
        if not mailbox:
            return
        with self._lock:
            until = now + seconds
            if until > self._until.get(mailbox, (0.0, None))[0]:
                self._until[mailbox] = (until, body)

    def remaining(self, mailbox: str | None, now: float) -> float:
        if not mailbox:
            return 0.0
        with self._lock:
            until = self._until.get(mailbox, (0.0, None))[0]
        return max(0.0, until - now)

    def refusal(self, mailbox: str, now: float) -> GraphResponse:
        """The server's own 429, answered locally, with the time still left as Retry-After."""
        with self._lock:
            until, body = self._until.get(mailbox, (now, None))
        return GraphResponse(429, body, {"retry-after": f"{max(0.0, until - now):.3f}"})


@dataclass
class _Pending:
    index: int
    request: GraphRequest
    not_before: float = 0.0
    waited: float = 0.0
    lost: int = 0
    bare: int = 0  # 429s without Retry-After so far
    transient: int = 0  # 5xx without Retry-After so far


class GraphHttp:
    """Sends Graph requests one by one (``send``) or many at once (``send_many``)."""

    def __init__(
        self,
        *,
        graph_url: str,
        tokens: TokenSource,
        client: httpx.Client,
        max_wait: float,
        use_batch: bool = True,
        workers: int = 4,
        retries: int = 2,
        per_mailbox: int = MAILBOX_CONCURRENCY,
        rate_limit: tuple[int, float] = RATE_LIMIT,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self.tokens = tokens
        self.client = client
        self.max_wait = max_wait
        self.use_batch = use_batch
        self.retries = retries
        self.gate = MailboxGate(per_mailbox)
        self.rate = RateWindow(*rate_limit)
        self.throttled = ThrottleMemory()
        self.stop = threading.Event()
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="graph")

    def close(self) -> None:
        self.stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ----- one request ------------------------------------------------------------------------
    def send(self, request: GraphRequest) -> GraphResponse:
        """One request with the retry policy above; returns the final response (maybe an error)."""
        waited, lost, transient, bare = 0.0, 0, 0, 0
        while True:
            blocked = self.throttled.remaining(request.mailbox, time.monotonic())
            if blocked > 0:
                if waited + blocked > self.max_wait:
                    return self.throttled.refusal(request.mailbox or "", time.monotonic())
                self._sleep(blocked)
                waited += blocked
                continue
            counts = {request.mailbox: 1} if request.mailbox else {}
            self._respect_rate(request.mailbox)
            self.gate.acquire(counts, self.stop)
            try:
                response = self._exchange(request.method, self._url(request.url), request)
            finally:
                self.gate.release(counts)
            if response.status == 429 and "retry-after" not in response.headers:
                response, bare = with_backoff(response, bare), bare + 1
            delay = response.retry_after
            if delay is not None:
                self.throttled.block(request.mailbox, delay, response.body, time.monotonic())
            if response.status == 0 and request.retry_safe and lost < self.retries:
                lost += 1
                continue
            if (
                delay is None
                and response.status in TRANSIENT
                and request.retry_safe
                and transient < self.retries
            ):
                transient += 1
                self._sleep(0.2 * transient)
                continue
            if delay is None or waited + delay > self.max_wait:
                return response
            if not request.retry_safe and response.status != 429:
                # A 503 with Retry-After to a create may come after Exchange carried it out;
                # only 429 says the request was refused. The caller decides (graph._create).
                return response
            log.info(
                "Graph throttled %s for %.1fs (%s)",
                request.mailbox or "tenant",
                delay,
                response.error_code,
            )
            self._sleep(delay)
            waited += delay

    def _exchange(self, method: str, url: str, request: GraphRequest) -> GraphResponse:
        """The HTTP exchange itself, with one token refresh on 401."""
        for attempt in (1, 2):
            token = self.tokens.token()
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "client-request-id": str(uuid.uuid4()),
                **preferring_immutable_ids(request.headers),
            }
            try:
                reply = self.client.request(method, url, headers=headers, json=request.body)
            except httpx.TransportError as exc:
                return GraphResponse(
                    0, {"error": {"code": "TransportError", "message": type(exc).__name__}}, {}
                )
            response = _wrap(reply)
            if response.status == 401 and attempt == 1:
                log.info(
                    "Graph refused the access token (%s); fetching a new one", response.error_code
                )
                self.tokens.invalidate(token)
                continue
            if not response.ok:
                log.debug(
                    "Graph %s %s -> %s %s (request-id %s)",
                    method,
                    _path(url),
                    response.status,
                    response.error_code,
                    response.headers.get("request-id"),
                )
            return response
        raise AssertionError("unreachable")

    # ----- many requests ------------------------------------------------------------------------
    def send_many(self, requests: Sequence[GraphRequest]) -> list[GraphResponse]:
        """Responses in the order of ``requests``: through $batch (20 per batch, at most
        ``per_mailbox`` per mailbox per batch) or, without batching, one by one in parallel."""
        if not requests:
            return []
        if not self.use_batch or len(requests) == 1:
            return list(self._pool.map(self.send, requests))
        results: list[GraphResponse | None] = [None] * len(requests)
        pending = deque(_Pending(i, r) for i, r in enumerate(requests))
        running: dict[Future, list[_Pending]] = {}
        while pending or running:
            now = time.monotonic()
            for item in list(pending):  # mailboxes the server told to wait
                blocked = self.throttled.remaining(item.request.mailbox, now)
                until = now + blocked
                if blocked <= 0 or item.not_before >= until - 1e-6:
                    continue
                extra = until - max(item.not_before, now)
                pending.remove(item)
                if item.waited + extra > self.max_wait:
                    results[item.index] = self.throttled.refusal(item.request.mailbox or "", now)
                else:
                    item.waited += extra
                    item.not_before = until
                    pending.append(item)
            if not pending and not running:
                break
            while len(running) < self.workers:
                chunk = _take_chunk(pending, now, self.gate.limit)
                if not chunk:
                    break
                running[self._pool.submit(self._send_chunk, chunk)] = chunk
            if not running:
                self._sleep(max(0.0, min(p.not_before for p in pending) - time.monotonic()))
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                chunk = running.pop(future)
                received = time.monotonic()
                for item, answer in zip(chunk, future.result(), strict=True):
                    response = with_backoff(answer, item.bare)
                    item.bare += response is not answer
                    delay = response.retry_after
                    if delay is not None:
                        self.throttled.block(item.request.mailbox, delay, response.body, received)
                    if (
                        response.status == 0
                        and item.request.retry_safe
                        and item.lost < self.retries
                    ):
                        item.lost += 1
                        pending.append(item)
                    elif (
                        delay is None
                        and response.status in TRANSIENT
                        and item.request.retry_safe
                        and item.transient < self.retries
                    ):  # as in ``send``: a passing server error on one sub-request
                        item.transient += 1
                        item.not_before = received + 0.2 * item.transient
                        pending.append(item)
                    elif (
                        delay is not None
                        and item.waited + delay <= self.max_wait
                        and (item.request.retry_safe or response.status == 429)
                    ):
                        item.waited += delay
                        item.not_before = received + delay
                        pending.append(item)
                    else:
                        results[item.index] = response
        return [r for r in results if r is not None]

    def _send_chunk(self, chunk: list[_Pending]) -> list[GraphResponse]:
        counts: dict[str, int] = {}
        for item in chunk:
            if item.request.mailbox:
                counts[item.request.mailbox] = counts.get(item.request.mailbox, 0) + 1
                self._respect_rate(item.request.mailbox)
        payload = {"requests": [self._sub_request(str(n), p.request) for n, p in enumerate(chunk)]}
        self.gate.acquire(counts, self.stop)
        try:
            outer = self._exchange(
                "POST", f"{self.graph_url}/$batch", GraphRequest("POST", "/$batch", None, payload)
            )
        finally:
            self.gate.release(counts)
        if not outer.ok:
            return [outer] * len(chunk)
        answers = {
            str(r.get("id")): r
            for r in (outer.body or {}).get("responses", [])
            if isinstance(r, dict)
        }
        results = []
        for n in range(len(chunk)):
            answer = answers.get(str(n))
            if answer is None:
                results.append(
                    GraphResponse(
                        0,
                        {
                            "error": {
                                "code": "MissingBatchResponse",
                                "message": "no answer in $batch",
                            }
                        },
                        {},
                    )
                )
                continue
            headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
            results.append(GraphResponse(int(answer.get("status", 0)), answer.get("body"), headers))
        return results

    def _sub_request(self, sub_id: str, request: GraphRequest) -> dict:
        entry: dict[str, Any] = {
            "id": sub_id,
            "method": request.method,
            "url": self._relative(request.url),
        }
        headers = preferring_immutable_ids(request.headers)
        if request.body is not None:
            entry["body"] = request.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            entry["headers"] = headers
        return entry

    # ----- helpers ----------------------------------------------------------------------------
    def _url(self, url: str) -> str:
        return url if url.startswith("http") else f"{self.graph_url}{url}"

    def _relative(self, url: str) -> str:
        if url.startswith(self.graph_url):
            return url[len(self.graph_url) :]
        if url.startswith("http"):
            raise ConnectorError(f"link outside the Graph root: {_path(url)}")
        return url

    def _respect_rate(self, mailbox: str | None) -> None:
        if not mailbox:
            return
        while (delay := self.rate.reserve(mailbox, time.monotonic())) > 0:
            if delay > self.max_wait:
                raise Throttled(
                    "own request budget for this mailbox used up",
                    retry_after=delay,
                    calendar_id=mailbox,
                )
            self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise ConnectorError("connector closed")


def _take_chunk(pending: deque[_Pending], now: float, per_mailbox: int) -> list[_Pending]:
    """Up to 20 due requests, at most ``per_mailbox`` per mailbox; the rest stay pending."""
    chunk: list[_Pending] = []
    per: dict[str, int] = {}
    kept: deque[_Pending] = deque()
    while pending:
        item = pending.popleft()
        mailbox = item.request.mailbox or ""
        if (
            len(chunk) < BATCH_LIMIT
            and item.not_before <= now
            and (not mailbox or per.get(mailbox, 0) < per_mailbox)
        ):
            chunk.append(item)
            if mailbox:
                per[mailbox] = per.get(mailbox, 0) + 1
        else:
            kept.append(item)
    pending.extend(kept)
    return chunk


def _wrap(reply: httpx.Response) -> GraphResponse:
    headers = {k.lower(): v for k, v in reply.headers.items()}
    body: Any = None
    if reply.content:
        try:
            body = reply.json()
        except ValueError:
            body = reply.text[:500]
    return GraphResponse(reply.status_code, body, headers)


def _path(url: str) -> str:
    """A URL without its query: delta/skip tokens are credentials of a sort, keep them out of logs."""
    return url.split("?", 1)[0]
