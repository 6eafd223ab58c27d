"""Throttling, concurrency and error translation for the EWS connector.

Policy (why): Exchange charges EWS budgets per impersonated mailbox, so an ErrorServerBusy for
one mailbox blocks only that mailbox; HTTP 503/429 come from the front end and block the whole
endpoint. A blocked key is never contacted before its BackOffMilliseconds / Retry-After has
passed: short hints (``max_inline_backoff``) are waited out inside the call and the request is
retried; longer ones raise ``connectors.base.Throttled(retry_after=...)`` at once so the engine
backs off that calendar while the others keep syncing. exchangelib runs fail-fast (its own
FaultTolerance would sleep a shared protocol for everybody); ``HintingFailFast`` only adds the
Retry-After hint of 503/429 responses, which plain fail-fast drops.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests
from exchangelib import errors as ews_errors
from exchangelib.protocol import FailFast

from connectors.base import (
    ConnectorError,
    NotFound,
    PermissionDenied,
    SyncTokenInvalid,
    Throttled,
    WriteConflict,
)

T = TypeVar("T")
DEFAULT_BACKOFF = 10.0  # seconds, when the server asks to back off without saying how long
ENDPOINT = "*"  # gate key for endpoint-wide back-off


class HttpBusy(ews_errors.ErrorServerBusy):
    """HTTP 503/429 from the EWS front end: back off the whole endpoint."""


class HintingFailFast(FailFast):
    """Fail fast, but keep the Retry-After of 503/429 answers as the back-off hint."""

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code in (429, 503):
            hint = _retry_after(response.headers.get("Retry-After"))
            raise HttpBusy(f"HTTP {response.status_code} from EWS", back_off=hint)
        super().raise_response_errors(response)


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds and seconds > 0 else None


class Gate:
    """Not-before times per mailbox and for the endpoint, and bounded concurrency."""

    def __init__(self, max_concurrency: int, max_per_mailbox: int) -> None:
        self._overall = threading.BoundedSemaphore(max_concurrency)
        self._per_mailbox = max_per_mailbox
        self._mailbox_slots: dict[str, threading.BoundedSemaphore] = {}
        self._not_before: dict[str, float] = {}
        self._lock = threading.Lock()

    def remaining(self, key: str | None) -> float:
        now = time.monotonic()
        with self._lock:
            until = max(self._not_before.get(ENDPOINT, 0.0), self._not_before.get(key or "", 0.0))
        return max(0.0, until - now)

    def block(self, key: str | None, seconds: float) -> None:
        until = time.monotonic() + seconds
        with self._lock:
            k = key or ENDPOINT
            self._not_before[k] = max(self._not_before.get(k, 0.0), until)

    @contextlib.contextmanager
    def slot(self, key: str | None) -> Iterator[None]:
        per = None
        if key:
            with self._lock:
                per = self._mailbox_slots.setdefault(
                    key, threading.BoundedSemaphore(self._per_mailbox)
                )
            per.acquire()
        try:
            with self._overall:
                yield
        finally:
            if per is not None:
                per.release()


def call_with_backoff(
    gate: Gate,
    key: str | None,
    fn: Callable[[], T],
    *,
    max_inline: float,
    max_retries: int,
    stop: threading.Event,
) -> T:
    """Run ``fn`` (one idempotent EWS exchange) honouring every back-off the server asked for."""
    attempts = 0
    while True:
        wait = gate.remaining(key)
        if wait > 0:
            if wait > max_inline or attempts > max_retries:
                raise Throttled(
                    f"EWS asked to back off {wait:.1f} s", retry_after=wait, calendar_id=key
                )
            stop.wait(wait)  # the server's own hint; never retry before it has passed
            if stop.is_set():
                raise ConnectorError("EWS connector closed", calendar_id=key)
            continue
        try:
            with gate.slot(key):
                return fn()
        except ews_errors.ErrorServerBusy as exc:
            seconds = float(exc.back_off or DEFAULT_BACKOFF)
            gate.block(None if isinstance(exc, HttpBusy) else key, seconds)
            attempts += 1
            if seconds > max_inline or attempts > max_retries:
                raise Throttled(
                    f"{type(exc).__name__}: {exc} (back off {seconds:.1f} s)",
                    retry_after=seconds,
                    calendar_id=key,
                ) from None


_PERMISSION = (
    ews_errors.ErrorAccessDenied,
    ews_errors.ErrorImpersonateUserDenied,
    ews_errors.ErrorImpersonationDenied,
    ews_errors.ErrorImpersonationFailed,
    ews_errors.UnauthorizedError,
)
_NOT_FOUND = (
    ews_errors.ErrorNonExistentMailbox,
    ews_errors.ErrorMailRecipientNotFound,
    ews_errors.ErrorItemNotFound,
    ews_errors.ErrorFolderNotFound,
)


def translate(exc: BaseException, calendar_id: str | None) -> ConnectorError:
    """The connector exception for an exchangelib/HTTP error, keeping Exchange's own error text."""
    if isinstance(exc, ConnectorError):
        if exc.calendar_id is None:
            exc.calendar_id = calendar_id
        return exc
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ews_errors.ErrorInvalidSyncStateData):
        return SyncTokenInvalid(text, calendar_id=calendar_id)
    if isinstance(exc, _PERMISSION):
        return PermissionDenied(text, calendar_id=calendar_id)
    if isinstance(exc, _NOT_FOUND):
        return NotFound(text, calendar_id=calendar_id)
    if isinstance(exc, (ews_errors.ErrorIrresolvableConflict, ews_errors.ErrorInvalidChangeKey)):
        return WriteConflict(text, calendar_id=calendar_id)
    return ConnectorError(text, calendar_id=calendar_id)


TRANSLATED = (ews_errors.EWSError, requests.RequestException, ConnectorError)
