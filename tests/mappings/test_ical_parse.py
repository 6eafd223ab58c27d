"""parse_resource: one CalDAV resource -> one CalendarItem, or a clear ItemParseError."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mappings.errors import ItemParseError, NotAnEvent
from mappings.ical import parse_resource
from tests.mappings.helpers import CPH, CUSTOM_CET, CUSTOM_PLUS3, UTC, cph, vcal

HREF = "/dav/mette/calendar/abc.ics"


def parse(text: str, **kwargs: object):
    return parse_resource(text, HREF, "etag-1", **kwargs)  # type: ignore[arg-type]


def test_plain_timed_event_in_copenhagen() -> None:
    item = parse(
        vcal(
            """
            UID:abc-1
            SUMMARY:Teammøde
            DTSTART;TZID=Europe/Copenhagen:20260310T100000
            DTEND;TZID=Europe/Copenhagen:20260310T103000
            LOCATION:Mødelokale L2\\, 3. sal
            DESCRIPTION:Linje 1\\nLinje 2
            """
        )
    )
    assert item.href == HREF and item.etag == "etag-1" and item.uid == "abc-1"
    assert item.summary == "Teammøde"
    assert item.start == cph(2026, 3, 10, 10) and item.start.tzinfo == CPH
    assert item.end == cph(2026, 3, 10, 10, 30)
    assert item.location == "Mødelokale L2, 3. sal"
    assert item.description == "Linje 1\nLinje 2"
    assert item.status == "CONFIRMED" and not item.transparent and not item.all_day
    assert item.external_id is None and item.rrule is None and item.overrides == ()
    assert item.tzid == "Europe/Copenhagen"


@pytest.mark.parametrize(
    "tzid",
    [
        "Romance Standard Time",
        "(UTC+01:00) Bruxelles, København, Madrid, Paris",
        "(UTC+01:00) Brussels, Copenhagen, Madrid, Paris",
        "(UTC+01:00) Brüssel, Kopenhagen, Madrid, Paris",
        "(UTC+01:00) Bruxelles, Copenhague, Madrid, Paris",
        "/mozilla.org/20050126_1/Europe/Copenhagen",
    ],
)
@pytest.mark.filterwarnings("ignore::icalendar.GloballyUniqueTZIDGuessed")  # its guess is unused
def test_windows_and_localised_zone_names_resolve_to_copenhagen(tzid: str) -> None:
    item = parse(
        vcal(
            f"""
            UID:w
            DTSTART;TZID="{tzid}":20260701T090000
            DTEND;TZID="{tzid}":20260701T100000
            """
        )
    )
    assert item.start.tzinfo == CPH  # not Europe/Paris, the CLDR default
    assert item.start == cph(2026, 7, 1, 9)
    assert item.tzid == tzid


def test_custom_vtimezone_equal_to_copenhagen_becomes_the_iana_zone() -> None:
    item = parse(
        vcal(
            """
            UID:c
            DTSTART;TZID=Customized Time Zone:20260330T090000
            DTEND;TZID=Customized Time Zone:20260330T100000
            """,
            zones=CUSTOM_CET,
        )
    )
    assert item.start.tzinfo == CPH
    assert item.start.utcoffset() == timedelta(hours=2)  # summer time already


def test_custom_vtimezone_that_is_no_known_zone_keeps_its_own_rules() -> None:
    item = parse(
        vcal(
            """
            UID:c
            DTSTART;TZID=Min egen zone:20260110T120000
            DTEND;TZID=Min egen zone:20260110T130000
            """,
            zones=CUSTOM_PLUS3,
        )
    )
    assert item.start.utcoffset() == timedelta(hours=3)
    assert item.start == datetime(2026, 1, 10, 9, tzinfo=UTC)


def test_utc_times_stay_utc() -> None:
    item = parse(vcal("UID:z\nDTSTART:20260310T080000Z\nDTEND:20260310T090000Z"))
    assert item.start == cph(2026, 3, 10, 9)
    assert item.start.utcoffset() == timedelta(0)


def test_floating_times_mean_copenhagen() -> None:
    item = parse(vcal("UID:f\nDTSTART:20260710T090000\nDTEND:20260710T100000"))
    assert item.start == cph(2026, 7, 10, 9) and item.start.tzinfo == CPH


def test_x_wr_timezone_sets_floating_zone_and_shows_utc_times_locally() -> None:
    text = vcal(
        "UID:g1\nDTSTART:20260710T090000\nDTEND:20260710T100000",
        head="X-WR-TIMEZONE:Europe/London",
    )
    floating = parse(text)
    assert floating.start == datetime(2026, 7, 10, 9, tzinfo=ZoneInfo("Europe/London"))
    utc_text = vcal(
        "UID:g2\nDTSTART:20260710T080000Z\nDTEND:20260710T090000Z",
        head="X-WR-TIMEZONE:Europe/Copenhagen",
    )
    utc_item = parse(utc_text)
    assert utc_item.start.tzinfo == CPH and utc_item.start.hour == 10


def test_time_in_the_spring_gap_moves_forward() -> None:
    item = parse(
        vcal(
            "UID:gap\nDTSTART;TZID=Europe/Copenhagen:20260329T023000\n"
            "DTEND;TZID=Europe/Copenhagen:20260329T040000"
        )
    )
    assert (item.start.hour, item.start.minute) == (3, 30)
    assert item.start.utcoffset() == timedelta(hours=2)


def test_all_day_event_gives_dates() -> None:
    item = parse(vcal("UID:a\nSUMMARY:Fri\nDTSTART;VALUE=DATE:20260313\nDTEND;VALUE=DATE:20260314"))
    assert item.all_day and item.start == date(2026, 3, 13) and item.end == date(2026, 3, 14)


@pytest.mark.parametrize(
    ("body", "start", "end"),
    [
        ("DTSTART;VALUE=DATE:20260313", date(2026, 3, 13), date(2026, 3, 14)),
        ("DTSTART;VALUE=DATE:20260313\nDURATION:P3D", date(2026, 3, 13), date(2026, 3, 16)),
        ("DTSTART;VALUE=DATE:20260313\nDURATION:P1W", date(2026, 3, 13), date(2026, 3, 20)),
        (
            "DTSTART;TZID=Europe/Copenhagen:20260313T090000",
            cph(2026, 3, 13, 9),
            cph(2026, 3, 13, 9),
        ),
        (
            "DTSTART;TZID=Europe/Copenhagen:20260313T090000\nDURATION:PT45M",
            cph(2026, 3, 13, 9),
            cph(2026, 3, 13, 9, 45),
        ),
        # A day is a calendar day across DST (23 real hours), hours are real hours.
        (
            "DTSTART;TZID=Europe/Copenhagen:20260328T090000\nDURATION:P1D",
            cph(2026, 3, 28, 9),
            cph(2026, 3, 29, 9),
        ),
        (
            "DTSTART;TZID=Europe/Copenhagen:20260328T090000\nDURATION:PT24H",
            cph(2026, 3, 28, 9),
            cph(2026, 3, 29, 10),
        ),
    ],
)
def test_missing_dtend_uses_duration_or_rfc_default(
    body: str, start: date | datetime, end: date | datetime
) -> None:
    item = parse(vcal("UID:d\n" + body))
    assert item.start == start
    assert item.end == end
    assert type(item.end) is type(end)


def test_transparency_status_and_exchange_busy_status() -> None:
    free = parse(vcal("UID:t\nDTSTART:20260310T080000Z\nTRANSP:TRANSPARENT\nSTATUS:tentative"))
    assert free.transparent and free.status == "TENTATIVE"
    cancelled = parse(vcal("UID:t\nDTSTART:20260310T080000Z\nSTATUS:CANCELLED"))
    assert cancelled.status == "CANCELLED" and not cancelled.transparent
    exchange = parse(vcal("UID:t\nDTSTART:20260310T080000Z\nX-MICROSOFT-CDO-BUSYSTATUS:FREE"))
    assert exchange.transparent
    opaque_wins = parse(
        vcal("UID:t\nDTSTART:20260310T080000Z\nTRANSP:OPAQUE\nX-MICROSOFT-CDO-BUSYSTATUS:FREE")
    )
    assert not opaque_wins.transparent


def test_categories_from_several_lines_and_comma_lists() -> None:
    item = parse(
        vcal(
            """
            UID:cat
            DTSTART:20260310T080000Z
            CATEGORIES:Selvbook,Arbejde
            CATEGORIES:Privat
            CATEGORIES:selvbook,Arbejde
            CATEGORIES:Med\\, komma
            """
        )
    )
    assert item.categories == ("Selvbook", "Arbejde", "Privat", "selvbook", "Med, komma")


def test_recurrence_data_and_overrides() -> None:
    item = parse(
        vcal(
            """
            UID:series
            SUMMARY:Selvbook
            DTSTART;TZID=Europe/Copenhagen:20260303T090000
            DTEND;TZID=Europe/Copenhagen:20260303T120000
            RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20261231T225959Z
            EXDATE;TZID=Europe/Copenhagen:20260310T090000,20260317T090000
            EXDATE:20260324T080000Z
            RDATE;TZID=Europe/Copenhagen:20260305T090000
            """,
            """
            UID:series
            SUMMARY:Selvbook
            RECURRENCE-ID;TZID=Europe/Copenhagen:20260331T090000
            DTSTART;TZID=Europe/Copenhagen:20260331T100000
            DTEND;TZID=Europe/Copenhagen:20260331T130000
            """,
            """
            UID:series
            SUMMARY:Selvbook
            RECURRENCE-ID;TZID=Europe/Copenhagen:20260407T090000
            DTSTART;TZID=Europe/Copenhagen:20260407T090000
            DTEND;TZID=Europe/Copenhagen:20260407T120000
            STATUS:CANCELLED
            """,
        )
    )
    assert item.rrule == "FREQ=WEEKLY;UNTIL=20261231T225959Z;BYDAY=TU"
    assert item.exdates == (cph(2026, 3, 10, 9), cph(2026, 3, 17, 9), cph(2026, 3, 24, 9))
    assert item.rdates == (cph(2026, 3, 5, 9),)
    assert [o.recurrence_id for o in item.overrides] == [cph(2026, 3, 31, 9), cph(2026, 4, 7, 9)]
    moved, cancelled = item.overrides
    assert moved.start == cph(2026, 3, 31, 10) and moved.uid == "series"
    assert cancelled.status == "CANCELLED"
    assert item.recurrence_id is None


def test_duplicate_override_keeps_the_highest_sequence() -> None:
    base = "UID:s\nRECURRENCE-ID:20260310T080000Z\nDTSTART:{}\nSEQUENCE:{}"
    item = parse(
        vcal(
            "UID:s\nDTSTART:20260303T080000Z\nRRULE:FREQ=WEEKLY",
            base.format("20260310T100000Z", 2),
            base.format("20260310T090000Z", 1),
        )
    )
    assert len(item.overrides) == 1
    assert item.overrides[0].start.hour == 10


def test_only_overrides_without_master() -> None:
    item = parse(
        vcal(
            "UID:inv\nRECURRENCE-ID:20260317T080000Z\nDTSTART:20260317T090000Z",
            "UID:inv\nRECURRENCE-ID:20260310T080000Z\nDTSTART:20260310T090000Z",
        )
    )
    assert item.recurrence_id == datetime(2026, 3, 10, 8, tzinfo=UTC)
    assert [o.recurrence_id for o in item.overrides] == [datetime(2026, 3, 17, 8, tzinfo=UTC)]


def test_rdate_period_becomes_an_override_with_its_own_length() -> None:
    item = parse(
        vcal(
            "UID:p\nDTSTART:20260303T080000Z\nDTEND:20260303T090000Z\n"
            "RDATE;VALUE=PERIOD:20260305T120000Z/20260305T150000Z,20260306T120000Z/PT30M"
        )
    )
    assert item.rdates == ()
    spans = [(o.recurrence_id, o.end - o.start) for o in item.overrides]
    assert spans == [
        (datetime(2026, 3, 5, 12, tzinfo=UTC), timedelta(hours=3)),
        (datetime(2026, 3, 6, 12, tzinfo=UTC), timedelta(minutes=30)),
    ]


def test_room_attendee_status_by_mailbox() -> None:
    item = parse(
        vcal(
            """
            UID:r
            DTSTART:20260310T080000Z
            ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:L2@Jobcenter.DK
            ATTENDEE;CUTYPE=RESOURCE;PARTSTAT=declined:MAILTO:projektor@jobcenter.dk
            ATTENDEE;CUTYPE=ROOM:mailto:l5@jobcenter.dk
            ATTENDEE;CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED:mailto:mette@jobcenter.dk
            ATTENDEE;PARTSTAT=ACCEPTED:mailto:ole@jobcenter.dk
            """
        )
    )
    assert item.attendee_status == {
        "l2@jobcenter.dk": "ACCEPTED",
        "projektor@jobcenter.dk": "DECLINED",
        "l5@jobcenter.dk": "NEEDS-ACTION",
    }


def test_external_id_only_from_our_property() -> None:
    ours = parse(vcal("UID:b-1\nDTSTART:20260310T080000Z\nX-SELVBOOK-ID:b-1"))
    assert ours.external_id == "b-1"
    foreign = parse(vcal("UID:b-1\nDTSTART:20260310T080000Z\nX-OTHER-ID:b-1"))
    assert foreign.external_id is None
    empty = parse(vcal("UID:b-1\nDTSTART:20260310T080000Z\nX-SELVBOOK-ID:"))
    assert empty.external_id is None
    custom = parse(
        vcal("UID:k-9\nDTSTART:20260310T080000Z\nX-KOMMUNE-ID:k-9"), external_id_prop="x-kommune-id"
    )
    assert custom.external_id == "k-9"
    # A client's copy: a new UID, every other property kept, ours too. Not ours.
    copy = parse(vcal("UID:copy-1\nDTSTART:20260310T080000Z\nX-SELVBOOK-ID:b-1"))
    assert copy.external_id is None


def test_tolerates_bom_bare_newlines_folding_and_missing_uid() -> None:
    text = (
        "\ufeffBEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nDTSTART:20260310T080000Z\n"
        "SUMMARY:Et meget langt\n  emne\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    item = parse(text)
    assert item.summary == "Et meget langt emne"
    assert item.uid == HREF  # no UID: the href is the identity


def test_unrelated_broken_property_is_tolerated() -> None:
    item = parse(vcal("UID:x\nDTSTART:20260310T080000Z\nSEQUENCE:not-a-number\nPRIORITY:x"))
    assert item.start == datetime(2026, 3, 10, 8, tzinfo=UTC)


# --------------------------------------------------------------------------- errors


def _error(text: object, **kwargs: object) -> ItemParseError:
    with pytest.raises(ItemParseError) as caught:
        parse_resource(text, HREF, **kwargs)  # type: ignore[arg-type]
    error = caught.value
    assert error.href == HREF and HREF in str(error)
    # No library traceback chained on: the message itself must say what is wrong.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


@pytest.mark.parametrize(
    ("text", "reason", "where"),
    [
        ("", "empty calendar object", None),
        ("this is not a calendar", "not valid iCalendar", "line 1"),
        ("BEGIN:VEVENT\nUID:1\nDTSTART:20260101T100000Z\nEND:VEVENT", "expected a VCALENDAR", None),
        (vcal("UID:1\nSUMMARY:ingen start"), "event has no DTSTART", "VEVENT at line 4"),
        (vcal("UID:1\nDTSTART:bogus"), "invalid DTSTART", "line 6, DTSTART"),
        (vcal("UID:1\nDTSTART:20261340T100000"), "invalid DTSTART", "line 6, DTSTART"),
        (
            vcal("UID:1\nDTSTART:20260310T100000Z\nDTEND:20260310T090000Z"),
            "DTEND is before DTSTART",
            "line 7, DTEND",
        ),
        (
            vcal("UID:1\nDTSTART;VALUE=DATE:20260310\nDTEND:20260310T090000Z"),
            "differ in type",
            "line 7, DTEND",
        ),
        (vcal("UID:1\nDTSTART:20260310T100000Z\nDURATION:-PT1H"), "DURATION is negative", "line 7"),
        (
            vcal("UID:1\nDTSTART;TZID=Mars/Olympus:20260310T100000"),
            "unknown time zone 'Mars/Olympus'",
            "line 6, DTSTART",
        ),
        (vcal("UID:1\nDTSTART:20260310T100000Z\nRRULE:FREQ=FOO"), "invalid RRULE", "line 7, RRULE"),
        (
            vcal("UID:1\nDTSTART:20260310T100000Z\nRRULE:FREQ=WEEKLY;BYDAY=XX"),
            "RRULE",
            "line 7, RRULE",
        ),
        (
            vcal("UID:1\nDTSTART:20260310T100000Z\nRRULE:FREQ=DAILY;COUNT=3;UNTIL=20260401"),
            "COUNT and UNTIL",
            "line 7, RRULE",
        ),
        (
            vcal("UID:1\nDTSTART:20260310T100000Z\nRRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY"),
            "several different RRULE",
            "line 7, RRULE",
        ),
        (
            vcal("UID:1\nDTSTART:20260310T100000Z\nDTSTART:20260311T100000Z"),
            "DTSTART appears 2 times",
            "line 6, DTSTART",
        ),
        (vcal("UID:1\nDTSTART:20260310T100000Z\nGARBAGE LINE"), "unreadable line", "line 7"),
        (
            vcal("UID:1\nDTSTART:20260310T100000Z", "UID:2\nDTSTART:20260310T100000Z"),
            "2 UIDs",
            None,
        ),
        (
            vcal("UID:1\nDTSTART:20260310T100000Z", "UID:1\nDTSTART:20260311T100000Z"),
            "several VEVENTs without RECURRENCE-ID",
            "VEVENT at line 8",
        ),
        (
            vcal(
                "UID:1\nDTSTART:20260310T100000Z\nRRULE:FREQ=DAILY",
                "UID:1\nRECURRENCE-ID;RANGE=THISANDFUTURE:20260312T100000Z\n"
                "DTSTART:20260312T110000Z",
            ),
            "THISANDFUTURE is not supported",
            "line 11, RECURRENCE-ID",
        ),
        (
            vcal("UID:1\nDTSTART:20260310T100000", head="X-WR-TIMEZONE:Nowhere/Special"),
            "unknown calendar time zone",
            "X-WR-TIMEZONE",
        ),
    ],
)
def test_bad_input_raises_clear_error(text: str, reason: str, where: str | None) -> None:
    error = _error(text)
    assert reason in error.reason
    if where is not None:
        assert error.where is not None and where in error.where
        assert where in str(error)


def test_non_text_input_is_refused() -> None:
    assert "expected text" in _error(b"BEGIN:VCALENDAR").reason


def test_tasks_are_not_events() -> None:
    text = "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nSUMMARY:Ring til Ole\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    with pytest.raises(NotAnEvent) as caught:
        parse_resource(text, HREF)
    assert "VTODO" in str(caught.value)


def test_broken_vtimezone_is_reported_not_crashed() -> None:
    broken_zone = """
    BEGIN:VTIMEZONE
    TZID:Broken
    BEGIN:STANDARD
    TZOFFSETFROM:+0100
    TZOFFSETTO:nonsense
    END:STANDARD
    END:VTIMEZONE
    """
    error = _error(vcal("UID:1\nDTSTART;TZID=Broken:20260310T100000", zones=broken_zone))
    assert "UTC offset" in error.reason
    assert error.where == "line 8"  # the TZOFFSETTO line
