"""Rooms as resources: first come, first served, declines visible, rooms discovered from lists."""

from __future__ import annotations

from datetime import datetime, timedelta

from connectors.base import EventDraft
from tests.sims.ews.harness import (
    CPH,
    JONAS,
    METTE,
    ROOM_L2,
    ROOM_L5,
    ROOM_LIST,
    WINDOW,
    connector,
    running,
)

DAY = datetime(2027, 3, 2, tzinfo=CPH)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def booking(external_id: str, start: datetime, room: str = ROOM_L2) -> EventDraft:
    return EventDraft(
        external_id=external_id,
        summary="Jobsamtale (selvbooket) - fremmøde",
        start=start,
        end=start + timedelta(minutes=30),
        location="Mødelokale L2",
        resources=(room,),
    )


def status(conn, token, external_id):
    changes = conn.fetch_changes(METTE, token, *WINDOW)
    [item] = [i for i in changes.changed if i.external_id == external_id]
    return item.attendee_status, changes.token


def test_room_accepts_when_free_and_declines_when_someone_was_first() -> None:
    with running() as (_sim, backdoor, conn):
        assert (
            backdoor.invite_room(JONAS, ROOM_L2, "teammoede", "Teammøde", at(9), at(10)) == "Accept"
        )

        conn.upsert_event(METTE, booking("bk-late", at(9, 30)))
        conn.upsert_event(METTE, booking("bk-free", at(11)))

        changes = conn.fetch_changes(METTE, None, *WINDOW)
        seen = {i.external_id: i.attendee_status for i in changes.changed}
        assert seen["bk-late"] == {ROOM_L2: "DECLINED"}
        assert seen["bk-free"] == {ROOM_L2: "ACCEPTED"}
        room = {e["uid"] for e in backdoor.list_events(ROOM_L2)}
        assert room == {"teammoede", "bk-free"}  # the room's copy carries our UID


def test_moving_into_a_taken_slot_is_declined_and_the_room_freed() -> None:
    with running() as (_sim, backdoor, conn):
        conn.upsert_event(METTE, booking("bk-1", at(11)))
        token = conn.fetch_changes(METTE, None, *WINDOW).token
        backdoor.invite_room(JONAS, ROOM_L2, "kursus", "Kursus", at(13), at(15))

        conn.upsert_event(METTE, booking("bk-1", at(14)))

        state, token = status(conn, token, "bk-1")
        assert state == {ROOM_L2: "DECLINED"}
        assert "bk-1" not in {e["uid"] for e in backdoor.list_events(ROOM_L2)}
        conn.upsert_event(METTE, booking("bk-1", at(14), room=ROOM_L5))  # reallocated
        state, _ = status(conn, token, "bk-1")
        assert state == {ROOM_L5: "ACCEPTED"}


def test_deleting_our_event_cancels_the_room_reservation() -> None:
    with running() as (_sim, backdoor, conn):
        conn.upsert_event(METTE, booking("bk-2", at(8)))
        assert [e["uid"] for e in backdoor.list_events(ROOM_L2)] == ["bk-2"]
        assert conn.delete_event(METTE, "bk-2") is True
        assert backdoor.list_events(ROOM_L2) == []


def test_a_late_decline_by_the_room_shows_up_in_the_next_sync() -> None:
    with running() as (_sim, backdoor, conn):
        conn.upsert_event(METTE, booking("bk-3", at(10)))
        token = conn.fetch_changes(METTE, None, *WINDOW).token
        backdoor.set_response(METTE, "bk-3", ROOM_L2, "Decline")
        state, _ = status(conn, token, "bk-3")
        assert state == {ROOM_L2: "DECLINED"}


def test_rooms_come_from_room_lists_and_configuration() -> None:
    extra = {"email": "kantine@lilleby.dk", "name": "Kantinen", "capacity": 40}
    with running(rooms=[extra]) as (_sim, _backdoor, conn):
        calendars = {c.calendar_id: c for c in conn.list_calendars()}
        assert calendars[ROOM_L2].kind == "room" and calendars[ROOM_L2].name == "Mødelokale L2"
        assert calendars[ROOM_L2].extra == {"room_list": ROOM_LIST}
        assert calendars[ROOM_L5].kind == "room"
        assert (calendars["kantine@lilleby.dk"].capacity, calendars[METTE].kind) == (
            40,
            "caseworker",
        )
        assert set(calendars) == {METTE, JONAS, ROOM_L2, ROOM_L5, "kantine@lilleby.dk"}


def test_tidying_a_duplicate_of_our_event_keeps_the_rooms_reservation() -> None:
    """A crash between CreateItem and its answer can leave a twin (same UID); deleting it with
    cancellations would cancel the room's one copy of the meeting, so none is sent."""
    import copy

    with running() as (sim, backdoor, conn):
        conn.upsert_event(METTE, booking("bk-3", at(8)))
        with sim.store.lock:
            [ours] = [i for i in sim.store.mailbox(METTE).items.values() if i.uid == "bk-3"]
            twin = copy.deepcopy(ours)
            twin.id = sim.store.new_id(METTE)
            sim.store.insert(twin)
        restarted = connector(sim)  # after the crash: a new process finds both by our property
        try:
            restarted.upsert_event(METTE, booking("bk-3", at(8)))
        finally:
            restarted.close()
        assert [e["uid"] for e in backdoor.list_events(METTE)] == ["bk-3"]
        assert [e["uid"] for e in backdoor.list_events(ROOM_L2)] == ["bk-3"]


def test_the_rooms_copy_shows_the_organizer_by_exchanges_defaults() -> None:
    from tests.sims.rba import RoomPolicy

    with running() as (sim, backdoor, conn):
        conn.upsert_event(METTE, booking("bk-s1", at(8)))
        [copy] = backdoor.list_events(ROOM_L2)
        assert copy["summary"] == "Mette Hansen"
        sim.store.mailbox(ROOM_L2).policy = RoomPolicy(
            delete_subject=False, add_organizer_to_subject=False
        )
        conn.upsert_event(METTE, booking("bk-s2", at(11)))
        titles = {e["uid"]: e["summary"] for e in backdoor.list_events(ROOM_L2)}
        assert titles["bk-s2"] == "Jobsamtale (selvbooket) - fremmøde"
