"""Robustness on real-world calendars: every input parses or raises ItemParseError, and series
expand like recurring-ical-events expands them (except where we deliberately differ)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from connectors.base import CalendarItem
from mappings.errors import ItemParseError
from mappings.ical import parse_resource
from mappings.recurrence import expand
from tests.mappings.corpus import corpus_files, read, resources
from tests.mappings.helpers import CPH, RIE_CORPUS

UTC = ZoneInfo("UTC")
FILES = corpus_files()
pytestmark = pytest.mark.filterwarnings("ignore")  # icalendar warns about odd TZIDs; fine here


def _start(item: CalendarItem) -> datetime:
    if isinstance(item.start, datetime):
        return item.start
    return datetime.combine(item.start, time(), CPH)


def _parse_and_expand(text: str, href: str) -> CalendarItem | None:
    """Parse and expand around the item and in 2026; None when it was refused cleanly."""
    try:
        item = parse_resource(text, href)
        first = _start(item)
        expand(item, first - timedelta(days=3), first + timedelta(days=90), zone=CPH)
        expand(item, datetime(2026, 3, 1, tzinfo=CPH), datetime(2026, 4, 15, tzinfo=CPH), zone=CPH)
        return item
    except ItemParseError as exc:
        assert exc.href == href and href in str(exc)
        return None


@cache
def _understood(text: str) -> bool:
    return _parse_and_expand(text, "/corpus/resource.ics") is not None


def test_the_corpus_is_there() -> None:
    assert len(FILES) > 150


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_world_file_parses_or_is_refused_cleanly(path: Path) -> None:
    _parse_and_expand(read(path), f"/corpus/{path.name}")
    for text in resources(path):
        _understood(text)


def test_most_real_world_resources_are_understood() -> None:
    outcomes = [_understood(text) for path in FILES for text in resources(path)]
    assert len(outcomes) > 800
    assert sum(outcomes) / len(outcomes) > 0.9


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mangled_real_world_input_never_crashes(data: st.DataObject) -> None:
    """Drop, repeat, cut or garble lines of a good resource: still parsed or cleanly refused."""
    good = [t for p in FILES for t in resources(p) if len(t) < 20_000 and _understood(t)]
    text = data.draw(st.sampled_from(good), label="resource")
    lines = text.split("\r\n")
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="edits")):
        i = data.draw(st.integers(min_value=0, max_value=len(lines) - 1), label="line")
        action = data.draw(st.sampled_from(["drop", "repeat", "cut", "garble"]), label="action")
        if action == "drop":
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "cut":
            lines[i] = lines[i][: data.draw(st.integers(min_value=0, max_value=len(lines[i])))]
        else:
            junk = data.draw(st.text(min_size=1, max_size=8), label="junk")
            at = data.draw(st.integers(min_value=0, max_value=len(lines[i])))
            lines[i] = lines[i][:at] + junk + lines[i][at:]
        if not lines:
            break
    _parse_and_expand("\r\n".join(lines), "/mangled.ics")


# --------------------------------------------------------------------------- oracle

# Where we deliberately differ from recurring-ical-events, and why.
KNOWN_DIFFERENCES = {
    # A cancelled override is dropped: STATUS:CANCELLED removes the instance.
    "issue_18_cancel_status.ics": "cancelled instance dropped",
    # DTSTART is always the first instance (RFC 5545 3.8.5.3), even with UNTIL before it.
    "issue_117_until_before_dtstart.ics": "DTSTART kept",
    # Floating times mean Copenhagen here; DATE + PT10H is read as the whole day.
    "issue_201_test_matrix.ics": "floating times are local; date with hour duration",
    # An override whose RECURRENCE-ID is no instance of the rule is still an event.
    "issue_253_additional_recurrence_id.ics": "orphan override kept",
    # An all-day item whose DTEND equals its DTSTART is read as that one day, not as nothing.
    "Germany_Holidays.ics": "all-day DTEND == DTSTART is one day",
    # Exchange writes an all-day UNTIL as local midnight in UTC; we read it on the local day.
    "issue_28_rrule_with_UTC_endinginZ.ics": "all-day UNTIL in UTC read in local time",
}


def _instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=CPH)).astimezone(UTC)
    return datetime.combine(value, time(), CPH).astimezone(UTC)


def _theirs(text: str, lo: datetime, hi: datetime) -> set[tuple[datetime, datetime]]:
    found = set()
    for event in recurring_ical_events.of(Calendar.from_ical(text)).between(lo, hi):
        start = event["DTSTART"].dt
        if event.get("DTEND") is not None:
            end = event["DTEND"].dt
        elif event.get("DURATION") is not None:
            end = start + event["DURATION"].dt
        else:
            end = start if isinstance(start, datetime) else start + timedelta(days=1)
        found.add((_instant(start), _instant(end)))
    return found


def _mine_and_theirs(name: str, n: int, text: str):
    try:
        item = parse_resource(text, f"/corpus/{name}#{n}")
    except ItemParseError:
        return None  # refused cleanly: covered by the robustness tests
    lo = _start(item) - timedelta(days=2)
    hi = _start(item) + timedelta(days=400)
    mine = {
        (o.start.astimezone(UTC), o.end.astimezone(UTC)) for o in expand(item, lo, hi, zone=CPH)
    }
    return mine, _theirs(text, lo, hi)


_ORACLE_FILES = [p for p in sorted(RIE_CORPUS.glob("*.ics")) if p.name not in KNOWN_DIFFERENCES]


@pytest.mark.parametrize("path", _ORACLE_FILES, ids=lambda p: p.name)
def test_expansion_agrees_with_recurring_ical_events(path: Path) -> None:
    for n, text in enumerate(resources(path)):
        both = _mine_and_theirs(path.name, n, text)
        if both is not None:
            mine, theirs = both
            assert mine == theirs, f"resource #{n}"


def test_known_differences_still_differ() -> None:
    """If recurring-ical-events and we start to agree, the exception list must shrink."""
    for name in KNOWN_DIFFERENCES:
        outcomes = [
            _mine_and_theirs(name, n, t) for n, t in enumerate(resources(RIE_CORPUS / name))
        ]
        assert any(o is not None and o[0] != o[1] for o in outcomes), name
