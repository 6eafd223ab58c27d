"""CalDAV specifics of reading: request economy, discovery, the no-RFC-6578 fallback, quarantine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.base import SyncTokenInvalid
from tests.connectors.caldav_proxy import CalDAVProxy, Reply, Seen, caldav_proxy
from tests.connectors.caldav_support import (
    WINDOW,
    Space,
    at,
    connector,
    draft,
    foreign_ics,
    unique,
    via,
)
from tests.support.radicale import RadicaleServer, shared_radicale


@pytest.fixture
def server() -> RadicaleServer:
    return shared_radicale()


@pytest.fixture
def space(server: RadicaleServer) -> Space:
    return Space(server)


@pytest.fixture
def proxy(server: RadicaleServer) -> Iterator[CalDAVProxy]:
    with caldav_proxy(server.url) as p:
        yield p


# --------------------------------------------------------------------------- change markers


def test_change_markers_cost_one_request_per_home(server: RadicaleServer, space: Space) -> None:
    caseworkers = [space.calendar("caseworkers", f"cw{i}") for i in range(8)]
    rooms = [space.calendar("rooms", f"room{i}") for i in range(5)]
    elsewhere = [space.calendar("shared", f"extra{i}") for i in range(2)]
    homes = {space.home_url("caseworkers"): "caseworker", space.home_url("rooms"): "room"}
    with connector(server.url, calendar_homes=homes) as conn:
        before = conn.requests_made
        markers = conn.change_markers(caseworkers + rooms + elsewhere)
        # one Depth 1 PROPFIND per known home + one Depth 0 per calendar outside them
        assert conn.requests_made - before == 2 + 2
        assert set(markers) == set(caseworkers + rooms + elsewhere)
        assert len(set(markers.values())) == len(markers)  # distinct per calendar

        server.put_ics(caseworkers[3] + "x.ics", foreign_ics("x", "Møde", at(8), at(9)))
        again = conn.change_markers(caseworkers + rooms + elsewhere)
        assert {c for c in markers if markers[c] != again[c]} == {caseworkers[3]}


def test_change_markers_leave_out_what_cannot_be_answered(
    server: RadicaleServer, space: Space
) -> None:
    cal = space.calendar("caseworkers", "mette")
    gone = space.home_url("caseworkers") + "nobody/"
    unknown_home = space.home_url("nohome") + "nobody/"
    with connector(server.url, calendar_homes=[space.home_url("caseworkers")]) as conn:
        assert set(conn.change_markers([cal, gone, unknown_home])) == {cal}


def test_discovery_from_the_server_root(server: RadicaleServer, space: Space) -> None:
    user = space.home("mette")  # Radicale's principal of a user is the collection /<user>/
    own = server.make_calendar(user, "arbejde", name="Mettes kalender", user=user)
    room = server.make_calendar(user, "lokale", kind="room", user=user)
    with connector(server.url, user=user) as conn:
        calendars = {c.calendar_id: c for c in conn.list_calendars()}
        assert set(calendars) == {own, room}
        assert calendars[own].name == "Mettes kalender"
        assert calendars[room].kind == "room"  # from our calendar-kind property
        assert calendars[own].kind == "unknown"
        before = conn.requests_made
        assert set(conn.change_markers([own, room])) == {own, room}
        assert conn.requests_made - before == 1  # the discovered home answers for both


def test_configured_home_kind_wins(server: RadicaleServer, space: Space) -> None:
    cal = space.calendar("rooms", "l5", kind="caseworker")
    with connector(server.url, calendar_homes={space.home_url("rooms"): "room"}) as conn:
        [info] = conn.list_calendars()
    assert (info.calendar_id, info.kind) == (cal, "room")


def test_calendar_home_as_url(server: RadicaleServer, space: Space) -> None:
    cal = space.calendar("rooms", "l2")
    with connector(space.home_url("rooms")) as conn:
        assert [c.calendar_id for c in conn.list_calendars()] == [cal]


# --------------------------------------------------------------------------- fetching


def test_changed_items_come_in_batched_multigets(
    server: RadicaleServer, space: Space, proxy
) -> None:
    cal = space.calendar("caseworkers", "mette")
    for i in range(25):
        server.put_ics(f"{cal}e{i}.ics", foreign_ics(f"e{i}", f"Møde {i}", at(8), at(9)))
    with connector(proxy.url, multiget_batch=10) as conn:
        before = conn.requests_made
        changes = conn.fetch_changes(via(proxy.url, cal), None, *WINDOW)
        assert len(changes.changed) == 25 and changes.full
        assert conn.requests_made - before == 1 + 3  # sync-collection + ceil(25 / 10)
        assert proxy.count("GET") == 0
        assert proxy.count("REPORT", "calendar-multiget") == 3

        before = conn.requests_made
        quiet = conn.fetch_changes(via(proxy.url, cal), changes.token, *WINDOW)
        assert (quiet.changed, quiet.deleted) == ([], [])
        assert conn.requests_made - before == 1  # an idle calendar costs one REPORT


def test_token_of_another_calendar_is_invalid(server: RadicaleServer, space: Space) -> None:
    a = space.calendar("caseworkers", "a")
    b = space.calendar("caseworkers", "b")
    server.put_ics(a + "x.ics", foreign_ics("x", "Møde", at(8), at(9)))
    with connector(server.url) as conn:
        token = conn.fetch_changes(a, None, *WINDOW).token
        with pytest.raises(SyncTokenInvalid):
            conn.fetch_changes(b, token, *WINDOW)


# Recorded refusals of a stale token: Radicale (RFC 6578 3.2), Xandikos, and the 409/410 that
# other servers in python-caldav's compatibility hints send. Each means one full re-read.
_TOKEN_REFUSALS = {
    403: b'<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>',
    409: b"Conflict: sync token no longer valid",
    410: b"Gone: sync token expired",
    412: b"Precondition Failed: sync token invalid",
}


@pytest.mark.parametrize("status", sorted(_TOKEN_REFUSALS))
def test_every_refused_token_means_a_full_re_read(
    server: RadicaleServer, space: Space, proxy, status: int
) -> None:
    cal = space.calendar("caseworkers", "mette")
    server.put_ics(cal + "x.ics", foreign_ics("x", "Møde", at(8), at(9)))
    url = via(proxy.url, cal)
    with connector(proxy.url) as conn:
        token = conn.fetch_changes(url, None, *WINDOW).token
        proxy.intercept = lambda seen: (
            Reply(status, {"Content-Type": "application/xml"}, _TOKEN_REFUSALS[status])
            if seen.report_kind == "sync-collection" and token.encode() in seen.body
            else None
        )
        with pytest.raises(SyncTokenInvalid):
            conn.fetch_changes(url, token, *WINDOW)
        full = conn.fetch_changes(url, None, *WINDOW)
    assert full.full and [i.uid for i in full.changed] == ["x"]


def _corrupt(marker: bytes):
    """Rewrite multiget answers so the item holding ``marker`` gets a broken RRULE."""

    def rewrite(seen: Seen, reply: Reply) -> Reply:
        if seen.report_kind == "calendar-multiget":
            reply.body = reply.body.replace(marker, marker + b"\nRRULE:FREQ=NONSENSE;COUNT=x")
        return reply

    return rewrite


def test_one_unreadable_item_is_quarantined_not_fatal(
    server: RadicaleServer, space: Space, proxy
) -> None:
    cal = space.calendar("caseworkers", "mette")
    server.put_ics(cal + "good.ics", foreign_ics("good", "Frokost", at(12), at(13)))
    server.put_ics(cal + "bad.ics", foreign_ics("bad", "BREAK-ME", at(14), at(15)))
    proxy.rewrite = _corrupt(b"SUMMARY:BREAK-ME")
    with connector(proxy.url) as conn:
        changes = conn.fetch_changes(via(proxy.url, cal), None, *WINDOW)
    assert [i.uid for i in changes.changed] == ["good"]
    [bad] = changes.quarantined
    href = bad.href
    assert href == space.path("caseworkers", "mette", "bad.ics")
    assert "RRULE" in bad.reason
    assert (bad.uid, bad.summary) == ("bad", "BREAK-ME")
    assert bad.spans  # its time is still known, so it can still block
    assert href not in changes.deleted


# --------------------------------------------------------------------------- no RFC 6578


@pytest.mark.parametrize("refusal", [403, 501])
def test_fallback_without_sync_collection(
    server: RadicaleServer, space: Space, proxy, refusal: int
) -> None:
    """A server that refuses sync-collection: ETag listings with a synthetic token."""
    cal = space.calendar("caseworkers", "mette")
    proxy.intercept = lambda seen: (
        Reply(refusal, {"Content-Type": "text/plain"}, b"REPORT sync-collection not supported")
        if seen.report_kind == "sync-collection"
        else None
    )
    keep, change, drop = (unique(x) for x in ("keep", "change", "drop"))
    for uid in (keep, change, drop):
        server.put_ics(f"{cal}{uid}.ics", foreign_ics(uid, uid, at(8), at(9)))
    url = via(proxy.url, cal)
    with connector(proxy.url) as conn:
        full = conn.fetch_changes(url, None, *WINDOW)
        assert full.full and {i.uid for i in full.changed} == {keep, change, drop}
        assert full.token.startswith("selvbook-etags:")

        before = conn.requests_made
        quiet = conn.fetch_changes(url, full.token, *WINDOW)
        assert (quiet.changed, quiet.deleted, quiet.full) == ([], [], False)
        assert conn.requests_made - before == 1  # one PROPFIND getetag listing

        server.put_ics(f"{cal}{change}.ics", foreign_ics(change, "moved", at(10), at(11)))
        with server.client() as http:
            http.delete(f"{cal}{drop}.ics").raise_for_status()
        new = unique("new")
        conn.upsert_event(url, draft(new))
        delta = conn.fetch_changes(url, quiet.token, *WINDOW)
        assert {i.uid for i in delta.changed} == {change, new}
        by_uid = {i.uid: i for i in delta.changed}
        assert (by_uid[change].start, by_uid[new].external_id) == (at(10), new)
        assert list(delta.deleted) == [space.path("caseworkers", "mette", f"{drop}.ics")]

        with pytest.raises(SyncTokenInvalid):
            conn.fetch_changes(url, "selvbook-etags:1:not-base64-zlib!", *WINDOW)
        conn.fetch_changes(url, None, *WINDOW)  # a second full sync does not retry RFC 6578
    assert proxy.count("REPORT", "sync-collection") == 1


# --------------------------------------------------------------------------- series

SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Person//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Copenhagen\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:window-series\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Copenhagen:20270302T090000\r
DTEND;TZID=Europe/Copenhagen:20270302T120000\r
RRULE:FREQ=WEEKLY;COUNT=6\r
EXDATE;TZID=Europe/Copenhagen:20270316T090000\r
SUMMARY:Selvbook: Jobsamtale\r
CATEGORIES:Selvbook\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:window-series\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Copenhagen:20270323T090000\r
DTSTART;TZID=Europe/Copenhagen:20270323T100000\r
DTEND;TZID=Europe/Copenhagen:20270323T130000\r
SUMMARY:Selvbook: Jobsamtale\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_series_comes_back_whole(server: RadicaleServer, space: Space) -> None:
    """One item per stored series: rule, exceptions and moved occurrences (story 4), across
    the change to summer time (28 March 2027). Busy time by our own expansion: Radicale's
    free-busy resolves a TZID through a process-wide registry that the first VTIMEZONE
    uploaded for that name fills, so on a shared server its answer depends on other tests."""
    cal = space.calendar("caseworkers", "mette")
    server.put_ics(cal + "series.ics", SERIES)
    with connector(server.url, use_server_free_busy=False) as conn:
        [item] = conn.fetch_changes(cal, None, *WINDOW).changed
        busy = conn.free_busy([cal], at(0), at(0, days=42))[cal]
    assert (item.uid, item.rrule, item.exdates) == (
        "window-series",
        "FREQ=WEEKLY;COUNT=6",
        (at(9, days=14),),
    )
    [moved] = item.overrides
    assert (moved.recurrence_id, moved.start, moved.end) == (
        at(9, days=21),
        at(10, days=21),
        at(13, days=21),
    )
    expected = [(at(9, days=d), at(12, days=d)) for d in (0, 7, 28, 35)] + [
        (at(10, days=21), at(13, days=21))
    ]
    assert sorted((b.start, b.end) for b in busy) == sorted(expected)


def test_own_expansion_of_busy_time_on_request(server: RadicaleServer, space: Space) -> None:
    """A TZID without VTIMEZONE (RFC 5545 wants one; some clients omit it): our expansion
    still keeps 09:00 local after the change to summer time."""
    cal = space.calendar("caseworkers", "mette")
    start = SERIES.index("BEGIN:VTIMEZONE")
    end = SERIES.index("END:VTIMEZONE") + len("END:VTIMEZONE\r\n")
    server.put_ics(cal + "series.ics", SERIES[:start] + SERIES[end:])
    with connector(server.url, use_server_free_busy=False) as conn:
        before = conn.requests_made
        busy = conn.free_busy([cal], at(0, days=28), at(0, days=29))[cal]
        assert conn.requests_made - before == 1  # one calendar-query, no free-busy-query
    assert [(b.start, b.end) for b in busy] == [(at(9, days=28), at(12, days=28))]
