"""EWS throttling: never retry sooner than the server said, and only block what it blocked.

Timing is measured on the simulator's request log (monotonic arrival times), not with sleeps.
"""

from __future__ import annotations

import itertools
import threading

import pytest

from connectors.base import Throttled
from tests.sims.ews.harness import JONAS, METTE, WINDOW, running


def gaps(entries) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(entries)]


def test_server_busy_is_retried_no_sooner_than_back_off_milliseconds() -> None:
    with running() as (sim, _backdoor, conn):
        conn.fetch_changes(METTE, None, *WINDOW)  # warm up (version probe)
        sim.clear_log()
        sim.inject("busy", 2, back_off_ms=300, op="SyncFolderItems", mailbox=METTE)

        changes = conn.fetch_changes(METTE, None, *WINDOW)

        assert changes.full is True
        syncs = sim.requests("SyncFolderItems", METTE)
        assert [e.code for e in syncs] == ["ErrorServerBusy", "ErrorServerBusy", None]
        assert all(g >= 0.3 for g in gaps(syncs)), gaps(syncs)


def test_long_back_off_raises_throttled_and_sends_nothing_until_it_passed() -> None:
    with running() as (sim, _backdoor, conn):
        conn.fetch_changes(METTE, None, *WINDOW)
        sim.inject("busy", 1, back_off_ms=60_000, mailbox=METTE)

        with pytest.raises(Throttled) as caught:
            conn.fetch_changes(METTE, None, *WINDOW)
        assert caught.value.calendar_id == METTE
        assert 55 <= caught.value.retry_after <= 60
        assert "ErrorServerBusy" in str(caught.value)

        before = len(sim.requests(mailbox=METTE))
        with pytest.raises(Throttled) as again:
            conn.fetch_changes(METTE, None, *WINDOW)
        assert again.value.retry_after <= caught.value.retry_after
        assert len(sim.requests(mailbox=METTE)) == before  # refused locally, server untouched

        # the throttle is the mailbox's: another calendar keeps syncing
        assert conn.fetch_changes(JONAS, None, *WINDOW).full is True


def test_http_503_retry_after_blocks_the_whole_endpoint_for_that_long() -> None:
    with running() as (sim, _backdoor, conn):
        conn.fetch_changes(METTE, None, *WINDOW)
        sim.clear_log()
        sim.inject("http503", 1, retry_after=1, op="SyncFolderItems")

        conn.fetch_changes(METTE, None, *WINDOW)

        log = sim.requests()
        assert [e.status for e in log] == [503, 200]
        assert log[1].at - log[0].at >= 1.0


def test_http_429_with_long_retry_after_is_throttled_for_every_calendar() -> None:
    with running() as (sim, _backdoor, conn):
        conn.fetch_changes(METTE, None, *WINDOW)
        sim.inject("http429", 1, retry_after=120)
        with pytest.raises(Throttled) as caught:
            conn.fetch_changes(METTE, None, *WINDOW)
        assert caught.value.retry_after == pytest.approx(120, abs=1)
        count = len(sim.requests())
        with pytest.raises(Throttled):
            conn.fetch_changes(JONAS, None, *WINDOW)  # endpoint-wide: nobody goes out
        assert len(sim.requests()) == count


def test_busy_without_hint_is_not_hammered() -> None:
    with running(max_inline_backoff=0.5) as (sim, _backdoor, conn):
        conn.fetch_changes(METTE, None, *WINDOW)
        sim.inject("busy", 1, mailbox=METTE)  # no BackOffMilliseconds: default back-off applies
        with pytest.raises(Throttled) as caught:
            conn.fetch_changes(METTE, None, *WINDOW)
        assert caught.value.retry_after >= 5


def test_concurrency_is_bounded_per_mailbox_and_overall() -> None:
    with running(max_per_mailbox=2, max_concurrency=3) as (sim, _backdoor, conn):
        conn.fetch_changes(METTE, None, *WINDOW)
        sim.latency = 0.05  # each request takes a while on the server
        errors: list[BaseException] = []

        def work(mailbox: str) -> None:
            try:
                conn.fetch_changes(mailbox, None, *WINDOW)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(m,)) for m in [METTE] * 6 + [JONAS] * 6]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not errors
        assert sim.peak_in_flight[METTE] <= 2 and sim.peak_in_flight[JONAS] <= 2
        assert sim.peak_in_flight["*"] <= 3
        assert sim.peak_in_flight["*"] >= 2  # and it does run in parallel
