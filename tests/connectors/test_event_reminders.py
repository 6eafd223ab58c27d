"""The caseworker's reminder on our events: set on create in each backend (Graph's isReminderOn
and minutes, EWS's ReminderIsSet and minutes, CalDAV's VALARM), and a caseworker's own change
to it in Outlook survives our later updates."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from connectors.base import EventDraft
from mappings.ical import render_event
from tests.sims.ews.harness import METTE
from tests.sims.ews.harness import running as ews_running
from tests.sims.graph.harness import CASEWORKER, connector_for, populate, simulator

CPH = ZoneInfo("Europe/Copenhagen")
START = datetime(2027, 3, 2, 9, 40, tzinfo=CPH)


def draft(minutes: int | None, summary: str = "Jobsamtale (selvbooket) - fremmøde") -> EventDraft:
    return EventDraft(
        external_id="bk-rem",
        summary=summary,
        start=START,
        end=START + timedelta(minutes=30),
        description="Bookingreference SB-7QK2",
        reminder_minutes=minutes,
    )


def test_graph_sets_the_reminder_on_create_and_keeps_the_caseworkers_choice():
    with simulator() as sim:
        populate(sim)
        graph = connector_for(sim)
        try:
            first = graph.upsert_event(CASEWORKER, draft(10))
            event = sim.state.mailbox(CASEWORKER).events[first.href]
            assert (event.is_reminder_on, event.reminder_minutes) == (True, 10)
            event.reminder_minutes = 30  # the caseworker prefers half an hour
            graph.upsert_event(CASEWORKER, draft(10, summary="Jobsamtale - telefon"))
            event = sim.state.mailbox(CASEWORKER).events[first.href]
            assert event.subject == "Jobsamtale - telefon" and event.reminder_minutes == 30
            graph.delete_event(CASEWORKER, "bk-rem")
            off = graph.upsert_event(CASEWORKER, draft(None))
            assert sim.state.mailbox(CASEWORKER).events[off.href].is_reminder_on is False
        finally:
            graph.close()


def test_ews_sets_the_reminder_on_create():
    with ews_running() as (sim, _backdoor, conn):
        result = conn.upsert_event(METTE, draft(10))
        item = sim.store.find(METTE, result.href)
        assert (item.reminder_is_set, item.reminder_minutes) == (True, 10)
        item.reminder_minutes = 30
        conn.upsert_event(METTE, draft(10, summary="Jobsamtale - telefon"))
        item = sim.store.find(METTE, result.href)
        assert item.subject == "Jobsamtale - telefon" and item.reminder_minutes == 30
        conn.delete_event(METTE, "bk-rem")
        off = conn.upsert_event(METTE, replace(draft(None), external_id="bk-rem2"))
        assert sim.store.find(METTE, off.href).reminder_is_set is False


def test_caldav_event_carries_a_display_alarm():
    text = render_event(draft(15), dtstamp=START)
    (event,) = [c for c in Calendar.from_ical(text).walk("VEVENT")]
    (alarm,) = event.walk("VALARM")
    assert alarm["ACTION"] == "DISPLAY"
    assert alarm["TRIGGER"].dt == -timedelta(minutes=15)
    assert str(alarm["DESCRIPTION"]) == "Jobsamtale (selvbooket) - fremmøde"
    assert "Bookingreference" not in str(alarm["DESCRIPTION"])
    assert "VALARM" not in render_event(draft(None), dtstamp=START)
