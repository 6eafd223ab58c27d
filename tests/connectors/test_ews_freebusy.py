"""Free/busy over GetUserAvailability: 42-day split, naive answers localised across DST."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.ews_availability import availability_timezone, windows
from tests.sims.ews.harness import CPH, METTE, ROOM_L2, running
from tests.sims.ews.ops_misc import RequestZone
from tests.sims.ews.xmlio import T

START = datetime(2027, 3, 1, tzinfo=CPH)


def test_long_ranges_are_split_into_windows_of_at_most_42_days() -> None:
    with running() as (sim, backdoor, conn):
        for week in range(14):
            day = START + timedelta(days=7 * week, hours=9)
            backdoor.put_foreign_event(ROOM_L2, f"w{week}", "Møde", day, day + timedelta(hours=1))
        edge = START + timedelta(days=42, hours=-1)  # spans the first window boundary
        backdoor.put_foreign_event(METTE, "edge", "Nat", edge, edge + timedelta(hours=2))
        sim.clear_log()

        result = conn.free_busy([METTE, ROOM_L2], START, START + timedelta(days=100))

        assert len(sim.requests("GetUserAvailabilityRequest")) == 3
        assert len(result[ROOM_L2]) == 14
        assert [(b.start, b.end) for b in result[METTE]] == [(edge, edge + timedelta(hours=2))]


def test_times_are_localised_correctly_on_both_sides_of_the_dst_change() -> None:
    with running() as (_sim, backdoor, conn):
        winter = datetime(2027, 3, 23, 9, 0, tzinfo=CPH)
        summer = datetime(2027, 3, 30, 9, 0, tzinfo=CPH)
        backdoor.put_foreign_event(
            ROOM_L2,
            "series",
            "Ugemøde",
            winter,
            winter + timedelta(hours=1),
            rrule="FREQ=WEEKLY;COUNT=2",
        )
        busy = conn.free_busy([ROOM_L2], START, START + timedelta(days=40))[ROOM_L2]
        assert [(b.start, b.end) for b in busy] == [
            (winter, winter + timedelta(hours=1)),
            (summer, summer + timedelta(hours=1)),
        ]
        assert [b.start.utcoffset() for b in busy] == [timedelta(hours=1), timedelta(hours=2)]
        assert all(b.start.tzinfo == CPH and b.status == "BUSY" for b in busy)


def test_aware_input_in_another_zone_and_tentative_time() -> None:
    with running() as (sim, backdoor, conn):
        start = datetime(2027, 6, 1, 14, 0, tzinfo=CPH)
        backdoor.put_foreign_event(METTE, "t", "Måske", start, start + timedelta(minutes=45))
        sim.store.by_uid(METTE, "t").free_busy = "Tentative"
        utc = ZoneInfo("UTC")
        busy = conn.free_busy(
            [METTE], datetime(2027, 6, 1, tzinfo=utc), datetime(2027, 6, 2, tzinfo=utc)
        )
        assert [(b.start, b.status) for b in busy[METTE]] == [(start, "TENTATIVE")]


def test_request_zone_rules_match_zoneinfo_all_year() -> None:
    """The Bias/StandardTime/DaylightTime we send describe Copenhagen exactly (2026-2028)."""
    import xml.etree.ElementTree as ET

    for year in (2026, 2027, 2028):
        tz = availability_timezone(CPH, year)
        el = ET.fromstring(
            f'<t:TimeZone xmlns:t="{T}"><t:Bias>{tz.bias}</t:Bias>'
            + "".join(
                f"<t:{name}><t:Bias>{r.bias}</t:Bias><t:Time>{r.time:%H:%M:%S}</t:Time>"
                f"<t:DayOrder>{r.occurrence}</t:DayOrder><t:Month>{r.iso_month}</t:Month>"
                f"<t:DayOfWeek>{('Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday')[r.weekday - 1]}</t:DayOfWeek></t:{name}>"
                for name, r in (
                    ("StandardTime", tz.standard_time),
                    ("DaylightTime", tz.daylight_time),
                )
            )
            + "</t:TimeZone>"
        )
        rules = RequestZone(el)
        moment = datetime(year, 1, 1, tzinfo=ZoneInfo("UTC"))
        while moment.year == year:
            assert rules.offset_at_utc(moment) == moment.astimezone(CPH).utcoffset(), moment
            moment += timedelta(minutes=30)


def test_windows_cover_the_range_without_gaps() -> None:
    parts = list(windows(START, START + timedelta(days=85)))
    assert [e - s for s, e in parts] == [timedelta(days=42), timedelta(days=42), timedelta(days=1)]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))


def test_more_than_100_mailboxes_are_asked_in_calls_of_100() -> None:
    """Exchange refuses a MailboxDataArray of over 100 (ErrorMailboxDataArrayTooBig)."""
    with running() as (sim, backdoor, conn):
        many = [f"sagsbehandler{n:03d}@lilleby.dk" for n in range(230)]
        for address in many:
            sim.store.add_mailbox(address, address.split("@")[0])
        last = START + timedelta(hours=9)
        backdoor.put_foreign_event(many[-1], "x", "Møde", last, last + timedelta(hours=1))
        sim.clear_log()
        result = conn.free_busy(many, START, START + timedelta(days=1))
        assert set(result) == set(many) and len(result[many[-1]]) == 1
        calls = sim.requests("GetUserAvailabilityRequest")
        assert len(calls) == 3 and all(c.status == 200 for c in calls)


def test_the_simulator_refuses_over_100_mailboxes_as_exchange_does() -> None:
    """exchangelib itself sends 100 per call; asked to send 101 at once, Exchange refuses."""
    from exchangelib import EWSDateTime
    from exchangelib.properties import FreeBusyViewOptions, MailboxData, TimeWindow
    from exchangelib.services import GetUserAvailability

    with running() as (sim, _backdoor, conn):
        many = [f"sagsbehandler{n:03d}@lilleby.dk" for n in range(101)]
        for address in many:
            sim.store.add_mailbox(address, address.split("@")[0])
        window = TimeWindow(
            start=EWSDateTime.from_datetime(START).astimezone(conn._ews_zone),
            end=EWSDateTime.from_datetime(START + timedelta(days=1)).astimezone(conn._ews_zone),
        )
        service = GetUserAvailability(conn.protocol, chunk_size=200)
        try:
            answers = list(
                service.call(
                    tzinfo=conn._ews_zone,
                    mailbox_data=[MailboxData(email=a, attendee_type="Required") for a in many],
                    timezone=availability_timezone(CPH, START.year),
                    free_busy_view_options=FreeBusyViewOptions(
                        time_window=window, requested_view="FreeBusy"
                    ),
                )
            )
        except Exception as exc:  # the fault refuses the whole request
            answers = [exc]
        assert [type(a).__name__ for a in answers] == ["ErrorMailboxDataArrayTooBig"]
