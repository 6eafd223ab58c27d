"""Replicas on PostgreSQL divide the calendars with leases; a dead one's calendars are taken
over once its leases run out, and nothing is written twice."""

from __future__ import annotations

import pytest

from tests.engine.world import ics, make_world
from tests.support.jobcentre import at

pytestmark = pytest.mark.postgres


def test_two_replicas_divide_and_take_over(radicale, pg_url, clock):
    a = make_world(radicale, pg_url, clock, owner="replica-a")
    b = make_world(radicale, pg_url, clock, owner="replica-b")
    a.put("caseworkers", "mette", "w1", ics("w1", "Selvbook", at(0, 9), at(0, 12)))
    a.engine.leases.heartbeat()
    b.engine.leases.heartbeat()
    first_a = a.engine.cycle()
    first_b = b.engine.cycle()
    ids_a = {r.calendar_id for r in first_a.synced}
    ids_b = {r.calendar_id for r in first_b.synced}
    # 6 calendars (3 caseworkers, 3 rooms), 2 live replicas: 3 each, never the same one.
    assert first_a.calendars == 3 and first_b.calendars == 3
    assert ids_a.isdisjoint(ids_b) and len(ids_a | ids_b) == 6
    # A dies (no more heartbeats or renewals). Before its leases run out, B keeps its share.
    clock.advance(seconds=a.rt.config.sync.lease_seconds / 2)
    assert b.engine.cycle().calendars == 3
    clock.advance(seconds=a.rt.config.sync.lease_seconds * 2.5)
    taken_over = b.engine.cycle()
    assert taken_over.calendars == 6
    assert not taken_over.failed
    a.rt.db.dispose()
    b.rt.db.dispose()


def test_graceful_stop_hands_over_at_once(radicale, pg_url, clock):
    a = make_world(radicale, pg_url, clock, owner="replica-a")
    b = make_world(radicale, pg_url, clock, owner="replica-b")
    a.engine.leases.heartbeat()
    b.engine.leases.heartbeat()
    a.engine.cycle()
    b.engine.cycle()
    a.engine.stop()
    clock.advance(seconds=1)
    assert b.engine.cycle().calendars == 6
    a.rt.db.dispose()
    b.rt.db.dispose()
