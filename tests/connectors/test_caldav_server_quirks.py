"""How CalDAV servers differ, from python-caldav's compatibility hints
(``caldav/compatibility_hints.py``: Nextcloud, SOGo, Baikal, Zimbra, Robur, GMX, OX, Xandikos),
replayed as recorded answers through a proxy in front of a real Radicale. Each test names the
difference and what must hold whatever the server does.

Not replayed here, because they do not touch the daemon: MKCALENDAR quirks (Baikal wants an
extended MKCOL, Posteo cannot create calendars; syncd never creates calendars), trash-bin
deletes (Nextcloud, Zimbra) and principal search. Invalid sync tokens (403/409/410/412) are in
test_caldav_reading.py; Xandikos's own answers run live in the contract and engine suites.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.base import NotFound
from tests.connectors.caldav_proxy import CalDAVProxy, Reply, caldav_proxy
from tests.connectors.caldav_support import (
    WINDOW,
    Space,
    at,
    connector,
    draft,
    foreign_ics,
    via,
)
from tests.support.radicale import RadicaleServer, shared_radicale


@pytest.fixture(scope="module")
def server() -> RadicaleServer:
    return shared_radicale()


@pytest.fixture
def space(server: RadicaleServer) -> Space:
    return Space(server)


@pytest.fixture
def proxy(server: RadicaleServer) -> Iterator[CalDAVProxy]:
    with caldav_proxy(server.url) as p:
        yield p


def _missing_207(path: str) -> Reply:
    """Xandikos' answer to PROPFIND on a path that does not exist."""
    body = (
        f'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>{path}</D:href>'
        "<D:status>HTTP/1.1 404 Not Found</D:status></D:response></D:multistatus>"
    ).encode()
    return Reply(207, {"Content-Type": "application/xml"}, body)


def test_a_207_for_a_missing_calendar_is_not_an_empty_one(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    """A server without sync-collection lists by PROPFIND; if it answers a deleted calendar
    with 207 + 404 inside, that must be "not found", never "every item was deleted"."""
    cal = space.calendar("caseworkers", "mette")
    server.put_ics(cal + "a.ics", foreign_ics("a", "Møde", at(8), at(9)))
    gone = {"now": False}

    def intercept(seen):
        if seen.report_kind == "sync-collection":
            return Reply(501, {"Content-Type": "text/plain"}, b"not implemented")
        if seen.method == "PROPFIND" and gone["now"]:
            return _missing_207(seen.path)
        return None

    proxy.intercept = intercept
    url = via(proxy.url, cal)
    with connector(proxy.url) as conn:
        first = conn.fetch_changes(url, None, *WINDOW)
        assert [i.uid for i in first.changed] == ["a"]
        gone["now"] = True
        with pytest.raises(NotFound):
            conn.fetch_changes(url, first.token, *WINDOW)
        probe = conn.probe(url)
    assert not probe.reachable and "no such calendar" in (probe.error or "")


def test_sync_collection_that_fails_ungracefully_falls_back_to_listings(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    """Robur, Posteo, GMX: sync-collection throws (500) instead of saying "unsupported"."""
    cal = space.calendar("caseworkers", "mette")
    server.put_ics(cal + "a.ics", foreign_ics("a", "Møde", at(8), at(9)))
    proxy.intercept = lambda seen: (
        Reply(500, {"Content-Type": "text/plain"}, b"Internal Server Error")
        if seen.report_kind == "sync-collection"
        else None
    )
    with connector(proxy.url) as conn:
        full = conn.fetch_changes(via(proxy.url, cal), None, *WINDOW)
    assert full.full and [i.uid for i in full.changed] == ["a"]
    assert full.token.startswith("selvbook-etags:")


def test_free_busy_query_that_fails_ungracefully_falls_back_to_events(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    """SOGo, OX, GMX, CCS answer free-busy-query with an error; Xandikos fails with 500 on a
    calendar holding an RSCALE rule. Busy time then comes from our own expansion."""
    cal = space.calendar("caseworkers", "mette")
    server.put_ics(cal + "a.ics", foreign_ics("a", "Møde", at(10), at(11)))
    proxy.intercept = lambda seen: (
        Reply(500, {"Content-Type": "text/plain"}, b"Server got itself in trouble")
        if seen.report_kind == "free-busy-query"
        else None
    )
    url = via(proxy.url, cal)
    with connector(proxy.url, use_server_free_busy=True) as conn:
        [busy] = conn.free_busy([url], at(0), at(0, days=1))[url]
    assert (busy.start, busy.end) == (at(10), at(11))


def test_broken_get_by_url_still_updates_our_event(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    """Some servers answer GET on a valid object URL with 404 ("event_by_url_is_broken"): a
    refused create (412) then finds the event by UID instead of looping on creates."""
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    d = draft()
    with connector(proxy.url) as conn:
        conn.upsert_event(cal, d)
        proxy.intercept = lambda seen: (
            Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
            if seen.method == "GET"
            else None
        )
        result = conn.upsert_event(cal, draft(d.external_id, start=at(12), end=at(12, 30)))
        changes = conn.fetch_changes(cal, None, *WINDOW)
    assert not result.created
    [event] = changes.changed
    assert (event.external_id, event.start) == (d.external_id, at(12))


def test_a_server_without_getctag_is_asked_for_sync_tokens(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    """ctag is an Apple extension some servers lack: markers then come from DAV:sync-token."""
    cal = space.calendar("caseworkers", "mette")

    def strip_ctag(seen, reply):
        if seen.method == "PROPFIND":
            reply.body = reply.body.replace(b"getctag", b"x-no-ctag")
        return reply

    proxy.rewrite = strip_ctag
    url = via(proxy.url, cal)
    with connector(
        proxy.url, calendar_homes=[via(proxy.url, space.home_url("caseworkers"))]
    ) as conn:
        before = conn.change_markers([url])
        server.put_ics(cal + "a.ics", foreign_ics("a", "Møde", at(8), at(9)))
        after = conn.change_markers([url])
    assert before[url].startswith("sync:") and after[url] != before[url]
