"""Booking ids can never read as a CPR number, bookings made with the old random-hex ids still
reach the calendars, and a write the render guard refuses tells the coordinator in Danish what
to correct.

The guard stays on everything that comes from outside (titles, room and site names, rule
texts); our own ids are simply made so they cannot trip it.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from mappings.privacy import contains_cpr
from mappings.render import RenderRefused
from syncd.engine.failures import describe
from syncd.engine.ownership import booking_for_external_id, external_id_for
from syncd.store import bookings as booking_ops
from syncd.store.tables import OutboxRow
from tests.engine.test_flow import book, window
from tests.engine.world import open_world

OLD_CPR_SHAPED = "b-b2109670722f8e23"  # a real id of the old format: 2109670722 reads as a CPR


@pytest.fixture
def world(tmp_path, clock, radicale):
    with open_world("caldav", tmp_path, clock, radicale) as w:
        yield w


def test_new_ids_and_references_hold_no_digit_run() -> None:
    for _ in range(20_000):
        booking_id = booking_ops.new_booking_id()
        assert re.fullmatch(r"b-[a-z]{16}", booking_id) and not re.search(r"\d", booking_id)
        assert not contains_cpr(external_id_for(booking_id))
        assert not re.search(r"\d{10}", booking_ops.new_reference())


def test_old_ids_keep_their_external_id_unless_it_reads_as_a_cpr_number() -> None:
    harmless = "b-0a1b2c3d4e5f6789"
    assert external_id_for(harmless) == f"selvbook-{harmless}"  # events already written stay ours
    derived = external_id_for(OLD_CPR_SHAPED)
    assert not contains_cpr(derived) and not re.search(r"\d", derived)
    assert booking_for_external_id(derived) == OLD_CPR_SHAPED
    for booking_id in (harmless, "b-kcxtrwzpqbnmhgfd"):
        assert booking_for_external_id(external_id_for(booking_id)) == booking_id


def test_a_booking_with_a_cpr_shaped_old_id_reaches_both_calendars(world, monkeypatch):
    monkeypatch.setattr(booking_ops, "new_booking_id", lambda: OLD_CPR_SHAPED)
    window(world)
    world.settle()
    booking = book(world.rt)
    assert booking.id == OLD_CPR_SHAPED
    world.write()
    world.settle()
    [event] = world.ours("mette")
    assert [e.uid for e in world.ours(booking.room_id)] == [event.uid]
    assert not contains_cpr(event.uid) and booking_for_external_id(event.uid) == booking.id
    assert world.rt.bookings.get(booking.id).status == "confirmed"  # read back as ours
    with world.rt.db.read() as s:
        assert s.scalars(select(OutboxRow).where(OutboxRow.done_at.is_(None))).all() == []


def test_a_refused_write_tells_the_coordinator_in_danish_what_to_correct(world):
    window(world)
    world.settle()
    outbox = world.engine.outbox
    booking_rules = outbox.rules.booking.model_copy(
        update={"description": "Ring 010190-1234 ved afbud. {booking_reference}"}
    )
    outbox.rules = outbox.rules.model_copy(update={"booking": booking_rules})
    booking = book(world.rt)
    world.write()
    with world.rt.db.read() as s:
        [entry] = s.scalars(select(OutboxRow).where(OutboxRow.booking_id == booking.id)).all()
    assert entry.done_at is None and entry.attempts == 1
    text = entry.last_error or ""
    assert "ligner et CPR-nummer" in text and "kalenderreglerne" in text and "Prøv igen" in text
    assert "ValueError" not in text and "010190" not in text
    assert world.ours("mette") == []


def test_each_kind_of_write_failure_says_what_to_do_in_danish() -> None:
    from connectors.base import ConnectorError, NotOwned, PermissionDenied, Throttled

    for exc, words in (
        (RenderRefused("room_name"), "lokalets navn"),
        (NotOwned("x"), "ikke selv har oprettet"),
        (Throttled("429", retry_after=30), "30 sekunder"),
        (PermissionDenied("403"), "skriveadgang"),
        (ConnectorError("503"), "kontakt IT"),
        (RuntimeError("bug"), "Uventet fejl"),
    ):
        assert words in describe(exc)
