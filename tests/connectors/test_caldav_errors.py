"""CalDAV specifics of failure: error mapping, probe, free-busy without server support."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from connectors.base import (
    ConnectorError,
    NotFound,
    PermissionDenied,
    Throttled,
)
from tests.connectors.caldav_proxy import CalDAVProxy, Reply, Seen, caldav_proxy
from tests.connectors.caldav_support import (
    PASSWORD,
    WINDOW,
    Space,
    at,
    connector,
    draft,
    foreign_ics,
    unique,
    via,
)
from tests.contract.backends.caldav import CalDAVBackdoor
from tests.support.radicale import RadicaleServer, running_radicale

RULES = """
[admin]
user: admin
collection: .*
permissions: RrWw

[reader]
user: reader
collection: .*
permissions: Rr

[syncd]
user: syncd
collection: (|[^/]+-(caseworkers|rooms)(/.*)?)
permissions: RrWw
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """One server for this module (its own rights rules); tests isolate by ``space``."""
    with running_radicale(tmp_path_factory.mktemp("radicale"), rights_rules=RULES) as s:
        yield s


@pytest.fixture
def space(server: RadicaleServer) -> Space:
    return Space(server)


@pytest.fixture
def proxy(server: RadicaleServer) -> Iterator[CalDAVProxy]:
    with caldav_proxy(server.url) as p:
        yield p


# --------------------------------------------------------------------------- error mapping


def test_missing_calendar_is_not_found(server: RadicaleServer, space: Space) -> None:
    gone = space.home_url("caseworkers") + "nobody/"
    with connector(server.url) as conn:
        with pytest.raises(NotFound) as caught:
            conn.fetch_changes(gone, None, *WINDOW)
        assert caught.value.calendar_id == gone
        with pytest.raises(NotFound):
            conn.free_busy([gone], *WINDOW)


def test_foreign_home_is_permission_denied(server: RadicaleServer, space: Space) -> None:
    private = space.calendar("mette", "privat")
    with connector(server.url) as conn:
        for call in (
            lambda: conn.fetch_changes(private, None, *WINDOW),
            lambda: conn.upsert_event(private, draft()),
            lambda: conn.delete_event(private, "x"),
        ):
            with pytest.raises(PermissionDenied) as caught:
                call()
            assert caught.value.calendar_id == private
            assert "403" in str(caught.value)
        result = conn.probe(private)
    assert (result.reachable, result.writable) == (False, False)
    assert "403" in (result.error or "")


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "7", 7.0),
        (503, "120", 120.0),
        (429, None, 30.0),  # no hint: a sane default, never zero
    ],
)
def test_throttling_carries_retry_after(
    server: RadicaleServer,
    space: Space,
    proxy: CalDAVProxy,
    status: int,
    retry_after,
    expected: float,
) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    headers = {"Retry-After": retry_after} if retry_after else {}
    proxy.intercept = lambda seen: Reply(status, headers, b"Too many requests, slow down")
    with connector(proxy.url) as conn, pytest.raises(Throttled) as caught:
        conn.fetch_changes(cal, None, *WINDOW)
    assert caught.value.retry_after == expected
    assert caught.value.calendar_id == cal
    assert "slow down" in str(caught.value)


def test_retry_after_as_http_date(server: RadicaleServer, space: Space, proxy: CalDAVProxy) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    proxy.intercept = lambda seen: Reply(503, {"Retry-After": when}, b"maintenance")
    with connector(proxy.url) as conn, pytest.raises(Throttled) as caught:
        conn.upsert_event(cal, draft())
    assert 60 <= caught.value.retry_after <= 91


