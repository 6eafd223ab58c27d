"""What the engine does when Exchange says no: a throttled mailbox backs off alone and never
earlier than the server said, a mailbox without permission is reported with the server's own
words, and a sync state the server no longer accepts costs a full read and nothing else.

Both Exchange backends (EWS and Graph simulators), through the daemon's own engine. Times the
server asks for are real seconds; the engine's clock is the test's, so "no earlier than told"
is checked on both: the engine's back-off and the requests that reached the server.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from syncd.store.tables import EventFeedRow, SyncStateRow
from tests.engine.test_flow import book
from tests.engine.world import open_world
from tests.store.test_bookings import local_times, offers
from tests.support.jobcentre import CPH, at


@pytest.fixture(params=["ews", "graph"])
def world(request, tmp_path, clock):
    with open_world(request.param, tmp_path, clock) as w:
        yield w


def state_of(world, name: str) -> SyncStateRow:
    with world.rt.db.read() as s:
        row = s.get(SyncStateRow, world.calendar(name))
        assert row is not None
        s.expunge(row)
        return row


def day_times(world, name: str, day: int) -> list[str]:
    found = offers(world.rt, caseworker_id=name)
    return local_times([o for o in found if o.start.astimezone(CPH).date() == at(day, 9).date()])


def to_mailbox(world, name: str) -> list:
    """What reached the server for this mailbox, oldest first: (status or fault code)."""
    address = world.calendar(name).lower()
    if world.backend == "ews":
        return [e.code or e.status for e in world.server.requests(mailbox=address)]
    return [e.status for e in world.server.entries() if e.mailbox == address]


def throttle(world, name: str) -> float:
    """The server starts refusing this mailbox and says how long to wait (seconds)."""
    if world.backend == "ews":
        world.server.inject("busy", 1, back_off_ms=60_000, mailbox=world.calendar(name))
        return 60.0
    world.server.throttle(1, retry_after=120, mailbox=world.calendar(name))
    return 120.0


THROTTLE_TEXT = {"ews": "ErrorServerBusy", "graph": "ApplicationThrottled"}
DENIED_TEXT = {
    "ews": "ErrorImpersonateUserDenied: The account does not have permission to impersonate "
    "the requested user.",
    "graph": "ErrorAccessDenied: Access is denied. Check credentials and try again.",
}


def test_throttled_mailbox_backs_off_alone_and_never_earlier_than_told(world, clock):
    for name in ("mette", "lars", "pia"):
        world.put(name, "w1", "Selvbook", at(0, 9), at(0, 12))
    world.settle()
    for name in ("mette", "lars", "pia"):  # something new everywhere
        world.put(name, "w2", "Selvbook", at(1, 9), at(1, 12))
    hint = throttle(world, "mette")
    began = time.monotonic()
    report = world.engine.cycle()
    elapsed = time.monotonic() - began

    # Mette's calendar alone failed, as throttled; the others synced in the same cycle.
    assert list(report.failed) == [world.calendar("mette")]
    assert report.failed[world.calendar("mette")].startswith("throttled")
    synced = {r.calendar_id for r in report.synced}
    assert {world.calendar("lars"), world.calendar("pia")} <= synced
    assert day_times(world, "lars", 1) and day_times(world, "pia", 1)
    assert day_times(world, "mette", 1) == []
    # Her back-off is at least what the server asked (minus the time already gone by).
    state = state_of(world, "mette")
    assert state.failures == 1 and THROTTLE_TEXT[world.backend] in state.last_error
    backoff = (state.backoff_until - clock()).total_seconds()
    assert hint - elapsed <= backoff <= hint + 1
    # The server refused her once and heard nothing more from us for her.
    assert to_mailbox(world, "mette")[-1] in (429, "ErrorServerBusy")

    # The next cycles leave her alone until the back-off has passed ...
    asked = len(to_mailbox(world, "mette"))
    again = world.engine.cycle()
    assert again.skipped_backoff == 1 and world.calendar("mette") not in again.failed
    # ... and when the engine's own clock says it may try, the connector still refuses to ask
    # before the server's time is up (real seconds have not passed), and the engine backs off.
    clock.advance(seconds=hint + 60)
    third = world.engine.cycle()
    assert third.failed[world.calendar("mette")].startswith("throttled")
    assert len(to_mailbox(world, "mette")) == asked
    later = state_of(world, "mette")
    assert later.failures == 2
    assert (later.backoff_until - clock()).total_seconds() >= hint - (time.monotonic() - began)


def test_mailbox_without_permission_is_reported_in_the_servers_words(world):
    world.deny("pia")
    for name in ("mette", "lars", "pia"):
        world.put(name, "w1", "Selvbook", at(0, 9), at(0, 12))
    report = world.engine.cycle()
    assert list(report.failed) == [world.calendar("pia")]
    assert DENIED_TEXT[world.backend] in report.failed[world.calendar("pia")]
    state = state_of(world, "pia")
    assert state.last_error and DENIED_TEXT[world.backend] in state.last_error
    assert state.token is None and state.backoff_until is not None
    # Everybody else syncs and books as usual.
    world.write()
    world.settle()
    assert day_times(world, "mette", 0) and day_times(world, "lars", 0)
    assert day_times(world, "pia", 0) == []
    booking = book(world.rt, caseworker="lars")
    world.settle()
    [event] = world.ours("lars")
    assert event.start == booking.start
    assert state_of(world, "lars").last_error is None


def test_invalid_sync_state_means_a_full_read_and_nothing_lost(world, clock):
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    world.put("mette", "w2", "Selvbook", at(1, 9), at(1, 12))
    world.settle()
    booking = book(world.rt)
    world.settle()
    [ours] = world.ours("mette")
    # The server forgets every sync state of her mailbox (a mailbox move, an expired delta
    # token); meanwhile she changes her calendar.
    if world.backend == "ews":
        world.hands.outlook.invalidate_sync_states(world.calendar("mette"))
    else:
        world.server.state.invalidate_delta_tokens(world.calendar("mette"))
    world.put("mette", "t1", "Teammøde", at(0, 10), at(0, 10, 30))
    world.delete("mette", "w2")
    world.put("mette", "w3", "Selvbook", at(2, 9), at(2, 12))
    feed_before = _feed(world)

    report = world.engine.cycle()
    [mine] = [r for r in report.synced if r.calendar_id == world.calendar("mette")]
    assert mine.full and report.failed == {}
    world.settle()
    assert day_times(world, "mette", 0) == ["10:30", "11:10"]  # 09:00 booked, 10:00 team meeting
    assert day_times(world, "mette", 1) == []
    assert day_times(world, "mette", 2) == ["09:00", "09:40", "10:20", "11:00"]
    kept = world.rt.bookings.get(booking.id)
    assert kept.status == "confirmed" and kept.conflict is None and kept.room_id
    assert [(e.uid, e.start) for e in world.ours("mette")] == [(ours.uid, ours.start)]
    assert _feed(world) == feed_before  # nothing was cancelled, moved or lost
    state = state_of(world, "mette")
    assert state.last_error is None and state.failures == 0
    clock.advance(minutes=1)
    assert world.engine.cycle().failed == {}


def _feed(world) -> list[str]:
    with world.rt.db.read() as s:
        return [e.type for e in s.scalars(select(EventFeedRow).order_by(EventFeedRow.id))]


def test_throttle_hint_longer_than_the_engines_cap_is_still_honoured(world, clock):
    """The engine caps its own exponential back-off, never the server's hint."""
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    world.settle()
    if world.backend == "ews":
        world.server.inject("busy", 1, back_off_ms=7_200_000, mailbox=world.calendar("mette"))
        hint = 7200.0
    else:
        world.server.throttle(1, retry_after=7200, mailbox=world.calendar("mette"))
        hint = 7200.0
    world.put("mette", "w2", "Selvbook", at(1, 9), at(1, 12))
    assert hint > world.rt.config.sync.max_backoff_seconds
    world.engine.cycle()
    state = state_of(world, "mette")
    assert state.backoff_until - clock() >= timedelta(seconds=hint - 5)
