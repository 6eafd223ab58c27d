"""CalDAV specifics of writing: preconditions on every write, conflicts, items under other names."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.base import NotOwned, WriteConflict
from tests.connectors.caldav_proxy import CalDAVProxy, Reply, Seen, caldav_proxy
from tests.connectors.caldav_support import (
    WINDOW,
    Space,
    at,
    connector,
    draft,
    foreign_ics,
    our_ics,
    unique,
    via,
)
from tests.contract.backends.caldav import CalDAVBackdoor
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


@pytest.fixture
def backdoor() -> Iterator[CalDAVBackdoor]:
    person = CalDAVBackdoor()
    yield person
    person.close()


def test_every_write_is_conditional(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    d = draft()
    with connector(proxy.url) as conn:
        conn.upsert_event(cal, d)
        conn.upsert_event(cal, draft(d.external_id, start=at(11), end=at(11, 30)))
        conn.delete_event(cal, d.external_id)
    writes = [s for s in proxy.seen if s.method in ("PUT", "DELETE")]
    assert [s.method for s in writes] == ["PUT", "PUT", "PUT", "DELETE"]
    for seen in writes:
        assert "If-None-Match" in seen.headers or seen.headers.get("If-Match", "").startswith('"')


def test_identical_repeat_does_not_rewrite(
    server: RadicaleServer, space: Space, proxy: CalDAVProxy
) -> None:
    """A repeated upsert (outbox retry after a crash) leaves the stored event and ctag alone."""
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    d = draft()
    with connector(proxy.url) as conn:
        first = conn.upsert_event(cal, d)
        marker = conn.change_markers([cal])
        again = conn.upsert_event(cal, d)
        assert (again.created, again.etag) == (False, first.etag)
        assert conn.change_markers([cal]) == marker
    assert proxy.count("PUT") == 2  # the create, then one refused If-None-Match


def test_our_event_under_another_name_is_found_by_uid(
    server: RadicaleServer, space: Space, backdoor: CalDAVBackdoor
) -> None:
    """A client re-saved our event under its own file name: still ours, still one event."""
    cal = space.calendar("caseworkers", "mette")
    d = draft()
    server.put_ics(cal + "renamed-by-client.ics", our_ics(d))
    with connector(server.url) as conn:
        result = conn.upsert_event(cal, draft(d.external_id, start=at(13), end=at(13, 30)))
        assert (result.created, result.href) == (
            False,
            space.path("caseworkers", "mette", "renamed-by-client.ics"),
        )
        [event] = backdoor.list_events(cal)
        assert (event["start"], event["uid"]) == (at(13), d.external_id)
        assert conn.delete_event(cal, d.external_id) is True
        assert conn.delete_event(cal, d.external_id) is False
    assert backdoor.list_events(cal) == []


def test_foreign_item_under_our_file_name_is_not_owned(
    server: RadicaleServer, space: Space
) -> None:
    cal = space.calendar("caseworkers", "mette")
    d = draft()
    ics = foreign_ics(d.external_id, "Privat aftale", at(8), at(9))
    etag = server.put_ics(f"{cal}{d.external_id}.ics", ics)
    with connector(server.url) as conn:
        with pytest.raises(NotOwned) as caught:
            conn.upsert_event(cal, d)
        assert caught.value.calendar_id == cal
        with pytest.raises(NotOwned):
            conn.delete_event(cal, d.external_id)
        [item] = conn.fetch_changes(cal, None, *WINDOW).changed
    assert (item.etag, item.summary) == (etag, "Privat aftale")


def _refuse_conditional_puts(times: int):
    """Answer the first ``times`` If-Match PUTs with 412, as if a person just saved the item."""
    left = [times]
    lock = threading.Lock()

    def intercept(seen: Seen) -> Reply | None:
        if seen.method == "PUT" and "If-Match" in seen.headers:
            with lock:
                if left[0] > 0:
                    left[0] -= 1
                    return Reply(412, {"Content-Type": "text/plain"}, b"Precondition failed")
        return None

    return intercept


def test_update_refused_once_is_reread_and_retried(
    server: RadicaleServer, space: Space, proxy
) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    d = draft()
    with connector(proxy.url) as conn:
        conn.upsert_event(cal, d)
        proxy.intercept = _refuse_conditional_puts(1)
        result = conn.upsert_event(cal, draft(d.external_id, location="Mødelokale L5"))
        assert result.created is False
        [item] = conn.fetch_changes(cal, None, *WINDOW).changed
    assert item.location == "Mødelokale L5"
    assert proxy.count("GET") == 2  # read after the 412 on create, re-read after the 412


def test_update_that_keeps_conflicting_raises(server: RadicaleServer, space: Space, proxy) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    d = draft()
    with connector(proxy.url, write_attempts=3) as conn:
        conn.upsert_event(cal, d)
        proxy.intercept = _refuse_conditional_puts(100)
        with pytest.raises(WriteConflict) as caught:
            conn.upsert_event(cal, draft(d.external_id, location="Mødelokale L5"))
        assert caught.value.calendar_id == cal
        proxy.intercept = None
        [item] = conn.fetch_changes(cal, None, *WINDOW).changed
    assert item.location == "Mødelokale L2, Jobcenter Lilleby"  # never overwritten
    assert proxy.count("PUT") == 1 + 1 + 3


def test_delete_after_a_person_changed_it_rereads(
    server: RadicaleServer, space: Space, proxy
) -> None:
    cal = via(proxy.url, space.calendar("caseworkers", "mette"))
    d = draft()
    refused = [False]

    def intercept(seen: Seen) -> Reply | None:
        if seen.method == "DELETE" and not refused[0]:
            refused[0] = True
            return Reply(412, {}, b"")
        return None

    with connector(proxy.url) as conn:
        conn.upsert_event(cal, d)
        proxy.intercept = intercept
        assert conn.delete_event(cal, d.external_id) is True
    assert proxy.count("DELETE") == 2


def test_parallel_writes_from_a_thread_pool(server: RadicaleServer, space: Space) -> None:
    calendars = [space.calendar("caseworkers", f"cw{i}") for i in range(4)]
    jobs = [
        (cal, draft(unique("b"), start=at(8 + n % 8), end=at(8 + n % 8, 30)))
        for n in range(12)
        for cal in calendars
    ]
    with connector(server.url, max_connections=8) as conn:
        before = conn.requests_made
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda job: conn.upsert_event(*job), jobs))
        assert all(r.created for r in results)
        assert conn.requests_made - before == len(jobs)  # one PUT per new event, counted safely
        with ThreadPoolExecutor(4) as pool:
            changes = list(pool.map(lambda c: conn.fetch_changes(c, None, *WINDOW), calendars))
    assert [len(c.changed) for c in changes] == [12] * 4


def test_sequence_grows_on_every_change_we_make(server: RadicaleServer, space: Space) -> None:
    """RFC 5545 3.8.7.4: a reschedule raises SEQUENCE; an identical repeat does not."""
    cal = space.calendar("caseworkers", "mette")
    d = draft()

    def sequence() -> int:
        [stored] = [e for e in _raw_events(server, cal) if d.external_id in e]
        return int(stored.split("SEQUENCE:")[1].split("\r\n")[0])

    with connector(server.url) as conn:
        conn.upsert_event(cal, d)
        assert sequence() == 0
        conn.upsert_event(cal, draft(d.external_id, start=at(11), end=at(11, 30)))
        assert sequence() == 1
        conn.upsert_event(cal, draft(d.external_id, start=at(11), end=at(11, 30)))
        assert sequence() == 1  # nothing changed, nothing written
        conn.upsert_event(cal, draft(d.external_id, start=at(12), end=at(12, 30)))
        assert sequence() == 2


def _raw_events(server: RadicaleServer, cal: str) -> list[str]:
    body = (
        b'<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
        b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
        b'<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>'
    )
    with server.client() as http:
        r = http.request("REPORT", cal, content=body, headers={"Depth": "1"})
    r.raise_for_status()
    return [m.decode() for m in re.findall(rb"BEGIN:VCALENDAR.*?END:VCALENDAR", r.content, re.S)]
