"""Outbox leases: one process works a booking at a time, marks done only what it holds, and
takes over a dead process's writes as soon as it is known dead (SQLite: at once, the process
lock proves it; PostgreSQL: when the holder stops heartbeating or its lease runs out).

The jobcentre here has no calendars, so reconciling writes nothing: these tests are about who
may work and close which outbox entry, on the real stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mappings.rules import default_rules
from syncd.domain.model import Mode
from syncd.engine.outbox import OutboxWorker
from syncd.runtime import Runtime, open_runtime
from syncd.store.tables import OutboxRow, ReplicaRow
from tests.store.helpers import publish
from tests.store.test_bookings import offers
from tests.support import jobcentre
from tests.support.jobcentre import at


class NoCalendars:
    """The directory names no calendars, so the worker never calls its connector."""

    name = "caldav"


@pytest.fixture
def pg_rt(pg_url, clock) -> Iterator[Runtime]:
    runtime = open_runtime(jobcentre.config(pg_url), clock=clock)
    yield runtime
    runtime.db.dispose()


def worker(rt: Runtime, owner: str) -> OutboxWorker:
    return OutboxWorker(rt, NoCalendars(), default_rules(), owner=owner)  # type: ignore[arg-type]


def booking_with_entry(rt: Runtime) -> str:
    publish(rt, "mette", [(at(0, 9), at(0, 12))])
    offer = offers(rt, caseworker_id="mette", modes=(Mode.PHONE,))[0]
    return rt.bookings.confirm(rt.bookings.reserve(offer.offer_id, "c-1").id).id


def entries(rt: Runtime, booking_id: str) -> list[OutboxRow]:
    with rt.db.read() as s:
        rows = list(
            s.scalars(
                select(OutboxRow).where(OutboxRow.booking_id == booking_id).order_by(OutboxRow.id)
            )
        )
        for r in rows:
            s.expunge(r)
        return rows


def lease(rt: Runtime, entry_id: int, owner: str, seconds: float) -> None:
    with rt.db.write() as s:
        s.execute(
            update(OutboxRow)
            .where(OutboxRow.id == entry_id)
            .values(lease_owner=owner, lease_until=rt.clock() + timedelta(seconds=seconds))
        )


def heartbeat(rt: Runtime, owner: str, ago: timedelta) -> None:
    with rt.db.write() as s:
        s.add(
            ReplicaRow(
                id=owner, host="elsewhere", pid=1, started_at=rt.clock() - ago,
                heartbeat_at=rt.clock() - ago,
            )
        )  # fmt: skip


def test_sqlite_takes_a_dead_processs_lease_over_at_once(tmp_path, clock):
    rt = open_runtime(jobcentre.config(f"sqlite:///{tmp_path / 's.db'}"), clock=clock)
    booking = booking_with_entry(rt)
    [entry] = entries(rt, booking)
    lease(rt, entry.id, "killed-process", 60)
    assert worker(rt, "new-process").run_due() == 1
    assert entries(rt, booking)[0].done_at is not None
    rt.db.dispose()


@pytest.mark.postgres
def test_a_live_replicas_booking_is_left_alone_and_its_entries_never_closed(pg_rt):
    rt = pg_rt
    booking = booking_with_entry(rt)
    [first] = entries(rt, booking)
    heartbeat(rt, "replica-b", timedelta(seconds=1))
    lease(rt, first.id, "replica-b", 60)
    rt.bookings.cancel(booking)  # a second entry for the same booking
    a = worker(rt, "replica-a")
    assert a.claim() == {}  # replica-b works this booking: nobody else touches it
    second = entries(rt, booking)[1]
    lease(rt, second.id, "replica-a", 60)
    assert a._attempt(booking, second.id)
    first_after, second_after = entries(rt, booking)
    assert second_after.done_at is not None
    assert first_after.done_at is None and first_after.lease_owner == "replica-b"


@pytest.mark.postgres
def test_a_replica_that_stopped_heartbeating_loses_its_writes_before_the_lease_ends(pg_rt):
    rt = pg_rt
    booking = booking_with_entry(rt)
    [entry] = entries(rt, booking)
    stale = timedelta(seconds=3 * rt.config.sync.lease_seconds)
    heartbeat(rt, "replica-dead", stale)
    lease(rt, entry.id, "replica-dead", 60)
    assert worker(rt, "replica-a").claim() == {booking: entry.id}


@pytest.mark.postgres
def test_an_expired_lease_is_taken_over_even_from_a_live_replica(pg_rt, clock):
    rt = pg_rt
    booking = booking_with_entry(rt)
    [entry] = entries(rt, booking)
    heartbeat(rt, "replica-slow", timedelta(seconds=1))
    lease(rt, entry.id, "replica-slow", 60)
    assert worker(rt, "replica-a").claim() == {}
    clock.advance(seconds=61)
    with rt.db.write() as s:  # still heartbeating
        s.execute(update(ReplicaRow).values(heartbeat_at=rt.clock()))
    assert worker(rt, "replica-a").claim() == {booking: entry.id}
    # replica-slow wakes up and finishes: it no longer holds the entry, so it closes nothing
    # and asks for one more pass instead
    assert worker(rt, "replica-slow")._attempt(booking, entry.id)
    rows = entries(rt, booking)
    assert rows[0].done_at is None and rows[0].lease_owner == "replica-a"
    assert len(rows) == 2 and rows[1].reason == "lease_lost"


def test_an_entry_waiting_out_a_back_off_is_closed_by_the_next_pass_over_its_booking(
    tmp_path, clock
):
    """A pass reads the booking as it is now, so it settles an older failed entry that nobody
    holds: the booking's writes are not left 'pending' for an hour (which would hold back the
    read-back of the caseworker's own changes)."""
    rt = open_runtime(jobcentre.config(f"sqlite:///{tmp_path / 's.db'}"), clock=clock)
    booking = booking_with_entry(rt)
    [first] = entries(rt, booking)
    with rt.db.write() as s:
        s.execute(
            update(OutboxRow)
            .where(OutboxRow.id == first.id)
            .values(next_attempt_at=rt.clock() + timedelta(hours=1), attempts=3, last_error="x")
        )
    rt.bookings.cancel(booking)
    assert worker(rt, "process-1").run_due() == 1
    assert all(e.done_at is not None for e in entries(rt, booking))
    rt.db.dispose()
