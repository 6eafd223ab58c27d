"""Streaming notifications: Subscribe (StreamingSubscriptionRequest), GetStreamingEvents and
Unsubscribe, as MicrosoftDocs/office-developer-exchange-docs describes them.

- Subscribe with ``m:StreamingSubscriptionRequest`` returns a ``SubscriptionId`` (no watermark)
  (exchange-web-services/how-to-stream-notifications-about-mailbox-events-by-using-ews-in-exchange.md).
  ``max_subscriptions`` models the EWSMaxSubscriptions throttling budget: beyond it Subscribe
  answers ``ErrorExceededSubscriptionCount`` (handling-notification-related-errors-in-ews...md).
  ``enabled = False`` answers every streaming Subscribe that way too (streaming refused).
- GetStreamingEvents takes up to 200 SubscriptionIds
  (how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server.md) and a
  ``ConnectionTimeout`` of 1-30 minutes (web-service-reference/connectiontimeout.md). The
  answer is one long HTTP response (chunked) carrying one SOAP envelope per batch of
  notifications, keep-alive envelopes without notifications, and a last envelope with
  ``ConnectionStatus`` Closed when the timeout is reached
  (web-service-reference/getstreamingevents-operation.md).
- An unknown or expired subscription id fails the whole request with
  ``ErrorSubscriptionNotFound`` and lists it in ``ErrorSubscriptionIds``; events that happen
  while no connection is open wait in the subscription until the next one.
- A subscription is in one connection at a time: a newer GetStreamingEvents for it closes the
  older connection.

Simplifications: a change in a mailbox is reported as a ``ModifiedEvent`` of its calendar
folder (the subscriber re-reads the folder anyway); ``minute`` scales ConnectionTimeout so
tests need not wait minutes; ``keepalive`` is the keep-alive period in seconds.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.sims.ews.access import Request, calendar_folder_id, folder_mailbox, readable
from tests.sims.ews.store import Store, StoreError
from tests.sims.ews.xmlio import envelope, m, response_message, sub, t

OPERATIONS: tuple[str, ...] = ("Subscribe", "GetStreamingEvents", "Unsubscribe")
MAX_IDS_PER_CONNECTION = 200


@dataclass
class StreamSubscription:
    id: str
    mailbox: str
    pending: list[str] = field(default_factory=list)  # watermarks of undelivered events
    connection: int | None = None  # the connection currently serving it


class Streams:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.enabled = True
        self.max_subscriptions: int | None = None
        self.minute = 60.0  # seconds per ConnectionTimeout minute
        self.keepalive = 5.0
        self.subscriptions: dict[str, StreamSubscription] = {}
        self.connections_opened = 0
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False
        store.listeners.append(self._changed)

    # -- test hooks ---------------------------------------------------------------------------
    def of(self, mailbox: str) -> list[StreamSubscription]:
        with self._cond:
            return [s for s in self.subscriptions.values() if s.mailbox == mailbox.lower()]

    def expire(self, mailbox: str) -> None:
        """The mailbox's subscriptions are gone (expired, or the EWS process restarted)."""
        with self._cond:
            for s in [s for s in self.subscriptions.values() if s.mailbox == mailbox.lower()]:
                del self.subscriptions[s.id]
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- events -------------------------------------------------------------------------------
    def _changed(self, mailbox: str) -> None:
        with self._cond:
            for s in self.subscriptions.values():
                if s.mailbox == mailbox.lower():
                    s.pending.append(f"AQAAA{next(self._ids):08d}")
            self._cond.notify_all()

    # -- operations ---------------------------------------------------------------------------
    def serve(self, handler, request: Request) -> None:
        if request.op == "Subscribe":
            handler._send(200, {}, self._subscribe(request))
        elif request.op == "Unsubscribe":
            handler._send(200, {}, self._unsubscribe(request))
        else:
            self._stream(handler, request)

    def _subscribe(self, req: Request) -> bytes:
        root = ET.Element(m("SubscribeResponse"))
        msgs = sub(root, m("ResponseMessages"))
        streaming = req.body.find(m("StreamingSubscriptionRequest"))
        if streaming is None:
            response_message(msgs, "SubscribeResponseMessage", "ErrorInvalidRequest",
                             "Only streaming subscriptions are simulated.")  # fmt: skip
            return envelope(root)
        folders = streaming.find(t("FolderIds"))
        try:
            if folders is None or len(folders) != 1:
                raise StoreError("ErrorInvalidRequest", "One calendar folder per subscription.")
            mailbox = readable(self.store, req, folder_mailbox(req, folders[0])).email
            with self._cond:
                count = len(self.subscriptions)
                if not self.enabled or (
                    self.max_subscriptions is not None and count >= self.max_subscriptions
                ):
                    raise StoreError(
                        "ErrorExceededSubscriptionCount",
                        "You have exceeded the maximum number of subscriptions.",
                    )
                s = StreamSubscription(id=uuid.uuid4().hex, mailbox=mailbox)
                self.subscriptions[s.id] = s
        except StoreError as exc:
            response_message(msgs, "SubscribeResponseMessage", exc.code, exc.text)
            return envelope(root)
        msg = response_message(msgs, "SubscribeResponseMessage")
        sub(msg, m("SubscriptionId"), s.id)
        return envelope(root)

    def _unsubscribe(self, req: Request) -> bytes:
        root = ET.Element(m("UnsubscribeResponse"))
        msgs = sub(root, m("ResponseMessages"))
        sub_id = (req.body.findtext(m("SubscriptionId")) or "").strip()
        with self._cond:
            found = self.subscriptions.pop(sub_id, None)
            self._cond.notify_all()
        if found is None:
            response_message(msgs, "UnsubscribeResponseMessage", "ErrorSubscriptionNotFound",
                             "The specified subscription was not found.")  # fmt: skip
        else:
            response_message(msgs, "UnsubscribeResponseMessage")
        return envelope(root)

    def _stream(self, handler, req: Request) -> None:
        ids = [e.text.strip() for e in req.body.iter(t("SubscriptionId")) if e.text]
        try:
            minutes = int(req.body.findtext(m("ConnectionTimeout")) or "0")
        except ValueError:
            minutes = 0
        with self._cond:
            missing = [i for i in ids if i not in self.subscriptions]
        if not ids or len(ids) > MAX_IDS_PER_CONNECTION or not 1 <= minutes <= 30 or missing:
            handler._send(200, {}, self._refusal(ids, missing, minutes))
            return
        with self._cond:
            self.connections_opened += 1
            connection = self.connections_opened
            for i in ids:
                self.subscriptions[i].connection = connection
            self._cond.notify_all()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml; charset=utf-8")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        deadline = time.monotonic() + minutes * self.minute
        last_write = time.monotonic()
        try:
            while True:
                with self._cond:
                    while True:
                        now = time.monotonic()
                        ours = [self.subscriptions.get(i) for i in ids]
                        gone = self._closed or any(
                            s is None or s.connection != connection for s in ours
                        )
                        ready = [s for s in ours if s is not None and s.pending]
                        if gone or ready or now >= deadline or now - last_write >= self.keepalive:
                            break
                        self._cond.wait(min(deadline - now, self.keepalive - (now - last_write)))
                    batch = [(s.id, list(s.pending)) for s in ready]
                if batch:
                    self._chunk(handler, self._events(batch, "OK"))
                    with self._cond:  # delivered: only now are they off the subscription
                        for sub_id, marks in batch:
                            s = self.subscriptions.get(sub_id)
                            if s is not None:
                                del s.pending[: len(marks)]
                if gone or time.monotonic() >= deadline:
                    self._chunk(handler, self._events([], "Closed"))
                    break
                if not batch:
                    self._chunk(handler, self._events([], "OK"))  # keep-alive
                last_write = time.monotonic()
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:
            pass  # the client went away; undelivered events wait for its next connection
        handler.close_connection = True

    def _chunk(self, handler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    def _events(self, batch: list[tuple[str, list[str]]], status: str) -> bytes:
        root = ET.Element(m("GetStreamingEventsResponse"))
        msgs = sub(root, m("ResponseMessages"))
        msg = response_message(msgs, "GetStreamingEventsResponseMessage")
        if batch:
            notes = sub(msg, m("Notifications"))
            for sub_id, marks in batch:
                note = sub(notes, m("Notification"))
                sub(note, t("SubscriptionId"), sub_id)
                with self._cond:
                    s = self.subscriptions.get(sub_id)
                folder = calendar_folder_id(s.mailbox) if s else ""
                for mark in marks:
                    event = sub(note, t("ModifiedEvent"))
                    sub(event, t("Watermark"), mark)
                    sub(event, t("TimeStamp"), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
                    sub(event, t("FolderId"), Id=folder, ChangeKey="AgAAAA==")
                    sub(event, t("ParentFolderId"), Id=folder, ChangeKey="AQAAAA==")
        sub(msg, m("ConnectionStatus"), status)
        return envelope(root)

    def _refusal(self, ids: list[str], missing: list[str], minutes: int) -> bytes:
        root = ET.Element(m("GetStreamingEventsResponse"))
        msgs = sub(root, m("ResponseMessages"))
        if missing:
            msg = response_message(msgs, "GetStreamingEventsResponseMessage",
                                   "ErrorSubscriptionNotFound",
                                   "The specified subscription was not found.")  # fmt: skip
            errs = sub(msg, m("ErrorSubscriptionIds"))
            for i in missing:
                sub(errs, m("SubscriptionId"), i)
        else:
            text = f"Invalid request: {len(ids)} subscriptions, ConnectionTimeout {minutes}."
            response_message(msgs, "GetStreamingEventsResponseMessage", "ErrorInvalidRequest",
                             text)  # fmt: skip
        return envelope(root)
