"""Story 16 on CalDAV: the calendar server (or one calendar) is down; syncd backs off as told,
the other calendars keep syncing, failed writes stay visible, and everything catches up."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from syncd.domain.model import Mode
from syncd.store.tables import OutboxRow, SyncStateRow
from tests.connectors.caldav_proxy import Reply, caldav_proxy
from tests.engine.world import ics, make_world
from tests.store.test_bookings import offers
from tests.support.jobcentre import at


@pytest.fixture
def proxied(radicale, tmp_path, clock):
    with caldav_proxy(radicale.url) as proxy:
        world = make_world(
            dataclasses.replace(radicale, url=proxy.url), f"sqlite:///{tmp_path / 's.db'}", clock
        )
        yield world, proxy
        world.rt.db.dispose()


def book(rt, caseworker):
    o = offers(rt, caseworker_id=caseworker, modes=(Mode.PHONE,))[0]
    return rt.bookings.confirm(rt.bookings.reserve(o.offer_id, f"ref-{caseworker}").id)


def states(rt):
    with rt.db.read() as s:
        return {st.owner_id: st for st in s.scalars(select(SyncStateRow))}


def test_one_calendar_down_does_not_stop_the_others(proxied, clock):
    world, proxy = proxied
    for cw in ("mette", "lars"):
        world.put("caseworkers", cw, "w", ics(f"w-{cw}", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    world.put("caseworkers", "lars", "t", ics("t-lars", "Teammøde", at(0, 9), at(0, 10)))
    world.put("caseworkers", "mette", "t", ics("t-mette", "Teammøde", at(0, 9), at(0, 10)))
    proxy.intercept = lambda seen: (
        Reply(503, {"Retry-After": "120"}, b"busy") if "/caseworkers/mette/" in seen.path else None
    )
    report = world.engine.cycle()
    assert f"{world.server.url}caseworkers/mette/" in report.failed
    assert any(r.calendar_id.endswith("/caseworkers/lars/") for r in report.synced)
    st = states(world.rt)["mette"]
    assert st.last_error and st.backoff_until >= clock() + timedelta(seconds=120)
    # lars's new meeting already removed his 09:00 offers; mette's are still the old ones.
    assert all(
        o.start.hour != 8 for o in offers(world.rt, caseworker_id="lars")
    )  # 09:00 local = 08 UTC
    # Back-off is honoured: the next cycle does not even try mette's calendar.
    before = proxy.count("REPORT")
    assert "mette" not in str(world.engine.cycle().failed)
    assert proxy.count("REPORT") == before
    proxy.intercept = None
    clock.advance(seconds=130)
    world.settle()
    assert states(world.rt)["mette"].last_error is None
    assert all(o.start.hour != 8 for o in offers(world.rt, caseworker_id="mette"))


def test_server_down_keeps_writes_visible_and_catches_up(proxied, clock):
    world, proxy = proxied
    world.put("caseworkers", "mette", "w", ics("w", "Selvbook", at(0, 9), at(0, 12)))
    world.settle()
    proxy.intercept = lambda seen: Reply(503, {"Retry-After": "60"}, b"down for maintenance")
    booking = book(world.rt, "mette")
    world.engine.outbox.run_due()
    with world.rt.db.read() as s:
        [entry] = [o for o in s.scalars(select(OutboxRow)) if o.done_at is None]
    assert (
        entry.booking_id == booking.id and entry.attempts == 1 and "503" in (entry.last_error or "")
    ) or "down" in (entry.last_error or "")
    assert entry.next_attempt_at >= clock() + timedelta(seconds=60)
    report = world.engine.cycle()
    assert len(report.failed) == report.checked  # every calendar failed, none crashed the cycle
    proxy.intercept = None
    clock.advance(minutes=5)
    world.settle()
    ours = [e for e in world.events("caseworkers", "mette") if e["ours"]]
    assert len(ours) == 1 and booking.reference in ours[0]["raw"]
    with world.rt.db.read() as s:
        assert all(o.done_at is not None for o in s.scalars(select(OutboxRow)))