def test_server_error_without_hint_is_a_plain_connector_error(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    proxy.intercept = lambda seen: Reply(503, {}, b"Service Unavailable: backend down")
    with connector(proxy.url) as conn, pytest.raises(ConnectorError) as caught:
        conn.fetch_changes(cal, None, *WINDOW)
    assert not isinstance(caught.value, Throttled)
    assert "backend down" in str(caught.value) and caught.value.calendar_id == cal


def test_unreachable_server_names_calendar_and_hides_password(tmp_path: Path) -> None:
    with running_radicale(tmp_path) as server:  # its own server: this test stops it
        _unreachable_server_names_calendar_and_hides_password(server)


def _unreachable_server_names_calendar_and_hides_password(server: RadicaleServer) -> None:
    cal = server.make_calendar("caseworkers", "mette")
    url_with_secret = server.url.replace("http://", f"http://syncd:{PASSWORD}@")
    homes = [url_with_secret + "caseworkers/"]
    conn = connector(url_with_secret, user=None, calendar_homes=homes)  # type: ignore[arg-type]
    try:
        [info] = [c for c in conn.list_calendars() if c.calendar_id == cal]  # creds from URL
        assert PASSWORD not in info.calendar_id
        server.stop()
        with pytest.raises(ConnectorError) as caught:
            conn.fetch_changes(cal, None, *WINDOW)
        result = conn.probe(cal)
    finally:
        conn.close()
    assert caught.value.calendar_id == cal
    assert "Connect" in str(caught.value)
    for text in (str(caught.value), result.error or "", repr(caught.value)):
        assert PASSWORD not in text
    assert (result.reachable, result.writable) == (False, False)


def test_slow_server_times_out_as_connector_error(
    server: RadicaleServer, space: Space, proxy
) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    release = threading.Event()

    def hang(seen: Seen) -> Reply:
        release.wait(5)
        return Reply(500, {}, b"")

    proxy.intercept = hang
    try:
        with connector(proxy.url, timeout=0.3) as conn, pytest.raises(ConnectorError) as caught:
            conn.fetch_changes(cal, None, *WINDOW)
    finally:
        release.set()
    assert "no answer within 0.3 s" in str(caught.value)


# --------------------------------------------------------------------------- probe


def test_probe_read_only_calendar(server: RadicaleServer, space: Space) -> None:
    cal = space.calendar("caseworkers", "mette")
    with connector(server.url, user="reader") as conn:
        result = conn.probe(cal)
    assert (result.reachable, result.writable) == (True, False)
    assert "write" in (result.error or "")


def test_probe_missing_calendar(server: RadicaleServer, space: Space) -> None:
    with connector(server.url) as conn:
        result = conn.probe(space.home_url("caseworkers") + "nobody/")
    assert (result.reachable, result.writable) == (False, False)
    assert "404" in (result.error or "")


def test_probe_of_a_collection_that_is_no_calendar(server: RadicaleServer, space: Space) -> None:
    home = server.make_collection(space.home("caseworkers"))
    with connector(server.url) as conn:
        result = conn.probe(home)
    assert result.reachable is False and "not a calendar" in (result.error or "")


@pytest.mark.parametrize(("user", "writable"), [("syncd", True), ("reader", False)])
def test_probe_without_privilege_set_tries_a_harmless_write(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy, user: str, writable: bool
) -> None:
    """A server that does not report privileges: a PUT whose If-Match can never match."""
    cal = space.calendar("caseworkers", "mette")

    def hide_privileges(seen: Seen, reply: Reply) -> Reply:
        if seen.method == "PROPFIND":
            reply.body = reply.body.replace(b"current-user-privilege-set", b"x-hidden")
        return reply

    proxy.rewrite = hide_privileges
    with connector(proxy.url, user=user) as conn:
        result = conn.probe(via(proxy.url, cal))
    assert (result.reachable, result.writable) == (True, writable)
    assert proxy.count("PUT") == 1
    assert CalDAVBackdoor(user="admin").list_events(cal) == []  # nothing left behind


# --------------------------------------------------------------------------- free-busy fallback


def _people_calendar(server: RadicaleServer, space: Space) -> str:
    cal = space.calendar("caseworkers", "mette")
    person = CalDAVBackdoor(user="admin")
    person.put_foreign_event(cal, unique("busy"), "Teammøde", at(10), at(10, 30))
    person.put_foreign_event(cal, unique("free"), "Påmindelse", at(13), at(14), transparent=True)
    person.put_foreign_event(
        cal,
        unique("series"),
        "Ugemøde",
        at(8),
        at(9),
        rrule="FREQ=WEEKLY;COUNT=4",
        exdates=(at(8, days=7),),
    )
    person.close()
    server.put_ics(
        f"{cal}tentative.ics",
        foreign_ics("tentative", "Måske", at(15), at(16), extra="STATUS:TENTATIVE\r\n"),
    )
    server.put_ics(
        f"{cal}cancelled.ics",
        foreign_ics("cancelled", "Aflyst", at(11), at(12), extra="STATUS:CANCELLED\r\n"),
    )
    return cal


def test_free_busy_fallback_matches_the_server(server: RadicaleServer, space: Space, proxy) -> None:
    cal = _people_calendar(server, space)
    start, end = at(0), at(0, days=21)
    with connector(server.url, use_server_free_busy=True) as native:
        expected = native.free_busy([cal], start, end)[cal]
    proxy.intercept = lambda seen: (
        Reply(501, {}, b"free-busy-query not implemented")
        if seen.report_kind == "free-busy-query"
        else None
    )
    with connector(proxy.url, use_server_free_busy=True) as conn:
        fallback = conn.free_busy([via(proxy.url, cal)], start, end)[via(proxy.url, cal)]
        conn.free_busy([via(proxy.url, cal)], start, end)  # remembered: no second attempt
    assert fallback == expected
    assert [(i.start, i.end, i.status) for i in expected] == [
        (at(8), at(9), "BUSY"),
        (at(10), at(10, 30), "BUSY"),
        (at(15), at(16), "TENTATIVE"),
        (at(8, days=14), at(9, days=14), "BUSY"),
    ]
    assert proxy.count("REPORT", "free-busy-query") == 1
    assert proxy.count("REPORT", "calendar-query") == 2


def test_free_busy_fallback_refuses_to_guess_over_unreadable_items(
    server: RadicaleServer, space: Space, proxy
) -> None:
    cal = space.calendar("caseworkers", "mette")
    server.put_ics(cal + "bad.ics", foreign_ics("bad", "BREAK-ME", at(10), at(11)))

    def intercept(seen: Seen) -> Reply | None:
        if seen.report_kind == "free-busy-query":
            return Reply(501, {}, b"")
        return None

    def corrupt(seen: Seen, reply: Reply) -> Reply:
        reply.body = reply.body.replace(b"SUMMARY:BREAK-ME", b"SUMMARY:x\nRRULE:FREQ=NONSENSE")
        return reply

    proxy.intercept, proxy.rewrite = intercept, corrupt
    with connector(proxy.url) as conn, pytest.raises(ConnectorError) as caught:
        conn.free_busy([via(proxy.url, cal)], at(0), at(23))
    assert "unreadable" in str(caught.value)


# --------------------------------------------------------------------------- transport


def test_credentials_go_with_the_first_request(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    """Basic auth is named up front: no request is first sent bare to learn the scheme."""
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    with connector(proxy.url) as conn:
        before = conn.requests_made
        conn.fetch_changes(cal, None, *WINDOW)
        sent = conn.requests_made - before
    assert len(proxy.seen) == sent  # every request the connector counted reached the server
    assert all(s.headers.get("Authorization", "").startswith("Basic ") for s in proxy.seen)


def test_item_text_never_reaches_the_log_at_debug(
    server: RadicaleServer, space: Space, caplog: pytest.LogCaptureFixture
) -> None:
    """The caldav library logs request and answer bodies at DEBUG; those hold personal data."""
    cal = space.calendar("caseworkers", "mette")
    secret = "Samtale med Jens Hansen 010190-1234"
    server.put_ics(cal + "p.ics", foreign_ics("p", secret, at(8), at(9)))
    with caplog.at_level(logging.DEBUG), connector(server.url) as conn:
        changes = conn.fetch_changes(cal, None, *WINDOW)
        conn._get(cal + "p.ics", cal)  # a GET answers text/calendar, not XML
    assert [i.summary for i in changes.changed] == [secret]
    assert "Jens Hansen" not in caplog.text and "010190" not in caplog.text
