"""The dashboard's views, exports, feeds and live stream over real HTTP."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx
from icalendar import Calendar
from sqlalchemy import select

from syncd.store.tables import OutboxRow, QuarantineRow
from tests.support.jobcentre import at
from tests.web.conftest import page_csrf, sign_in
from tests.web.helpers import book, coordination, open_tuesday, room_of

DAY = "2026-12-01"
FETCH = {"X-Requested-With": "fetch"}


def three_bookings(rt):
    open_tuesday(rt)
    return [book(rt, cw, at(0, 9), citizen=f"citizen-ref-{cw}") for cw in ("mette", "lars", "pia")]


def test_today_shows_every_conversation_in_its_room_without_citizen_data(server, web_rt):
    talks = three_bookings(web_rt)
    coordination(web_rt).block_room(
        "L9", at(0, 8), at(0, 10), actor="dashboard:anne", reason="maling"
    )
    victim = next(t for t in talks if t.room_id == "L9")
    with sign_in(server, "anne") as anne:
        page = anne.get(f"/dashboard/today?day={DAY}").text
        for t in talks:
            assert t.reference in page
        for name in ("Mette Hansen", "Lars Jensen", "Pia Olsen", "Mødelokale L9", "Jobsamtale"):
            assert name in page
        assert "citizen-ref" not in page
        assert "Tirsdag 1. december 2026" in page
        attention = anne.get(f"/dashboard/fragments/attention?day={DAY}").text
        assert victim.reference in attention and "Uden lokale" in attention
        assert "Mødelokalet er blokeret" in attention and 'data-action="find-room"' in attention
        blocks = anne.get(f"/dashboard/fragments/blocks?day={DAY}").text
        assert "maling" in blocks and "Ophæv" in blocks
        audit = anne.get("/dashboard/fragments/audit").text
        assert "blokerede" in audit and "anne" in audit
        for path in (
            "/dashboard/utilisation?week=2026-W49",
            "/dashboard/self-booking?week=2026-W49",
            "/dashboard/operations",
            "/dashboard/fragments/utilisation?week=2026-W49",
            "/dashboard/fragments/self-booking?week=2026-W49",
            "/dashboard/fragments/operations",
        ):
            r = anne.get(path)
            assert r.status_code == 200, path
            assert "citizen-ref" not in r.text
        assert anne.get("/dashboard/fragments/nope").status_code == 404
        missing = anne.get("/dashboard/no-such-page")
        assert missing.status_code == 404 and "Siden findes ikke" in missing.text
        assert anne.get("/dashboard/today?site=atlantis").status_code == 404
        assert anne.get("/dashboard/today?day=igår").status_code == 400


def test_utilisation_and_self_booking_pages_show_the_figures(server, web_rt):
    three_bookings(web_rt)
    with sign_in(server, "bo") as bo:
        page = bo.get("/dashboard/utilisation?week=2026-W49").text
        assert "Belægning, uge 49 2026" in page
        assert (
            "højst <strong>3</strong> samtaler ad gangen mod <strong>3</strong> ledige lokaler"
            in page
        )
        assert page.count("<svg") >= 3  # the logo and two charts, drawn inline
        page = bo.get("/dashboard/self-booking?week=2026-W49").text
        assert "Selvbooking, uge 49 2026" in page
        assert re.search(r"Mette Hansen</th>\s*<td class=\"num\">1</td>", page)
        assert "Dagpenge" in page and "Sygedagpenge" in page


def test_csv_exports(server, web_rt):
    talks = three_bookings(web_rt)
    with sign_in(server, "bo") as bo:
        r = bo.get(f"/dashboard/export/allocations.csv?start={DAY}&end={DAY}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        text = r.content.decode("utf-8")
        assert text.startswith("\ufeffdato;start;slut;lokale")
        assert all(t.reference in text for t in talks) and "citizen-ref" not in text
        r = bo.get(f"/dashboard/export/utilisation.csv?start={DAY}&end={DAY}")
        assert "2026-12-01;2026-W49;2,00" in r.text
        r = bo.get("/dashboard/export/self-booking.csv?start=2026-11-30&end=2026-12-06")
        assert "sagsbehandler;Mette Hansen;Dagpenge;2026-W49;1;1;0;0;1,00" in r.text
        assert (
            bo.get("/dashboard/export/allocations.csv?start=2026-12-05&end=2026-12-01").status_code
            == 400
        )


def test_ical_feeds_need_their_secret_token_but_no_session(server, web_rt):
    talks = three_bookings(web_rt)
    with sign_in(server, "bo") as bo:
        page = bo.get(f"/dashboard/today?day={DAY}").text
    room_feed = re.search(r'href="(/dashboard/feeds/room/L1/[0-9a-f]{32}\.ics)"', page).group(1)
    site_feed = re.search(r'href="(/dashboard/feeds/site/lilleby/[0-9a-f]{32}\.ics)"', page).group(
        1
    )
    with httpx.Client(base_url=server) as anonymous:
        r = anonymous.get(room_feed)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
        (event,) = Calendar.from_ical(r.content).walk("VEVENT")
        in_l1 = next(t for t in talks if t.room_id == "L1")
        assert str(event["summary"]).startswith("Jobsamtale – ")
        assert in_l1.reference in str(event["description"])
        assert str(event["location"]) == "Mødelokale L1"
        assert event.decoded("dtstart") == at(0, 9)
        site = Calendar.from_ical(anonymous.get(site_feed).content)
        assert len(site.walk("VEVENT")) == 3
        assert b"citizen-ref" not in anonymous.get(site_feed).content
        wrong = room_feed.replace(room_feed[-36:-4], "0" * 32)
        assert anonymous.get(wrong).status_code == 404
        other_room = room_feed.replace("/L1/", "/L2/")  # L1's token does not open L2
        assert anonymous.get(other_room).status_code == 404


def test_block_form_moves_the_conversation(server, web_rt):
    open_tuesday(web_rt, "mette")
    talk = book(web_rt, "mette", at(0, 9))
    with sign_in(server, "anne") as anne:
        r = anne.post(
            "/dashboard/actions/block",
            data={
                "csrf": page_csrf(anne),
                "room_id": talk.room_id,
                "start": f"{DAY}T08:00",
                "end": f"{DAY}T12:00",
                "reason": "Vandskade",
            },
            headers=FETCH,
        )
        assert r.status_code == 200, r.text
        new_room = room_of(web_rt, talk.id)
        assert new_room not in (None, talk.room_id)
        assert r.json()["message"] == (
            f"Mødelokale {talk.room_id} er blokeret 1/12 08:00–1/12 12:00. "
            f"Flyttet: {talk.reference} til Mødelokale {new_room}."
        )
        r = anne.post(
            "/dashboard/actions/block",
            data={
                "csrf": page_csrf(anne),
                "room_id": "L1",
                "start": "i morgen",
                "end": f"{DAY}T12:00",
                "reason": "x",
            },
            headers=FETCH,
        )
        assert r.status_code == 422 and "Ugyldigt tidspunkt" in r.json()["message"]


def test_operations_lists_failed_writes_and_retry_works(server, web_rt, clock):
    open_tuesday(web_rt, "mette")
    talk = book(web_rt, "mette", at(0, 9))
    with web_rt.db.write() as s:
        entry = s.scalar(select(OutboxRow).where(OutboxRow.booking_id == talk.id))
        entry.attempts, entry.last_error = 5, "ConnectorError: 503 from the calendar server"
        entry.next_attempt_at = clock() + timedelta(hours=1)
        entry_id = entry.id
    with sign_in(server, "anne") as anne:
        page = anne.get("/dashboard/operations").text
        assert talk.reference in page and "503 from the calendar server" in page
        assert f'name="outbox_id" value="{entry_id}"' in page
        r = anne.post(
            "/dashboard/actions/retry",
            data={"csrf": page_csrf(anne), "outbox_id": entry_id},
            headers=FETCH,
        )
        assert r.status_code == 200 and talk.reference in r.json()["message"]
    with web_rt.db.read() as s:
        assert s.get(OutboxRow, entry_id).next_attempt_at == clock()


def test_operations_lists_quarantined_items_in_danish(server, web_rt, clock):
    with web_rt.db.write() as s:
        s.add(
            QuarantineRow(
                calendar_id=web_rt.index.caseworkers["mette"].calendar_id or "mette",
                href="/caseworkers/mette/odd.ics", uid="odd-series-7", summary="Teammøde",
                reason="RECURRENCE-ID;RANGE=THISANDFUTURE is not supported",
                first_seen=clock(), last_seen=clock(), spans=[],
            )
        )  # fmt: skip
    with sign_in(server, "anne") as anne:
        page = anne.get("/dashboard/operations").text
    assert "Karantæne" in page and "I karantæne siden" in page
    assert "odd-series-7" in page and "Teammøde" in page and "holdes optaget" in page


def events(lines):
    """Server-Sent Events as (event, data, id) from an iterator of lines."""
    event, data, ident = None, None, None
    for line in lines:
        if line == "":
            if event:
                yield event, data, ident
            event, data, ident = None, None, None
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line.startswith("id: "):
            ident = line[4:]


def next_change(stream, deadline_seconds=10):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:  # each read is bounded by the client's timeout
        event, data, ident = next(stream)
        if event == "change":
            return data, ident
    raise AssertionError("no change event in time")


def test_live_stream_announces_changes(server, web_rt):
    open_tuesday(web_rt, "mette")
    with sign_in(server, "bo") as bo, bo.stream("GET", "/dashboard/live", timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        stream = events(r.iter_lines())
        event, _, hello_id = next(stream)
        assert event == "hello" and hello_id.startswith("bookings-")
        book(web_rt, "mette", at(0, 9))
        data, ident = next_change(stream)
        assert data == '["bookings"]' and ident != hello_id


def test_live_stream_reports_what_a_page_missed(server, web_rt):
    """A page rendered before a change but connecting after it still hears of it."""
    open_tuesday(web_rt, "mette")
    with sign_in(server, "bo") as bo:
        page = bo.get(f"/dashboard/today?day={DAY}").text
        since = re.search(r'name="live-since" content="([^"]+)"', page).group(1)
        book(web_rt, "mette", at(0, 9))
        with bo.stream("GET", "/dashboard/live", params={"since": since}, timeout=10) as r:
            stream = events(r.iter_lines())
            assert next(stream)[0] == "hello"
            assert next_change(stream)[0] == '["bookings"]'
        # Reconnecting with the last event id reports nothing old again.
        with bo.stream("GET", "/dashboard/live", timeout=3) as r:
            _, _, current = next(events(r.iter_lines()))
        with bo.stream(
            "GET", "/dashboard/live", headers={"Last-Event-ID": current}, timeout=10
        ) as r:
            stream = events(r.iter_lines())
            event, _, hello_id = next(stream)
            assert event == "hello" and hello_id == current
            coordination(web_rt).block_room("L1", at(0, 13), at(0, 14), actor="t", reason="x")
            data, ident = next_change(stream)
            # Not a replay of the old change (that would carry the hello's id): the new one.
            assert data == '["bookings"]' and ident != hello_id


def test_a_rooms_decline_shows_with_its_reason(server, web_rt):
    """The engine records a room mailbox's decline with why (see syncd.store.readback)."""
    from syncd.store.journal import audit
    from syncd.store.readback import ACTOR, decline_reason

    [talk, *_] = three_bookings(web_rt)
    now = web_rt.clock()
    reason = decline_reason(talk.start, now, 7, "Mødelokale L9")
    with web_rt.db.write() as s:
        audit(s, ACTOR, "room.declined", now, booking_id=talk.id, room_id="L9", reason=reason)
    with sign_in(server, "anne") as anne:
        audit_html = anne.get("/dashboard/fragments/audit").text
    assert "fik afslag fra lokalet på" in audit_html and talk.reference in audit_html
    assert "uden for lokalets bookingvindue" in audit_html
