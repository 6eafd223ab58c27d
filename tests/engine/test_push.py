"""Push: Graph change notifications reach the daemon over real HTTP and make it sync that
calendar at once; lost notifications, expired or removed subscriptions and ``missed``
lifecycle events lose nothing (the safety-net poll or the resync brings the change).

Polling is set to an hour in the tests where only push (or the resync) can explain the change.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from syncd.engine.push import ENDPOINT_PATH
from tests.engine.push_world import (
    CLIENT_STATE,
    all_active,
    live_daemon,
    subscriptions,
    wait_for,
)
from tests.store.test_bookings import offers
from tests.support.jobcentre import at


def has_offers(world, caseworker="mette"):
    return lambda: offers(world.rt, caseworker_id=caseworker)


@pytest.fixture
def graph(tmp_path, clock):
    with live_daemon("graph", tmp_path, clock) as (world, api):
        wait_for(lambda: all_active(world), 20, "subscriptions on every calendar")
        yield world, api


def test_a_window_reaches_the_offers_through_a_notification(graph):
    world, _ = graph
    assert not offers(world.rt, caseworker_id="mette")
    sim = world.server.notifications
    subs = sim.of(world.calendar("mette"))
    assert len(subs) == 1 and subs[0].resource.endswith("/events")
    assert {u for u, status in sim.validations if status == 200}, "the handshake was answered"
    made = [e for e in world.server.entries("sub") if e.path == "/subscriptions"]
    assert len(made) == len(world.calendars), "created inside $batch requests"
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    wait_for(has_offers(world), 10, "offers from the new window")
    assert sim.deliveries_to("change"), "the change came as a notification, not a poll"


def test_notifications_carry_a_secret_client_state_that_is_checked(graph, capfd):
    world, api = graph
    sub = world.server.notifications.of(world.calendar("mette"))[0]
    assert sub.client_state and len(sub.client_state) <= 128
    forged = {
        "value": [{"subscriptionId": sub.id, "clientState": "guess", "changeType": "updated"}]
    }
    reply = httpx.post(api + ENDPOINT_PATH, content=json.dumps(forged))
    assert reply.status_code == 403
    assert httpx.post(api + ENDPOINT_PATH, content=b"not json").status_code == 400
    echo = httpx.post(api + ENDPOINT_PATH, params={"validationToken": "a b<c>&d"})
    assert echo.status_code == 200 and echo.text == "a b<c>&d"
    assert echo.headers["content-type"].startswith("text/plain")
    row = subscriptions(world)[world.calendar("mette")]
    assert sub.client_state not in (row.last_error or "")
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    wait_for(has_offers(world), 10, "offers")
    logged = capfd.readouterr()
    for secret in (CLIENT_STATE, sub.client_state):
        assert secret not in logged.out + logged.err, "the clientState was logged"


def test_a_dropped_notification_is_caught_by_the_safety_net(tmp_path, clock):
    with live_daemon("graph", tmp_path, clock, poll_seconds=0.3, safety_seconds=1.5) as (world, _):
        wait_for(lambda: all_active(world), 20, "subscriptions")
        sim = world.server.notifications
        sim.drop_next = 1000  # every notification from now on is lost without a trace
        before = len(sim.deliveries_to("change"))
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 15, "offers through the safety-net poll")
        assert len(sim.deliveries_to("change")) == before
        assert world.engine.last_cycle is not None


def test_a_missed_lifecycle_event_triggers_a_resync(graph):
    world, _ = graph
    sim = world.server.notifications
    sim.drop_next = 1000
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    wait_for(lambda: sim.drop_next < 1000, 5, "the change notification to be lost")
    assert not offers(world.rt, caseworker_id="mette")
    sim.send_lifecycle(world.calendar("mette"), "missed")
    wait_for(has_offers(world), 10, "offers after the resync")


def test_an_expired_subscription_is_recreated_and_nothing_is_lost(tmp_path, clock):
    with live_daemon("graph", tmp_path, clock, check_seconds=0.5) as (world, _):
        wait_for(lambda: all_active(world), 20, "subscriptions")
        sim = world.server.notifications
        mette = world.calendar("mette")
        old = sim.of(mette)[0].id
        # Renewal is due at every check from now on: the next one finds it gone (404).
        with world.rt.db.write() as s:
            subscriptions(world)  # (read before the write session)
            from syncd.store.tables import PushSubscriptionRow

            s.get(PushSubscriptionRow, mette).renew_requested = True
        sim.expire(mette)
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 15, "offers after the subscription was recreated")
        new = wait_for(lambda: [s for s in sim.of(mette) if s.id != old], 10, "a new one")
        wait_for(lambda: subscriptions(world)[mette].subscription_id == new[0].id, 10, "it stored")
        assert subscriptions(world)[mette].state == "active"


def test_a_removed_subscription_is_recreated_and_resynced(graph):
    world, _ = graph
    sim = world.server.notifications
    mette = world.calendar("mette")
    old = sim.of(mette)[0].id
    sim.drop_next = 1000
    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
    wait_for(lambda: sim.drop_next < 1000, 5, "the change notification to be lost")
    sim.drop_next = 0
    sim.send_lifecycle(mette, "subscriptionRemoved")
    wait_for(has_offers(world), 10, "offers after the resync")
    new = wait_for(lambda: [s for s in sim.of(mette) if s.id != old], 10, "a new subscription")
    wait_for(
        lambda: subscriptions(world)[mette].subscription_id == new[0].id, 10, "it to be stored"
    )


def test_reauthorization_is_answered_by_renewing(graph):
    world, _ = graph
    sim = world.server.notifications
    mette = world.calendar("mette")
    before = sim.of(mette)[0]
    renewals = len(
        [
            e
            for e in world.server.entries()
            if e.method == "PATCH" and e.path.startswith("/subscriptions/")
        ]
    )
    sim.send_lifecycle(mette, "reauthorizationRequired")
    wait_for(
        lambda: (
            len(
                [
                    e
                    for e in world.server.entries()
                    if e.method == "PATCH" and e.path == f"/subscriptions/{before.id}"
                ]
            )
            > renewals
        ),
        10,
        "the subscription to be renewed",
    )
    assert sim.of(mette)[0].id == before.id


def test_duplicates_are_harmless_and_shutdown_deletes_the_subscriptions(tmp_path, clock):
    with live_daemon("graph", tmp_path, clock) as (world, _):
        wait_for(lambda: all_active(world), 20, "subscriptions")
        sim = world.server.notifications
        sim.duplicate_next = 10
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 10, "offers")
        count = len(offers(world.rt, caseworker_id="mette"))
        assert count == len({o.offer_id for o in offers(world.rt, caseworker_id="mette")})
    assert sim.subscriptions == {}, "the last replica deletes its subscriptions on shutdown"


def test_push_healthy_calendars_are_polled_only_by_the_safety_net(tmp_path, clock):
    with live_daemon("graph", tmp_path, clock, poll_seconds=0.2, safety_seconds=3600) as (
        world,
        _,
    ):
        wait_for(lambda: all_active(world), 20, "subscriptions")
        engine = world.engine
        start = engine.cycles
        wait_for(lambda: engine.cycles >= start + 3, 10, "a few more cycles")
        report = engine.last_cycle
        assert report.checked == 0 and report.skipped_push == len(world.calendars)


# -- EWS streaming notifications ------------------------------------------------------------------
def test_ews_streaming_brings_a_window_to_the_offers(tmp_path, clock):
    with live_daemon("ews", tmp_path, clock) as (world, _):
        wait_for(lambda: all_active(world), 20, "streaming subscriptions on every calendar")
        streams = world.server.streams
        wait_for(lambda: streams.connections_opened >= 1, 10, "a streaming connection")
        assert len({s.id for s in streams.subscriptions.values()}) == len(world.calendars)
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 10, "offers from the new window")


def test_ews_lost_subscription_is_renewed_and_nothing_is_missed(tmp_path, clock):
    with live_daemon("ews", tmp_path, clock) as (world, _):
        wait_for(lambda: all_active(world), 20, "streaming subscriptions")
        streams = world.server.streams
        mette = world.calendar("mette")
        old = streams.of(mette)[0].id
        streams.expire(mette)  # gone: the change below reaches no subscription
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(lambda: [s for s in streams.of(mette) if s.id != old], 10, "a new subscription")
        wait_for(has_offers(world), 10, "offers after subscribing again")


def test_ews_connections_are_reopened_when_the_server_closes_them(tmp_path, clock):
    def short(server):
        server.streams.minute = 1.5  # every connection closes after 1.5 s

    with live_daemon(
        "ews", tmp_path, clock, push_extra={"ews_connection_minutes": 1}, prepare=short
    ) as (world, _):
        wait_for(lambda: all_active(world), 20, "streaming subscriptions")
        streams = world.server.streams
        opened = streams.connections_opened
        wait_for(lambda: streams.connections_opened >= opened + 3, 10, "reconnections")
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 10, "offers through the reopened connection")


def test_ews_refused_streaming_falls_back_to_polling(tmp_path, clock):
    def refuse(server):
        server.streams.enabled = False

    with live_daemon("ews", tmp_path, clock, poll_seconds=0.3, prepare=refuse) as (world, _):
        wait_for(
            lambda: (
                (rows := subscriptions(world))
                and len(rows) == len(world.calendars)
                and all(r.state == "broken" for r in rows.values())
            ),
            20,
            "every subscription refused",
        )
        assert (
            "ErrorExceededSubscriptionCount"
            in subscriptions(world)[world.calendar("mette")].last_error
        )
        assert not world.engine.push.healthy(world.calendar("mette"))
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 10, "offers through polling")


def test_syncd_check_reports_push_per_mailbox(graph):
    from syncd.checks import check_calendars

    world, _ = graph
    lines: list[str] = []
    check_calendars(world.rt.config, lines.append)
    assert any("answers the validation handshake" in line for line in lines)
    mette = next(line for line in lines if world.calendar("mette") in line)
    assert "push active until" in mette
    assert all(CLIENT_STATE not in line for line in lines)


@pytest.mark.postgres
def test_a_notification_received_by_another_replica_reaches_the_lease_holder(
    tmp_path, clock, pg_url
):
    """Graph posts to replica B (API only, no engine); replica A holds every lease and owns the
    subscriptions. B records the hint in PostgreSQL; A picks it up and syncs the calendar."""
    from syncd.api.app import create_app
    from syncd.runtime import open_runtime
    from tests.engine.push_world import free_port, rebuild, serve_api
    from tests.engine.world import open_world

    port = free_port()
    push = {
        "public_url": f"http://127.0.0.1:{port}",
        "client_state": CLIENT_STATE,
        "safety_poll_seconds": 3600,
    }
    with open_world("graph", tmp_path, clock) as world:
        rebuild(world, push=push, sync={"poll_interval_seconds": 3600}, database_url=pg_url)
        replica_b = open_runtime(world.rt.config, clock=clock)
        try:
            with serve_api(create_app(replica_b), port):
                world.engine.start()
                try:
                    wait_for(lambda: all_active(world), 20, "subscriptions made by replica A")
                    assert "engine" not in replica_b.extras
                    world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
                    wait_for(has_offers(world), 10, "offers synced by the lease holder")
                    assert world.server.notifications.deliveries_to("change")
                finally:
                    world.engine.stop(timeout=10)
        finally:
            replica_b.db.dispose()


def test_a_mailbox_that_left_the_directory_loses_its_subscription(graph):
    from connectors.graph_push import GraphPushConnector
    from syncd.store.tables import PushSubscriptionRow

    world, _ = graph
    world.server.state.add_mailbox("tidligere@lilleby.dk", "Tidligere")
    connector = world.connector
    assert isinstance(connector, GraphPushConnector)
    hub = world.engine.push
    expires = datetime.now(UTC) + timedelta(days=2)
    [made] = connector.subscribe(
        ["tidligere@lilleby.dk"], hub.notification_url, hub._client_state, expires
    ).values()
    with world.rt.db.write() as s:
        s.add(
            PushSubscriptionRow(
                calendar_id="tidligere@lilleby.dk",
                backend="graph",
                subscription_id=made.subscription_id,
                state="active",
                expires_at=made.expires_at,
                renew_requested=False,
                failures=0,
            )
        )
    hub.maintain()
    assert world.server.notifications.of("tidligere@lilleby.dk") == []
    assert "tidligere@lilleby.dk" not in subscriptions(world)
    assert len(world.server.notifications.subscriptions) == len(world.calendars)


# -- follow-up findings (adversarial test of #15) ---------------------------------------------
def test_a_subscription_graph_deleted_silently_is_found_and_recreated(tmp_path, clock):
    """No lifecycle event, renewal days away: only listing GET /subscriptions (paged) finds it."""
    with live_daemon(
        "graph", tmp_path, clock, check_seconds=0.2, push_extra={"verify_seconds": 0.5}
    ) as (world, _):
        sim = world.server.notifications
        sim.list_page_size = 2  # the list comes in several pages
        wait_for(lambda: all_active(world), 20, "subscriptions")
        mette = world.calendar("mette")
        old = sim.of(mette)[0].id
        sim.forget(mette)
        new = wait_for(lambda: [s for s in sim.of(mette) if s.id != old], 10, "a new one")
        wait_for(lambda: subscriptions(world)[mette].subscription_id == new[0].id, 10, "stored")
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 10, "offers through the new subscription")


def test_leftover_subscriptions_with_our_url_are_deleted(graph):
    from syncd.store.tables import PushSubscriptionRow

    world, _ = graph
    sim = world.server.notifications
    mette = world.calendar("mette")
    leftover = sim.of(mette)[0].id
    with world.rt.db.write() as s:  # as if the store were restored from before it was made
        s.get(PushSubscriptionRow, mette).subscription_id = None
    hub = world.engine.push
    hub._verified_at = float("-inf")
    hub.maintain()
    assert leftover in sim.subscriptions, "once unknown may be another replica's, not stored yet"
    hub._verified_at = float("-inf")
    hub.maintain()
    assert leftover not in sim.subscriptions
    assert [s.id for s in sim.of(mette)] == [subscriptions(world)[mette].subscription_id]


def test_a_refused_reauthorization_marks_the_calendar_broken(graph):
    from syncd.push_report import push_states

    world, _ = graph
    sim = world.server.notifications
    lars = world.calendar("lars")
    sim.refuse_renewal.add(lars)
    sim.send_lifecycle(lars, "reauthorizationRequired")
    row = wait_for(
        lambda: (r := subscriptions(world)[lars]).state == "broken" and r, 10, "it broken"
    )
    assert "Forbidden" in (row.last_error or "") or "Access" in (row.last_error or "")
    assert row.retry_at is not None, "retries back off"
    assert not world.engine.push.healthy(lars)
    assert "BROKEN" in push_states(world.rt.config)[lars]


@pytest.mark.parametrize("changed", ["client_state", "public_url"])
def test_changing_the_client_state_or_public_url_makes_new_subscriptions(tmp_path, clock, changed):
    """A rolling restart with a new secret or address (another replica alive, so the old
    subscriptions are adopted, not deleted): each is replaced by one with the new settings."""
    from syncd.api.app import create_app
    from tests.engine.push_world import free_port, rebuild, serve_api
    from tests.engine.world import open_world

    port, port2 = free_port(), free_port()
    push = {
        "public_url": f"http://127.0.0.1:{port}",
        "client_state": CLIENT_STATE,
        "safety_poll_seconds": 3600,
        "check_seconds": 0.3,
    }
    with open_world("graph", tmp_path, clock) as world:
        sim = world.server.notifications
        rebuild(world, push=push, sync={"poll_interval_seconds": 3600})
        with serve_api(create_app(world.rt), port):
            world.engine.start()
            wait_for(lambda: all_active(world), 20, "subscriptions")
            old = set(sim.subscriptions)
            world.engine.push.close = lambda: None  # another replica lives on
            world.engine.stop(timeout=10)
        new = dict(push)
        if changed == "client_state":
            new["client_state"] = "rotated-secret-0123456789abcdefgh"
        else:
            new["public_url"] = f"http://127.0.0.1:{port2}"
        rebuild(world, push=new, sync={"poll_interval_seconds": 3600})
        with serve_api(create_app(world.rt), port2 if changed == "public_url" else port):
            world.engine.start()
            try:
                wait_for(
                    lambda: (
                        not (set(sim.subscriptions) & old)
                        and len(sim.subscriptions) == len(world.calendars)
                        and all_active(world)
                    ),
                    20,
                    "every subscription replaced",
                )
                assert {s.url for s in sim.subscriptions.values()} == {
                    new["public_url"] + ENDPOINT_PATH
                }
                world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
                wait_for(has_offers(world), 10, "offers through a notification")
                assert not [d for d in sim.deliveries if d.status == 403]
            finally:
                world.engine.stop(timeout=10)


@pytest.fixture
def quiet_receiver(tmp_path, clock):
    """A runtime with one known subscription and no engine draining the hints."""
    from syncd.engine.push import client_state
    from syncd.store.tables import PushSubscriptionRow
    from tests.engine.push_world import rebuild
    from tests.engine.world import open_world

    push = {"public_url": "http://127.0.0.1:9", "client_state": CLIENT_STATE}
    with open_world("graph", tmp_path, clock) as world:
        rebuild(world, push=push, sync={"poll_interval_seconds": 3600})
        mette = world.calendar("mette")
        with world.rt.db.write() as s:
            s.add(
                PushSubscriptionRow(
                    calendar_id=mette,
                    backend="graph",
                    subscription_id="sub-mette",
                    state="active",
                    renew_requested=False,
                    failures=0,
                )
            )
        yield (
            world,
            {"subscriptionId": "sub-mette", "clientState": client_state(CLIENT_STATE, mette)},
        )


def test_replayed_notifications_coalesce_into_one_hint(quiet_receiver):
    from sqlalchemy import func, select

    from syncd.engine.push import receive_graph
    from syncd.store.tables import PushHintRow

    world, genuine = quiet_receiver
    body = json.dumps({"value": [dict(genuine, changeType="updated")] * 3}).encode()
    results = [receive_graph(world.rt, body) for _ in range(100)]
    assert all(r.accepted == 3 for r in results)
    missed = json.dumps({"value": [dict(genuine, lifecycleEvent="missed")]}).encode()
    receive_graph(world.rt, missed)
    with world.rt.db.read() as s:
        reasons = sorted(s.scalars(select(PushHintRow.reason)))
        assert s.scalar(select(func.count()).select_from(PushHintRow)) == 2
    assert reasons == ["changed", "missed"], "one sync asked for, the resync kept"


def test_unknown_subscription_ids_never_open_a_write_transaction(quiet_receiver):
    from syncd.engine.push import receive_graph

    world, genuine = quiet_receiver
    writes = []
    real_write = world.rt.db.write

    def counting_write(*args, **kwargs):
        writes.append(1)
        return real_write(*args, **kwargs)

    world.rt.db.write = counting_write
    flood = {"value": [{"subscriptionId": f"x{i}", "clientState": "guess"} for i in range(200)]}
    result = receive_graph(world.rt, json.dumps(flood).encode())
    assert result.unknown == 200 and not writes
    forged = {"value": [dict(genuine, clientState="guess")]}
    assert receive_graph(world.rt, json.dumps(forged).encode()).rejected == 1 and not writes
    receive_graph(world.rt, json.dumps({"value": [genuine]}).encode())
    assert writes, "a verified notification is recorded"


def test_the_endpoint_refuses_big_deep_or_odd_posts_cheaply(graph):
    world, api = graph
    sub = world.server.notifications.of(world.calendar("mette"))[0]
    url = api + ENDPOINT_PATH

    def chunks():
        for _ in range(600):  # 60 MB if it were read to the end; no Content-Length
            yield b" " * 100_000

    assert httpx.post(url, content=chunks(), timeout=30).status_code == 413
    assert httpx.post(url, content=b" " * 300_000).status_code == 413
    nested = b'{"value": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}"
    assert httpx.post(url, content=nested).status_code == 400
    many = {"value": [{"subscriptionId": f"x{i}", "clientState": "g"} for i in range(201)]}
    assert httpx.post(url, content=json.dumps(many)).status_code == 400
    odd = {"value": [{"subscriptionId": sub.id, "clientState": sub.client_state}]}
    odd["value"][0]["lifecycleEvent"] = ["missed"]
    assert httpx.post(url, content=json.dumps(odd)).status_code == 202


def test_ews_streams_that_close_at_once_back_off_and_poll(tmp_path, clock):
    def instant(server):
        server.streams.minute = 0.0  # every connection closes as soon as it is opened

    with live_daemon(
        "ews",
        tmp_path,
        clock,
        poll_seconds=0.3,
        push_extra={"ews_connection_minutes": 1},
        prepare=instant,
    ) as (world, _):
        streams = world.server.streams
        mette = world.calendar("mette")
        wait_for(
            lambda: (row := subscriptions(world).get(mette)) is not None and row.state == "broken",
            15,
            "the mailboxes reported broken (polled) after a few instant closes",
        )
        assert streams.connections_opened <= 6, "reopened with back-off, not in a tight loop"
        assert not world.engine.push.healthy(mette)
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(has_offers(world), 10, "offers through polling")


def test_ews_one_lost_subscription_resubscribes_only_that_mailbox(tmp_path, clock):
    with live_daemon("ews", tmp_path, clock) as (world, _):
        wait_for(lambda: all_active(world), 20, "streaming subscriptions")
        streams = world.server.streams
        wait_for(lambda: streams.connections_opened >= 1, 10, "a streaming connection")
        mette = world.calendar("mette")
        old = streams.of(mette)[0].id
        before = {op: len(world.server.requests(op)) for op in ("Subscribe", "Unsubscribe")}
        streams.expire(mette)
        world.put("mette", "w1", "Selvbook", at(0, 9), at(0, 12))
        wait_for(lambda: [s for s in streams.of(mette) if s.id != old], 10, "a new subscription")
        wait_for(has_offers(world), 10, "offers after subscribing again")
        assert len(world.server.requests("Subscribe")) - before["Subscribe"] == 1
        assert len(world.server.requests("Unsubscribe")) - before["Unsubscribe"] <= 1
