"""render_event: our own event as iCalendar, and back again through parse_resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from connectors.base import EventDraft
from mappings.ical import parse_resource, render_event
from mappings.privacy import contains_cpr
from tests.mappings.helpers import CPH, cph

STAMP = datetime(2026, 3, 1, 12, tzinfo=UTC)


def draft(**changes: object) -> EventDraft:
    values: dict[str, object] = {
        "external_id": "bk-7f3a",
        "summary": "Jobsamtale (selvbooket) - fremmøde",
        "start": cph(2026, 3, 10, 9, 40),
        "end": cph(2026, 3, 10, 10, 10),
        "location": "Mødelokale L2, Jobcenter Lilleby",
        "description": "Selvbooket samtale via Jobnet.\nBookingreference: R-8K2Q",
        "categories": ("Selvbook-booking",),
        "resources": ("l2@jobcenter.dk",),
    }
    values.update(changes)
    return EventDraft(**values)  # type: ignore[arg-type]


def unfolded(text: str) -> str:
    return text.replace("\r\n ", "")


def test_rendered_event_has_everything_a_server_and_outlook_need() -> None:
    text = render_event(draft(), dtstamp=STAMP, sequence=3)
    flat = unfolded(text)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "PRODID:-//Selvbook syncd//DA" in flat
    assert "UID:bk-7f3a\r\n" in flat
    assert "X-SELVBOOK-ID:bk-7f3a\r\n" in flat
    assert "DTSTART;TZID=Europe/Copenhagen:20260310T094000\r\n" in flat
    assert "DTEND;TZID=Europe/Copenhagen:20260310T101000\r\n" in flat
    assert "DTSTAMP:20260301T120000Z\r\n" in flat
    assert "SEQUENCE:3\r\n" in flat
    assert "CLASS:PRIVATE\r\n" in flat
    assert "TRANSP:OPAQUE\r\n" in flat
    assert "CATEGORIES:Selvbook-booking\r\n" in flat
    assert "LOCATION:Mødelokale L2\\, Jobcenter Lilleby\r\n" in flat
    assert "CUTYPE=ROOM" in flat and "mailto:l2@jobcenter.dk" in flat
    cal = Calendar.from_ical(text)
    (zone,) = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    assert str(zone["TZID"]) == "Europe/Copenhagen"
    assert {c.name for c in zone.subcomponents} == {"STANDARD", "DAYLIGHT"}


def test_same_draft_renders_byte_identically() -> None:
    assert render_event(draft(), dtstamp=STAMP) == render_event(draft(), dtstamp=STAMP)


def test_public_transparent_event_without_optional_fields() -> None:
    text = unfolded(
        render_event(
            draft(private=False, transparent=True, location="", description="", categories=()),
            dtstamp=STAMP,
            resources_as_attendees=False,
        )
    )
    assert "CLASS:" not in text and "TRANSP:TRANSPARENT" in text
    assert "LOCATION" not in text and "DESCRIPTION" not in text and "CATEGORIES" not in text
    assert "ATTENDEE" not in text


def test_times_are_written_in_the_requested_zone() -> None:
    utc_draft = draft(
        start=datetime(2026, 7, 1, 7, tzinfo=UTC), end=datetime(2026, 7, 1, 8, tzinfo=UTC)
    )
    assert "DTSTART;TZID=Europe/Copenhagen:20260701T090000" in render_event(utc_draft)
    windows = render_event(utc_draft, zone="Romance Standard Time")
    assert "DTSTART;TZID=Europe/Copenhagen:20260701T090000" in windows


def test_custom_external_id_property() -> None:
    text = render_event(draft(), external_id_prop="X-KOMMUNE-ID")
    assert "X-KOMMUNE-ID:bk-7f3a" in text and "X-SELVBOOK-ID" not in text
    assert parse_resource(text, "/x.ics", external_id_prop="X-KOMMUNE-ID").external_id == "bk-7f3a"
    with pytest.raises(ValueError, match="X- property"):
        render_event(draft(), external_id_prop="COMMENT")


@pytest.mark.parametrize(
    "changes",
    [
        {"summary": "Jobsamtale 010203-1234"},
        {"location": "Lokale 0102031234"},
        {"description": "Borger: 311299-4321"},
        {"categories": ("Selvbook", "010203 1234")},
        {"external_id": "010203-1234"},
        {"resources": ("010203-1234@x.dk",)},
    ],
)
def test_refuses_to_render_a_cpr_number(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="CPR") as caught:
        render_event(draft(**changes))
    assert not contains_cpr(str(caught.value))  # the refusal itself must not leak it


@pytest.mark.parametrize(
    "changes",
    [
        {"start": datetime(2026, 3, 10, 9, 40)},
        {"end": datetime(2026, 3, 10, 10, 10)},
        {"end": cph(2026, 3, 10, 9)},
    ],
)
def test_refuses_naive_or_reversed_times(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        render_event(draft(**changes))


def test_round_trip_render_then_parse() -> None:
    original = draft()
    item = parse_resource(render_event(original), "/cal/bk-7f3a.ics", "e1")
    assert item.uid == original.external_id and item.external_id == original.external_id
    assert item.summary == original.summary
    assert item.start == original.start and item.start.tzinfo == CPH
    assert item.end == original.end
    assert item.location == original.location and item.description == original.description
    assert item.categories == original.categories
    assert not item.transparent and item.status == "CONFIRMED"
    assert item.attendee_status == {"l2@jobcenter.dk": "NEEDS-ACTION"}


@pytest.mark.parametrize("utc_hour", [0, 1])  # 02:30 CEST and 02:30 CET: the same wall time
def test_round_trip_in_the_repeated_autumn_hour(utc_hour: int) -> None:
    start = datetime(2026, 10, 25, utc_hour, 30, tzinfo=UTC)
    original = draft(start=start, end=start + timedelta(minutes=20))
    item = parse_resource(render_event(original), "/x.ics")
    # Python never calls times inside the repeated hour equal across zones: compare in UTC.
    assert item.start.astimezone(UTC) == start
    assert item.end.astimezone(UTC) == start + timedelta(minutes=20)


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r"),
    max_size=60,
).map(lambda s: s.replace("\x85", ""))
_clean = _text.filter(lambda s: not contains_cpr(s))
_category = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters=",\r\x85"
    ),
    min_size=1,
    max_size=20,
).filter(lambda s: not contains_cpr(s))


@settings(max_examples=150, deadline=None)
@given(
    summary=_clean,
    location=_clean,
    description=_clean | st.just("linje 1\nlinje 2; med: tegn, og \\ skråstreg"),
    categories=st.lists(_category, max_size=3, unique=True).map(tuple),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 400),
    length=st.integers(min_value=0, max_value=600),
    private=st.booleans(),
    transparent=st.booleans(),
)
def test_round_trip_property(
    summary: str,
    location: str,
    description: str,
    categories: tuple[str, ...],
    minutes: int,
    length: int,
    private: bool,
    transparent: bool,
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    original = draft(
        summary=summary,
        location=location,
        description=description,
        categories=categories,
        start=start,
        end=start + timedelta(minutes=length),
        private=private,
        transparent=transparent,
    )
    item = parse_resource(render_event(original), "/x.ics")
    assert (item.summary, item.location, item.description) == (summary, location, description)
    assert item.categories == categories
    assert item.start.astimezone(UTC) == start
    assert item.end.astimezone(UTC) == original.end
    assert item.transparent is transparent
    assert item.external_id == original.external_id
