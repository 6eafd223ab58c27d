"""THE connector contract: what the engine may rely on, whatever the calendar backend.

Runs once per backend in ``tests/contract/backends/`` (see conftest.py) and uses nothing but
``ContractEnv``: the connector under test, and a backdoor that acts as a person in Outlook or a
CalDAV client. Every test uses fresh UIDs and summaries, so a backend may share one server.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import (
    BusyInterval,
    CalendarItem,
    ChangeSet,
    Connector,
    EventDraft,
    NotOwned,
    SyncTokenInvalid,
    WriteResult,
)
from mappings.recurrence import expand
from tests.contract.harness import ContractEnv

CPH = ZoneInfo("Europe/Copenhagen")
DAY = datetime(2027, 3, 2, tzinfo=CPH)  # a Tuesday, away from DST changes and holidays
WINDOW = (DAY - timedelta(days=30), DAY + timedelta(days=120))


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute) + timedelta(days=days)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def draft(external_id: str, **changes: object) -> EventDraft:
    values: dict[str, object] = {
        "external_id": external_id,
        "summary": f"Jobsamtale (selvbooket) - fremmøde {external_id[-6:]}",
        "start": at(9, 40),
        "end": at(10, 10),
        "location": "Mødelokale L2, Jobcenter Lilleby",
        "description": "Bookingreference SB-7QK2",
        "private": True,
    }
    values.update(changes)
    return EventDraft(**values)  # type: ignore[arg-type]


def fetch(env: ContractEnv, calendar_id: str, token: str | None = None) -> ChangeSet:
    return env.connector.fetch_changes(calendar_id, token, *WINDOW)


def stored(env: ContractEnv, calendar_id: str, summary: str) -> list[dict]:
    return [e for e in env.backdoor.list_events(calendar_id) if e["summary"] == summary]


def by_uid(changes: ChangeSet, uid: str) -> CalendarItem:
    found = [i for i in changes.changed if i.uid == uid]
    assert len(found) == 1, f"expected {uid} once in {[i.uid for i in changes.changed]}"
    return found[0]


def ours(changes: ChangeSet, external_id: str) -> CalendarItem:
    found = [i for i in changes.changed if i.external_id == external_id]
    assert len(found) == 1, f"expected our {external_id} once in {changes.changed}"
    return found[0]


def overlaps(intervals: list[BusyInterval], start: datetime, end: datetime) -> bool:
    return any(i.start < end and start < i.end for i in intervals)


def covers(intervals: list[BusyInterval], start: datetime, end: datetime) -> bool:
    return any(i.start <= start and end <= i.end for i in intervals)


# --------------------------------------------------------------------------- calendars


def test_connector_satisfies_the_protocol(env: ContractEnv) -> None:
    assert isinstance(env.connector, Connector)
    assert env.connector.name


def test_list_calendars_sees_caseworker_and_room_calendars(env: ContractEnv) -> None:
    calendars = {c.calendar_id: c for c in env.connector.list_calendars()}
    for calendar_id in (
        env.caseworker_calendar,
        env.second_caseworker_calendar,
        env.room_calendar,
    ):
        assert calendar_id in calendars, f"{calendar_id} not in {sorted(calendars)}"
        assert calendars[calendar_id].name
    assert calendars[env.room_calendar].kind != "caseworker"
    assert calendars[env.caseworker_calendar].kind != "room"


def test_probe_says_reachable_and_writable(env: ContractEnv) -> None:
    for calendar_id in (env.caseworker_calendar, env.room_calendar):
        result = env.connector.probe(calendar_id)
        assert (result.reachable, result.writable, result.error) == (True, True, None)
        assert result.calendar_id == calendar_id
    # probing leaves nothing behind
    assert fetch(env, env.caseworker_calendar).changed == []


# --------------------------------------------------------------------------- reading


def test_full_fetch_returns_foreign_and_own_items(env: ContractEnv) -> None:
    cal = env.caseworker_calendar
    foreign_uid = unique("teammoede")
    env.backdoor.put_foreign_event(cal, foreign_uid, "Teammøde", at(10), at(10, 30))
    mine = unique("booking")
    env.connector.upsert_event(cal, draft(mine))

    changes = fetch(env, cal)

    assert changes.full is True
    assert changes.token
    assert list(changes.deleted) == []
    foreign = by_uid(changes, foreign_uid)
    assert foreign.external_id is None
    assert (foreign.summary, foreign.start, foreign.end) == ("Teammøde", at(10), at(10, 30))
    own = ours(changes, mine)
    assert (own.start, own.end) == (at(9, 40), at(10, 10))
    assert own.location == "Mødelokale L2, Jobcenter Lilleby"
    assert own.href and foreign.href and own.href != foreign.href


def test_incremental_fetch_returns_only_changes(env: ContractEnv) -> None:
    cal = env.caseworker_calendar
    before = unique("before")
    env.backdoor.put_foreign_event(cal, before, "Frokost", at(12), at(12, 30))
    first = fetch(env, cal)
    seen = by_uid(first, before)

    quiet = fetch(env, cal, first.token)
    assert (list(quiet.changed), list(quiet.deleted), quiet.full) == ([], [], False)

    created = unique("created")
    env.backdoor.put_foreign_event(cal, created, "Kursus", at(13), at(14))
    after_create = fetch(env, cal, quiet.token)
    assert [i.uid for i in after_create.changed] == [created]
    assert list(after_create.deleted) == []

    env.backdoor.move_event(cal, before, at(12, 30), at(13))
    after_move = fetch(env, cal, after_create.token)
    moved = by_uid(after_move, before)
    assert len(after_move.changed) == 1
    assert (moved.start, moved.end, moved.href) == (at(12, 30), at(13), seen.href)

    env.backdoor.delete_event(cal, before)
    after_delete = fetch(env, cal, after_move.token)
    assert list(after_delete.changed) == []
    assert list(after_delete.deleted) == [seen.href]

    mine = unique("booking")
    written = env.connector.upsert_event(cal, draft(mine))
    after_upsert = fetch(env, cal, after_delete.token)
    own = ours(after_upsert, mine)
    assert len(after_upsert.changed) == 1
    assert own.href == written.href
    assert list(after_upsert.deleted) == []


def test_changes_in_one_calendar_do_not_show_in_another(env: ContractEnv) -> None:
    other = fetch(env, env.second_caseworker_calendar)
    env.backdoor.put_foreign_event(env.caseworker_calendar, unique("x"), "Møde", at(8), at(9))
    env.connector.upsert_event(env.caseworker_calendar, draft(unique("booking")))
    again = fetch(env, env.second_caseworker_calendar, other.token)
    assert (list(again.changed), list(again.deleted)) == ([], [])


def test_invalid_token_raises_sync_token_invalid(env: ContractEnv) -> None:
    with pytest.raises(SyncTokenInvalid) as caught:
        fetch(env, env.caseworker_calendar, "selvbook-contract-invalid-token")
    assert caught.value.calendar_id == env.caseworker_calendar


def test_recurring_foreign_series_expands_to_its_occurrences(env: ContractEnv) -> None:
    """A backend may return a series whole (CalDAV, EWS: rrule + exdates) or as occurrences
    (Graph's delta); either way mappings' expansion must give the same instances."""
    cal = env.caseworker_calendar
    uid = unique("selvbook-window")
    skipped = at(9, days=14)
    env.backdoor.put_foreign_event(
        cal,
        uid,
        "Selvbook: Jobsamtale",
        at(9),
        at(12),
        categories=("Selvbook",),
        rrule="FREQ=WEEKLY;COUNT=6",
        exdates=(skipped,),
    )
    items = [i for i in fetch(env, cal).changed if i.uid == uid]
    assert items, "the series did not come back"
    span = (at(0), at(0, days=60))
    starts = sorted(
        {o.start.astimezone(ZoneInfo("UTC")) for i in items for o in expand(i, *span, zone=CPH)}
    )
    expected = [at(9, days=7 * w) for w in range(6) if w != 2]
    assert starts == [e.astimezone(ZoneInfo("UTC")) for e in expected]
    for item in items:
        assert "Selvbook" in item.categories and item.external_id is None
        if item.rrule is not None:  # whole series: its rule and exceptions are kept
            assert "FREQ=WEEKLY" in item.rrule.upper() and skipped in item.exdates


# --------------------------------------------------------------------------- writing


def test_upsert_twice_makes_exactly_one_event(env: ContractEnv) -> None:
    cal = env.caseworker_calendar
    d = draft(unique("booking"))
    first = env.connector.upsert_event(cal, d)
    second = env.connector.upsert_event(cal, d)
    assert isinstance(first, WriteResult) and first.created is True
    assert second.created is False
    assert second.href == first.href
    assert len(stored(env, cal, d.summary)) == 1


def test_upsert_with_changed_time_and_location_updates_it(env: ContractEnv) -> None:
    cal = env.caseworker_calendar
    d = draft(unique("booking"))
    first = env.connector.upsert_event(cal, d)
    token = fetch(env, cal).token
    moved = draft(d.external_id, start=at(13), end=at(13, 30), location="Mødelokale L5")
    result = env.connector.upsert_event(cal, moved)
    assert (result.created, result.href) == (False, first.href)
    [event] = stored(env, cal, d.summary)
    assert (event["start"], event["end"], event["location"]) == (
        at(13),
        at(13, 30),
        "Mødelokale L5",
    )
    own = ours(fetch(env, cal, token), d.external_id)
    assert (own.start, own.end, own.location) == (at(13), at(13, 30), "Mødelokale L5")


def test_rendered_event_is_visible_to_a_person(env: ContractEnv) -> None:
    cal = env.room_calendar
    private = draft(unique("booking"))
    public = draft(unique("booking"), private=False, start=at(11), end=at(11, 30))
    env.connector.upsert_event(cal, private)
    env.connector.upsert_event(cal, public)
    [seen_private] = stored(env, cal, private.summary)
    [seen_public] = stored(env, cal, public.summary)
    assert seen_private["location"] == "Mødelokale L2, Jobcenter Lilleby"
    assert (seen_private["start"], seen_private["end"]) == (at(9, 40), at(10, 10))
    assert seen_private["private"] is True
    assert seen_public["private"] is False


def test_delete_twice_true_then_false(env: ContractEnv) -> None:
    cal = env.caseworker_calendar
    d = draft(unique("booking"))
    env.connector.upsert_event(cal, d)
    token = fetch(env, cal).token
    assert env.connector.delete_event(cal, d.external_id) is True
    assert env.connector.delete_event(cal, d.external_id) is False
    assert stored(env, cal, d.summary) == []
    assert len(fetch(env, cal, token).deleted) == 1


def test_delete_of_something_never_created_is_false(env: ContractEnv) -> None:
    assert env.connector.delete_event(env.caseworker_calendar, unique("never")) is False


def test_foreign_item_is_never_touched(env: ContractEnv) -> None:
    cal = env.caseworker_calendar
    uid = unique("persons-own")
    env.backdoor.put_foreign_event(cal, uid, "Tandlæge", at(15), at(16))
    [before] = stored(env, cal, "Tandlæge")
    with pytest.raises(NotOwned):
        env.connector.upsert_event(cal, draft(uid, summary="Tandlæge", start=at(8), end=at(9)))
    with pytest.raises(NotOwned):
        env.connector.delete_event(cal, uid)
    [after] = stored(env, cal, "Tandlæge")
    assert (after["start"], after["end"], after["location"]) == (
        before["start"],
        before["end"],
        before["location"],
    )


# --------------------------------------------------------------------------- availability


def test_free_busy_reports_busy_and_not_transparent_time(env: ContractEnv) -> None:
    cal = env.caseworker_calendar
    env.backdoor.put_foreign_event(cal, unique("busy"), "Teammøde", at(10), at(10, 30))
    env.backdoor.put_foreign_event(
        cal, unique("free"), "Husk: ring tilbage", at(13), at(14), transparent=True
    )
    result = env.connector.free_busy([cal, env.room_calendar], at(0), at(0, days=1))
    assert set(result) == {cal, env.room_calendar}
    assert covers(result[cal], at(10), at(10, 30))
    assert not overlaps(result[cal], at(10, 30), at(14))
    assert result[env.room_calendar] == []
    assert all(i.start.tzinfo is not None for i in result[cal])


def test_free_busy_follows_a_series_and_its_exdate(env: ContractEnv) -> None:
    cal = env.room_calendar
    env.backdoor.put_foreign_event(
        cal,
        unique("weekly"),
        "Ugentligt møde",
        at(8),
        at(9),
        rrule="FREQ=WEEKLY;COUNT=4",
        exdates=(at(8, days=14),),
    )
    result = env.connector.free_busy([cal], at(0), at(0, days=28))[cal]
    assert covers(result, at(8, days=7), at(9, days=7))
    assert not overlaps(result, at(8, days=14), at(9, days=14))
    assert covers(result, at(8, days=21), at(9, days=21))


def test_own_events_are_busy(env: ContractEnv) -> None:
    cal = env.room_calendar
    env.connector.upsert_event(cal, draft(unique("booking")))
    assert covers(env.connector.free_busy([cal], at(0), at(23))[cal], at(9, 40), at(10, 10))


# --------------------------------------------------------------------------- change markers


def test_change_markers_change_after_a_write_and_not_otherwise(env: ContractEnv) -> None:
    cw, room = env.caseworker_calendar, env.room_calendar
    first = env.connector.change_markers([cw, room])
    if not env.markers_supported:
        assert first == {}
        return
    assert set(first) == {cw, room}
    assert env.connector.change_markers([cw, room]) == first

    env.backdoor.put_foreign_event(cw, unique("x"), "Møde", at(8), at(9))
    second = env.connector.change_markers([cw, room])
    assert second[cw] != first[cw]
    assert second[room] == first[room]

    env.connector.upsert_event(room, draft(unique("booking")))
    third = env.connector.change_markers([cw, room])
    assert third[room] != second[room]
    assert third[cw] == second[cw]
