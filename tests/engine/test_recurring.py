"""Recurring windows and meetings on Exchange, end to end. On Graph the simulator serves a series
as Microsoft does (master plus bare occurrence stubs in delta, silence about a deleted
occurrence), so these hold the connector to Exchange Online's real behaviour."""

from __future__ import annotations

import pytest

from tests.engine.world import open_world
from tests.store.test_bookings import offers
from tests.support.jobcentre import CPH, at

WEEKS = 4


@pytest.fixture(params=("ews", "graph"))
def exchange(request, tmp_path, clock):
    with open_world(request.param, tmp_path, clock) as w:
        yield w


def offer_days(world) -> list:
    return sorted({o.start.astimezone(CPH).date() for o in offers(world.rt, caseworker_id="mette")})


def weekly_window(world) -> None:
    world.exchange.put_series(
        world.calendar("mette"), "ws", "Selvbook", at(0, 9), at(0, 12), weeks=WEEKS
    )


def test_a_weekly_window_is_offered_every_week(exchange):
    weekly_window(exchange)
    exchange.settle()
    assert offer_days(exchange) == [at(7 * n, 9).date() for n in range(WEEKS)]


def test_an_occurrence_deleted_in_outlook_stops_being_offered_within_one_cycle(exchange):
    weekly_window(exchange)
    exchange.settle()
    exchange.exchange.delete_occurrence(exchange.calendar("mette"), "ws", at(7, 9))
    exchange.engine.cycle()
    assert offer_days(exchange) == [at(7 * n, 9).date() for n in (0, 2, 3)]


def test_a_busy_weekly_series_blocks_every_week(exchange):
    weekly_window(exchange)
    exchange.exchange.put_series(
        exchange.calendar("mette"), "team", "Teammøde", at(0, 9), at(0, 12), weeks=WEEKS
    )
    exchange.settle()
    assert offer_days(exchange) == []


def test_an_occurrence_moved_in_outlook_is_offered_at_its_new_time(exchange):
    weekly_window(exchange)
    exchange.settle()
    exchange.exchange.move_occurrence(
        exchange.calendar("mette"), "ws", at(7, 9), at(8, 13), at(8, 16)
    )
    exchange.engine.cycle()
    days = [at(0, 9).date(), at(8, 9).date(), at(14, 9).date(), at(21, 9).date()]
    assert offer_days(exchange) == days
    moved = [o for o in offers(exchange.rt, caseworker_id="mette") if o.start.date() == days[1]]
    assert min(o.start for o in moved) == at(8, 13)


@pytest.fixture
def graph_without_exceptions(tmp_path, clock):
    """Exchange Online whose /instances leaves exceptions out (microsoft-graph-docs-contrib
    #540, microsoft-graph-docs #4294); delta still reports them."""
    with open_world("graph", tmp_path, clock) as w:
        w.server.instances_omit_exceptions = True
        yield w


def test_a_moved_occurrence_of_a_busy_series_blocks_its_new_time(graph_without_exceptions):
    world = graph_without_exceptions
    weekly_window(world)
    world.put("mette", "w-extra", "Selvbook", at(8, 13), at(8, 16))
    world.exchange.put_series(
        world.calendar("mette"), "team", "Teammøde", at(0, 9), at(0, 12), weeks=WEEKS
    )
    world.exchange.move_occurrence(world.calendar("mette"), "team", at(7, 9), at(8, 13), at(8, 16))
    world.settle()
    assert offer_days(world) == [at(7, 9).date()]


def test_a_moved_window_is_offered_at_its_new_time_when_instances_omit_it(
    graph_without_exceptions,
):
    world = graph_without_exceptions
    weekly_window(world)
    world.exchange.move_occurrence(world.calendar("mette"), "ws", at(7, 9), at(8, 13), at(8, 16))
    world.settle()
    days = [at(0, 9).date(), at(8, 9).date(), at(14, 9).date(), at(21, 9).date()]
    assert offer_days(world) == days
    moved = [o for o in offers(world.rt, caseworker_id="mette") if o.start.date() == days[1]]
    assert min(o.start for o in moved) == at(8, 13)
