"""Unreadable items still block time: ``mappings.salvage`` reads a superset of it from raw text."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mappings.salvage import blocked, salvage

CPH = ZoneInfo("Europe/Copenhagen")
LO = datetime(2026, 12, 1, tzinfo=UTC)
HI = datetime(2027, 1, 1, tzinfo=UTC)


def _ics(*lines: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
        + "".join(f"{line}\r\n" for line in lines)
        + "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _z(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def test_uid_and_summary_without_cpr_survive_a_broken_item() -> None:
    found = salvage(
        _ics("UID:abc", "SUMMARY:Samtale med 010203-1234 om", " noget", "DTSTART:garbage")
    )
    assert found.uid == "abc"
    assert "010203-1234" not in found.summary and found.summary.startswith("Samtale med")
    assert found.spans == ()  # no readable start: nothing to block (still listed)


def test_rscale_series_blocks_its_time_of_day_every_day() -> None:
    text = _ics(
        "UID:l", "DTSTART:20261202T090000Z", "DTEND:20261202T094500Z",
        "RRULE:RSCALE=CHINESE;FREQ=MONTHLY;UNTIL=20261210T000000Z",
    )  # fmt: skip
    got = blocked(salvage(text).spans, LO, HI, zone=CPH)
    assert got[0] == (_z(2026, 12, 2, 9), _z(2026, 12, 2, 9, 45))
    assert len(got) == 8  # 2 ... 9 December, then UNTIL ends it
    assert all(b - a == (got[0][1] - got[0][0]) for a, b in got)


def test_thisandfuture_blocks_the_master_and_the_moved_future() -> None:
    text = (
        _ics("UID:t", "DTSTART:20261201T090000Z", "DTEND:20261201T093000Z",
             "RRULE:FREQ=WEEKLY;COUNT=4")
        .replace("END:VCALENDAR", "BEGIN:VEVENT\r\nUID:t\r\n"
                 "RECURRENCE-ID;RANGE=THISANDFUTURE:20261208T090000Z\r\n"
                 "DTSTART:20261208T100000Z\r\nDTEND:20261208T103000Z\r\nEND:VEVENT\r\nEND:VCALENDAR")
    )  # fmt: skip
    got = blocked(salvage(text).spans, LO, HI, zone=CPH)
    for day in (8, 15, 22):  # by RFC 5545 these moved to 10:00Z
        assert (_z(2026, 12, day, 10), _z(2026, 12, day, 10, 30)) in got
    assert (_z(2026, 12, 1, 9), _z(2026, 12, 1, 9, 30)) in got


def test_unknown_zone_is_read_with_an_hour_of_slack() -> None:
    text = _ics(
        "UID:z", "DTSTART;TZID=Western/Central Europe:20261202T100000",
        "DTEND;TZID=Western/Central Europe:20261202T110000",
    )  # fmt: skip
    # 10:00-11:00 Copenhagen is 09:00-10:00Z; UTC+0 to UTC+2 reads 08:00Z-11:00Z at most.
    assert blocked(salvage(text).spans, LO, HI, zone=CPH) == [
        (_z(2026, 12, 2, 8), _z(2026, 12, 2, 11))
    ]


def test_transparent_and_cancelled_items_block_nothing() -> None:
    for extra in ("TRANSP:TRANSPARENT", "STATUS:CANCELLED"):
        text = _ics("UID:f", "DTSTART:20261202T090000Z", "DURATION:PT1H", extra)
        assert blocked(salvage(text).spans, LO, HI, zone=CPH) == []
    busy = _ics("UID:b", "DTSTART:20261202T090000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=2")
    assert blocked(salvage(busy).spans, LO, HI, zone=CPH) == [
        (_z(2026, 12, 2, 9), _z(2026, 12, 2, 10)),
        (_z(2026, 12, 3, 9), _z(2026, 12, 3, 10)),
    ]
