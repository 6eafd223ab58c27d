"""The engine: a sync loop over every calendar, an outbox worker and webhook delivery, each in
its own thread, until stopped.

Calendars are synced concurrently by a bounded pool; a failing calendar gets exponential
back-off with jitter (tenacity's formula, or the server's own hint when it gives one) and never
delays the others.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import tenacity
from sqlalchemy import select, update

from connectors.base import Connector, ConnectorError, Throttled
from mappings.rules import Rules, load_rules
from syncd import metrics
from syncd.engine.leases import LeaseLost, Leases
from syncd.engine.outbox import OutboxWorker, replica_id
from syncd.engine.push import PushHub
from syncd.engine.sync import CalendarSync, SyncReport
from syncd.engine.targets import Target, targets
from syncd.engine.webhooks import WebhookSender
from syncd.logs import get_logger
from syncd.runtime import Runtime
from syncd.store.bookings import expire_stale_holds
from syncd.store.errors import ConflictError
from syncd.store.rehousing import Rehousing
from syncd.store.tables import SyncStateRow

log = get_logger("syncd.engine")

# How often the engine looks for conversations without a room, and how often it re-houses
# them even if nothing seems to have changed.
REHOUSE_INTERVAL = 10.0
REHOUSE_ANYWAY = 600.0


@dataclass
class CycleReport:
    started: datetime
    seconds: float = 0.0
    calendars: int = 0
    checked: int = 0
    synced: list[SyncReport] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped_backoff: int = 0
    skipped_push: int = 0
    requests: int | None = None
    submitted: int = 0


def backoff_seconds(failures: int, cap: float, hint: float | None = None) -> float:
    """Exponential back-off with jitter; never sooner than the server asked."""
    wait = tenacity.wait_random_exponential(multiplier=15, max=cap)
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(1, failures)
    seconds = float(wait(state))
    return max(seconds, hint or 0.0)


class Engine:
    def __init__(
        self,
        rt: Runtime,
        connector: Connector,
        rules: Rules | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        self.rt = rt
        self.connector = connector
        self.rules = rules or load_rules(rt.config.sync.rules_file)
        self.owner = owner or replica_id()
        self.leases = Leases(rt, self.owner)
        self.sync = CalendarSync(rt, connector, self.rules, self.leases)
        self.outbox = OutboxWorker(rt, connector, self.rules, owner=self.owner)
        self.webhooks = WebhookSender(rt)
        self.stop_event = threading.Event()
        self.outbox_wakeup = threading.Event()
        self.cycle_wakeup = threading.Event()
        self._urgent: set[str] = set()
        self._urgent_lock = threading.Lock()
        self._published_day: date | None = None
        self.last_cycle: CycleReport | None = None
        self.cycles = 0
        self._threads: list[threading.Thread] = []
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(rt.config.sync.workers, thread_name_prefix="sync")
        self._again: set[str] = set()  # hinted while in flight: sync once more when done
        self.held: frozenset[str] = frozenset()  # calendars whose lease this replica holds
        self._checked_at: dict[str, float] = {}  # monotonic time of each calendar's last check
        hub = PushHub(rt, self)
        self.push: PushHub | None = hub if hub.active else None
        rt.extras["engine"] = self

    # -- one cycle ---------------------------------------------------------------------------

    def cycle(self, *, wait: bool = True) -> CycleReport:
        """Check every calendar and sync the changed ones. With ``wait`` (``sync --once``,
        tests) the cycle ends when all are done; the running daemon does not wait: each calendar
        is synced by the long-lived pool as soon as a worker is free, and one that hangs (a slow
        server) holds only its own worker, never the next check of the others."""
        rt = self.rt
        now = rt.clock()
        report = CycleReport(started=now)
        requests_before = getattr(self.connector, "requests_made", None)
        all_targets = self.leases.claim(targets(rt.index))
        held = frozenset(t.calendar_id for t in all_targets)
        if held != self.held and self.push is not None:
            self.push.held_changed()
        self.held = held
        report.calendars = len(all_targets)
        with rt.db.read() as s:
            states = {st.calendar_id: st for st in s.scalars(select(SyncStateRow))}
        with self._urgent_lock:
            urgent, self._urgent = self._urgent, set()
        due: list[Target] = []
        with self._in_flight_lock:
            busy = set(self._in_flight)
        push, safety = self.push, self.rt.config.push.safety_poll_seconds
        clock = time.monotonic()
        if push is not None and getattr(self.connector, "batched_markers", False):
            # Markers are asked in batches: when one calendar's safety check is due, check all
            # past half their interval in the same batch instead of one batch each.
            ages = [clock - self._checked_at.get(t.calendar_id, 0.0) for t in all_targets]
            if any(age >= safety for age in ages):
                safety /= 2
        for t in all_targets:
            if t.calendar_id in busy:
                continue
            st = states.get(t.calendar_id)
            if st and st.backoff_until and st.backoff_until > now and t.calendar_id not in urgent:
                report.skipped_backoff += 1
                continue
            if (
                not wait
                and push is not None
                and t.calendar_id not in urgent
                and st is not None
                and st.token is not None
                and not st.force_full
                and push.healthy(t.calendar_id)
                and clock - self._checked_at.get(t.calendar_id, 0.0) < safety
            ):
                report.skipped_push += 1  # push tells us; the safety net comes round later
                continue
            self._checked_at[t.calendar_id] = clock
            due.append(t)
        markers = self._markers([t.calendar_id for t in due])
        report.checked = len(due)
        to_sync: list[Target] = []
        for t in due:
            st = states.get(t.calendar_id)
            mark = markers.get(t.calendar_id)
            if (
                st is None
                or st.token is None
                or st.force_full
                or t.calendar_id in urgent
                or mark is None
                or mark != st.marker
                or not self.sync.checked(t.calendar_id)  # once after every start: ownership
            ):
                to_sync.append(t)
        syncing = {t.calendar_id for t in to_sync}
        self._confirm_idle(
            [t.calendar_id for t in due if t.calendar_id not in syncing], states, now
        )
        if wait:
            workers = max(1, min(rt.config.sync.workers, len(to_sync) or 1))
            with ThreadPoolExecutor(workers, thread_name_prefix="sync") as pool:
                futures = {
                    pool.submit(self._sync_one, t, markers.get(t.calendar_id)): t for t in to_sync
                }
                for future, t in futures.items():
                    outcome = future.result()
                    if isinstance(outcome, SyncReport):
                        report.synced.append(outcome)
                    else:
                        report.failed[t.calendar_id] = outcome
        else:
            self._submit(to_sync, markers)
            report.submitted = len(to_sync)
        today = now.astimezone(rt.zone).date()
        if self._published_day != today:
            # The horizon moved a day: recompute from stored items, no server needed. Calendars
            # synced in this cycle are fresh already.
            just_read = {t.calendar_id for t in to_sync} | set(report.failed)
            for t in all_targets:
                if t.calendar_id not in just_read:
                    try:
                        self.sync.republish(t)
                    except Exception:
                        log.exception("republish failed", calendar=t.calendar_id)
            self._published_day = today
        if any(r.moved or r.cancelled or r.rooms_lost or r.conflicts for r in report.synced):
            self.outbox_wakeup.set()
        report.seconds = (rt.clock() - now).total_seconds()
        requests_after = getattr(self.connector, "requests_made", None)
        if requests_before is not None and requests_after is not None:
            report.requests = requests_after - requests_before
            metrics.CONNECTOR_HTTP.labels(self.connector.name).inc(report.requests)
        metrics.CYCLE_SECONDS.observe(report.seconds)
        self.last_cycle = report
        self.cycles += 1
        return report

    def sync_now(self, calendar_ids: list[str]) -> None:
        """Sync these calendars at once, if this replica holds them (a push hint). One that is
        being synced right now is synced once more afterwards: the hint may be newer than what
        that sync read."""
        wanted = set(calendar_ids) & self.held
        if wanted and not self.stop_event.is_set():
            chosen = [t for t in targets(self.rt.index) if t.calendar_id in wanted]
            self._submit(chosen, {}, again=True)

    def _submit(self, to_sync: list[Target], markers: dict[str, str], again: bool = False) -> None:
        for t in to_sync:
            with self._in_flight_lock:
                if t.calendar_id in self._in_flight:
                    if again:
                        self._again.add(t.calendar_id)
                    continue
                self._in_flight.add(t.calendar_id)

            def run(target: Target = t) -> None:
                try:
                    outcome = self._sync_one(target, markers.get(target.calendar_id))
                    if isinstance(outcome, SyncReport) and (
                        outcome.moved
                        or outcome.cancelled
                        or outcome.rooms_lost
                        or outcome.conflicts
                    ):
                        self.outbox_wakeup.set()
                finally:
                    with self._in_flight_lock:
                        self._in_flight.discard(target.calendar_id)
                        repeat = target.calendar_id in self._again
                        self._again.discard(target.calendar_id)
                    if self.push is not None:
                        self.push.synced(target.calendar_id)
                    if repeat and not self.stop_event.is_set():
                        self._submit([target], {}, again=True)

            try:
                self._pool.submit(run)
            except RuntimeError:  # the pool shut down while stopping
                with self._in_flight_lock:
                    self._in_flight.discard(t.calendar_id)

    def _confirm_idle(
        self, calendar_ids: list[str], states: dict[str, SyncStateRow], now: datetime
    ) -> None:
        """A calendar whose change marker has not moved is up to date as of now: that is a
        successful sync (``last_success_at`` and the lag metric mean "when we last knew this
        calendar was current"), at the cost of one UPDATE per cycle, not per calendar."""
        ids = [cid for cid in calendar_ids if not states[cid].failures]
        if not ids:
            return
        with self.rt.db.write() as s:
            for offset in range(0, len(ids), 500):
                s.execute(
                    update(SyncStateRow)
                    .where(SyncStateRow.calendar_id.in_(ids[offset : offset + 500]))
                    .values(last_success_at=now, last_sync_at=now)
                )

    def _markers(self, calendar_ids: list[str]) -> dict[str, str]:
        if not calendar_ids:
            return {}
        try:
            return self.connector.change_markers(calendar_ids)
        except ConnectorError as exc:
            log.warning("change markers unavailable; syncing every due calendar", error=str(exc))
            return {}

    def _sync_one(self, target: Target, marker: str | None) -> SyncReport | str:
        name = self.connector.name
        try:
            result = self.sync.sync(target, marker=marker)
            metrics.CONNECTOR_REQUESTS.labels(name, "sync", "ok").inc()
            return result
        except Throttled as exc:
            metrics.CONNECTOR_REQUESTS.labels(name, "sync", "throttled").inc()
            metrics.THROTTLED.labels(name).inc()
            self._record_failure(target, exc, exc.retry_after)
            return f"throttled: retry after {exc.retry_after:.0f} s"
        except ConnectorError as exc:
            metrics.CONNECTOR_REQUESTS.labels(name, "sync", "error").inc()
            self._record_failure(target, exc, None)
            return str(exc)
        except LeaseLost as exc:
            log.info(
                "calendar taken over by another replica",
                calendar=target.calendar_id,
                detail=str(exc),
            )
            return str(exc)
        except Exception as exc:  # a bug in one calendar must not stop the cycle
            log.exception("calendar sync crashed", calendar=target.calendar_id)
            self._record_failure(target, exc, None)
            return f"{exc.__class__.__name__}: {exc}"

    def _record_failure(self, target: Target, exc: Exception, hint: float | None) -> None:
        now = self.rt.clock()
        with self.rt.db.write() as s:
            st = s.get(SyncStateRow, target.calendar_id)
            if st is None:
                st = SyncStateRow(
                    calendar_id=target.calendar_id, kind=target.kind, owner_id=target.owner_id
                )
                s.add(st)
            st.failures = (st.failures or 0) + 1
            wait = backoff_seconds(st.failures, self.rt.config.sync.max_backoff_seconds, hint)
            st.backoff_until = now + timedelta(seconds=wait)
            st.last_sync_at = now
            st.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
        log.warning(
            "calendar sync failed",
            calendar=target.calendar_id,
            error=str(exc)[:300],
            retry_in=round(wait),
        )

    # -- threads -----------------------------------------------------------------------------

    def request_sync(self, calendar_id: str) -> None:
        """Sync this calendar in the next cycle, now (push notification or operator)."""
        with self._urgent_lock:
            self._urgent.add(calendar_id)
        self.cycle_wakeup.set()

    def start(self) -> None:
        if self.leases.enabled:  # alive before our first outbox lease: nobody takes it over
            self.leases.heartbeat()
        self.rt.extras["engine_started_at"] = self.rt.clock()
        self.rt.extras["outbox_wakeup"] = self.outbox_wakeup
        self.rt.bookings.on_change = self.outbox_wakeup.set
        for name, fn in (
            ("sync-loop", self._sync_loop),
            ("outbox", self._outbox_loop),
            ("webhooks", self._webhook_loop),
            ("rooms", self._rooms_loop),
        ):
            thread = threading.Thread(target=fn, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.push is not None:
            thread = threading.Thread(
                target=self.push.run, args=(self.stop_event,), name="push", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.push is not None and self.push.stream is not None:
            thread = threading.Thread(
                target=self.push.stream.watch,
                args=(self.push.wanted, self.push, self.stop_event),
                name="push-stream",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30) -> None:
        """Stop the threads and hand our calendars to the other replicas at once."""
        self.stop_event.set()
        self.outbox_wakeup.set()
        self.cycle_wakeup.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.push is not None:
            try:
                self.push.close()
            except Exception:
                log.exception("could not clean up push subscriptions")
        try:
            self.outbox.release()
            self.leases.release_all()
        except Exception:
            log.exception("could not release leases; they expire by themselves")

    def _sync_loop(self) -> None:
        interval = self.rt.config.sync.poll_interval_seconds
        while not self.stop_event.is_set():
            try:
                report = self.cycle(wait=False)
                log.debug(
                    "sync check", seconds=round(report.seconds, 3), submitted=report.submitted,
                    calendars=report.calendars, in_backoff=report.skipped_backoff,
                )  # fmt: skip
            except Exception:
                log.exception("sync cycle crashed")
            self.cycle_wakeup.wait(interval)
            self.cycle_wakeup.clear()

    def _outbox_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                with self.rt.db.write() as s:
                    expire_stale_holds(s, self.rt.clock())
                while self.outbox.run_due() and not self.stop_event.is_set():
                    pass
            except Exception:
                log.exception("outbox round crashed")
            self.outbox_wakeup.wait(1.0)
            self.outbox_wakeup.clear()

    def _rooms_loop(self) -> None:
        """Re-house conversations without a room (see ``Rehousing.rehouse_roomless``)
        when something that could help has changed, and every ``REHOUSE_ANYWAY`` regardless
        (time passing thaws allocations that may then move)."""
        last: tuple[object, ...] = ()
        last_at = 0.0
        while not self.stop_event.is_set():
            try:
                rooms = Rehousing.for_runtime(self.rt)
                state = rooms.roomless_state()
                stale = time.monotonic() - last_at > REHOUSE_ANYWAY
                if state and (state != last or stale):
                    found = rooms.rehouse_roomless()
                    placed = sum(1 for r in found if r.room_id is not None)
                    if placed:
                        log.info("rooms found for conversations without one", count=placed)
                    last, last_at = rooms.roomless_state(), time.monotonic()
            except ConflictError:
                pass  # a concurrent change took a room first: the next round looks again
            except Exception:
                log.exception("re-housing round crashed")
            self.stop_event.wait(REHOUSE_INTERVAL)

    def _webhook_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.webhooks.deliver_due()
            except Exception:
                log.exception("webhook round crashed")
            self.stop_event.wait(2.0)
