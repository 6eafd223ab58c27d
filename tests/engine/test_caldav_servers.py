"""The engine on real CalDAV servers (Radicale and Xandikos): what differs between servers must
never leave a calendar stuck, lose a quarantined item or hide busy time.

Each test runs on both servers through the same connector, the way vdirsyncer runs one storage
suite against several servers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from syncd.store.tables import QuarantineRow, SyncStateRow
from tests.engine.world import CALDAV_SERVERS, open_world
from tests.store.test_bookings import offers
from tests.support.jobcentre import at


@pytest.fixture(params=CALDAV_SERVERS)
def world(request, tmp_path, clock):
    radicale = request.getfixturevalue("radicale") if request.param == "caldav" else None
    with open_world(request.param, tmp_path, clock, radicale) as w:
        yield w


def _utc(d: datetime) -> str:
    return d.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _vcal(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\nDTSTAMP:20261101T000000Z\r\n{e}END:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Person//EN\r\n{body}END:VCALENDAR\r\n"


# A weekly meeting moved from its second instance on (RANGE=THISANDFUTURE, which our parser
# refuses), a meeting in a zone nobody defines, and a series in the Chinese calendar (RSCALE,
# RFC 7529: Radicale refuses to store it, Xandikos stores it).
THISANDFUTURE = _vcal(
    f"UID:taf\r\nDTSTART:{_utc(at(0, 10))}\r\nDTEND:{_utc(at(0, 10, 30))}\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Teammøde 010203-1234\r\n",
    f"UID:taf\r\nRECURRENCE-ID;RANGE=THISANDFUTURE:{_utc(at(7, 10))}\r\n"
    f"DTSTART:{_utc(at(7, 11))}\r\nDTEND:{_utc(at(7, 11, 30))}\r\nSUMMARY:Teammøde\r\n",
)
ODD_ZONE = _vcal(
    "UID:zone\r\nDTSTART;TZID=Western/Central Europe:20261202T100000\r\n"
    "DTEND;TZID=Western/Central Europe:20261202T110000\r\nSUMMARY:Netværksmøde\r\n"
)
RSCALE = _vcal(
    f"UID:lunar\r\nDTSTART:{_utc(at(2, 9))}\r\nDTEND:{_utc(at(2, 9, 45))}\r\n"
    "RRULE:RSCALE=CHINESE;FREQ=MONTHLY;COUNT=3\r\nSUMMARY:Nytår\r\n"
)
# Where these meetings are by RFC 5545, whatever a server makes of them.
TRUE_BUSY = [
    (at(0, 10), at(0, 10, 30)),
    (at(7, 11), at(7, 11, 30)),
    (at(14, 11), at(14, 11, 30)),
    (at(1, 9), at(1, 12)),  # 10:00 in an unknown zone: somewhere in Western/Central Europe
]
LUNAR_BUSY = [(at(2, 9), at(2, 9, 45))]


def _windows(world, days: int = 16) -> None:
    for day in range(days):
        world.put("mette", f"w{day}", "Selvbook", at(day, 8), at(day, 14))


def _server_busy(world, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The server's own free-busy-query answer for the caseworker's calendar (RFC 4791 7.10)."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><C:free-busy-query '
        'xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f'<C:time-range start="{_utc(start)}" end="{_utc(end)}"/></C:free-busy-query>'
    ).encode()
    r = httpx.request(
        "REPORT",
        world.calendar("mette"),
        content=body,
        headers={"Depth": "1", "Content-Type": "application/xml"},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:300]
    found = []
    for line in re.sub(r"\r?\n[ \t]", "", r.text).splitlines():
        if not line.upper().startswith("FREEBUSY") or "FBTYPE=FREE" in line.upper():
            continue
        for period in line.split(":", 1)[1].split(","):
            a, b = period.split("/")
            start_at = datetime.strptime(a, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            end_at = (
                start_at + _duration(b)
                if b.startswith("P")
                else datetime.strptime(b, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            )
            found.append((start_at, end_at))
    return found


def _duration(text: str) -> timedelta:
    m = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", text)
    assert m, text
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def _assert_nothing_offered_over(world, busy) -> None:
    found = offers(world.rt, caseworker_id="mette")
    assert found, "the readable windows must still be offered"
    clashes = [(o.start, o.end, a, b) for o in found for a, b in busy if o.start < b and a < o.end]
    assert clashes == []


def _quarantine(world) -> dict[str, QuarantineRow]:
    with world.rt.db.read() as s:
        return {q.uid: q for q in s.scalars(select(QuarantineRow))}


def test_unreadable_items_stay_quarantined_and_keep_their_time(world):
    cal = world.calendar("mette")
    world.server.put_ics(cal + "taf.ics", THISANDFUTURE)
    world.server.put_ics(cal + "zone.ics", ODD_ZONE)
    expected = {"taf", "zone"}
    true_busy = list(TRUE_BUSY)
    # What the server itself reads as busy in these items (asked before the windows go in,
    # since a window is an opaque event to the server).
    server_busy = _server_busy(world, at(0, 0), at(20, 0))
    assert server_busy
    if world.backend == "xandikos":
        # Radicale refuses RSCALE with 400; Xandikos stores it, and its own free-busy-query
        # then fails for the whole calendar (500: dateutil knows no RSCALE). So the server's
        # report cannot be what blocks unreadable time: ours is read from the raw item.
        world.server.put_ics(cal + "lunar.ics", RSCALE)
        expected.add("lunar")
        true_busy += LUNAR_BUSY
    _windows(world)
    world.settle()
    quarantined = _quarantine(world)
    assert set(quarantined) == expected
    taf = quarantined["taf"]
    assert taf.href.endswith("taf.ics") and "THISANDFUTURE" in taf.reason
    assert taf.summary.startswith("Teammøde") and "010203-1234" not in taf.summary
    first_seen = taf.first_seen
    _assert_nothing_offered_over(world, server_busy + true_busy)

    # An unrelated change (incremental sync) keeps the quarantine and the block.
    world.put("mette", "lunch", "Frokost", at(3, 12), at(3, 13))
    world.settle()
    assert set(_quarantine(world)) == expected
    _assert_nothing_offered_over(world, server_busy + true_busy)

    # A restart on the same store, and the midnight republish.
    world.restart()
    world.settle()
    world.clock.advance(days=1)
    world.engine.cycle()
    after = _quarantine(world)
    assert set(after) == expected and after["taf"].first_seen == first_seen
    _assert_nothing_offered_over(world, server_busy + true_busy)

    # Deleted on the server: the entry goes, and so does its block.
    with world.server.client() as http:
        http.delete(cal + "zone.ics").raise_for_status()
    world.settle()
    assert set(_quarantine(world)) == expected - {"zone"}


def test_deleted_and_recreated_calendar_recovers_in_one_cycle(world):
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    world.settle()
    assert offers(world.rt, caseworker_id="mette")
    cal = world.calendar("mette")
    with world.server.client() as http:
        http.delete(cal).raise_for_status()
    world.server.make_calendar("caseworkers", "mette", kind="caseworker", user="caseworkers")
    world.put("mette", "w2", "Selvbook", at(1, 9), at(1, 12))
    world.put("mette", "m2", "Teammøde", at(1, 10), at(1, 11))
    report = world.engine.cycle()
    assert report.failed == {}
    [synced] = [r for r in report.synced if r.calendar_id == cal]
    assert synced.full  # the stale token led to one full re-read, nothing else
    with world.rt.db.read() as s:
        state = s.get(SyncStateRow, cal)
        assert (state.failures, state.last_error, state.backoff_until) == (0, None, None)
    starts = {o.start for o in offers(world.rt, caseworker_id="mette")}
    assert starts and all(at(1, 9) <= s < at(1, 12) for s in starts)
    assert not any(at(1, 10) <= s < at(1, 11) for s in starts)


def test_a_quiet_calendar_counts_as_synced(world):
    """The lag metric means "since we last knew this calendar was current": a marker check that
    found nothing new is a successful sync."""
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    world.settle()
    world.clock.advance(minutes=10)
    report = world.engine.cycle()
    assert report.synced == [] and report.failed == {}
    with world.rt.db.read() as s:
        states = list(s.scalars(select(SyncStateRow)))
    assert states and all(st.last_success_at == world.clock() for st in states)


@pytest.mark.parametrize("marked_with_copy_uid", [False, True])
def test_a_copy_of_our_event_under_a_new_uid_is_her_busy_time(world, marked_with_copy_uid):
    """A calendar client's copy of our event gets a new UID but keeps every other property,
    our X-SELVBOOK-ID too. It is the caseworker's own item: it blocks its time and is never
    written to or deleted; our own event stays where it is."""
    from tests.engine.test_flow import book

    for d in range(2):
        world.put("mette", f"w{d}", "Selvbook", at(d, 8), at(d, 14))
    world.settle()
    booking = book(world.rt)
    world.settle()
    client = world.hands.client
    [(_href, cal, _)] = [
        (h, c, e)
        for h, c, e in client._all(world.calendar("mette"))
        if "X-SELVBOOK-ID" in c.to_ical().decode()
    ]
    uid = str(next(iter(cal.walk("VEVENT")))["UID"])
    text = cal.to_ical().decode()
    copy = text.replace(f"UID:{uid}", "UID:copy-1")
    if marked_with_copy_uid:  # a client that rewrote every occurrence of the old UID
        copy = copy.replace(uid, "copy-1")
    with world.server.client() as http:
        http.put(
            world.calendar("mette") + "copy.ics",
            content=copy.encode(),
            headers={"Content-Type": "text/calendar"},
        ).raise_for_status()
    client.move_event(world.calendar("mette"), "copy-1", at(1, 13), at(1, 13, 30))
    world.settle()

    starts = [o.start for o in offers(world.rt, caseworker_id="mette")]
    assert not any(at(1, 12, 20) < s < at(1, 13, 30) for s in starts), "the copy's time is offered"
    uids = {
        str(next(iter(c.walk("VEVENT")))["UID"]) for _, c, _ in client._all(world.calendar("mette"))
    }
    assert {"copy-1", uid} <= uids  # her copy stays, and so does our event
    assert booking.id in uid


def test_events_of_a_booking_this_store_never_knew_are_left_alone(world):
    """Events of our form whose booking this store has never known come from another store (a
    mistyped database path, a restored backup): a crash cannot make one. They are left alone, so
    pointing a fresh store at production calendars takes no real booking out of them."""
    world.put("mette", "w0", "Selvbook", at(0, 8), at(0, 14))
    world.settle()
    ext = "selvbook-b-zzzzzzzzzzzzzzzz"
    event = (
        f"UID:{ext}\r\nDTSTART:{_utc(at(0, 10))}\r\nDTEND:{_utc(at(0, 10, 30))}\r\n"
        f"SUMMARY:Jobsamtale (selvbooket) - fremmøde\r\nX-SELVBOOK-ID:{ext}\r\n"
    )
    with world.server.client() as http:
        http.put(
            world.calendar("mette") + f"{ext}.ics",
            content=_vcal(event).encode(),
            headers={"Content-Type": "text/calendar"},
        ).raise_for_status()
    world.clock.advance(minutes=2)
    world.settle()
    uids = {
        str(next(iter(c.walk("VEVENT")))["UID"])
        for _, c, _ in world.hands.client._all(world.calendar("mette"))
    }
    assert ext in uids
