"""`syncd directory sync`: caseworkers and rooms from the calendar system, through the command
an administrator runs, against each backend's simulator or server: an Entra ID group and Places
(Graph), a distribution group and GetRooms (EWS), the calendars under CalDAV homes. TOML
entries override what the source says; a caseworker the source drops keeps her conversations,
flagged for a coordinator."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from syncd.cli import main
from syncd.config import load_config
from syncd.daemon import open_from_config
from syncd.store.tables import BookingRow
from tests.engine.world import EMAILS, ROOM_LIST, _ensure, config_data
from tests.sims.ews.harness import simulator as ews_simulator
from tests.sims.graph.certs import app_certificate
from tests.sims.graph.server import GraphSimulator

GROUP = "selvbook-sagsbehandlere@lilleby.dk"
NEW = "ny.kollega@lilleby.dk"


def toml(data: dict[str, Any], prefix: str = "") -> str:
    """Just enough TOML for a configuration dict (scalars, lists, tables, arrays of tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))

    lines, tables = [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append(f"\n[{prefix}{json.dumps(k)}]\n" + toml(v, f"{prefix}{json.dumps(k)}."))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                tables.append(f"\n[[{prefix}{k}]]\n" + toml(item, f"{prefix}{k}."))
        elif v is not None:
            lines.append(f"{json.dumps(k)} = {value(v)}")
    return "\n".join(lines) + "\n" + "".join(tables)


def write_config(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "syncd.toml"
    path.write_text(toml(data))
    return str(path)


def sync(cfg: str, capsys: Any, *args: str) -> str:
    assert main(["-c", cfg, "directory", "sync", *args]) == 0, capsys.readouterr()
    return capsys.readouterr().out


def without_directory(data: dict[str, Any]) -> dict[str, Any]:
    """The jobcentre with only one caseworker and room in TOML: the rest comes from the source."""
    data["caseworkers"] = [c for c in data["caseworkers"] if c["id"] == "mette"]
    data["caseworkers"][0]["team"] = "Dagpenge (TOML)"
    data["rooms"] = [r for r in data["rooms"] if r["id"] == "L9"]
    return data


def test_graph_group_and_places(tmp_path, capsys):
    server = GraphSimulator(certificate=app_certificate()).start()
    try:
        for name in ("mette", "lars", "pia"):
            server.state.add_mailbox(EMAILS[name], name.title() + " Hansen")
        server.state.add_mailbox(NEW, "Ny Kollega")
        server.state.add_room(EMAILS["L1"], "Mødelokale L1", capacity=4, room_list=ROOM_LIST)
        server.state.add_room(
            EMAILS["L9"], "Mødelokale L9", capacity=6, wheelchair=True, room_list=ROOM_LIST
        )
        server.groups.add("dagpenge@lilleby.dk", "Dagpenge", [EMAILS["mette"], EMAILS["lars"]])
        server.groups.add(GROUP, "Selvbook", ["dagpenge@lilleby.dk", EMAILS["pia"], NEW])
        server.groups.departments[NEW] = "Sygedagpenge"
        data = without_directory(config_data("graph", server, f"sqlite:///{tmp_path / 's.db'}"))
        data["directory_sync"] = {"caseworkers_group": GROUP}
        cfg = write_config(tmp_path, data)

        out = sync(cfg, capsys, "--dry-run")
        assert "source: 4 caseworkers, 2 rooms" in out
        for who in ("Mette Hansen", "Lars Hansen", "Pia Hansen", "Ny Kollega"):
            assert who in out
        assert "capacity 6, wheelchair" in out and "Mødelokale L1" in out
        assert "added    caseworker ny.kollega: Ny Kollega" in out
        assert "dry run: nothing changed" in out
        rt = open_from_config(load_config(cfg))
        assert "ny.kollega" not in rt.index.caseworkers  # a dry run changes nothing
        rt.db.dispose()

        assert "applied" in sync(cfg, capsys)
        rt = open_from_config(load_config(cfg))
        try:
            new = rt.index.caseworkers["ny.kollega"]
            assert (new.name, new.team, new.email) == ("Ny Kollega", "Sygedagpenge", NEW)
            assert rt.index.caseworkers["mette"].team == "Dagpenge (TOML)"  # TOML wins
            assert rt.index.rooms["moedelokale.l1"].capacity == 4
            assert set(rt.index.rooms) == {"L9", "moedelokale.l1"}  # L9: TOML, by e-mail
        finally:
            rt.db.dispose()
        assert "no changes" in sync(cfg, capsys, "--dry-run")
    finally:
        server.stop()


def test_ews_distribution_group_and_room_lists(tmp_path, capsys):
    server = ews_simulator().start()
    try:
        for name in ("mette", "lars", "pia"):
            server.store.add_mailbox(EMAILS[name], name.title() + " Jensen")
        for room in ("L1", "L9"):
            server.store.add_mailbox(
                EMAILS[room], f"Mødelokale {room}", kind="room", room_list=ROOM_LIST
            )
        server.store.groups["team-a@lilleby.dk"] = {
            "name": "Team A", "members": [EMAILS["lars"], EMAILS["pia"]],
        }  # fmt: skip
        server.store.groups[GROUP] = {
            "name": "Selvbook",
            "members": [EMAILS["mette"], "team-a@lilleby.dk"],
        }
        data = without_directory(config_data("ews", server, f"sqlite:///{tmp_path / 's.db'}"))
        data["directory_sync"] = {"caseworkers_group": GROUP, "room_capacity": 3}
        cfg = write_config(tmp_path, data)
        out = sync(cfg, capsys, "--dry-run")
        assert "source: 3 caseworkers, 2 rooms" in out
        for who in ("Mette Jensen", "Lars Jensen", "Pia Jensen", "Mødelokale L1", "Mødelokale L9"):
            assert who in out
        assert "capacity 3" in out  # GetRooms does not know capacities
    finally:
        server.stop()


def test_caldav_homes_and_a_removed_caseworker_is_flagged_not_dropped(tmp_path, capsys, radicale):
    for cw in ("mette", "lars", "pia", "ny"):
        _ensure(radicale, "caseworkers", cw, "caseworker")
    for room in ("L1", "L9"):
        _ensure(radicale, "rooms", room, "room")
    data = without_directory(config_data("caldav", radicale, f"sqlite:///{tmp_path / 's.db'}"))
    cfg = write_config(tmp_path, data)
    out = sync(cfg, capsys, "--dry-run")
    assert "source: 4 caseworkers, 2 rooms" in out
    for cw in ("mette", "lars", "pia", "ny"):
        assert f"{radicale.url}caseworkers/{cw}/" in out
    assert "applied" in sync(cfg, capsys)

    # Lars has a conversation next week; then his calendar disappears from the home.
    rt = open_from_config(load_config(cfg))
    try:
        from tests.store.helpers import publish
        from tests.web.helpers import book

        start = rt.clock().astimezone(rt.zone).replace(hour=9, minute=0, second=0, microsecond=0)
        start += timedelta(days=7 - start.weekday())  # next Monday
        publish(rt, "lars", [(start, start + timedelta(hours=3))])
        talk = book(rt, "lars", start)
    finally:
        rt.db.dispose()
    with httpx.Client(auth=("caseworkers", "x")) as http:
        assert http.delete(f"{radicale.url}caseworkers/lars/").status_code in (200, 204)
    out = sync(cfg, capsys)
    assert "removed  caseworker lars" in out
    rt = open_from_config(load_config(cfg))
    try:
        assert "lars" not in rt.index.caseworkers
        with rt.db.read() as s:
            row = s.get(BookingRow, talk.id)
            assert row is not None and row.status == "confirmed"  # never silently dropped
            assert row.conflict and "ikke længere i kataloget" in row.conflict
            assert s.scalars(select(BookingRow)).all()
    finally:
        rt.db.dispose()


def test_the_daemon_syncs_the_directory_on_its_schedule(tmp_path, radicale):
    import time

    from syncd.directory_sync import start_schedule
    from syncd.engine.factory import make_connector

    for cw in ("mette", "nyansat"):
        _ensure(radicale, "caseworkers", cw, "caseworker")
    _ensure(radicale, "rooms", "L9", "room")
    data = without_directory(config_data("caldav", radicale, f"sqlite:///{tmp_path / 's.db'}"))
    data["directory_sync"] = {"enabled": True, "interval_minutes": 1}
    rt = open_from_config(load_config(write_config(tmp_path, data)))
    connector = make_connector(rt.config, rt.index)
    stop = start_schedule(rt, connector)
    try:
        deadline = time.monotonic() + 20
        while "nyansat" not in rt.index.caseworkers:  # the first round runs at once
            assert time.monotonic() < deadline, "the scheduled sync never applied"
            stop.wait(0.05)
    finally:
        stop.set()
        connector.close()
        rt.db.dispose()
