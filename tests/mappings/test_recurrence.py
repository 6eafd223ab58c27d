"""expand: occurrences of an item inside a range, on the local wall clock."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.errors import ItemParseError
from mappings.ical import parse_resource
from mappings.recurrence import Occurrence, expand
from tests.mappings.helpers import CPH, cph, item, vcal


def starts(occurrences: list[Occurrence]) -> list[datetime]:
    return [o.start for o in occurrences]


def weekly_window(**changes: object):
    base = item(
        cph(2026, 3, 3, 9),
        cph(2026, 3, 3, 12),
        summary="Selvbook: Jobsamtale",
        rrule="FREQ=WEEKLY;BYDAY=TU",
    )
    return replace(base, **changes)


def test_weekly_series_keeps_local_time_across_both_dst_changes() -> None:
    series = weekly_window(rrule="FREQ=WEEKLY;BYDAY=TU;UNTIL=20261110T235959Z")
    found = expand(series, cph(2026, 3, 1), cph(2026, 12, 1), zone=CPH)
    assert len(found) == 37  # 3 March .. 10 November, every Tuesday
    assert {(o.start.hour, o.start.minute, o.end.hour) for o in found} == {(9, 0, 12)}
    offsets = {o.start.date(): o.start.utcoffset() for o in found}
    assert offsets[date(2026, 3, 24)] == timedelta(hours=1)
    assert offsets[date(2026, 3, 31)] == timedelta(hours=2)  # after 29 March
    assert offsets[date(2026, 10, 20)] == timedelta(hours=2)
    assert offsets[date(2026, 10, 27)] == timedelta(hours=1)  # after 25 October
    assert all(o.end - o.start == timedelta(hours=3) for o in found)
    assert found[0].recurrence_id == cph(2026, 3, 3, 9) and found[0].uid == "u1"


def test_sunday_series_on_the_change_days_themselves() -> None:
    series = item(cph(2026, 3, 22, 9), cph(2026, 3, 22, 10), rrule="FREQ=WEEKLY")
    spring = expand(series, cph(2026, 3, 29), cph(2026, 3, 30), zone=CPH)
    autumn = expand(series, cph(2026, 10, 25), cph(2026, 10, 26), zone=CPH)
    assert starts(spring) == [cph(2026, 3, 29, 9)] and spring[0].start.utcoffset() == timedelta(
        hours=2
    )
    assert starts(autumn) == [cph(2026, 10, 25, 9)] and autumn[0].start.utcoffset() == timedelta(
        hours=1
    )


def test_instance_in_the_spring_gap_moves_forward_an_hour() -> None:
    series = item(cph(2026, 3, 27, 2, 30), cph(2026, 3, 27, 3), rrule="FREQ=DAILY")
    (gap,) = expand(series, cph(2026, 3, 29), cph(2026, 3, 29, 12), zone=CPH)
    assert gap.start.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert gap.end - gap.start == timedelta(minutes=30)


def test_exdate_skips_a_week_whatever_zone_it_is_given_in() -> None:
    series = weekly_window(
        exdates=(
            cph(2026, 3, 10, 9),
            datetime(2026, 3, 17, 8, tzinfo=UTC),  # the same instant written in UTC
            date(2026, 3, 24),  # a sloppy date value for a timed series: that day
        )
    )
    found = expand(series, cph(2026, 3, 1), cph(2026, 4, 1), zone=CPH)
    assert starts(found) == [cph(2026, 3, 3, 9), cph(2026, 3, 31, 9)]


def test_moved_and_cancelled_overrides() -> None:
    moved = item(
        cph(2026, 3, 10, 13),
        cph(2026, 3, 10, 16),
        recurrence_id=cph(2026, 3, 10, 9),
    )
    cancelled = item(
        cph(2026, 3, 17, 9),
        cph(2026, 3, 17, 12),
        recurrence_id=cph(2026, 3, 17, 9),
        status="CANCELLED",
    )
    series = weekly_window(overrides=(moved, cancelled))
    found = expand(series, cph(2026, 3, 1), cph(2026, 3, 25), zone=CPH)
    assert starts(found) == [cph(2026, 3, 3, 9), cph(2026, 3, 10, 13), cph(2026, 3, 24, 9)]
    assert found[1].recurrence_id == cph(2026, 3, 10, 9)
    assert found[1].source is moved and found[0].source is series


def test_override_moved_into_and_out_of_the_range() -> None:
    into = item(cph(2026, 3, 20, 9), cph(2026, 3, 20, 10), recurrence_id=cph(2026, 3, 10, 9))
    out = item(cph(2026, 4, 20, 9), cph(2026, 4, 20, 10), recurrence_id=cph(2026, 3, 17, 9))
    series = weekly_window(overrides=(into, out))
    found = expand(series, cph(2026, 3, 16), cph(2026, 3, 21), zone=CPH)
    assert starts(found) == [cph(2026, 3, 20, 9)]


def test_all_day_items_are_local_midnight_to_midnight() -> None:
    fri = item(date(2026, 3, 13), date(2026, 3, 14), summary="Fri")
    (day,) = expand(fri, cph(2026, 3, 9), cph(2026, 3, 16), zone=CPH)
    assert day.all_day and day.start == cph(2026, 3, 13) and day.end == cph(2026, 3, 14)
    assert day.start.tzinfo == CPH
    spring = item(date(2026, 3, 29), date(2026, 3, 30))
    (short,) = expand(spring, cph(2026, 3, 28), cph(2026, 4, 1), zone=CPH)
    assert short.end.astimezone(UTC) - short.start.astimezone(UTC) == timedelta(hours=23)
    holiday = item(date(2026, 4, 2), date(2026, 4, 7))  # Easter, several days
    (easter,) = expand(holiday, cph(2026, 4, 6, 12), cph(2026, 4, 6, 13), zone=CPH)
    assert (easter.start, easter.end) == (cph(2026, 4, 2), cph(2026, 4, 7))


def test_all_day_series_with_exdate_and_override() -> None:
    series = item(
        date(2026, 3, 6),
        date(2026, 3, 7),
        rrule="FREQ=WEEKLY;COUNT=4",
        exdates=(date(2026, 3, 13),),
        overrides=(item(date(2026, 3, 23), date(2026, 3, 24), recurrence_id=date(2026, 3, 20)),),
    )
    found = expand(series, cph(2026, 3, 1), cph(2026, 4, 30), zone=CPH)
    assert starts(found) == [cph(2026, 3, 6), cph(2026, 3, 23), cph(2026, 3, 27)]
    assert found[0].recurrence_id == date(2026, 3, 6)


@pytest.mark.parametrize(
    ("rule", "expected_days"),
    [
        ("FREQ=DAILY;COUNT=3", [2, 3, 4]),
        ("FREQ=DAILY;INTERVAL=2;COUNT=3", [2, 4, 6]),
        ("FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=4", [2, 4, 6, 9]),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", [2, 16, 30]),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20260316T080000Z", [2, 9, 16]),  # UNTIL is inclusive
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20260316T075959Z", [2, 9]),
        ("FREQ=WEEKLY;BYDAY=MO;UNTIL=20260316", [2, 9, 16]),
        ("FREQ=MONTHLY;BYDAY=1MO;COUNT=2", [2]),  # 6 April is outside March
        ("FREQ=DAILY;BYDAY=MO,TU;COUNT=3", [2, 3, 9]),
    ],
)
def test_rule_parts(rule: str, expected_days: list[int]) -> None:
    series = item(cph(2026, 3, 2, 9), cph(2026, 3, 2, 10), rrule=rule)  # a Monday
    found = expand(series, cph(2026, 3, 1), cph(2026, 4, 1), zone=CPH)
    assert [o.start.day for o in found] == expected_days
    assert {o.start.hour for o in found} == {9}


def test_rdate_adds_instances_without_doubling_rule_instances() -> None:
    series = weekly_window(rdates=(cph(2026, 3, 5, 14), cph(2026, 3, 10, 9)))
    found = expand(series, cph(2026, 3, 1), cph(2026, 3, 12), zone=CPH)
    assert starts(found) == [cph(2026, 3, 3, 9), cph(2026, 3, 5, 14), cph(2026, 3, 10, 9)]
    assert found[1].end == cph(2026, 3, 5, 17)


def test_range_boundaries_are_half_open() -> None:
    single = item(cph(2026, 3, 10, 9), cph(2026, 3, 10, 10))
    assert expand(single, cph(2026, 3, 10, 9, 30), cph(2026, 3, 10, 9, 31), zone=CPH)  # inside
    assert expand(single, cph(2026, 3, 10, 8), cph(2026, 3, 10, 9, 1), zone=CPH)  # overlaps start
    assert not expand(single, cph(2026, 3, 10, 10), cph(2026, 3, 10, 11), zone=CPH)  # ends at
    assert not expand(single, cph(2026, 3, 10, 8), cph(2026, 3, 10, 9), zone=CPH)  # starts at end
    point = item(cph(2026, 3, 10, 9), cph(2026, 3, 10, 9))
    assert expand(point, cph(2026, 3, 10, 9), cph(2026, 3, 10, 10), zone=CPH)
    assert not expand(point, cph(2026, 3, 10, 8), cph(2026, 3, 10, 9), zone=CPH)
    assert expand(single, cph(2026, 3, 11), cph(2026, 3, 10), zone=CPH) == []


def test_occurrences_are_given_in_the_requested_zone() -> None:
    utc_item = item(datetime(2026, 7, 1, 7, tzinfo=UTC), datetime(2026, 7, 1, 8, tzinfo=UTC))
    (found,) = expand(utc_item, cph(2026, 7, 1), cph(2026, 7, 2), zone=CPH)
    assert found.start.tzinfo == CPH and found.start.hour == 9
    assert found.recurrence_id is None  # a single event has no recurrence id


def test_utc_series_recurs_in_utc() -> None:
    series = item(
        datetime(2026, 3, 24, 8, tzinfo=UTC),
        datetime(2026, 3, 24, 9, tzinfo=UTC),
        rrule="FREQ=WEEKLY",
    )
    found = expand(series, cph(2026, 3, 20), cph(2026, 4, 5), zone=CPH)
    assert [o.start.hour for o in found] == [9, 10]  # 08:00 UTC is 09:00 CET, then 10:00 CEST


def test_instances_of_an_invitation_without_master() -> None:
    first = item(
        cph(2026, 3, 10, 10),
        cph(2026, 3, 10, 11),
        recurrence_id=cph(2026, 3, 10, 9),
        overrides=(
            item(cph(2026, 3, 17, 10), cph(2026, 3, 17, 11), recurrence_id=cph(2026, 3, 17, 9)),
        ),
    )
    found = expand(first, cph(2026, 3, 1), cph(2026, 4, 1), zone=CPH)
    assert starts(found) == [cph(2026, 3, 10, 10), cph(2026, 3, 17, 10)]


def test_old_series_is_expanded_exactly_like_dateutil_from_its_start() -> None:
    start = cph(2015, 6, 2, 8, 15)
    rule = "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,TH"
    series = item(start, start + timedelta(minutes=45), rrule=rule)
    lo, hi = cph(2026, 2, 1), cph(2026, 5, 1)
    found = expand(series, lo, hi, zone=CPH)
    reference = rrulestr(rule, dtstart=start.replace(tzinfo=None)).between(
        lo.replace(tzinfo=None), hi.replace(tzinfo=None), inc=True
    )
    assert starts(found) == [r.replace(tzinfo=CPH) for r in reference]
    assert len(found) > 5


def test_unexpandable_rules_raise_item_parse_error() -> None:
    with pytest.raises(ItemParseError, match="RRULE"):
        expand(weekly_window(rrule="FREQ=FORTNIGHTLY"), cph(2026, 3, 1), cph(2026, 4, 1), zone=CPH)
    flood = item(cph(2026, 3, 1), cph(2026, 3, 1), rrule="FREQ=SECONDLY")
    with pytest.raises(ItemParseError, match="more than"):
        expand(flood, cph(2026, 3, 1), cph(2026, 3, 2), zone=CPH)
    with pytest.raises(ValueError, match="aware"):
        expand(weekly_window(), datetime(2026, 3, 1), datetime(2026, 4, 1), zone=CPH)


def test_story_4_window_series_with_skipped_and_moved_week_parsed_from_ics() -> None:
    text = vcal(
        """
        UID:mette-window
        SUMMARY:Selvbook: Jobsamtale
        DTSTART;TZID=Romance Standard Time:20260317T090000
        DTEND;TZID=Romance Standard Time:20260317T120000
        RRULE:FREQ=WEEKLY;BYDAY=TU
        EXDATE;TZID=Romance Standard Time:20260324T090000
        """,
        """
        UID:mette-window
        SUMMARY:Selvbook: Jobsamtale
        RECURRENCE-ID;TZID=Romance Standard Time:20260331T090000
        DTSTART;TZID=Romance Standard Time:20260331T100000
        DTEND;TZID=Romance Standard Time:20260331T130000
        """,
    )
    series = parse_resource(text, "/cal/mette-window.ics")
    found = expand(series, cph(2026, 3, 16), cph(2026, 4, 15), zone=CPH)
    assert [(o.start, o.end) for o in found] == [
        (cph(2026, 3, 17, 9), cph(2026, 3, 17, 12)),
        (cph(2026, 3, 31, 10), cph(2026, 3, 31, 13)),  # moved, in the week the clocks changed
        (cph(2026, 4, 7, 9), cph(2026, 4, 7, 12)),
        (cph(2026, 4, 14, 9), cph(2026, 4, 14, 12)),
    ]


# --------------------------------------------------------------------------- properties


@settings(max_examples=120, deadline=None)
@given(
    start_day=st.integers(min_value=0, max_value=3000),
    hour=st.integers(min_value=0, max_value=23),
    freq=st.sampled_from(["DAILY", "WEEKLY"]),
    interval=st.integers(min_value=1, max_value=4),
    byday=st.sets(st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]), max_size=3),
    lo_day=st.integers(min_value=0, max_value=3200),
    span=st.integers(min_value=1, max_value=60),
    cut=st.floats(min_value=0, max_value=1),
    count=st.none() | st.integers(min_value=1, max_value=800),
)
def test_splitting_the_range_never_changes_the_occurrences(
    start_day: int,
    hour: int,
    freq: str,
    interval: int,
    byday: set[str],
    lo_day: int,
    span: int,
    cut: float,
    count: int | None,
) -> None:
    """Expanding [a, c) equals expanding [a, b) and [b, c) (joined, without duplicates), and the
    fast start for old series (COUNT included) matches dateutil walking from DTSTART."""
    start = cph(2018, 1, 1, hour) + timedelta(days=start_day)
    rule = f"FREQ={freq};INTERVAL={interval}" + (
        f";BYDAY={','.join(sorted(byday))}" if byday else ""
    )
    rule += f";COUNT={count}" if count else ""
    series = item(start, start + timedelta(hours=2), rrule=rule)
    lo = cph(2018, 1, 1) + timedelta(days=lo_day)
    hi = lo + timedelta(days=span)
    middle = lo + (hi - lo) * cut
    whole = expand(series, lo, hi, zone=CPH)
    parts = expand(series, lo, middle, zone=CPH) + expand(series, middle, hi, zone=CPH)
    assert sorted(set(parts), key=lambda o: o.start) == whole
    reference = {
        r.replace(tzinfo=CPH).astimezone(UTC)
        for r in rrulestr(rule, dtstart=start.replace(tzinfo=None)).between(
            (lo - timedelta(days=2)).replace(tzinfo=None),
            (hi + timedelta(days=1)).replace(tzinfo=None),
        )
    } | {start.astimezone(UTC)}
    expected = sorted(
        s
        for s in reference
        if s < hi.astimezone(UTC) and s + timedelta(hours=2) > lo.astimezone(UTC)
    )
    assert [o.start.astimezone(UTC) for o in whole] == expected


# --------------------------------------------------------------------------- speed


def calendar_load(count: int) -> list:
    """A municipality-like mix: weekly windows, daily and weekly meetings, single events and
    all-day items, many series started years ago, some with exceptions."""
    rnd = random.Random(7)
    items = []
    for n in range(count):
        year = rnd.choice([2019, 2022, 2024, 2025, 2026, 2026])
        start = cph(year, rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(7, 15))
        kind = n % 5
        if kind == 0:
            items.append(item(start, start + timedelta(hours=1), uid=str(n)))
        elif kind == 1:
            items.append(
                item(
                    start,
                    start + timedelta(hours=3),
                    uid=str(n),
                    rrule="FREQ=WEEKLY;BYDAY=TU,TH",
                    exdates=(start + timedelta(days=7),),
                    overrides=(
                        item(
                            start + timedelta(days=14, hours=1),
                            start + timedelta(days=14, hours=2),
                            uid=str(n),
                            recurrence_id=start + timedelta(days=14),
                        ),
                    ),
                )
            )
        elif kind == 2:
            items.append(
                item(
                    start,
                    start + timedelta(minutes=30),
                    uid=str(n),
                    rrule="FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
                )
            )
        elif kind == 3:
            items.append(
                item(
                    start,
                    start + timedelta(hours=1),
                    uid=str(n),
                    rrule="FREQ=WEEKLY;INTERVAL=2;COUNT=60",
                )
            )
        else:
            day = start.date()
            items.append(item(day, day + timedelta(days=1), uid=str(n)))
    return items


def test_expanding_thousands_of_items_over_six_weeks() -> None:
    """The engine expands every caseworker's items each cycle; a municipality-like mix expands
    and a second pass (reusing parsed rules) gives the same occurrences. Speed: bench/recurrence.py."""
    items = calendar_load(3000)
    lo = cph(2026, 11, 23)
    hi = lo + timedelta(weeks=6)
    first = [expand(i, lo, hi, zone=CPH) for i in items]
    again = [expand(i, lo, hi, zone=CPH) for i in items]
    assert first == again
    assert sum(map(len, first)) > 10_000


def test_zone_argument_is_a_zoneinfo() -> None:
    found = expand(
        weekly_window(), cph(2026, 3, 1), cph(2026, 3, 8), zone=ZoneInfo("Europe/London")
    )
    assert found[0].start.hour == 8 and str(found[0].start.tzinfo) == "Europe/London"
