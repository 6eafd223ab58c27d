"""EWS reading: sync states, recurrence, time zones (Windows and localised names), requests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import SyncTokenInvalid
from tests.sims.ews.harness import CPH, JONAS, METTE, WINDOW, running

# exchangelib warns about "Customized Time Zone" ids; the connector resolves them by display name.
pytestmark = pytest.mark.filterwarnings("ignore:Cannot convert value")
TUE = datetime(2027, 3, 2, tzinfo=CPH)  # DST starts Sunday 28 March 2027


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return TUE.replace(hour=hour, minute=minute) + timedelta(days=days)


def test_sync_state_invalidated_by_the_server_raises_then_full_resync_recovers() -> None:
    with running() as (_sim, backdoor, conn):
        backdoor.put_foreign_event(METTE, "a", "Teammøde", at(10), at(11))
        first = conn.fetch_changes(METTE, None, *WINDOW)
        backdoor.invalidate_sync_states(METTE)  # e.g. the mailbox was moved to another database

        with pytest.raises(SyncTokenInvalid) as caught:
            conn.fetch_changes(METTE, first.token, *WINDOW)
        assert caught.value.calendar_id == METTE
        assert "ErrorInvalidSyncStateData" in str(caught.value)

        again = conn.fetch_changes(METTE, None, *WINDOW)
        assert again.full is True and [i.uid for i in again.changed] == ["a"]
        quiet = conn.fetch_changes(METTE, again.token, *WINDOW)
        assert (list(quiet.changed), list(quiet.deleted)) == ([], [])


def test_idle_sync_is_one_request_and_only_ids_are_asked_for() -> None:
    with running() as (sim, backdoor, conn):
        backdoor.put_foreign_event(METTE, "a", "Teammøde", at(10), at(11))
        token = conn.fetch_changes(METTE, None, *WINDOW).token
        sim.clear_log()
        conn.fetch_changes(METTE, token, *WINDOW)
        assert [e.op for e in sim.requests()] == ["SyncFolderItems"]
        backdoor.put_foreign_event(METTE, "b", "Frokost", at(12), at(13))
        sim.clear_log()
        changes = conn.fetch_changes(METTE, token, *WINDOW)
        assert [e.op for e in sim.requests()] == ["SyncFolderItems", "GetItem"]
        assert [i.uid for i in changes.changed] == ["b"]


def test_many_changes_are_paged_through_sync_states() -> None:
    with running() as (sim, backdoor, conn):
        for n in range(530):
            start = at(8, days=n % 60) + timedelta(minutes=n % 7)
            backdoor.put_foreign_event(
                METTE, f"u{n}", f"Møde {n}", start, start + timedelta(minutes=15)
            )
        changes = conn.fetch_changes(METTE, None, *WINDOW)
        assert len({i.uid for i in changes.changed}) == 530
        assert len(sim.requests("SyncFolderItems")) == 2


def test_weekly_window_with_skipped_and_moved_week_across_dst() -> None:
    with running() as (_sim, backdoor, conn):
        backdoor.put_foreign_event(
            METTE,
            "window",
            "Selvbook: Jobsamtale",
            at(9),
            at(12),
            categories=("Selvbook",),
            rrule="FREQ=WEEKLY;BYDAY=TU;UNTIL=20270427T215959Z",
        )
        backdoor.delete_occurrence(METTE, "window", at(9, days=7))
        backdoor.move_occurrence(
            METTE, "window", at(9, days=28), at(10, days=28), at(13, days=28)
        )  # 30 March, the first week of summer time: moved by an hour

        [item] = conn.fetch_changes(METTE, None, *WINDOW).changed

        assert item.rrule.startswith("FREQ=WEEKLY;INTERVAL=1;BYDAY=TU")
        assert "UNTIL=20270427T215959Z" in item.rrule
        assert item.exdates == (at(9, days=7),)
        [override] = item.overrides
        assert override.recurrence_id == at(9, days=28)
        assert (override.start, override.end) == (at(10, days=28), at(13, days=28))
        assert override.start.utcoffset() == timedelta(hours=2)  # wall time kept across DST
        assert (item.start, item.end) == (at(9), at(12))
        assert item.tzid == "Romance Standard Time"
        assert item.start.tzinfo == CPH  # Copenhagen, not CLDR's Europe/Paris


@pytest.mark.parametrize(
    ("zone", "name", "expected"),
    [
        (CPH, "(UTC+01:00) Bruxelles, København, Madrid, Paris", "Europe/Copenhagen"),
        (CPH, "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "Europe/Copenhagen"),
        (ZoneInfo("Europe/Berlin"), None, "Europe/Berlin"),
    ],
)
def test_windows_and_localised_zone_names(zone: ZoneInfo, name: str | None, expected: str) -> None:
    with running() as (_sim, backdoor, conn):
        start = datetime(2027, 6, 1, 9, 0, tzinfo=zone)
        backdoor.put_foreign_event(
            METTE, "z", "Møde", start, start + timedelta(hours=1), tz_name=name
        )
        [item] = conn.fetch_changes(METTE, None, *WINDOW).changed
        assert item.start == start and item.start.tzinfo == ZoneInfo(expected)
        assert item.start.hour == 9
        if name:
            assert item.tzid == name


def test_all_day_free_and_tentative_items() -> None:
    with running() as (_sim, backdoor, conn):
        friday = datetime(2027, 3, 5, tzinfo=CPH)
        backdoor.put_foreign_event(
            METTE, "fri", "Fri", friday, friday + timedelta(days=1), all_day=True
        )
        backdoor.put_foreign_event(
            METTE, "note", "Husk", at(13), at(14), transparent=True, private=True
        )
        items = {i.uid: i for i in conn.fetch_changes(METTE, None, *WINDOW).changed}
        assert items["fri"].all_day and (items["fri"].start, items["fri"].end) == (
            date(2027, 3, 5),
            date(2027, 3, 6),
        )
        assert items["note"].transparent is True


def test_deleted_item_and_own_items_carry_our_external_id_only() -> None:
    with running() as (_sim, backdoor, conn):
        from connectors.base import EventDraft

        backdoor.put_foreign_event(METTE, "theirs", "Teammøde", at(10), at(11))
        conn.upsert_event(
            METTE, EventDraft(external_id="bk-1", summary="Jobsamtale", start=at(9), end=at(9, 30))
        )
        first = conn.fetch_changes(METTE, None, *WINDOW)
        ids = {i.uid: i.external_id for i in first.changed}
        assert ids == {"theirs": None, "bk-1": "bk-1"}
        backdoor.delete_event(METTE, "theirs")
        later = conn.fetch_changes(METTE, first.token, *WINDOW)
        assert len(later.deleted) == 1 and later.changed == []
        assert conn.fetch_changes(JONAS, None, *WINDOW).changed == []
