"""Push: a notification is a hint to sync one calendar now, never data we trust.

Three jobs:

- Routing. Any replica (or API worker process) may receive a notification; it is written to
  ``push_hints`` and the replica that holds the calendar's lease picks it up (within
  ``HINT_POLL`` seconds, at once when it is the same process) and syncs that calendar through
  the ordinary path (delta query / SyncFolderItems). A ``missed`` or ``subscriptionRemoved``
  lifecycle event is also a hint: the delta sync from our stored token returns every change
  since the last sync, which is the resync Microsoft asks for.
- Subscriptions (webhook backends: Graph). The lease holder keeps one subscription per
  calendar it holds in ``push_subscriptions``: created through ``$batch``, renewed
  ``renew_before_minutes`` ahead of expiry or when Graph asks (``reauthorizationRequired``),
  recreated when removed or expired, deleted when the calendar leaves the directory, and on
  shutdown when no other replica is left to adopt them. A new lease holder adopts the
  existing subscription instead of making another.
- Health. A calendar whose push is healthy is polled only every ``safety_poll_seconds``;
  one whose subscription is missing, broken or expired at the normal poll interval.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from connectors.base import (
    ConnectorError,
    NotFound,
    PermissionDenied,
    PushSource,
    WebhookSource,
)
from syncd import metrics
from syncd.engine.targets import targets
from syncd.logs import get_logger
from syncd.runtime import Runtime
from syncd.store.tables import PushHintRow, PushSubscriptionRow, ReplicaRow

if TYPE_CHECKING:
    from syncd.engine.loop import Engine

log = get_logger("syncd.push")

HINT_POLL = 0.5  # seconds between looks at push_hints (other replicas' notifications)
HINT_MAX_AGE = timedelta(hours=1)  # a hint nobody holds a lease for is dropped after this
ENDPOINT_PATH = "/push/graph"
RENEW_ATTEMPTS = 3  # failed renewals in a row before a subscription counts as broken


def wall() -> datetime:
    return datetime.now(UTC)


def client_state(secret: str, calendar_id: str) -> str:
    """The clientState of one calendar's subscription: HMAC of the shared secret, so every
    replica can check it and a leaked value opens no other calendar (64 hex <= 128 chars)."""
    return hmac.new(secret.encode(), calendar_id.lower().encode(), hashlib.sha256).hexdigest()


LIFECYCLE_REASONS = {
    "missed": "missed",
    "subscriptionRemoved": "removed",
    "reauthorizationRequired": "reauthorize",
}


@dataclass
class Received:
    accepted: int = 0
    rejected: int = 0
    unknown: int = 0
    coalesced: int = 0  # accepted, but the calendar already had a hint waiting


def receive_graph(rt: Runtime, body: bytes) -> Received:
    """Check and record one POST from Graph (the API endpoint calls this; it must answer within
    3 seconds, so nothing here touches a calendar). ``ValueError``: not a notification."""
    from connectors.graph_push import parse_notifications

    notices = parse_notifications(body)
    secret = rt.config.push.resolved_client_state() or ""
    out = Received()
    now = rt.clock()
    ids = {n.subscription_id for n in notices}
    # A cheap read first: unknown ids (a forger's flood) and wrong clientStates never open a
    # write transaction, so they cannot hold up the genuine notifications behind them.
    with rt.db.read() as s:
        known = (
            {
                sub_id: calendar_id
                for sub_id, calendar_id in s.execute(
                    select(
                        PushSubscriptionRow.subscription_id, PushSubscriptionRow.calendar_id
                    ).where(PushSubscriptionRow.subscription_id.in_(ids))
                )
            }
            if ids
            else {}
        )
    hints: dict[tuple[str, str], str] = {}  # (calendar, reason) -> subscription id
    for notice in notices:
        calendar_id = known.get(notice.subscription_id)
        if calendar_id is None:
            out.unknown += 1
            metrics.PUSH_NOTIFICATIONS.labels("graph", "unknown").inc()
            continue
        expected = client_state(secret, calendar_id)
        if not secret or not hmac.compare_digest(expected, notice.client_state or ""):
            out.rejected += 1
            metrics.PUSH_NOTIFICATIONS.labels("graph", "rejected").inc()
            log.warning("push notification with a wrong clientState ignored", calendar=calendar_id)
            continue
        reason = LIFECYCLE_REASONS.get(notice.lifecycle or "", "changed")
        metrics.PUSH_NOTIFICATIONS.labels(
            "graph", notice.lifecycle if reason != "changed" else "change"
        ).inc()
        hints.setdefault((calendar_id, reason), notice.subscription_id)
        out.accepted += 1
    if hints:
        calendars = {c for c, _ in hints}
        with rt.db.write() as s:
            # Coalesce: a calendar whose sync is already asked for needs no second hint (a
            # replayed or duplicated notification costs nothing); lifecycle hints are kept.
            pending = {
                (c, r)
                for c, r in s.execute(
                    select(PushHintRow.calendar_id, PushHintRow.reason).where(
                        PushHintRow.calendar_id.in_(calendars)
                    )
                )
            }
            pending_calendars = {c for c, _ in pending}
            for (calendar_id, reason), _sub in hints.items():
                if (calendar_id, reason) in pending or (
                    reason == "changed" and calendar_id in pending_calendars
                ):
                    out.coalesced += 1
                    continue
                s.add(PushHintRow(calendar_id=calendar_id, reason=reason, received_at=now))
            for row in s.scalars(
                select(PushSubscriptionRow).where(PushSubscriptionRow.calendar_id.in_(calendars))
            ):
                row.last_notification_at = now
    engine = rt.extras.get("engine")
    if out.accepted and engine is not None and getattr(engine, "push", None) is not None:
        engine.push.wake.set()
    return out


class PushHub:
    """The engine's side of push (see the module docstring); also the ``PushListener`` a
    streaming source reports to."""

    def __init__(self, rt: Runtime, engine: Engine) -> None:
        self.rt = rt
        self.engine = engine
        self.config = rt.config.push
        connector = engine.connector
        self.backend = connector.name
        self.webhooks: WebhookSource | None = None
        self.stream: PushSource | None = None
        self.secret: str | None = None
        if self.config.enabled and isinstance(connector, WebhookSource):
            self.secret = self.config.resolved_client_state()
            if self.config.public_url and self.secret:
                self.webhooks = connector
            else:
                log.warning(
                    "push off: Graph needs push.public_url and push.client_state; polling only"
                )
        elif self.config.enabled and isinstance(connector, PushSource):
            self.stream = connector
        self.wake = threading.Event()
        self._maintain_now = threading.Event()
        self._healthy: set[str] = set()
        self._lock = threading.Lock()
        self._hinted_at: dict[str, float] = {}
        self._verified_at = float("-inf")  # monotonic time of the last GET /subscriptions
        self._unknown_before: set[str] = set()  # ours at Graph, unknown to the store, last time

    @property
    def active(self) -> bool:
        return self.webhooks is not None or self.stream is not None

    @property
    def notification_url(self) -> str:
        return f"{self.config.public_url}{ENDPOINT_PATH}"

    # -- health ------------------------------------------------------------------------------
    def healthy(self, calendar_id: str) -> bool:
        with self._lock:
            return calendar_id in self._healthy

    def _set_health(self, calendar_id: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._healthy.add(calendar_id)
            else:
                self._healthy.discard(calendar_id)

    # -- PushListener (streaming sources) ---------------------------------------------------
    def changed(self, calendar_id: str, reason: str = "changed") -> None:
        metrics.PUSH_NOTIFICATIONS.labels(
            self.backend, "change" if reason == "changed" else reason
        ).inc()
        self._hint(calendar_id)

    def status(self, calendar_id: str, state: str, detail: str | None = None) -> None:
        self._set_health(calendar_id, state == "active")
        now = self.rt.clock()
        with self.rt.db.write() as s:
            row = s.get(PushSubscriptionRow, calendar_id)
            if row is None:
                row = PushSubscriptionRow(
                    calendar_id=calendar_id, backend=self.backend, renew_requested=False, failures=0
                )
                s.add(row)
            if state == "broken":
                row.failures = (row.failures or 0) + 1
            elif state == "active":
                row.failures = 0
            row.state = state
            row.last_error = detail[:1000] if detail else None
            row.updated_at = now

    # -- hints -------------------------------------------------------------------------------
    def _hint(self, calendar_id: str) -> None:
        with self._lock:
            self._hinted_at.setdefault(calendar_id, time.monotonic())
        self.engine.sync_now([calendar_id])

    def synced(self, calendar_id: str) -> None:
        """The engine finished a sync of this calendar: observe the notification's lag."""
        with self._lock:
            since = self._hinted_at.pop(calendar_id, None)
        if since is not None:
            metrics.PUSH_LAG.observe(time.monotonic() - since)

    def drain(self) -> int:
        """Take the hints for calendars this replica holds; sync those calendars now."""
        held = self.engine.held
        now = self.rt.clock()
        with self.rt.db.write() as s:
            rows = list(s.scalars(select(PushHintRow).order_by(PushHintRow.id).limit(5000)))
            mine = [r for r in rows if r.calendar_id in held]
            stale = [
                r.id
                for r in rows
                if r.calendar_id not in held and r.received_at < now - HINT_MAX_AGE
            ]
            if mine or stale:
                s.execute(
                    delete(PushHintRow).where(PushHintRow.id.in_([r.id for r in mine] + stale))
                )
            for r in mine:
                if r.reason in ("removed", "reauthorize"):
                    sub = s.get(PushSubscriptionRow, r.calendar_id)
                    if sub is not None:
                        if r.reason == "removed":
                            sub.state = "removed"
                        else:
                            sub.renew_requested = True
                    self._maintain_now.set()
                    if r.reason == "removed":
                        self._set_health(r.calendar_id, False)
        calendars = list(dict.fromkeys(r.calendar_id for r in mine))
        for r in mine:
            if r.reason in ("missed", "removed"):
                log.info(
                    "push: changes may have been missed; syncing",
                    calendar=r.calendar_id,
                    reason=r.reason,
                )
        for calendar_id in calendars:
            self._hint(calendar_id)
        return len(calendars)

    # -- subscriptions (webhook backends) ----------------------------------------------------
    def maintain(self) -> None:
        """One round: create, renew, recreate and delete subscriptions."""
        source = self.webhooks
        if source is None:
            return
        now = wall()  # subscription times are the server's real time, whatever our clock says
        held = set(self.engine.held)
        directory = {t.calendar_id for t in targets(self.rt.index)}
        with self.rt.db.read() as s:
            rows = {
                r.calendar_id: r
                for r in s.scalars(
                    select(PushSubscriptionRow).where(PushSubscriptionRow.backend == self.backend)
                )
            }
        renew_before = timedelta(minutes=self.config.renew_before_minutes)
        expires = now + timedelta(minutes=self.config.subscription_minutes)
        vanished = self._verify(source, rows, held)
        create, renew = [], []
        for calendar_id in sorted(held):
            row = rows.get(calendar_id)
            if row is None or row.subscription_id is None or calendar_id in vanished:
                create.append(calendar_id)
            elif row.state == "active" and row.fingerprint != self._fingerprint(calendar_id):
                # push.public_url or push.client_state changed (or a row from before
                # fingerprints): Graph would post to the old URL or with the old clientState.
                log.info("push: settings changed; making a new subscription", calendar=calendar_id)
                create.append(calendar_id)
            elif row.state == "active" and row.expires_at and row.expires_at > now:
                if row.renew_requested or row.expires_at - now < renew_before:
                    renew.append(row)
            elif row.retry_at is None or row.retry_at <= now:
                create.append(calendar_id)
        gone = [r for c, r in rows.items() if c not in directory and r.subscription_id]
        if renew:
            results = source.renew([r.subscription_id for r in renew], expires)
            for row in renew:
                result = results.get(row.subscription_id or "")
                if isinstance(result, datetime):
                    self._store(row.calendar_id, row.subscription_id, result, now)
                elif isinstance(result, NotFound):
                    create.append(row.calendar_id)  # removed on Graph's side: make a new one
                else:
                    # Refused (permission revoked, reauthorization denied) or failing again and
                    # again: the subscription cannot be trusted to deliver; poll and retry later.
                    given_up = (
                        row.renew_requested
                        or isinstance(result, PermissionDenied)
                        or (row.failures or 0) + 1 >= RENEW_ATTEMPTS
                    )
                    self._note_error(row.calendar_id, result, now, keep_active=not given_up)
        if create:
            stale_ids = [
                rows[c].subscription_id for c in create if c in rows and rows[c].subscription_id
            ]
            made = source.subscribe(create, self.notification_url, self._client_state, expires)
            for calendar_id in create:
                result = made.get(calendar_id)
                if isinstance(result, ConnectorError) or result is None:
                    self._note_error(calendar_id, result, now, keep_active=False)
                else:
                    self._store(calendar_id, result.subscription_id, result.expires_at, now)
                    # Changes between the old subscription's end (or none) and this one's
                    # start reached nobody: read them now.
                    self._hint(calendar_id)
            if stale_ids:
                with contextlib.suppress(ConnectorError):
                    source.unsubscribe([i for i in stale_ids if i])
        if gone:
            try:
                source.unsubscribe([r.subscription_id for r in gone if r.subscription_id])
            except ConnectorError as exc:
                log.warning("push: could not delete subscriptions", error=str(exc)[:300])
            with self.rt.db.write() as s:
                s.execute(
                    delete(PushSubscriptionRow).where(
                        PushSubscriptionRow.calendar_id.in_([r.calendar_id for r in gone])
                    )
                )
        self.refresh_health()

    def _verify(
        self, source: WebhookSource, rows: dict[str, PushSubscriptionRow], held: set[str]
    ) -> set[str]:
        """Every ``push.verify_seconds``: list the app's subscriptions at Graph (one request per
        page) and compare. A held calendar whose active subscription Graph no longer lists was
        deleted or expired without a lifecycle notification: it is unhealthy from now on (polled
        at the normal interval) and recreated in this round. A listed subscription with our
        notification URL that no row of any replica knows, in two listings in a row, is a leftover (a crash before it was
        stored, a restored database): deleted, so Graph stops posting it to us."""
        lister = getattr(source, "list_subscriptions", None)
        due = time.monotonic() - self._verified_at >= self.config.verify_seconds
        if lister is None or not due:
            return set()
        self._verified_at = time.monotonic()
        try:
            listed = lister()
        except ConnectorError as exc:
            log.warning("push: could not list subscriptions", error=str(exc)[:300])
            return set()
        live = {item.subscription_id for item in listed}
        vanished = {
            c
            for c in held
            if (row := rows.get(c)) is not None
            and row.subscription_id
            and row.state == "active"
            and row.subscription_id not in live
        }
        for calendar_id in sorted(vanished):
            self._set_health(calendar_id, False)
            log.warning(
                "push: subscription gone at Graph without a notice; polling and recreating",
                calendar=calendar_id,
            )
        with self.rt.db.read() as s:  # read after listing: a row stored meanwhile is known
            known = set(
                s.scalars(
                    select(PushSubscriptionRow.subscription_id).where(
                        PushSubscriptionRow.subscription_id.is_not(None)
                    )
                )
            )
        unknown = {
            item.subscription_id
            for item in listed
            if item.notification_url == self.notification_url and item.subscription_id not in known
        }
        # Only what was unknown in the previous listing too: another replica may be between
        # creating a subscription and storing it.
        leftovers = sorted(unknown & self._unknown_before)
        self._unknown_before = unknown - set(leftovers)
        if leftovers:
            log.info("push: deleting subscriptions nobody knows", count=len(leftovers))
            try:
                source.unsubscribe(leftovers)
            except ConnectorError as exc:
                log.warning("push: could not delete leftover subscriptions", error=str(exc)[:300])
        return vanished

    def _fingerprint(self, calendar_id: str) -> str:
        made_with = f"{self.notification_url}\n{self._client_state(calendar_id)}"
        return hashlib.sha256(made_with.encode()).hexdigest()

    def _client_state(self, calendar_id: str) -> str:
        return client_state(self.secret or "", calendar_id)

    def _store(
        self, calendar_id: str, sub_id: str | None, expires: datetime, now: datetime
    ) -> None:
        with self.rt.db.write() as s:
            row = s.get(PushSubscriptionRow, calendar_id)
            if row is None:
                row = PushSubscriptionRow(calendar_id=calendar_id, backend=self.backend)
                s.add(row)
            row.subscription_id = sub_id
            row.fingerprint = self._fingerprint(calendar_id)
            row.state = "active"
            row.expires_at = expires
            row.renew_requested = False
            row.retry_at = None
            row.failures = 0
            row.last_error = None
            row.updated_at = now
        self._set_health(calendar_id, True)

    def _note_error(
        self, calendar_id: str, exc: Exception | None, now: datetime, *, keep_active: bool
    ) -> None:
        text = f"{exc.__class__.__name__}: {exc}" if exc else "no answer"
        with self.rt.db.write() as s:
            row = s.get(PushSubscriptionRow, calendar_id)
            if row is None:
                row = PushSubscriptionRow(
                    calendar_id=calendar_id, backend=self.backend, renew_requested=False
                )
                s.add(row)
            row.failures = (row.failures or 0) + 1
            row.last_error = text[:1000]
            row.updated_at = now
            if not keep_active:
                row.state = "broken"
                # 10 s, 20 s, 40 s ... 1 h: the first try may come before our endpoint listens.
                wait = min(3600, 10 * 2 ** min(row.failures - 1, 9))
                row.retry_at = now + timedelta(seconds=wait)
        if not keep_active:
            self._set_health(calendar_id, False)
        log.warning(
            "push subscription failed; polling this calendar meanwhile",
            calendar=calendar_id,
            error=text[:300],
        )

    def refresh_health(self) -> None:
        if self.webhooks is None:
            return
        now = wall()
        with self.rt.db.read() as s:
            ok = set(
                s.scalars(
                    select(PushSubscriptionRow.calendar_id).where(
                        PushSubscriptionRow.backend == self.backend,
                        PushSubscriptionRow.state == "active",
                        PushSubscriptionRow.expires_at > now,
                    )
                )
            )
        with self._lock:
            self._healthy = ok

    def held_changed(self) -> None:
        """Leases moved: subscribe for what we took over, at once."""
        self._maintain_now.set()
        self.wake.set()

    # -- threads -----------------------------------------------------------------------------
    def wanted(self) -> Collection[str]:
        return set(self.engine.held)

    def run(self, stop: threading.Event) -> None:
        """The push thread: hints at once when woken, else every ``HINT_POLL``; subscription
        rounds every ``push.check_seconds`` or when a lifecycle event asks."""
        last_round = 0.0
        while not stop.is_set():
            try:
                self.drain()
                due = time.monotonic() - last_round >= self.config.check_seconds
                if self.webhooks is not None and (due or self._maintain_now.is_set()):
                    self._maintain_now.clear()
                    last_round = time.monotonic()
                    self.maintain()
            except Exception:
                log.exception("push round crashed")
            self.wake.wait(HINT_POLL)
            self.wake.clear()

    def close(self) -> None:
        """On shutdown: delete our webhook subscriptions unless another replica lives to adopt
        them (it renews them as its own once it holds the leases)."""
        if self.webhooks is None:
            return
        now = self.rt.clock()
        with self.rt.db.read() as s:
            others = s.scalar(
                select(func.count())
                .select_from(ReplicaRow)
                .where(
                    ReplicaRow.id != self.engine.owner,
                    ReplicaRow.heartbeat_at >= now - 2 * self.engine.leases.length,
                )
            )
            rows = list(
                s.scalars(
                    select(PushSubscriptionRow).where(PushSubscriptionRow.backend == self.backend)
                )
            )
        if others:
            return
        ids = [r.subscription_id for r in rows if r.subscription_id]
        if ids:
            try:
                self.webhooks.unsubscribe(ids)
            except ConnectorError as exc:
                log.warning(
                    "push: could not delete subscriptions at shutdown", error=str(exc)[:300]
                )
        with self.rt.db.write() as s:
            s.execute(
                delete(PushSubscriptionRow).where(PushSubscriptionRow.backend == self.backend)
            )
