"""What an IT administrator relies on: app-only sign-in through msal (certificate or secret,
token cache reused, expired tokens replaced), rooms from the Places API, and probe / permission
errors in Graph's own words while the other mailboxes keep working."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.base import ConnectorError, PermissionDenied
from connectors.graph import GraphConnector, GraphSettings
from tests.sims.graph.harness import (
    CASEWORKER,
    ROOM,
    ROOM_LIST,
    SECOND_CASEWORKER,
    OutlookBackdoor,
    connector_for,
    populate,
    simulator,
)
from tests.sims.graph.server import GraphSimulator

CPH = ZoneInfo("Europe/Copenhagen")
DAY = datetime(2027, 3, 2, tzinfo=CPH)
WINDOW = (DAY - timedelta(days=7), DAY + timedelta(days=60))
LOCKED = "udenfor.scope@lilleby.dk"  # outside the app's RBAC for Applications scope
READ_ONLY = "kun.laes@lilleby.dk"


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with simulator() as running:
        populate(running)
        running.state.add_mailbox(LOCKED, access="none")
        running.state.add_mailbox(READ_ONLY, access="read")
        running.state.add_room(
            "lokale.l9@lilleby.dk",
            "Mødelokale L9",
            capacity=6,
            building="Torvet 1",
            floor=2,
            wheelchair=True,
        )
        yield running


@pytest.fixture
def graph(sim: GraphSimulator) -> Iterator[GraphConnector]:
    connector = connector_for(sim, mailboxes=(CASEWORKER, SECOND_CASEWORKER, LOCKED))
    yield connector
    connector.close()


def test_one_token_serves_many_requests(sim, graph):
    graph.list_calendars()
    graph.fetch_changes(CASEWORKER, None, *WINDOW)
    graph.change_markers([CASEWORKER, SECOND_CASEWORKER])
    assert sim.token_requests() == 1


def test_an_expired_token_mid_cycle_is_replaced_once(sim, graph, caplog):
    caplog.set_level(logging.DEBUG)
    token = graph.fetch_changes(CASEWORKER, None, *WINDOW).token
    graph.change_markers([CASEWORKER, SECOND_CASEWORKER])
    issued = set(sim._tokens)
    sim.expire_tokens()
    OutlookBackdoor(sim).put_foreign_event(CASEWORKER, "x", "Kursus", DAY, DAY + timedelta(hours=1))
    markers = graph.change_markers([CASEWORKER, SECOND_CASEWORKER])
    assert set(markers) == {CASEWORKER, SECOND_CASEWORKER}
    assert [i.uid for i in graph.fetch_changes(CASEWORKER, token, *WINDOW).changed] == ["x"]
    assert sim.token_requests() == 2
    assert [e.status for e in sim.http_requests() if e.status == 401] == [401]
    issued |= set(sim._tokens)
    logged = caplog.text
    assert issued and not any(t in logged for t in issued)  # access tokens never logged


def test_a_client_secret_works_and_a_wrong_one_is_reported_without_the_secret():
    with GraphSimulator(client_secret="s3cret-værdi") as sim:
        populate(sim)
        base = {
            "tenant_id": sim.tenant,
            "client_id": sim.client_id,
            "authority_host": sim.authority_host,
            "graph_url": sim.graph_url,
            "ca_bundle": sim.ca_bundle,
        }
        good = GraphConnector(GraphSettings(client_secret="s3cret-værdi", **base))
        bad = GraphConnector(GraphSettings(client_secret="forkert-hemmelighed", **base))
        try:
            assert good.probe(CASEWORKER).writable is True
            with pytest.raises(ConnectorError) as caught:
                bad.fetch_changes(CASEWORKER, None, *WINDOW)
            assert "AADSTS7000215" in str(caught.value)
            assert "forkert" not in str(caught.value)
            assert bad.probe(CASEWORKER).error.startswith("token request refused")
        finally:
            good.close()
            bad.close()


def test_settings_from_configuration_read_the_key_from_a_file(tmp_path, sim):
    cert = sim.certificate
    key_file = tmp_path / "syncd-graph.pem"
    key_file.write_text(cert.private_key_pem)
    connector = GraphConnector.from_config(
        {
            "tenant_id": sim.tenant,
            "client_id": sim.client_id,
            "private_key_file": str(key_file),
            "thumbprint": cert.thumbprint,
            "authority_host": sim.authority_host,
            "graph_url": sim.graph_url,
            "ca_bundle": sim.ca_bundle,
            "mailboxes": [CASEWORKER],
        }
    )
    try:
        assert connector.probe(CASEWORKER).reachable is True
    finally:
        connector.close()
    with pytest.raises(ValueError, match="unknown Graph settings: tennant"):
        GraphSettings.from_mapping({"tenant_id": "t", "client_id": "c", "tennant": "x"})


def test_rooms_come_from_the_places_api(sim, graph):
    calendars = {c.calendar_id: c for c in graph.list_calendars()}
    room = calendars[ROOM]
    assert (room.kind, room.name, room.capacity) == ("room", "Mødelokale L2", 2)
    assert room.extra["building"] == "Torvet 1" and room.extra["floor"] == "1"
    assert room.extra["wheelchair"] == "false"
    assert room.extra["room_list"] == ROOM_LIST.split("@")[0]
    l9 = calendars["lokale.l9@lilleby.dk"]
    assert (l9.capacity, l9.extra["wheelchair"], l9.extra["floor"]) == (6, "true", "2")
    assert "room_list" not in l9.extra
    assert calendars[CASEWORKER].name == "Mette Jensen"
    assert calendars[CASEWORKER].kind == "caseworker"


def test_without_places_permission_caseworkers_are_still_listed(sim, graph):
    sim.places_allowed = False
    calendars = graph.list_calendars()
    assert {c.calendar_id for c in calendars} == {CASEWORKER, SECOND_CASEWORKER, LOCKED}


def test_probe_reports_graphs_own_errors(graph):
    assert graph.probe(CASEWORKER).writable is True
    read_only = graph.probe(READ_ONLY)
    assert (read_only.reachable, read_only.writable) == (True, False)
    assert (
        read_only.error == "ErrorAccessDenied: Access is denied. Check credentials and try again."
    )
    locked = graph.probe(LOCKED)
    assert (locked.reachable, locked.writable) == (False, False)
    assert locked.error.startswith("ErrorAccessDenied")
    missing = graph.probe("findes.ikke@lilleby.dk")
    assert not missing.reachable and missing.error.startswith("ErrorInvalidUser")


def test_one_mailbox_without_permission_while_the_others_sync(sim, graph):
    person = OutlookBackdoor(sim)
    for mailbox in (CASEWORKER, SECOND_CASEWORKER):
        person.put_foreign_event(mailbox, "m", "Møde", DAY, DAY + timedelta(hours=1))
    with pytest.raises(PermissionDenied) as caught:
        graph.fetch_changes(LOCKED, None, *WINDOW)
    assert caught.value.calendar_id == LOCKED
    assert "ErrorAccessDenied" in str(caught.value)
    for mailbox in (CASEWORKER, SECOND_CASEWORKER):
        assert [i.uid for i in graph.fetch_changes(mailbox, None, *WINDOW).changed] == ["m"]
    markers = graph.change_markers([CASEWORKER, LOCKED, SECOND_CASEWORKER])
    assert set(markers) == {CASEWORKER, SECOND_CASEWORKER}
    for order in ([CASEWORKER, LOCKED, ROOM], [LOCKED, ROOM, CASEWORKER]):
        busy = graph.free_busy(order, *WINDOW)
        assert set(busy) == {CASEWORKER, ROOM}
        assert len(busy[CASEWORKER]) == 1


def test_places_are_paged_with_skip_until_a_short_page(sim, graph):
    """Places never sends @odata.nextLink (microsoft-graph-docs #9923, #18604)."""
    for n in range(230):
        sim.state.add_room(f"rum{n:03d}@lilleby.dk", f"Rum {n}")
    sim.clear_log()
    rooms = [c for c in graph.list_calendars() if c.kind == "room"]
    assert len(rooms) == 232
    asked = [e.query for e in sim.http_requests() if e.path == "/places/microsoft.graph.room"]
    assert [q.split("$skip=")[1] for q in asked] == ["0", "100", "200"]


def test_the_certificate_is_named_by_its_sha256_thumbprint(sim, graph):
    """Given the certificate (not a SHA-1 thumbprint), msal >= 1.35 sends x5t#S256 and PS256."""
    graph.fetch_changes(CASEWORKER, None, *WINDOW)
    [header] = sim.assertion_headers
    assert header["alg"] == "PS256" and "x5t#S256" in header and "x5t" not in header


def test_a_legacy_sha1_thumbprint_still_signs_in(sim):
    connector = connector_for(
        sim, public_certificate_pem=None, thumbprint=sim.certificate.thumbprint
    )
    try:
        connector.fetch_changes(CASEWORKER, None, *WINDOW)
    finally:
        connector.close()
    assert [h["alg"] for h in sim.assertion_headers] == ["RS256"]
    assert "x5t" in sim.assertion_headers[0]
