"""EWS streaming notifications through exchangelib: the ``PushSource`` side of the EWS backend.

What Exchange documents (MicrosoftDocs/office-developer-exchange-docs), and what we do:

- One streaming subscription per mailbox on its calendar folder (``Subscribe`` with
  ``StreamingSubscriptionRequest``; exchangelib ``folder.subscribe_to_streaming``), made while
  impersonating that mailbox, so the EWSMaxSubscriptions budget is charged to the mailbox, not
  to the service account (ews-throttling-in-exchange.md).
- Several mailboxes share one ``GetStreamingEvents`` connection, at most 200 subscription ids
  per request; the group's anchor is its alphabetically first mailbox, and the connection is
  opened while impersonating it (how-to-maintain-affinity-between-group-of-subscriptions-and-
  mailbox-server.md; exchangelib sets X-AnchorMailbox / X-PreferServerAffinity).
- A connection stays open at most ``ConnectionTimeout`` minutes (1-30, connectiontimeout.md);
  we ask for just under the maximum and open the next one the moment the server closes it,
  while the subscription keeps events that happen in between.
- ``ErrorSubscriptionNotFound`` (expired, EWS restarted): subscribe again and treat the
  mailbox as possibly changed (handling-notification-related-errors-in-ews-in-exchange.md).
- Refused (``ErrorExceededSubscriptionCount``, access denied, streaming not offered): the
  mailbox is reported ``broken`` and the engine polls it at the normal interval; we try to
  subscribe again after ``retry_seconds``.

An event is only "this mailbox changed": the engine then syncs with SyncFolderItems.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from exchangelib.errors import ErrorSubscriptionNotFound, EWSError
from exchangelib.folders import FolderCollection
from exchangelib.services import GetStreamingEvents, Unsubscribe

from connectors.base import ConnectorError, PushListener
from connectors.ews import EWSConnector

log = logging.getLogger("connectors.ews.push")

EVENT_TYPES = ("CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "CopiedEvent")
MAX_PER_CONNECTION = 200
STREAM_SESSIONS = 16  # HTTP sessions kept for streaming on top of the request budget
SHORT_CONNECTION = 1.0  # seconds: a connection closed sooner, with nothing sent, is "short"
SHORT_BACKOFF_MAX = 30.0  # seconds between reopening connections that keep closing at once
SHORT_BROKEN = 3  # short connections in a row before the mailboxes are polled meanwhile


class _Connection:
    """One GetStreamingEvents connection of a group; ``generation`` retires old ones."""

    def __init__(self, group: int, generation: int, ids: dict[str, str]) -> None:
        self.group = group
        self.generation = generation
        self.ids = ids  # subscription id -> mailbox


class EWSPushConnector(EWSConnector):
    """``EWSConnector`` that also implements ``PushSource.watch``."""

    connection_minutes = 29
    per_connection = MAX_PER_CONNECTION
    regroup_seconds = 2.0
    retry_seconds = 300.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Streaming connections hang for minutes: give them sessions of their own so they
        # never starve ordinary requests (those stay within the connector's own gate).
        self._ex_config.max_connections = self.config.max_concurrency + STREAM_SESSIONS
        self._subs: dict[str, str] = {}  # mailbox -> subscription id
        self._retry_at: dict[str, float] = {}
        self._groups: list[list[str]] = []
        self._group_ids: list[frozenset[str]] = []
        self._generation: dict[int, int] = {}
        self._stale: set[str] = set()  # mailboxes whose subscription the server lost
        self._watch_lock = threading.Lock()

    # -- PushSource ----------------------------------------------------------------------------
    def watch(
        self,
        wanted: Callable[[], Collection[str]],
        listener: PushListener,
        stop: threading.Event,
    ) -> None:
        while not stop.is_set():
            try:
                self._round({m.lower() for m in wanted()}, listener, stop)
            except Exception:  # a bug here must not end push for good
                log.exception("EWS streaming round crashed")
            stop.wait(self.regroup_seconds)
        with self._watch_lock:
            ids = dict(self._subs)
            self._subs.clear()
            for group in list(self._generation):
                self._generation[group] += 1
        for mailbox, sub_id in ids.items():
            self._unsubscribe(mailbox, sub_id)

    def _round(self, want: set[str], listener: PushListener, stop: threading.Event) -> None:
        now = time.monotonic()
        with self._watch_lock:
            stale, self._stale = self._stale, set()
            gone = {m: s for m, s in self._subs.items() if m not in want or m in stale}
            for mailbox in gone:
                del self._subs[mailbox]
            new = sorted(
                m for m in want if m not in self._subs and self._retry_at.get(m, 0.0) <= now
            )
        for mailbox, sub_id in gone.items():
            self._unsubscribe(mailbox, sub_id)
        for mailbox in new:
            try:
                sub_id = self._subscribe(mailbox)
            except ConnectorError as exc:
                self._retry_at[mailbox] = now + self.retry_seconds
                listener.status(mailbox, "broken", str(exc)[:500])
                continue
            with self._watch_lock:
                self._subs[mailbox] = sub_id
            self._retry_at.pop(mailbox, None)
            listener.status(mailbox, "active")
            if mailbox in stale:
                listener.changed(mailbox, "missed")  # events between expiry and now are unknown
        self._regroup(listener, stop)

    def _subscribe(self, mailbox: str) -> str:
        def call() -> str:
            account, folder = self._calendar(mailbox)
            collection = FolderCollection(account=account, folders=[folder])
            result = collection.subscribe_to_streaming(event_types=EVENT_TYPES)
            if isinstance(result, Exception):
                raise result
            return str(result)

        return self._call(mailbox, call)

    def _unsubscribe(self, mailbox: str, sub_id: str) -> None:
        try:
            account = self._account(mailbox)
            self._call(mailbox, lambda: Unsubscribe(account=account).get(subscription_id=sub_id))
        except ConnectorError as exc:
            log.info("EWS: unsubscribe of %s failed (it expires by itself): %s", mailbox, exc)

    def _regroup(self, listener: PushListener, stop: threading.Event) -> None:
        """Stable groups of at most ``per_connection`` mailboxes; a group whose subscriptions
        changed gets a new connection (which takes them over from the old one)."""
        with self._watch_lock:
            groups = [[m for m in g if m in self._subs] for g in self._groups]
            placed = {m for g in groups for m in g}
            for mailbox in sorted(set(self._subs) - placed):
                target = next((g for g in groups if len(g) < self.per_connection), None)
                if target is None:
                    target = []
                    groups.append(target)
                target.append(mailbox)
            starts = []
            for i, group in enumerate(groups):
                ids = frozenset(self._subs[m] for m in group)
                if ids != (self._group_ids[i] if i < len(self._group_ids) else frozenset()):
                    self._generation[i] = self._generation.get(i, 0) + 1
                    if group:
                        conn_ids = {self._subs[m]: m for m in group}
                        starts.append(_Connection(i, self._generation[i], conn_ids))
            self._groups = groups
            self._group_ids = [frozenset(self._subs[m] for m in g) for g in groups]
        for conn in starts:
            threading.Thread(
                target=self._stream, args=(conn, listener, stop), name="ews-stream", daemon=True
            ).start()

    def _current(self, conn: _Connection) -> bool:
        with self._watch_lock:
            return self._generation.get(conn.group) == conn.generation

    def _stream(self, conn: _Connection, listener: PushListener, stop: threading.Event) -> None:
        anchor = min(conn.ids.values())
        failures = 0
        short = 0  # connections in a row that the server closed at once
        while not stop.is_set() and self._current(conn):
            try:
                opened, delivered = time.monotonic(), False
                service = GetStreamingEvents(account=self._account(anchor))
                for note in service.call(
                    subscription_ids=list(conn.ids), connection_timeout=self.connection_minutes
                ):
                    if isinstance(note, Exception):
                        raise note
                    failures, delivered = 0, True
                    mailbox = conn.ids.get(note.subscription_id or "")
                    if mailbox is not None and note.events:
                        listener.changed(mailbox)
                    if stop.is_set() or not self._current(conn):
                        return
                failures = 0
                if delivered or time.monotonic() - opened >= SHORT_CONNECTION:
                    if short >= SHORT_BROKEN:  # it works again: look at what was missed
                        for mailbox in conn.ids.values():
                            listener.status(mailbox, "active")
                            listener.changed(mailbox, "missed")
                    short = 0
                    continue  # closed at ConnectionTimeout: open the next one at once
                # Closed before anything came: reopening at once would hammer the server
                # (a throttling policy or proxy cutting streams). Back off; after a few in a
                # row the mailboxes are polled meanwhile.
                short += 1
                if short == SHORT_BROKEN:
                    for mailbox in conn.ids.values():
                        listener.status(mailbox, "broken", "streaming connections close at once")
                if stop.wait(min(SHORT_BACKOFF_MAX, 0.5 * 2 ** (short - 1))):
                    return
            except ErrorSubscriptionNotFound as exc:
                if stop.is_set():
                    return
                # exchangelib names the lost ids in the message ("(subscription IDs: [...])"):
                # only those mailboxes subscribe again; the rest keep their subscriptions.
                lost = {m for sub_id, m in conn.ids.items() if sub_id in str(exc)}
                log.info("EWS: streaming subscription lost, subscribing again: %s", exc)
                with self._watch_lock:
                    self._stale.update(lost or conn.ids.values())
                return
            except (EWSError, OSError, ConnectorError) as exc:
                if stop.is_set() or not self._current(conn):
                    return  # shutting down or replaced: nothing to report
                failures += 1
                for mailbox in conn.ids.values():
                    listener.status(mailbox, "broken", f"streaming connection failed: {exc}")
                if stop.wait(min(60.0, 0.5 * 2**failures)):
                    return
                for mailbox in conn.ids.values():
                    listener.status(mailbox, "active")
                    listener.changed(mailbox, "missed")  # reconnected: look at what happened
