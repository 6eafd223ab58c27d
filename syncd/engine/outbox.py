"""The outbox worker: brings each booking's calendar events in line with the store.

An outbox entry only says "booking X changed"; the worker reads the booking as it is now and
makes the calendars match (create, update or delete our events). That makes every attempt
idempotent, lets repeated entries coalesce, and survives crashes: an entry is done only after
the calendars have it. Failures stay visible with their last error until they succeed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from connectors.base import Connector, ConnectorError, EventDraft, NotOwned, Throttled
from mappings.render import BookingView, render_booking
from mappings.rules import Rules
from syncd import metrics
from syncd.domain.model import BookingStatus, Mode
from syncd.engine.crashpoints import crash_point
from syncd.engine.failures import describe
from syncd.engine.ownership import external_id_for
from syncd.logs import get_logger
from syncd.runtime import Runtime
from syncd.store.journal import enqueue_calendar_sync
from syncd.store.rooms import active_room
from syncd.store.tables import BookingRow, CalendarEventRow, OutboxRow, ReplicaRow

log = get_logger("syncd.outbox")
# An entry's lease: how long another replica waits before taking over a write in flight,
# unless it knows sooner that the holder is dead (see ``claim``).
LEASE = timedelta(seconds=60)
CLAIM_LOCK = 4807299  # PostgreSQL advisory lock: outbox claims one at a time
MAX_DELAY = timedelta(hours=1)


def replica_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Desired:
    calendar_id: str
    role: str
    draft: EventDraft

    @property
    def fingerprint(self) -> str:
        d = self.draft
        raw = json.dumps(
            [d.summary, d.start.isoformat(), d.end.isoformat(), d.location, d.description,
             d.private, list(d.categories), list(d.resources)],
        )  # fmt: skip
        return hashlib.sha256(raw.encode()).hexdigest()


class OutboxWorker:
    def __init__(
        self, rt: Runtime, connector: Connector, rules: Rules, *, owner: str | None = None
    ) -> None:
        self.rt = rt
        self.connector = connector
        self.rules = rules
        self.owner = owner or replica_id()
        # Exchange and Graph book a room by inviting its mailbox; CalDAV has no scheduling we
        # can rely on, so the room gets its own event.
        self.rooms_by_invitation = connector.name in ("ews", "graph")

    def _invites(self, caseworker_calendar: str, room_calendar: str | None) -> bool:
        """Whether this booking's room is invited (several backends: only when the caseworker's
        mailbox and the room's are on the same Exchange backend, see connectors.routing)."""
        decide = getattr(self.connector, "invites_rooms", None)
        if decide is None or room_calendar is None:
            return self.rooms_by_invitation
        return bool(decide(caseworker_calendar, room_calendar))

    # -- claiming ----------------------------------------------------------------------------

    def claim(self, limit: int = 50) -> dict[str, int]:
        """Lease due entries; returns booking id -> highest claimed entry id.

        One process works a booking at a time: a booking whose entries another live process
        holds is left alone, so an older picture of it can never overwrite a newer one. A dead
        process's entries are taken over as soon as it is known dead: on SQLite at once (the
        process lock proves that whoever holds another lease is gone), on PostgreSQL when its
        replica stops heartbeating or the lease runs out, whichever comes first."""
        now = self.rt.clock()
        db = self.rt.db
        with db.write() as s:
            if not db.is_sqlite:  # claims are short; serialising them keeps the check exact
                s.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
            undone = list(
                s.execute(
                    select(
                        OutboxRow.id,
                        OutboxRow.booking_id,
                        OutboxRow.next_attempt_at,
                        OutboxRow.lease_owner,
                        OutboxRow.lease_until,
                    )
                    .where(
                        OutboxRow.done_at.is_(None),
                        # due, or leased (which makes its booking busy); not those waiting out
                        # a back-off, which a long outage can make many
                        (OutboxRow.next_attempt_at <= now) | (OutboxRow.lease_until >= now),
                    )
                    .order_by(OutboxRow.id)
                )
            )
            alive = self._live_owners(s, now)
            busy = {
                r.booking_id
                for r in undone
                if r.lease_owner is not None
                and r.lease_until is not None
                and r.lease_until >= now
                and (r.lease_owner == self.owner or r.lease_owner in alive)
            }
            claimed: dict[str, int] = {}
            for r in undone:
                if r.booking_id in busy or r.next_attempt_at > now:
                    continue
                if len(claimed) >= limit and r.booking_id not in claimed:
                    continue
                claimed[r.booking_id] = max(claimed.get(r.booking_id, 0), r.id)
            if claimed:
                s.execute(
                    update(OutboxRow)
                    .where(
                        OutboxRow.booking_id.in_(list(claimed)),
                        OutboxRow.done_at.is_(None),
                        OutboxRow.next_attempt_at <= now,
                    )
                    .values(lease_owner=self.owner, lease_until=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
            return claimed

    def _live_owners(self, s: Any, now: datetime) -> set[str]:
        """Other processes that may be writing calendars right now. SQLite: none (the process
        lock lets one process at a time use the store). PostgreSQL: replicas whose heartbeat
        is fresh; one that stopped cleanly has removed its row."""
        if self.rt.db.is_sqlite:
            return set()
        fresh = now - timedelta(seconds=2 * self.rt.config.sync.lease_seconds)
        return set(
            s.scalars(
                select(ReplicaRow.id).where(
                    ReplicaRow.heartbeat_at >= fresh, ReplicaRow.id != self.owner
                )
            )
        )

    def run_due(self, limit: int = 50) -> int:
        """Work every due entry once; returns how many bookings were reconciled."""
        claimed = self.claim(limit)
        done = 0
        for booking_id, upto in claimed.items():
            if self._attempt(booking_id, upto):
                done += 1
        return done

    def release(self) -> None:
        """On a clean stop: our leases go back at once, nothing waits for them to run out."""
        with self.rt.db.write() as s:
            s.execute(
                update(OutboxRow)
                .where(OutboxRow.lease_owner == self.owner, OutboxRow.done_at.is_(None))
                .values(lease_owner=None, lease_until=None)
            )

    def _attempt(self, booking_id: str, upto: int) -> bool:
        try:
            crash_point("outbox.before_reconcile", booking_id)
            self.reconcile(booking_id)
        except Throttled as exc:
            metrics.CONNECTOR_REQUESTS.labels(self.connector.name, "write", "throttled").inc()
            metrics.THROTTLED.labels(self.connector.name).inc()
            self._failed(booking_id, upto, exc, timedelta(seconds=exc.retry_after))
            return False
        except NotOwned as exc:
            # Someone else's item sits where ours should be: never touch it; an operator acts.
            self._failed(booking_id, upto, exc, MAX_DELAY)
            return False
        except ConnectorError as exc:
            metrics.CONNECTOR_REQUESTS.labels(self.connector.name, "write", "error").inc()
            self._failed(booking_id, upto, exc, None)
            return False
        except Exception as exc:  # a bug must not stop the other bookings
            log.exception("outbox entry failed", booking_id=booking_id)
            self._failed(booking_id, upto, exc, None)
            return False
        crash_point("outbox.before_done", booking_id)
        now = self.rt.clock()
        with self.rt.db.write() as s:
            still_ours = s.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.booking_id == booking_id,
                    OutboxRow.id <= upto,
                    OutboxRow.done_at.is_(None),
                    OutboxRow.lease_owner == self.owner,
                )
            )
            s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.booking_id == booking_id,
                    OutboxRow.id <= upto,
                    OutboxRow.done_at.is_(None),
                    # ours, or held by nobody (an older entry waiting out a back-off: this
                    # pass read the booking as it is now); never one another process holds
                    (OutboxRow.lease_owner == self.owner)
                    | OutboxRow.lease_owner.is_(None)
                    | (OutboxRow.lease_until < now),
                )
                .values(done_at=now, lease_owner=None, lease_until=None, last_error=None)
            )
            if not still_ours:
                # Our lease ran out mid-write and another process took the booking over: what
                # we wrote may be older than what it writes, so one more pass settles it.
                enqueue_calendar_sync(s, booking_id, "lease_lost", now)
        return True

    def _failed(self, booking_id: str, upto: int, exc: Exception, delay: timedelta | None) -> None:
        now = self.rt.clock()
        message = describe(exc)
        with self.rt.db.write() as s:
            rows = list(
                s.scalars(
                    select(OutboxRow).where(
                        OutboxRow.booking_id == booking_id,
                        OutboxRow.id <= upto,
                        OutboxRow.done_at.is_(None),
                        OutboxRow.lease_owner == self.owner,
                    )
                )
            )
            for row in rows:
                row.attempts += 1
                wait = delay or _backoff(row.attempts)
                row.next_attempt_at = now + wait
                row.last_error = message
                row.lease_owner = None
                row.lease_until = None
        log.warning("calendar write failed", booking_id=booking_id, error=message)

    # -- reconciling -------------------------------------------------------------------------

    def desired(self, booking: BookingRow, room_id: str | None) -> list[Desired]:
        index = self.rt.index
        if booking.status != BookingStatus.CONFIRMED.value:
            return []
        cw = index.caseworkers.get(booking.caseworker_id)
        ctype = index.types.get(booking.type_code)
        if cw is None or ctype is None or not cw.calendar_id:
            return []
        room = index.rooms.get(room_id) if room_id else None
        site = index.sites.get(room.site_id) if room else None
        invite = self._invites(cw.calendar_id, room.calendar_id if room else None)
        view = BookingView(
            external_id=external_id_for(booking.id),
            type_title=ctype.title,
            mode=booking.mode,
            start=booking.start,
            end=booking.end,
            room_name=room.name if room else None,
            site_name=site.name if site else None,
            room_email=room.email if room and invite else None,
            booking_reference=booking.reference,
            room_missing=Mode(booking.mode).needs_room and room is None,
            booked_by=booking.booked_by,
        )
        draft = render_booking(view, self.rules)
        out = [Desired(cw.calendar_id, "caseworker", draft)]
        if room and room.calendar_id and Mode(booking.mode).needs_room and not invite:
            out.append(Desired(room.calendar_id, "room", draft))
        return out

    def reconcile(self, booking_id: str) -> None:
        with self.rt.db.read() as s:
            booking = s.get(BookingRow, booking_id)
            if booking is None:
                return
            room_id = active_room(s, booking_id)
            written = {
                (e.calendar_id, e.role): e
                for e in s.scalars(
                    select(CalendarEventRow).where(CalendarEventRow.booking_id == booking_id)
                )
            }
        wanted = {(d.calendar_id, d.role): d for d in self.desired(booking, room_id)}
        # Deletions first: a room change must free the old room's calendar before the new one.
        for key, event in written.items():
            if key not in wanted and not event.deleted:
                crash_point("outbox.before_write", booking_id)
                self.connector.delete_event(event.calendar_id, event.external_id)
                crash_point("outbox.after_write", booking_id)
                self._record_deleted(event.id)
                crash_point("outbox.after_record", booking_id)
        for key, want in wanted.items():
            event = written.get(key)
            if event is not None and not event.deleted and event.written_hash == want.fingerprint:
                continue
            crash_point("outbox.before_write", booking_id)
            result = self.connector.upsert_event(want.calendar_id, want.draft)
            crash_point("outbox.after_write", booking_id)
            metrics.CONNECTOR_REQUESTS.labels(self.connector.name, "write", "ok").inc()
            self._record_written(booking_id, want, result.href, result.etag)
            crash_point("outbox.after_record", booking_id)
            if want.role == "caseworker" and event is None and booking.confirmed_at:
                delay = (self.rt.clock() - booking.confirmed_at).total_seconds()
                metrics.BOOKING_TO_CALENDAR.observe(max(0.0, delay))

    def _record_deleted(self, event_id: int) -> None:
        with self.rt.db.write() as s:
            event = s.get(CalendarEventRow, event_id)
            if event is not None:
                event.deleted = True
                event.written_hash = None
                event.updated_at = self.rt.clock()

    def _record_written(self, booking_id: str, want: Desired, href: str, etag: str | None) -> None:
        now = self.rt.clock()
        with self.rt.db.write() as s:
            event = s.scalar(
                select(CalendarEventRow).where(
                    CalendarEventRow.booking_id == booking_id,
                    CalendarEventRow.calendar_id == want.calendar_id,
                    CalendarEventRow.role == want.role,
                )
            )
            if event is None:
                event = CalendarEventRow(
                    booking_id=booking_id,
                    calendar_id=want.calendar_id,
                    role=want.role,
                    external_id=want.draft.external_id,
                )
                s.add(event)
            event.href = href
            event.etag = etag
            event.written_start = want.draft.start
            event.written_end = want.draft.end
            event.written_hash = want.fingerprint
            event.deleted = False
            event.updated_at = now


def _backoff(attempts: int) -> timedelta:
    """Exponential with full jitter, from 5 s up to an hour."""
    ceiling = min(MAX_DELAY.total_seconds(), 5 * 2 ** min(attempts, 20))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def pending_count(rt: Runtime) -> int:
    from sqlalchemy import func

    with rt.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.done_at.is_(None)))
            or 0
        )


def oldest_pending(rt: Runtime) -> datetime | None:
    from sqlalchemy import func

    with rt.db.read() as s:
        return s.scalar(select(func.min(OutboxRow.created_at)).where(OutboxRow.done_at.is_(None)))
