"""Pure domain rules: holidays, slot cutting across DST."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from syncd.domain.holidays import danish_public_holidays, easter_sunday, is_closed
from syncd.domain.model import ConversationType
from syncd.domain.slots import WindowOccurrence, cut_slots, subtract
from tests.support.jobcentre import CPH

JOB = ConversationType("jobsamtale", "Jobsamtale", 30, buffer_after_minutes=10)


def test_holidays_match_the_published_lists():
    assert sorted(danish_public_holidays(2026)) == [
        date(2026, 1, 1), date(2026, 4, 2), date(2026, 4, 3), date(2026, 4, 5),
        date(2026, 4, 6), date(2026, 5, 14), date(2026, 5, 24), date(2026, 5, 25),
        date(2026, 12, 25), date(2026, 12, 26),
    ]  # fmt: skip
    assert sorted(danish_public_holidays(2027)) == [
        date(2027, 1, 1), date(2027, 3, 25), date(2027, 3, 26), date(2027, 3, 28),
        date(2027, 3, 29), date(2027, 5, 6), date(2027, 5, 16), date(2027, 5, 17),
        date(2027, 12, 25), date(2027, 12, 26),
    ]  # fmt: skip
    assert date(2023, 5, 5) in danish_public_holidays(2023)  # store bededag before 2024
    assert not any(d.month == 4 and d.day == 26 for d in danish_public_holidays(2024))


@given(st.integers(1900, 2200))
def test_easter_is_a_sunday_in_spring(year):
    e = easter_sunday(year)
    assert e.weekday() == 6 and date(year, 3, 22) <= e <= date(year, 4, 25)


def test_no_slots_on_easter_monday_or_closing_days():
    def window(d):
        return WindowOccurrence(
            "m",
            datetime(d.year, d.month, d.day, 9, tzinfo=CPH),
            datetime(d.year, d.month, d.day, 12, tzinfo=CPH),
        )

    easter_monday = date(2027, 3, 29)
    assert cut_slots([window(easter_monday)], [], [JOB], ["jobsamtale"], zone=CPH) == []
    closing = date(2026, 12, 31)
    assert (
        cut_slots(
            [window(closing)],
            [],
            [JOB],
            ["jobsamtale"],
            zone=CPH,
            closing_days=frozenset({closing}),
        )
        == []
    )
    assert len(cut_slots([window(date(2026, 12, 30))], [], [JOB], ["jobsamtale"], zone=CPH)) == 4


def test_slots_keep_their_length_across_dst_change():
    # Sunday 25 October 2026: clocks go back at 03:00. A window 01:00-05:00 local is 5 real hours.
    w = WindowOccurrence(
        "m", datetime(2026, 10, 25, 1, tzinfo=CPH), datetime(2026, 10, 25, 5, tzinfo=CPH)
    )
    slots = cut_slots([w], [], [JOB], ["jobsamtale"], zone=CPH)
    assert len(slots) == 7  # 300 minutes / 40
    for s in slots:
        assert s.end - s.start == timedelta(minutes=30)


def test_strakstid_share_is_held_back_evenly():
    w = WindowOccurrence(
        "m", datetime(2026, 12, 1, 8, tzinfo=CPH), datetime(2026, 12, 1, 16, 20, tzinfo=CPH)
    )
    slots = cut_slots([w], [], [JOB], ["jobsamtale"], zone=CPH, strakstid_share=0.25)
    flags = [s.strakstid for s in sorted(slots, key=lambda s: s.start)]
    assert len(flags) == 12 and sum(flags) == 3
    held = [i for i, f in enumerate(flags) if f]
    assert [held[1] - held[0], held[2] - held[1]] == [4, 4]  # evenly spread


def test_strakstid_shares_add_up_across_caseworkers_and_weeks():
    """10 %: about a tenth of the slots held back, though no caseworker has 10 a day."""
    monday = datetime(2026, 11, 30, 9, tzinfo=CPH)
    held = total = 0
    for cw in range(40):
        windows = [
            WindowOccurrence(f"cw{cw}", start, start + timedelta(minutes=80))
            for week in range(4)
            for day in range(5)
            if (start := monday + timedelta(weeks=week, days=day))
        ]
        slots = cut_slots(windows, [], [JOB], ["jobsamtale"], zone=CPH, strakstid_share=0.1)
        held += sum(s.strakstid for s in slots)
        total += len(slots)
    assert total >= 1500  # two a day (a holiday closes one day)
    assert 0.08 * total <= held <= 0.12 * total, (held, total)
    again = cut_slots(windows, [], [JOB], ["jobsamtale"], zone=CPH, strakstid_share=0.1)
    assert [s.strakstid for s in again] == [s.strakstid for s in slots]  # stable


@given(
    st.lists(st.tuples(st.integers(0, 600), st.integers(1, 120)), max_size=8),
)
def test_subtract_leaves_nothing_busy(busy_spec):
    base = datetime(2026, 12, 1, 8, tzinfo=CPH)
    seg = (base, base + timedelta(minutes=480))
    busy = [(base + timedelta(minutes=a), base + timedelta(minutes=a + n)) for a, n in busy_spec]
    free = subtract(seg, busy)
    for f_start, f_end in free:
        assert seg[0] <= f_start < f_end <= seg[1]
        assert not any(b0 < f_end and f_start < b1 for b0, b1 in busy)
    total_free = sum((e - s).total_seconds() for s, e in free)
    assert total_free <= 480 * 60
    assert is_closed(date(2026, 12, 25))
